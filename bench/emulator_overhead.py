"""How much the emulator itself costs, so later benchmarks know it is not what they measure.

Prints, for an estate of N machines all replicating: requests/s the emulator serves to the real SDK
(single GETs and vault-wide list pages), the time of one vault-wide list (what one poll costs), the
emulator's memory, and the share of throttled requests. It asserts nothing.

    .venv/bin/python bench/emulator_overhead.py [N ...]
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from azure.mgmt.recoveryservicessiterecovery import models as m

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.emulator.admin import EmulatorAdmin
from wavelift.emulator.config import EmulatorConfig
from wavelift.emulator.server import EmulatorThread
from wavelift.emulator.throttle import BucketLimits, ThrottleLimits
from wavelift.tasks.arm import list_json

UNTHROTTLED = ThrottleLimits(enabled=False, read=BucketLimits(burst=1, per_second=1))


def measure(machines: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorThread(
            EmulatorConfig(machines=machines, speed=1.0, state_dir=Path(tmp), retry_after=0, throttle=UNTHROTTLED)
        ) as emu,
    ):
        c = emu.connection
        target = AzureMigrationTarget.from_emulator(Path(tmp) / "connection.json")
        asr = target.site_recovery_client()
        rg_id = f"/subscriptions/{c['subscription_id']}/resourceGroups/{c['resource_group']}"
        site = f"{rg_id}/providers/Microsoft.OffAzure/VMwareSites/{c['site']}/machines"
        discovered = list(list_json(asr, site, "2020-01-01"))
        started = time.perf_counter()
        for raw in discovered:
            disks = [
                m.VMwareCbtDiskInput(
                    disk_id=d["uuid"],
                    is_os_disk="true" if i == 0 else "false",
                    log_storage_account_id=c["log_storage_account_id"],
                    log_storage_account_sas_secret_name="s",
                )
                for i, d in enumerate(raw["properties"]["disks"])
            ]
            body = m.EnableMigrationInput(
                properties=m.EnableMigrationInputProperties(
                    policy_id=c["policy_id"],
                    provider_specific_details=m.VMwareCbtEnableMigrationInput(
                        vmware_machine_id=raw["id"],
                        disks_to_include=disks,
                        data_mover_run_as_account_id=c["run_as_account_id"],
                        snapshot_run_as_account_id=c["run_as_account_id"],
                        target_resource_group_id=f"/subscriptions/{c['subscription_id']}"
                        f"/resourceGroups/{c['target_resource_group']}",
                        target_network_id=c["target_network_id"],
                    ),
                )
            )
            asr.replication_migration_items.begin_create(
                c["resource_group"], c["vault"], c["fabric"], c["container"], raw["name"], body, polling=False
            )
        enable_rate = machines / (time.perf_counter() - started)
        gets, started = 0, time.perf_counter()
        while time.perf_counter() - started < 3:
            asr.replication_migration_items.get(
                c["resource_group"], c["vault"], c["fabric"], c["container"], discovered[gets % machines]["name"]
            )
            gets += 1
        get_rate = gets / (time.perf_counter() - started)
        list_times = []
        for _ in range(5):
            started = time.perf_counter()
            assert len(list(asr.replication_migration_items.list(c["resource_group"], c["vault"]))) == machines
            list_times.append(time.perf_counter() - started)
        stats = EmulatorAdmin(c).stats()
        return {
            "machines": machines,
            "enables_per_s": enable_rate,
            "gets_per_s": get_rate,
            "vault_list_s": statistics.median(list_times),
            "pages_per_list": -(-machines // 100),
            "in_flight": stats["initial_replications_in_flight"],
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    print(
        f"{'machines':>8} {'enable/s':>9} {'GET/s':>7} {'vault list (s)':>15} {'pages':>6} {'in flight':>9} "
        f"{'peak RSS (MB, emulator+client)':>31}"
    )
    for n in sizes:
        r = measure(n)
        print(
            f"{r['machines']:>8} {r['enables_per_s']:>9.0f} {r['gets_per_s']:>7.0f} {r['vault_list_s']:>15.3f} "
            f"{r['pages_per_list']:>6.0f} {r['in_flight']:>9.0f} {r['rss_mb']:>31.0f}"
        )
