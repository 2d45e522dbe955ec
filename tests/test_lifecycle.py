"""Test migration, sign-off and cutover against the emulator on a real Prefect API: nothing is cut
over without a succeeded test and a recorded sign-off, only inside its window, always with the
source shut down, and a re-run never migrates twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from tests.azure_inputs import discovered
from tests.conftest import Emulated, StartEmulator
from wavelift.blocks.plan import WavePlanBlock
from wavelift.blocks.signoff import SignOffLedger
from wavelift.flows.cutover import CutoverRequest, cutover
from wavelift.flows.replicate import replicate_wave
from wavelift.flows.signoff import SignOffRequest, sign_off
from wavelift.flows.test_wave import test_wave as run_test_wave
from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.discovery import parse_machine
from wavelift.tasks.limits import ensure_concurrency_limit
from wavelift.tasks.plan_models import MachinePlan, MaintenanceWindow, WavePlan
from wavelift.tasks.planning import PlanSettings, plan_from_assessment
from wavelift.tasks.replication import INITIAL_REPLICATION_LIMIT


def _window(open_now: bool) -> MaintenanceWindow:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)) if open_now else (now + timedelta(hours=3))
    return MaintenanceWindow(timezone="UTC", start=time(start.hour), end=time((start.hour + 4) % 24))


def _saved_plan(emu: Emulated, name: str, open_now: bool = True) -> WavePlan:
    """The emulator's assessment planned as one wave and saved as plan `name`, with its target block."""
    emu.target.save(f"{name}-target", overwrite=True)
    plan = plan_from_assessment(
        [parse_machine(m) for m in discovered(emu)],
        read_assessment(emu.connection["assessment_workbook"]),
        PlanSettings(plan_name=name, target_block=f"{name}-target", window=_window(open_now)),
    )
    WavePlanBlock.of(plan).save(name, overwrite=True)
    return plan


def _replicated_plan(
    start_emulator, name: str, machines: int, open_now: bool = True, seed: int = 31
) -> tuple[Emulated, list[str]]:
    """An emulator whose wave is planned and replicated (the test server must be running)."""
    emu: Emulated = start_emulator(machines=machines, seed=seed, speed=3000)
    plan = _saved_plan(emu, name, open_now)
    ensure_concurrency_limit(INITIAL_REPLICATION_LIMIT, 100)
    replicate_wave(name, "wave-1", poll_interval=0.3)
    return emu, [m.display_name for m in plan.waves[0].machines]


def _events(emu: Emulated, kind: str) -> list[dict]:
    return [e | {"machine": name} for name, events in emu.admin.history().items() for e in events if e["event"] == kind]


def test_test_sign_off_and_cutover(start_emulator, prefect_server: None) -> None:
    emu, machines = _replicated_plan(start_emulator, "life-a", 7)
    reports = run_test_wave("life-a", "wave-1")
    assert sorted(r.machine for r in reports if r.passed) == sorted(machines)
    assert all(r.vm and r.vm.private_ip.startswith("10.30.") and not r.cleaned_up for r in reports)

    early = cutover(CutoverRequest(plan_name="life-a"))
    assert {r.outcome for r in early} == {"skipped"} and {r.detail for r in early} == {"not signed off"}
    assert _events(emu, "migrate_started") == []

    rejected = machines[0]
    sign_off(
        SignOffRequest(
            plan_name="life-a",
            wave="wave-1",
            decision="reject",
            approver="bob",
            comment="app owner not ready",
            machines=[rejected],
        )
    )
    approved = sign_off(
        SignOffRequest(
            plan_name="life-a",
            wave="wave-1",
            decision="approve",
            approver="alice@example.com",
            comment="tests look good",
            machines=machines[1:],
        )
    )
    assert {r.machine for r in approved} == set(machines[1:]) and {r.approver for r in approved} == {
        "alice@example.com"
    }
    ledger = SignOffLedger.for_wave("life-a", "wave-1")
    assert [r.decision for r in ledger.records] == ["rejected"] + ["approved"] * (len(machines) - 1)
    assert len(_events(emu, "test_cleaned_up")) == len(machines) - 1  # cleaned up after sign-off, as the plan says

    results = {r.machine: r for r in cutover(CutoverRequest(plan_name="life-a"))}
    assert results[rejected].outcome == "skipped" and "rejected by bob" in results[rejected].detail
    migrated = [r for r in results.values() if r.outcome == "migrated"]
    assert sorted(r.machine for r in migrated) == sorted(machines[1:])
    assert all(
        r.new_ip and r.new_ip.startswith("10.20.") and r.old_ip.startswith("172.21.") and r.vm.power_state == "running"
        for r in migrated
    )
    started = _events(emu, "migrate_started")
    assert len(started) == len(machines) - 1 and {e["perform_shutdown"] for e in started} == {"true"}

    again = cutover(CutoverRequest(plan_name="life-a"))
    assert Counter(r.outcome for r in again) == Counter({"already-migrated": len(machines) - 1, "skipped": 1})
    assert len(_events(emu, "migrate_started")) == len(machines) - 1


def test_a_closed_window_is_respected_unless_forced_with_a_reason(start_emulator, prefect_server: None) -> None:
    emu, machines = _replicated_plan(start_emulator, "life-b", 3, open_now=False, seed=32)
    run_test_wave("life-b", "wave-1")
    sign_off(SignOffRequest(plan_name="life-b", wave="wave-1", decision="approve", approver="carol", comment="ok"))
    closed_state = cutover(CutoverRequest(plan_name="life-b"), return_state=True)
    closed = closed_state.result()
    assert {r.detail.split(" until ")[0] for r in closed} == {"the maintenance window of wave wave-1 is closed"}
    assert (
        closed_state.name == "Nothing cut over"
    )  # a run that moved nothing says so in its state, not only in an artifact
    assert closed_state.message.startswith(
        f"nothing to cut over: {len(machines)} the maintenance window of wave wave-1 is closed until "
    )
    assert _events(emu, "migrate_started") == []
    with pytest.raises(ValidationError, match="force_reason"):
        CutoverRequest(plan_name="life-b", force_outside_window=True)
    forced = cutover(
        CutoverRequest(plan_name="life-b", force_outside_window=True, force_reason="CAB-1234 emergency change")
    )
    assert {r.outcome for r in forced} == {"migrated"}


def test_a_cutover_that_would_overrun_the_window_is_not_started(start_emulator, prefect_server: None) -> None:
    emu, machines = _replicated_plan(start_emulator, "life-c", 3, seed=33)
    run_test_wave("life-c", "wave-1")
    sign_off(SignOffRequest(plan_name="life-c", wave="wave-1", decision="approve", approver="dave", comment="ok"))
    results = cutover(CutoverRequest(plan_name="life-c", fixed_minutes=24 * 60))
    assert {r.outcome for r in results} == {"skipped"} and all(
        "would end after the window closes" in r.detail for r in results
    )
    assert _events(emu, "migrate_started") == []


def test_a_failed_migration_reports_the_azure_error_and_the_options(start_emulator, prefect_server: None) -> None:
    emu, machines = _replicated_plan(start_emulator, "life-d", 3, seed=34)
    run_test_wave("life-d", "wave-1")
    sign_off(SignOffRequest(plan_name="life-d", wave="wave-1", decision="approve", approver="erin", comment="ok"))
    emu.admin.add_fault(
        method="POST",
        path="/migrate$",
        lro_error={"code": "SourceVmShutdownFailed", "message": "VMware Tools did not respond."},
        count=1,
    )
    results = cutover(CutoverRequest(plan_name="life-d"))
    (failed,) = [r for r in results if r.outcome == "failed"]
    assert "SourceVmShutdownFailed" in failed.detail and any(o.startswith("roll back") for o in failed.options)
    retried = {r.machine: r.outcome for r in cutover(CutoverRequest(plan_name="life-d"))}
    assert retried[failed.machine] == "migrated"


def test_in_between_outcomes_are_read_as_azure_means_them(start_emulator: StartEmulator, prefect_server: None) -> None:
    """A test "partially succeeded" is not a pass (its test VM is cleaned up before another test); a migration
    "completed with information" is a migration: cut over once, then hardened and cleaned up like any other."""
    emu, machines = _replicated_plan(start_emulator, "life-i", 2, seed=37)
    emu.admin.add_fault(method="POST", path="/testMigrate$", lro_outcome="PartiallySucceeded", count=1)
    reports = {r.machine: r for r in run_test_wave("life-i", "wave-1")}
    (partial,) = [r for r in reports.values() if not r.passed]
    assert "TestMigrationPartiallySucceeded" in partial.detail
    sign_off(SignOffRequest(plan_name="life-i", wave="wave-1", decision="approve", approver="ivy", comment="ok"))
    emu.admin.add_fault(method="POST", path="/migrate$", lro_outcome="CompletedWithInformation", count=1)
    results = {r.machine: r.outcome for r in cutover(CutoverRequest(plan_name="life-i"))}
    (passed,) = [name for name in machines if name != partial.machine]
    assert results == {passed: "migrated", partial.machine: "skipped"}
    states = {
        i["properties"]["machineName"]: i["properties"]["migrationState"] for i in emu.admin.state()["migration_items"]
    }
    assert states[passed] == "MigrationCompletedWithInformation"
    again = {r.machine: r.outcome for r in cutover(CutoverRequest(plan_name="life-i"))}
    assert again[passed] == "already-migrated" and len(_events(emu, "migrate_started")) == 1


def test_sign_off_refuses_unknown_and_untested_machines(start_emulator, prefect_server: None) -> None:
    emu, machines = _replicated_plan(start_emulator, "life-e", 3, seed=35)
    state = sign_off(
        SignOffRequest(
            plan_name="life-e", wave="wave-1", decision="approve", approver="frank", machines=["nosuch", machines[0]]
        ),
        return_state=True,
    )
    message = str(state.result(raise_on_failure=False))
    assert (
        "'nosuch' is not a machine of wave wave-1" in message
        and f"'{machines[0]}' has no succeeded test migration" in message
    )
    assert SignOffLedger.for_wave("life-e", "wave-1").records == []
    with pytest.raises(ValidationError, match="rejection needs a comment"):
        SignOffRequest(plan_name="life-e", wave="wave-1", decision="reject", approver="frank")


def test_a_planned_shutdown_opt_out_is_honoured_and_recorded(start_emulator, prefect_server: None) -> None:
    emu, machines = _replicated_plan(start_emulator, "life-f", 3, seed=36)
    plan = WavePlanBlock.load("life-f").plan
    opted = (
        plan.waves[0]
        .machines[0]
        .model_copy(
            update={
                "perform_shutdown": False,
                "shutdown_opt_out_reason": "cluster node: the partner node keeps serving",
            }
        )
    )
    plan.waves[0].machines[0] = opted
    WavePlanBlock.of(plan).save("life-f", overwrite=True)
    run_test_wave("life-f", "wave-1")
    sign_off(SignOffRequest(plan_name="life-f", wave="wave-1", decision="approve", approver="gina", comment="ok"))
    results = {r.machine: r for r in cutover(CutoverRequest(plan_name="life-f"))}
    assert (
        results[opted.display_name].performed_shutdown is False
        and "partner node keeps serving" in results[opted.display_name].detail
    )
    shutdowns = {e["machine"]: e["perform_shutdown"] for e in _events(emu, "migrate_started")}
    assert shutdowns == {name: "false" if name == opted.display_name else "true" for name in machines}
    with pytest.raises(ValidationError, match="shutdown_opt_out_reason"):
        MachinePlan.model_validate(opted.model_dump() | {"shutdown_opt_out_reason": None})
