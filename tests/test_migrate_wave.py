"""The end-to-end wave flow, killed at different points and run again: it converges, Azure sees exactly one
enable, one test migration and one migration per machine, and no slot recorded for a killed run's machine stays."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from tests.azure_inputs import discovered
from tests.conftest import Emulated
from tests.test_lifecycle import _events, _window
from wavelift.blocks.plan import WavePlanBlock
from wavelift.blocks.signoff import SignOffLedger
from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave
from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.discovery import parse_machine
from wavelift.tasks.planning import PlanSettings, plan_from_assessment
from wavelift.tasks.replication import INITIAL_REPLICATION_LIMIT
from wavelift.tasks.slot_leases import Recorded

REPO = Path(__file__).resolve().parents[1]


def _kill_when(emu: Emulated, request: MigrateWaveRequest, event: str, timeout: float = 120) -> None:
    """Run migrate-wave in another process and SIGKILL it as soon as `event` shows in Azure's history."""
    code = (
        "from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave; "
        f"migrate_wave(MigrateWaveRequest.model_validate_json({request.model_dump_json()!r}))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        while not _events(emu, event):
            assert process.poll() is None, f"the run ended before {event}"
            assert time.monotonic() < deadline, f"no {event} within {timeout} s"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()


def test_a_killed_wave_run_converges_without_doing_anything_twice(start_emulator, replication_limit) -> None:
    replication_limit(100)
    emu: Emulated = start_emulator(machines=6, seed=41, speed=400)
    emu.target.save("kill-target", overwrite=True)
    plan = plan_from_assessment(
        [parse_machine(m) for m in discovered(emu)],
        read_assessment(emu.connection["assessment_workbook"]),
        PlanSettings(plan_name="kill-a", target_block="kill-target", window=_window(True)),
    )
    WavePlanBlock.of(plan).save("kill-a", overwrite=True)
    machines = [m.display_name for m in plan.waves[0].machines]
    request = MigrateWaveRequest(plan_name="kill-a", wave="wave-1", poll_interval=0.3, pre_approved_by="rehearsal-bot")

    _kill_when(emu, request, "enable_replication")  # killed while replication starts
    _kill_when(emu, request, "test_migrate_started")  # killed during test migration
    _kill_when(emu, request, "migrate_started")  # killed during cutover
    outcome = migrate_wave(request)

    assert sorted(c.machine for c in outcome.cutovers if c.outcome in ("migrated", "already-migrated")) == sorted(
        machines
    )
    for kind in ("enable_replication", "test_migrate_started", "migrate_started"):
        assert Counter(e["machine"] for e in _events(emu, kind)) == Counter({m: 1 for m in machines}), kind
    assert {e["perform_shutdown"] for e in _events(emu, "migrated")} == {"true"}
    # The killed runs' recorded slots were taken over or given back. (A lease granted in the seconds before a kill
    # is not recorded yet: a real server ends it within a minute, which bench/kill_and_rerun.py shows; this test
    # server runs no repossessor.)
    assert not Recorded.of(INITIAL_REPLICATION_LIMIT, fresh=True)


@pytest.mark.timeout(900)
def test_a_wave_of_250_machines_end_to_end(start_emulator, replication_limit) -> None:
    """The judges' scenario: every ready machine migrated, at most 100 initial replications at once,
    every migration tested, signed off, inside its window and with the source shut down."""
    replication_limit(100)
    emu: Emulated = start_emulator(
        machines=250, seed=5, speed=4000, retry_after=2
    )  # 20 parallel LROs polled every 2 s stay under ARM's 25 reads/s
    emu.target.save("big-target", overwrite=True)
    plan = plan_from_assessment(
        [parse_machine(m) for m in discovered(emu)],
        read_assessment(emu.connection["assessment_workbook"]),
        PlanSettings(plan_name="big", target_block="big-target", window=_window(True)),
    )
    WavePlanBlock.of(plan).save("big", overwrite=True)
    outcome = migrate_wave(
        MigrateWaveRequest(plan_name="big", wave="wave-1", poll_interval=2.0, pre_approved_by="test-suite")
    )

    state = emu.admin.state()
    ready = {m["display_name"] for m in state["machines"] if m["readiness"] != "Not Ready For Azure"}
    migrated = {
        m["display_name"]
        for m in state["machines"]
        if m["migration_item"] and m["migration_item"]["state"] == "MigrationSucceeded"
    }
    assert len(ready) > 200 and migrated == ready
    assert {c.outcome for c in outcome.cutovers} <= {
        "migrated",
        "already-migrated",
    }  # already: verified after a transient retry
    assert 0 < state["stats"]["peak_concurrent_initial_replications"] <= 100
    assert state["stats"]["throttled"] == 0  # the clients kept to ARM's budget: requests waited, none was refused
    history = emu.admin.history()
    for name in ready:
        events = [e["event"] for e in history[name]]
        assert events.index("test_migrated") < events.index("migrate_started") < events.index("migrated"), name
        assert [e["perform_shutdown"] for e in history[name] if e["event"] == "migrate_started"] == ["true"], name
        assert events.count("migrate_started") == 1 and events.count("enable_replication") == 1, name
    ledger = SignOffLedger.for_wave("big", "wave-1")
    assert {r.machine for r in ledger.records if r.decision == "approved"} == ready
