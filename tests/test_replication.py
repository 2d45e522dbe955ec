"""Replicating a wave against the emulator on a real Prefect API: the global limit holds, machines
slide into freed slots, waiting costs one vault list per interval (and a machine's own read when its
seeding should end before the next), and a re-run adopts, never enables twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.azure_inputs import discovered
from tests.conftest import Emulated, StartEmulator
from tests.test_inventory_flow import _latest_artifact
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.replicate import replicate_wave
from wavelift.flows.test_wave import test_wave as run_test_wave
from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.discovery import parse_machine
from wavelift.tasks.planning import PlanSettings, plan_from_assessment

ITEM_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationMigrationItems"
)


def _plan(emu: Emulated, name: str, target_block: str) -> list[str]:
    emu.target.save(target_block, overwrite=True)
    plan = plan_from_assessment(
        [parse_machine(m) for m in discovered(emu)],
        read_assessment(emu.connection["assessment_workbook"]),
        PlanSettings(plan_name=name, target_block=target_block, batch_size=4),
    )
    WavePlanBlock.of(plan).save(name, overwrite=True)
    return [m.display_name for m in plan.waves[0].machines]


def _enables(emu: Emulated) -> Counter[str]:
    return Counter(
        name for name, events in emu.admin.history().items() for e in events if e["event"] == "enable_replication"
    )


@pytest.fixture
def small_limit(replication_limit):
    replication_limit(5)
    yield
    replication_limit(100)


def test_a_wave_replicates_under_the_global_limit_and_a_rerun_adopts(
    start_emulator: StartEmulator, small_limit: None
) -> None:
    emu: Emulated = start_emulator(machines=16, seed=21, speed=3000)
    machines = _plan(emu, "rep-a", "rep-target")
    summary = replicate_wave("rep-a", "wave-1", poll_interval=0.3)
    assert sorted(summary.seeded) == sorted(machines) and not summary.adopted and not summary.failed
    stats = emu.admin.stats()
    assert 1 < stats["peak_concurrent_initial_replications"] <= 5
    assert _enables(emu) == Counter({name: 1 for name in machines})
    states = {
        m["display_name"]: m["migration_item"]["state"] for m in emu.admin.state()["machines"] if m["migration_item"]
    }
    assert set(states) == set(machines) and set(states.values()) == {"Replicating"}
    assert stats["requests"].get(f"GET {ITEM_TYPE}", 0) <= 2 * len(machines)  # a machine is read alone near its end

    board = asyncio.run(
        _latest_artifact("wave-board-rep-a-wave-1")
    )  # the wave board: where every machine stands and what comes next
    assert (
        board.type == "table"
        and board.data.count('"stage": "seeded"') == len(machines)
        and board.data.count('"next_step": "test migration"') == len(machines)
    )

    again = replicate_wave("rep-a", "wave-1", poll_interval=0.3)
    assert sorted(again.adopted) == sorted(machines) and not again.seeded
    assert _enables(emu) == Counter({name: 1 for name in machines})


def test_machines_already_seeding_are_adopted_and_hold_a_slot(start_emulator: StartEmulator, small_limit: None) -> None:
    from tests.azure_inputs import build_enable_input

    emu: Emulated = start_emulator(machines=8, seed=22, speed=3000)
    machines = _plan(emu, "rep-b", "rep-target-b")
    c = emu.connection
    first = next(m for m in discovered(emu) if m["properties"]["displayName"] == machines[0])
    emu.target.site_recovery_client().replication_migration_items.begin_create(
        emu.rg,
        emu.vault,
        c["fabric"],
        c["container"],
        first["name"],
        build_enable_input(c, first, target_vm_name=machines[0]),
        polling=False,
    )
    summary = replicate_wave("rep-b", "wave-1", poll_interval=0.3)
    assert summary.adopted == [machines[0]] and len(summary.seeded) == len(machines) - 1
    assert _enables(emu)[machines[0]] == 1


def test_polling_cost_does_not_grow_with_the_wave(start_emulator: StartEmulator, small_limit: None) -> None:
    emu: Emulated = start_emulator(machines=12, seed=23, speed=3000)
    _plan(emu, "rep-c", "rep-target-c")
    emu.admin.reset_stats()
    replicate_wave("rep-c", "wave-1", poll_interval=0.5)
    requests = emu.admin.stats()["requests"]
    lists = requests["LIST Microsoft.RecoveryServices/vaults/replicationMigrationItems"]
    enables = requests[
        "PUT "
        "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationMigrationItems"
    ]
    assert enables == 12 - sum(1 for m in emu.admin.state()["machines"] if m["readiness"] == "Not Ready For Azure")
    assert not any(
        label.startswith("GET replicationOperation") for label in requests
    )  # enables are not polled one by one
    assert lists >= 2


def test_a_machine_that_fails_is_a_row_and_the_wave_goes_on(start_emulator: StartEmulator, small_limit: None) -> None:
    emu: Emulated = start_emulator(machines=6, seed=24, speed=3000)
    machines = _plan(emu, "rep-d", "rep-target-d")
    plan = WavePlanBlock.load("rep-d").plan
    broken = plan.waves[0].machines[0]
    emu.admin.add_fault(
        method="PUT",
        path=f"/replicationMigrationItems/{broken.source_name}$",
        status=400,
        code="InvalidParameter",
        message="The disk is not supported.",
    )
    state = replicate_wave("rep-d", "wave-1", poll_interval=0.3, return_state=True)
    summary = state.result()
    assert state.is_completed() and state.name == "1 failed" and broken.display_name in (state.message or "")
    assert (
        list(summary.failed) == [broken.display_name]
        and "InvalidParameter: The disk is not supported." in summary.failed[broken.display_name]
    )
    assert sorted(summary.seeded) == sorted(m for m in machines if m != broken.display_name)

    tests = {
        r.machine: r for r in run_test_wave("rep-d", "wave-1", poll_interval=0.3)
    }  # the machine without replication is a row, not a crash
    assert tests[broken.display_name].skipped and "not replicating yet" in tests[broken.display_name].detail
    assert all(tests[m].passed for m in machines if m != broken.display_name)


def test_a_transient_fault_outlasting_the_sdk_is_taken_again_by_the_run(
    start_emulator: StartEmulator, small_limit: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five 503s on one machine's enable outlast the SDK's own retries: the run takes the step again later (as a
    task's retries did), the machine seeds, and Azure was asked to enable it once."""
    monkeypatch.setattr("wavelift.tasks.reconcile.RETRY_SECONDS", (0.5, 0.5))
    emu: Emulated = start_emulator(machines=4, seed=26, speed=3000)
    machines = _plan(emu, "rep-t", "rep-target-t")
    flaky = WavePlanBlock.load("rep-t").plan.waves[0].machines[0]
    emu.admin.add_fault(
        method="PUT", path=f"/replicationMigrationItems/{flaky.source_name}$", status=503, code="Busy", count=5
    )
    summary = replicate_wave("rep-t", "wave-1", poll_interval=0.3)
    assert sorted(summary.seeded) == sorted(machines) and not summary.failed
    assert [f["fired"] for f in emu.admin.faults()] == [5]
    assert _enables(emu)[flaky.display_name] == 1


def test_a_failed_enable_is_reported_with_its_jobs_error(start_emulator: StartEmulator, small_limit: None) -> None:
    """Azure accepts the enable, then its job fails: the report names the job and says what Azure said."""
    emu: Emulated = start_emulator(machines=4, seed=25, speed=3000)
    _plan(emu, "rep-j", "rep-target-j")
    broken = WavePlanBlock.load("rep-j").plan.waves[0].machines[0]
    emu.admin.add_fault(
        method="PUT",
        path=f"/replicationMigrationItems/{broken.source_name}$",
        lro_error={"code": "VmwareCbtEnableFailed", "message": "The vCenter refused the snapshot."},
    )
    summary = replicate_wave("rep-j", "wave-1", poll_interval=0.3)
    reason = summary.failed[broken.display_name]
    assert "EnableMigrationFailed" in reason and "VmwareCbtEnableFailed: The vCenter refused the snapshot." in reason
    job = reason.split("job ", 1)[1].split(":", 1)[0]
    jobs = emu.target.site_recovery_client().replication_jobs
    assert jobs.get(emu.rg, emu.vault, job).properties.state == "Failed"
