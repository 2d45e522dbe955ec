"""Pipelining: a machine is test-migrated as soon as its own seeding ends, not when the whole wave has
seeded, and test-wave afterwards verifies and reports those tests without starting any twice."""

from __future__ import annotations

from datetime import datetime

from tests.conftest import Emulated, StartEmulator
from tests.test_lifecycle import _events, _saved_plan
from wavelift.flows.replicate import replicate_wave
from wavelift.flows.test_wave import test_wave as run_test_wave
from wavelift.tasks.limits import ensure_concurrency_limit
from wavelift.tasks.replication import INITIAL_REPLICATION_LIMIT


def _at(event: dict) -> float:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def test_a_seeded_machine_is_tested_before_the_wave_has_seeded(
    start_emulator: StartEmulator, prefect_server: None
) -> None:
    emu: Emulated = start_emulator(machines=8, seed=61, speed=3000)
    plan = _saved_plan(emu, "pipe")
    ensure_concurrency_limit(INITIAL_REPLICATION_LIMIT, 100)
    machines = {m.display_name for m in plan.waves[0].machines}

    summary = replicate_wave("pipe", "wave-1", poll_interval=0.3, test_when_seeded=True)
    assert {r.machine for r in summary.tests if r.passed} == machines
    first_test = min(_at(e) for e in _events(emu, "test_migrate_started"))
    last_seeded = max(_at(e) for e in _events(emu, "seeded"))
    assert first_test < last_seeded, "the first seeded machine waited for the whole wave"

    reports = run_test_wave("pipe", "wave-1", poll_interval=0.3)
    assert {r.machine for r in reports if r.passed} == machines
    started = [e["machine"] for e in _events(emu, "test_migrate_started")]
    assert sorted(started) == sorted({e["machine"] for e in _events(emu, "enable_replication")}), (
        "one test migration per machine: test-wave verified the pipelined tests, it did not start others"
    )
