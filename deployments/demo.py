"""`make demo`: the emulator, a local Prefect, and wavelift's flows against them, in one command.

Prefect settings are environment variables read at import time, so they are set before Prefect is
imported: its home (database, results) goes under the demo's state directory, telemetry is off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BLOCK_NAME = "emulator"


def _prefect_environment(state_dir: Path) -> None:
    (state_dir / "prefect").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(state_dir / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def run_demo(state_dir: Path, machines: int, speed: float) -> int:
    """Run the demo; returns the process exit code."""
    _prefect_environment(state_dir)
    from blocks.azure import AzureMigrationTarget
    from emulator.config import EmulatorConfig
    from emulator.server import EmulatorThread
    from flows.inventory import inventory

    emulator_dir = state_dir / "emulator"
    print(f"Starting the Azure emulator ({machines} servers, x{speed:g} speed) ...", flush=True)
    with EmulatorThread(EmulatorConfig(machines=machines, seed=1, speed=speed, state_dir=emulator_dir)) as emu:
        print(f"  ARM endpoint {emu.connection['base_url']}; connection details in {emulator_dir / 'connection.json'}", flush=True)
        AzureMigrationTarget.from_emulator(emulator_dir / "connection.json").save(BLOCK_NAME, overwrite=True)
        print(f"Running the inventory flow against block '{BLOCK_NAME}' (local Prefect in {os.environ['PREFECT_HOME']}) ...", flush=True)
        report = inventory(BLOCK_NAME)
    infra = report.infrastructure
    print(f"Discovered {len(report.machines)} servers with {report.total_disk_gb:,} GB of disks.")
    print(f"Vault {infra.vault_id.rsplit('/', 1)[1]}: fabric {infra.fabric}, container {infra.container}, target {infra.target_location}.")
    print(f"Emulator state export: {emulator_dir / 'state.json'}")
    return 0 if report.machines else 1


if __name__ == "__main__":
    sys.exit(run_demo(Path(sys.argv[1]), 150, 600.0))
