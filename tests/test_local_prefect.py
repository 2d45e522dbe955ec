"""The local Prefect server the demo runs: stopping it (Ctrl-C in the demo) leaves no run Running for good —
child runs included — and the UI re-opens on the saved database afterwards."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.azure_inputs import discovered
from tests.conftest import Emulated, StartEmulator
from tests.test_lifecycle import _events
from wavelift.blocks.parameters import reference
from wavelift.blocks.plan import WavePlanBlock
from wavelift.deployments.definitions import WORK_POOL, NightlyCutover
from wavelift.deployments.local_prefect import LocalPrefect, children
from wavelift.deployments.setup import ensure_zombie_automation, setup
from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.discovery import parse_machine
from wavelift.tasks.planning import PlanSettings, plan_from_assessment


def _states(api_url: str) -> dict[str, str]:
    """Every started flow run's name and state type (the nightly cutover's scheduled runs left out)."""
    runs = httpx.post(f"{api_url}/flow_runs/filter", json={}, timeout=10).json()
    return {r["name"]: r["state"]["type"] for r in runs if r["state"]["type"] != "SCHEDULED"}


def _wave_under_way(emu: Emulated, server: LocalPrefect, name: str) -> dict[str, str]:
    """Set the server up, start migrate-wave on a worker and wait until its machines replicate (seeding takes
    hours at the emulator's speed 1); the runs' states then."""
    setup(NightlyCutover())
    emu.target.save(f"{name}-target", overwrite=True)
    plan = plan_from_assessment(
        [parse_machine(m) for m in discovered(emu)],
        read_assessment(emu.connection["assessment_workbook"]),
        PlanSettings(plan_name=name, target_block=f"{name}-target"),
    )
    WavePlanBlock.of(plan).save(name, overwrite=True)
    server.start_worker(WORK_POOL, f"{name}-worker")
    run_deployment(
        "migrate-wave/migrate-wave",
        parameters={"request": {"plan_name": reference(WavePlanBlock, name), "wave": "wave-1"}},
        timeout=0,
    )
    deadline = time.monotonic() + 180
    while not _events(emu, "enable_replication") and time.monotonic() < deadline:
        time.sleep(1)
    return _states(server.api_url)


@pytest.mark.timeout(400)
def test_stopping_leaves_no_run_running_and_the_ui_reopens(start_emulator: StartEmulator, tmp_path: Path) -> None:
    emu = start_emulator(machines=3, seed=9, speed=1)
    home = tmp_path / "prefect"
    with LocalPrefect(home) as server, temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        states = _wave_under_way(emu, server, "lp")
        running = [name for name, state in states.items() if state == "RUNNING"]
        assert running == ["migrate-lp-wave-1"]  # the wave, its machines replicating
        assert states["preflight-lp-wave-1"] == "COMPLETED"  # the preflight ran first, and found nothing red
    with LocalPrefect(home) as again:
        states = _states(again.api_url)
        assert {name: state for name, state in states.items() if state in ("RUNNING", "PENDING")} == {}, states
        assert "migrate-lp-wave-1" in states


@pytest.mark.timeout(400)
def test_a_killed_worker_leaves_no_run_running_for_good(start_emulator: StartEmulator, tmp_path: Path) -> None:
    """SIGKILL the worker and its flow run processes: nothing can report the end, so the server's automation
    does, once the run's heartbeats stop."""
    emu = start_emulator(machines=3, seed=9, speed=1)
    with LocalPrefect(tmp_path / "prefect") as server, temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        ensure_zombie_automation(timedelta(seconds=45))  # setup keeps it: ten minutes is the default
        server.env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = "30"  # Prefect's smallest beat
        assert _wave_under_way(emu, server, "kw")["migrate-kw-wave-1"] == "RUNNING"
        worker = server.processes[-1]
        for pid in [*children(worker.pid), worker.pid]:
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 180
        while _states(server.api_url)["migrate-kw-wave-1"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(2)
        assert _states(server.api_url)["migrate-kw-wave-1"] == "CRASHED"
