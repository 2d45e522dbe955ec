"""`make demo`: the emulator, a local Prefect, and a whole wave through wavelift's flows.

It starts the emulator with a seeded estate, checks the target (inventory), imports a plan from the
emulator's assessment export, and runs `migrate-wave`: replication under the 100-slot limit, test
migration, a sign-off given explicitly as the demo (recorded as such), the cutover inside a
maintenance window opened around now, hardening (NSG, disk encryption, backup, DR) and the clean-up
(replication removed, on-prem backups and disk files deleted past a one-hour emulated grace period,
as-built docs committed to a git folder). Prefect settings are read at import time, so they are set
before Prefect is imported: its home goes under the demo's state directory, telemetry is off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time as wall
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

BLOCK_NAME = "emulator"
PLAN_NAME = "demo"
DEMO_APPROVER = "make demo (explicit demo sign-off, no human review)"
POLL_EMULATED_SECONDS = 300.0
GRACE_HOURS = 1.0


def _prefect_environment(state_dir: Path) -> None:
    (state_dir / "prefect").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(state_dir / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _window_around_now():  # type: ignore[no-untyped-def]
    """A maintenance window that is open now (UTC, from an hour ago for six hours), for the demo only."""
    from tasks.plan_models import MaintenanceWindow

    opened = datetime.now(timezone.utc) - timedelta(hours=1)
    return MaintenanceWindow(timezone="UTC", start=time(opened.hour), end=time((opened.hour + 6) % 24))


def _docs_folder(state_dir: Path) -> Path:
    """The as-built docs folder, a git repository when git is installed (so the commits show)."""
    folder = state_dir / "as-built"
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("git") and not (folder / ".git").exists():
        subprocess.run(["git", "init", "--quiet", str(folder)], check=True)
    return folder


def run_demo(state_dir: Path, machines: int, speed: float) -> int:
    """Run the demo; returns the process exit code."""
    _prefect_environment(state_dir)
    from blocks.azure import AzureMigrationTarget
    from blocks.cleanup import CleanupPolicy
    from blocks.docs import DocsTarget
    from blocks.hardening import HardeningPolicy
    from blocks.onprem import HttpBackupCatalog, LocalDatastore
    from deployments.setup import ensure_concurrency_limit
    from emulator.admin import EmulatorAdmin
    from emulator.config import EmulatorConfig
    from emulator.server import EmulatorThread
    from flows.cleanup import CleanupRequest, cleanup_wave
    from flows.inventory import inventory
    from flows.migrate_wave import MigrateWaveRequest, migrate_wave
    from flows.plan import PlanImport, import_plan
    from tasks.planning import PlanSettings

    emulator_dir = state_dir / "emulator"
    print(f"1/4 Starting the Azure emulator ({machines} servers, x{speed:g} speed) ...", flush=True)
    with EmulatorThread(EmulatorConfig(machines=machines, seed=1, speed=speed, state_dir=emulator_dir)) as emu:
        print(f"    ARM endpoint {emu.connection['base_url']}; connection details in {emulator_dir / 'connection.json'}", flush=True)
        AzureMigrationTarget.from_emulator(emulator_dir / "connection.json").save(BLOCK_NAME, overwrite=True)
        HardeningPolicy(management_cidrs=["10.99.0.0/24"], key_vault_url="https://kv-wavelift-demo.vault.azure.net/",
                        key_vault_resource_id=f"/subscriptions/{emu.connection['subscription_id']}/resourceGroups/rg-security/providers/Microsoft.KeyVault/vaults/kv-wavelift-demo",
                        ).save(BLOCK_NAME, overwrite=True)
        HttpBackupCatalog(url=emu.connection["backup_catalog_url"], ca_bundle=emu.connection["ca_cert"]).save(BLOCK_NAME, overwrite=True)
        LocalDatastore(root=emu.connection["san_path"]).save(BLOCK_NAME, overwrite=True)
        DocsTarget(folder=str(_docs_folder(state_dir))).save(BLOCK_NAME, overwrite=True)
        CleanupPolicy(hardening_policy=BLOCK_NAME, grace_period_hours=GRACE_HOURS, backup_catalog=f"wavelift-http-backup-catalog/{BLOCK_NAME}",
                      datastore=f"wavelift-local-datastore/{BLOCK_NAME}", docs_target=BLOCK_NAME).save(BLOCK_NAME, overwrite=True)
        ensure_concurrency_limit()
        print(f"2/4 Inventory of block '{BLOCK_NAME}' (Prefect home {os.environ['PREFECT_HOME']}) ...", flush=True)
        report = inventory(BLOCK_NAME)
        print(f"    {len(report.machines)} servers, {report.total_disk_gb:,} GB; vault {report.infrastructure.vault_id.rsplit('/', 1)[1]}", flush=True)
        print("3/4 Importing a plan from the emulator's Azure Migrate assessment export ...", flush=True)
        plan = import_plan(PlanImport(source="assessment", path=emu.connection["assessment_workbook"], overwrite=True),
                           PlanSettings(plan_name=PLAN_NAME, target_block=BLOCK_NAME, window=_window_around_now()))
        wave = plan.waves[0]
        print(f"    wave {wave.name}: {len(wave.machines)} machines in {len(wave.batches())} batches; {len(plan.excluded)} left out (not ready)", flush=True)
        print("4/4 migrate-wave: replicate (100 slots), test-migrate, demo sign-off, cut over, harden, clean up ...", flush=True)
        outcome = migrate_wave(MigrateWaveRequest(plan_name=PLAN_NAME, wave=wave.name, poll_interval=POLL_EMULATED_SECONDS / speed,
                                                  pre_approved_by=DEMO_APPROVER, hardening_policy=BLOCK_NAME, cleanup_policy=BLOCK_NAME, execute_cleanup=True))
        cleanup = outcome.cleanup
        if any(c.held_by for c in cleanup):
            print(f"    on-prem clean-up held for {sum(bool(c.held_by) for c in cleanup)} machines (grace period {GRACE_HOURS:g} emulated h, first backups); "
                  "running cleanup-wave again once it has passed ...", flush=True)
            wall.sleep(GRACE_HOURS * 3600 / speed)
            cleanup = cleanup_wave(CleanupRequest(plan_name=PLAN_NAME, wave=wave.name, policy_block=BLOCK_NAME, execute=True))
        stats = EmulatorAdmin(emu.connection).stats()
    migrated = [c for c in outcome.cutovers if c.outcome in ("migrated", "already-migrated")]
    print(f"\nTests passed: {sum(t.passed for t in outcome.tests)}/{len(outcome.tests)}; migrated: {len(migrated)}/{len(wave.machines)}; "
          f"hardened: {sum(h.ok for h in outcome.hardening)}/{len(outcome.hardening)}; "
          f"cleaned up: {sum(c.migrated and not c.held_by for c in cleanup)}/{len(cleanup)}; "
          f"peak concurrent initial replications: {stats['peak_concurrent_initial_replications']}; ARM requests: {stats['requests_total']}")
    for cut in migrated[:5]:
        print(f"    {cut.machine}: {cut.old_ip} -> {cut.new_ip} ({cut.vm.name if cut.vm else ''})")
    print(f"Emulator state export: {emulator_dir / 'state.json'}; as-built docs: {state_dir / 'as-built' / PLAN_NAME / wave.name}")
    done = len(migrated) == len(wave.machines) and all(h.ok for h in outcome.hardening) and all(c.migrated and not c.held_by for c in cleanup)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(run_demo(Path(sys.argv[1]), 150, 600.0))
