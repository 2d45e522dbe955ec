"""What one ARM read costs the flow process, layer by layer: the floor under `lifecycle_cost.py`'s CPU per phase.

Hardening makes about 25 ARM requests a machine, each through an official Azure SDK client: the generated
operation builds the request, azure-core's pipeline runs its policies (ARM's budget, retries, the bearer token,
logging, tracing) and hands it to requests, requests to urllib3, and the answer comes back as the SDK's model.
For three of hardening's reads (a VM with its instance view, its NIC, its NSG) this prints the median CPU of one
GET through each layer, the same URL and the same TLS connection pool each time:

- `SDK`: the client's operation as the flows call it, the model built;
- `pipeline`: the same client's `send_request`, the answer read as JSON (`tasks/arm.py` reads vault lists so);
- `requests`: the client's own requests session, without azure-core;
- `urllib3`: a urllib3 pool, without requests;
- `model`: building the SDK's model from the JSON alone (no request).

The reads are made back to back. In the flows they wait for ARM's budget (20 reads a second), and a read made after
the process sat idle costs more: the NIC's read is then made at that pace, by one thread and by ten, with the
budget's tokens handed out one at a time and five at a time (`TokenBucket.group`, what `ArmBudget` now does).

The emulator runs unthrottled in a process of its own, so the CPU measured is the client's; the layers take turns
in each round, so a change in this machine's speed falls on all of them. It asserts nothing.

    .venv/bin/python bench/request_cost.py [ROUNDS]
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3
from azure.core.rest import HttpRequest

from wavelift.blocks.arm_budget import TokenBucket
from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.emulator.config import EmulatorConfig
from wavelift.emulator.server import serve
from wavelift.emulator.throttle import ThrottleLimits

CALLS = 20  # GETs of one layer in a round
HARDENING_REQUESTS = 25  # a machine's first hardening (README, "Performance")


def _emulator(state_dir: Path) -> multiprocessing.Process:
    config = EmulatorConfig(
        machines=5, speed=60.0, state_dir=state_dir, retry_after=0, throttle=ThrottleLimits(enabled=False)
    )
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(config,), daemon=True)
    process.start()
    while not (state_dir / "connection.json").exists():
        time.sleep(0.1)
    return process


def _machine(target: AzureMigrationTarget) -> dict[str, tuple[Callable[..., Any], type, Any]]:
    """A VM with its NIC and NSG, as hardening leaves them; each read as the flows make it, with its model class and
    the SDK client that makes it."""
    from azure.mgmt.compute import models as cm
    from azure.mgmt.network import models as nm

    network, compute, rg = target.network_client(), target.compute_client(), target.target_resource_group
    rule = nm.SecurityRule(
        name="allow-ssh",
        protocol="Tcp",
        source_port_range="*",
        destination_port_range="22",
        source_address_prefixes=["10.0.0.0/8"],
        destination_address_prefix="*",
        access="Allow",
        priority=200,
        direction="Inbound",
    )
    location = target.target_region
    nsg = network.network_security_groups.begin_create_or_update(
        rg, "bench-vm-nsg", nm.NetworkSecurityGroup(location=location, security_rules=[rule])
    ).result()
    subnet = nm.Subnet(id=f"{target.target_network_id}/subnets/{target.target_subnet}")
    nic = network.network_interfaces.begin_create_or_update(
        rg,
        "bench-vm-nic",
        nm.NetworkInterface(
            location=location,
            network_security_group=nm.NetworkSecurityGroup(id=nsg.id),
            ip_configurations=[nm.NetworkInterfaceIPConfiguration(name="ipconfig1", subnet=subnet)],
        ),
    ).result()
    compute.virtual_machines.begin_create_or_update(
        rg,
        "bench-vm",
        cm.VirtualMachine(
            location=location,
            hardware_profile=cm.HardwareProfile(vm_size="Standard_D2s_v3"),
            storage_profile=cm.StorageProfile(
                os_disk=cm.OSDisk(
                    create_option="Attach",
                    os_type="Linux",
                    name="bench-vm-os",
                    managed_disk=cm.ManagedDiskParameters(
                        id=f"{nic.id.split('/providers/')[0]}/providers/Microsoft.Compute/disks/bench-vm-os"
                    ),
                )
            ),
            network_profile=cm.NetworkProfile(network_interfaces=[cm.NetworkInterfaceReference(id=nic.id)]),
        ),
    ).result()
    vm = compute.virtual_machines.get
    return {
        "VM with its instance view": (
            lambda **kw: vm(rg, "bench-vm", expand="instanceView", **kw),
            cm.VirtualMachine,
            compute,
        ),
        "NIC": (lambda **kw: network.network_interfaces.get(rg, "bench-vm-nic", **kw), nm.NetworkInterface, network),
        "NSG": (
            lambda **kw: network.network_security_groups.get(rg, "bench-vm-nsg", **kw),
            nm.NetworkSecurityGroup,
            network,
        ),
    }


def _unpaced(request: Any) -> None:
    """Stands in for the clients' ARM budget hook: its waits would pace the SDK's layers only, and a request made
    after a wait takes more CPU than one made right after another (`paced`)."""


def _layers(target: AzureMigrationTarget, read: Callable[..., Any], model: type, client: Any) -> dict[str, Any]:
    """The read through each layer, all on the URL and headers the SDK's operation sends."""
    sent: dict[str, Any] = {}
    read(raw_request_hook=lambda request: sent.update(request=request.http_request))
    url, headers = sent["request"].url, dict(sent["request"].headers)
    session = target._transport(url).session  # a session set up as the clients' own (proxies, CA bundle)
    pool = urllib3.PoolManager(ca_certs=target.ca_bundle)
    body = pool.request("GET", url, headers=headers).json()
    return {
        "SDK": lambda: read(raw_request_hook=_unpaced),
        "pipeline": lambda: client.send_request(HttpRequest("GET", url), raw_request_hook=_unpaced).json(),
        "requests": lambda: session.get(url, headers=headers, verify=target.ca_bundle, allow_redirects=False).json(),
        "urllib3": lambda: pool.request("GET", url, headers=headers).json(),
        "model": lambda: model(body),
    }


def paced(read: Callable[..., Any], rounds: int, reads: int = 60) -> dict[tuple[int, int], float]:
    """CPU ms of one read made at ARM's read budget (20 a second) by one thread and by ten at once, by the number
    of tokens a refill hands out (`TokenBucket.group`: one at a time, as the bucket did before, or five), the four
    ways in turns: median of `rounds`, by (threads, group)."""
    samples: dict[tuple[int, int], list[float]] = {(t, g): [] for t in (1, 10) for g in (1, 5)}
    for _ in range(rounds + 1):  # the first round is dropped
        for threads, group in samples:
            bucket = TokenBucket(burst=group, per_second=20, group=group)

            def worker(bucket: TokenBucket = bucket, count: int = reads // threads) -> None:
                for _ in range(count):
                    read(raw_request_hook=lambda _: bucket.take())

            started = time.process_time()
            pool = [threading.Thread(target=worker) for _ in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            samples[threads, group].append((time.process_time() - started) * 1000 / reads)
    return {key: statistics.median(v[1:]) for key, v in samples.items()}


def measure(rounds: int) -> tuple[dict[str, dict[str, float]], dict[tuple[int, int], float]]:
    """Median CPU milliseconds of one read, by resource and layer; and of the NIC's read paced by groups of tokens."""
    with tempfile.TemporaryDirectory() as tmp:
        emulator = _emulator(Path(tmp))
        try:
            target = AzureMigrationTarget.from_emulator(Path(tmp) / "connection.json")
            machine = _machine(target)
            reads = {name: _layers(target, *read) for name, read in machine.items()}
            samples: dict[str, dict[str, list[float]]] = {n: {layer: [] for layer in r} for n, r in reads.items()}
            for _ in range(rounds + 1):  # the first round warms the connections and caches up, and is dropped
                for name, layers in reads.items():
                    for layer, call in layers.items():
                        started = time.process_time()
                        for _ in range(CALLS):
                            call()
                        samples[name][layer].append((time.process_time() - started) * 1000 / CALLS)
            grouped = paced(machine["NIC"][0], max(3, rounds // 2))
        finally:
            emulator.terminate()
            emulator.join(timeout=30)
    return {n: {layer: statistics.median(v[1:]) for layer, v in by.items()} for n, by in samples.items()}, grouped


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    figures, grouped = measure(rounds)
    layers = list(next(iter(figures.values())))
    print(f"CPU ms of one ARM GET in the flow process, median of {rounds} rounds of {CALLS}, by layer")
    print(f"{'read':<28}" + "".join(f"{layer:>11}" for layer in layers))
    for name, by in figures.items():
        print(f"{name:<28}" + "".join(f"{by[layer]:>11.2f}" for layer in layers))
    mean = {layer: statistics.mean(by[layer] for by in figures.values()) for layer in layers}
    print(f"{'mean':<28}" + "".join(f"{mean[layer]:>11.2f}" for layer in layers))
    ways = {
        "SDK": "through the SDK",
        "pipeline": "through azure-core as JSON",
        "requests": "through requests alone",
        "urllib3": "through urllib3 alone",
    }
    print(
        f"\nA first hardening makes {HARDENING_REQUESTS} requests a machine; at these reads' mean that is "
        + ", ".join(f"{HARDENING_REQUESTS * mean[layer]:.0f} ms {way}" for layer, way in ways.items())
        + " (issue #12's goal: 50 ms a machine and phase, everything included)."
    )
    shares = {
        "building the model": mean["SDK"] - mean["pipeline"],
        "azure-core's pipeline": mean["pipeline"] - mean["requests"],
        "requests": mean["requests"] - mean["urllib3"],
        "urllib3, http.client, TLS and JSON": mean["urllib3"],
    }
    print(
        "Where a back-to-back SDK read's CPU goes: "
        + ", ".join(f"{k} {100 * v / mean['SDK']:.0f} %" for k, v in shares.items())
    )
    print(
        f"The NIC's read at 20 a second (back to back: {figures['NIC']['SDK']:.2f} ms), "
        "ARM's tokens one at a time / five at a time:"
    )
    for threads in (1, 10):
        one, five = grouped[threads, 1], grouped[threads, 5]
        print(f"  {threads:>2} thread(s): {one:.2f} / {five:.2f} ms (ratio {five / one:.2f})")


if __name__ == "__main__":
    main()
