"""`make demo`: the emulator, a real Prefect server and worker, and a whole wave through wavelift's deployments.

It starts the emulator with a seeded estate, `prefect server start` (SQLite and concurrency leases on
disk under the state directory, telemetry off, 127.0.0.1) and a process worker, runs `wavelift setup`,
then triggers the deployments an operator would: inventory, import-plan (from the emulator's assessment
export), preflight-wave (the emulated subscription starts one VM family short of vCPU quota: the demo raises
it through the Quota API, as an operator would, and checks again), and migrate-wave — replication under
the 100-slot limit, test migration, a sign-off given explicitly as the demo (recorded as such in the run
history), the cutover inside a maintenance window opened around now, hardening (NSG, disk encryption,
backup, DR) and the clean-up (replication removed, on-prem backups and disk files deleted past a one-hour
emulated grace period, as-built docs committed to a git folder). Progress comes from the emulator, the
system of record; Ctrl-C stops everything started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wavelift.deployments.local_prefect import LocalPrefect
    from wavelift.emulator.admin import EmulatorAdmin
    from wavelift.emulator.server import EmulatorThread

BLOCK_NAME = "emulator"
PLAN_NAME = "demo"
DEMO_APPROVER = "make demo (explicit demo sign-off, no human review)"
GRACE_HOURS = 1.0
SHORT_QUOTA = {"standardESv3Family": 350}  # the subscription's limit before the wave: the preflight finds it short
# Each disk seeds at 20 MB/s (the emulator's default is 40): at the demo's speed the smallest of the first hundred
# machines would otherwise finish seeding within seconds of the first enable, before the hundredth is admitted, and
# the 100-slot limit would never bind; in Azure seeding takes hours and it always does.
DEMO_DISK_MBPS = 20.0
PHASES = ("replicated", "tested", "migrated", "hardened", "cleaned up")
BACKUP_ITEM_TYPE = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
EXTENSION_TYPE = "Microsoft.Compute/virtualMachines/extensions"


def _window_around_now() -> dict[str, Any]:
    """A maintenance window that is open now (UTC, from an hour ago for six hours), for the demo only."""
    opened = datetime.now(UTC) - timedelta(hours=1)
    return {
        "timezone": "UTC",
        "start": clock_time(opened.hour).isoformat(),
        "end": clock_time((opened.hour + 6) % 24).isoformat(),
    }


def _docs_folder(state_dir: Path) -> Path:
    """The as-built docs folder, a git repository when git is installed (so the commits show)."""
    folder = state_dir / "as-built"
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("git") and not (folder / ".git").exists():
        subprocess.run(["git", "init", "--quiet", str(folder)], check=True)
    return folder


def _hardened(state: dict[str, Any]) -> set[str]:
    """VMs with all four: an NSG on their NIC, the disk-encryption extension, backup protection, A2A replication."""

    def of_type(kind: str) -> list[dict]:
        return [r for r in state["resources"] if r.get("type") == kind]

    def vm_name(resource_id: str) -> str:
        return resource_id.split("/virtualMachines/", 1)[1].split("/", 1)[0]

    nsg = {
        vm_name(n["properties"]["virtualMachine"]["id"])
        for n in of_type(NIC_TYPE)
        if n["properties"].get("networkSecurityGroup") and n["properties"].get("virtualMachine")
    }
    encrypted = {vm_name(e["id"]) for e in of_type(EXTENSION_TYPE) if e["name"] == "AzureDiskEncryption"}
    backed_up = {r["properties"].get("friendlyName") for r in of_type(BACKUP_ITEM_TYPE)}
    replicated = {
        i["properties"]["friendlyName"]
        for i in state["protected_items"]
        if i["properties"]["protectionState"] == "Protected"
    }
    return nsg & encrypted & backed_up & replicated


def phase_counts(state: dict[str, Any], machines: set[str]) -> dict[str, int]:
    """How many of the wave's machines each phase has finished, read from the emulator's state export."""
    history = {name: {e["event"] for e in events} for name, events in state["history"].items() if name in machines}
    items = {i["properties"]["machineName"] for i in state["migration_items"]}
    onprem_gone = {
        m["display_name"]
        for m in state["machines"]
        if not m["backup_jobs"] and not state["datastore"].get(m["display_name"])
    }
    return {
        "replicated": sum("seeded" in events for events in history.values()),
        "tested": sum("test_migrated" in events for events in history.values()),
        "migrated": sum("migrated" in events for events in history.values()),
        "hardened": len(_hardened(state) & machines),
        "cleaned up": len((onprem_gone - items) & machines),
    }


def pipelining(state: dict[str, Any], machines: set[str]) -> str:
    """How far testing and cutover overlapped seeding, from the emulator's history: the first test migration
    ended this long (emulated) before the last machine of the wave was seeded, and so many machines were
    migrated before it."""
    from datetime import datetime

    def times(kind: str) -> list[datetime]:
        return [
            datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
            for name, events in state["history"].items()
            if name in machines
            for e in events
            if e["event"] == kind
        ]

    tested, seeded, migrated = times("test_migrated"), times("seeded"), times("migrated")
    if not tested or not seeded:
        return "pipelining: nothing tested"
    ahead = (max(seeded) - min(tested)).total_seconds() / 3600
    overlap = sum(t < max(seeded) for t in tested)
    return (
        f"pipelining: {overlap} of {len(tested)} test migrations ended before the last machine seeded (the first "
        f"{ahead:.1f} emulated h before it), and {sum(t < max(seeded) for t in migrated)} machines were migrated "
        "by then"
    )


def _save_blocks(connection_file: Path, state_dir: Path) -> None:
    from wavelift.deployments.emulator_blocks import save_emulator_blocks

    # The demo is the emulated subscription's only client: its flows may use all of ARM's request budget.
    save_emulator_blocks(
        connection_file, BLOCK_NAME, docs_folder=_docs_folder(state_dir), grace_hours=GRACE_HOURS, arm_request_share=1.0
    )


def _run(deployment: str, parameters: dict[str, Any], watch: Callable[[], None] | None = None) -> Any:
    """Trigger a deployment, as the UI's Run button does, and follow it until it ends."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    run = run_deployment(deployment, parameters=parameters, timeout=0)
    with get_client(sync_client=True) as client:
        while not (run := client.read_flow_run(run.id)).state or not run.state.is_final():
            if watch:
                watch()
            time.sleep(2)
    if watch:
        watch()
    if not run.state.is_completed():
        raise RuntimeError(f"{deployment} run {run.name} ended {run.state.name}: {run.state.message}")
    return run


def _prepare(emu: EmulatorThread, prefect: LocalPrefect, state_dir: Path) -> None:
    """Steps 2 and 3: `wavelift setup`, a worker, the blocks, then inventory and a plan through the deployments."""
    from wavelift.blocks.azure import AzureMigrationTarget
    from wavelift.blocks.parameters import reference
    from wavelift.deployments.definitions import WORK_POOL, NightlyCutover
    from wavelift.deployments.setup import setup

    print(f"2/5 Prefect server on SQLite under {prefect.home}: UI at {prefect.ui_url}", flush=True)
    report = setup(NightlyCutover(plan_name=PLAN_NAME))
    prefect.start_worker(WORK_POOL, "demo-worker")
    _save_blocks(emu.emulator.config.state_dir / "connection.json", state_dir)
    print(
        f"    wavelift setup: work pool '{WORK_POOL}' with a worker, global limit {report.concurrency_limit} (100 "
        f"slots), {len(report.deployments)} deployments",
        flush=True,
    )
    print("3/5 inventory and import-plan (from the emulator's Azure Migrate assessment export) ...", flush=True)
    _run("inventory/inventory", {"target_block": reference(AzureMigrationTarget, BLOCK_NAME)})
    _run(
        "import-plan/import-plan",
        {
            "source": {"source": "assessment", "path": emu.connection["assessment_workbook"], "overwrite": True},
            "settings": {
                "plan_name": PLAN_NAME,
                "target_block": reference(AzureMigrationTarget, BLOCK_NAME),
                "window": _window_around_now(),
            },
        },
    )


def _red_findings(wave: str) -> list[dict[str, Any]]:
    """The red rows of the wave's latest preflight table."""
    import json

    from prefect.artifacts import Artifact

    artifact = Artifact.get(f"preflight-{PLAN_NAME}-{wave}")
    return [row for row in json.loads(artifact.data if artifact else "[]") if row["severity"] == "red"]


def _preflight(wave: str) -> None:
    """Run preflight-wave; raise each vCPU quota it finds short through the Quota API (as an operator would with
    `az quota update`). migrate-wave runs the preflight again before it replicates, and stops on anything red."""
    from wavelift.blocks.azure import AzureMigrationTarget
    from wavelift.blocks.hardening import HardeningPolicy
    from wavelift.blocks.parameters import reference
    from wavelift.blocks.plan import WavePlanBlock
    from wavelift.tasks.quota import raise_vcpu_quota

    parameters = {
        "plan_name": reference(WavePlanBlock, PLAN_NAME),
        "wave": wave,
        "hardening_policy": reference(HardeningPolicy, BLOCK_NAME),
    }
    run = _run("preflight-wave/preflight-wave", parameters)
    red = _red_findings(wave)
    print(f"    preflight-wave: {run.state.name} (artifact preflight-{PLAN_NAME}-{wave})", flush=True)
    for row in red:
        print(f"    red: {row['scope']}: {row['check']}: {row['detail']}", flush=True)
        if row["quota"] and row["required"]:
            granted = raise_vcpu_quota(AzureMigrationTarget.load(BLOCK_NAME), row["quota"], row["required"])
            print(f"    fix: {row['quota']} raised to {granted} vCPUs through the Quota API (az quota update)")


def _migrate(admin: EmulatorAdmin, prefect: LocalPrefect, speed: float) -> tuple[str, dict[str, int], int]:
    """Steps 4 and 5: migrate-wave with progress bars, then a later cleanup-wave if the grace period held machines.

    Returns (wave, counts, machines)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from wavelift.blocks.cleanup import CleanupPolicy
    from wavelift.blocks.hardening import HardeningPolicy
    from wavelift.blocks.parameters import reference
    from wavelift.blocks.plan import WavePlanBlock

    plan = WavePlanBlock.load(PLAN_NAME).plan
    wave = plan.waves[0]
    names = {m.display_name for m in wave.machines}
    print(
        f"    wave {wave.name}: {len(names)} machines in {len(wave.batches())} batches; {len(plan.excluded)} left out "
        "(not ready)",
        flush=True,
    )
    print("4/5 preflight-wave: the wave against the target's quotas, subnets, names, regions ...", flush=True)
    _preflight(wave.name)
    print(
        "    migrate-wave: preflight, replicate (100 slots), test, demo sign-off, cut over, harden, clean up ...",
        flush=True,
    )
    with Progress(
        TextColumn("    {task.description:<11}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as bars:
        phases = {phase: bars.add_task(phase, total=len(names)) for phase in PHASES}

        def watch() -> None:
            for phase, count in phase_counts(admin.state(), names).items():
                bars.update(phases[phase], completed=count)

        run = _run(
            "migrate-wave/migrate-wave",
            {
                "request": {
                    "plan_name": reference(WavePlanBlock, PLAN_NAME),
                    "wave": wave.name,
                    "pre_approved_by": DEMO_APPROVER,
                    "hardening_policy": reference(HardeningPolicy, BLOCK_NAME),
                    "cleanup_policy": reference(CleanupPolicy, BLOCK_NAME),
                    "execute_cleanup": True,
                }
            },
            watch,
        )
        if phase_counts(admin.state(), names)["cleaned up"] < len(names):
            bars.console.print(
                f"    on-prem clean-up waits for the grace period ({GRACE_HOURS:g} emulated h) and first backups; the "
                "next cleanup-wave run ..."
            )
            time.sleep(GRACE_HOURS * 3600 / speed)
            _run(
                "cleanup-wave/cleanup-wave",
                {
                    "request": {
                        "plan_name": reference(WavePlanBlock, PLAN_NAME),
                        "wave": wave.name,
                        "policy_block": reference(CleanupPolicy, BLOCK_NAME),
                        "execute": True,
                    }
                },
                watch,
            )
    counts, stats = phase_counts(admin.state(), names), admin.stats()
    print(
        f"5/5 Done: {', '.join(f'{phase} {counts[phase]}/{len(names)}' for phase in PHASES)}; "
        f"peak concurrent initial replications {stats['peak_concurrent_initial_replications']} (limit 100); ARM "
        f"requests {stats['requests_total']} ({stats['throttled']} refused for throttling)"
    )
    preflight = f"preflight-{PLAN_NAME}-{wave.name}"
    print(f"    migrate-wave's own preflight after the fix: {len(_red_findings(wave.name))} red (artifact {preflight})")
    busiest = sorted(stats["requests"].items(), key=lambda kv: -kv[1])[:6]
    print(f"    where the requests went: {', '.join(f'{kind} {count}' for kind, count in busiest)}")
    print(f"    {pipelining(admin.state(), names)}; the wave board: artifact wave-board-{PLAN_NAME}-{wave.name}")
    print(f"    run history: {prefect.ui_url}/runs/flow-run/{run.id} (the sign-off reads '{DEMO_APPROVER}')")
    return wave.name, counts, len(names)


def run_demo(state_dir: Path, machines: int, speed: float, port: int = 0) -> int:
    """Run the demo; returns the process exit code (0 when every planned machine went through every phase)."""
    from wavelift.deployments.local_prefect import LocalPrefect

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # stop what was started, as on Ctrl-C
    prefect = LocalPrefect(state_dir / "prefect", port)
    prefect.home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {k: v for k, v in prefect.env.items() if k.startswith("PREFECT_") or k == "DO_NOT_TRACK"}
    )  # before Prefect is imported
    from wavelift.emulator.admin import EmulatorAdmin
    from wavelift.emulator.config import CapacityModel, EmulatorConfig
    from wavelift.emulator.server import EmulatorThread

    emulator_dir = state_dir / "emulator"
    print(f"1/5 Starting the Azure emulator ({machines} servers, x{speed:g} speed) ...", flush=True)
    try:
        with (
            EmulatorThread(
                EmulatorConfig(
                    machines=machines,
                    seed=1,
                    speed=speed,
                    state_dir=emulator_dir,
                    vcpu_quota=SHORT_QUOTA,
                    capacity=CapacityModel(disk_mbps=DEMO_DISK_MBPS),
                )
            ) as emu,
            prefect,
        ):
            print(
                f"    ARM endpoint {emu.connection['base_url']}; connection details in "
                f"{emulator_dir / 'connection.json'}",
                flush=True,
            )
            _prepare(emu, prefect, state_dir)
            wave, counts, total = _migrate(EmulatorAdmin(emu.connection), prefect, speed)
    except KeyboardInterrupt:
        print(
            "\nInterrupted: the worker and its flow runs (ended Crashed in the run history), the Prefect server and "
            f"the emulator are stopped; the emulator's state export is in {emulator_dir / 'state.json'}; "
            f"`wavelift ui --state-dir {state_dir}` re-opens the UI on the demo's runs"
        )
        return 130
    print(f"Emulator connection: {emulator_dir / 'connection.json'}; final state export: {emulator_dir / 'state.json'}")
    print(
        f"As-built docs: {state_dir / 'as-built' / PLAN_NAME / wave}; Prefect server and worker logs: {prefect.log_dir}"
    )
    print(f"Re-open the UI on the demo's runs, artifacts and board: wavelift ui --state-dir {state_dir}")
    return 0 if all(count == total for count in counts.values()) else 1
