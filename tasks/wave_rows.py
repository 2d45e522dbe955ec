"""The rows of a reconciling run's phase reports (test report, cutover table, smoke test, hardening,
clean-up), one per machine, from where its itinerary took each machine: the same rows the phase flows
publish, so a reviewer reads one format whichever flow moved the wave."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from wavelift.tasks.cleanup import CleanupReport
from wavelift.tasks.cutover import FAILURE_OPTIONS, CutoverResult, completed_earlier, skipped
from wavelift.tasks.harden import HardeningReport, StepResult
from wavelift.tasks.lifecycle import MachineState, Stage, has_passed_test
from wavelift.tasks.outcomes import Done
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.reconcile import Journeyed
from wavelift.tasks.smoke_test import SmokeTest
from wavelift.tasks.test_migration import MigrationTestReport

R = TypeVar("R")


def step_reports(journeyed: Journeyed, step: str, failed: Callable[[str, str], R]) -> list[R]:
    """The reports of one step, in the order the machines took it; a step that raised is `failed(machine,
    error)`."""
    return [
        p.done.report if p.done is not None and p.done.report is not None else failed(p.machine, _detail(p.done))
        for p in journeyed.reports(step)
    ]


def failed_smoke_test(machine: str, error: str) -> SmokeTest:
    return SmokeTest(machine=machine, open=[], closed=[], detail=error)


def failed_hardening(machine: str, error: str) -> HardeningReport:
    return HardeningReport(machine=machine, steps=[StepResult(step="harden", ok=False, changed=False, detail=error)])


def failed_cleanup(machine: str, error: str) -> CleanupReport:
    return CleanupReport(machine=machine, migrated=False, detail=f"clean-up failed: {error}", error=error)


def _detail(done: Done | None) -> str:
    return (done.detail if done else "") or "no report"


def _held(journeyed: Journeyed, machine: MachinePlan, state: MachineState, row: str) -> str:
    """Why the machine went no further, on the `row` step's report: the guard that holds its next step (named
    when it is another step), or where it stands."""
    if machine.source_name in journeyed.held:
        step, why = journeyed.held[machine.source_name]
        return why if step in ("stopped", row) else f"{why} ({step})"
    if state.stage == Stage.REPLICATING and state.item is not None:
        return f"initial seeding under way ({state.item.seeding_percent or 0}%)"
    return {Stage.PLANNED: "not replicating"}.get(state.stage, state.stage.value)


def wave_tests(
    machines: list[MachinePlan], start: dict[str, MachineState], journeyed: Journeyed
) -> list[MigrationTestReport]:
    """One test row per machine whose test is not waived: tested in this run, passed earlier, or why not."""
    tested = {r.machine: r for r in step_reports(journeyed, "test", _failed_test)}
    rows = []
    for machine in machines:
        if machine.test_waived:
            continue
        state = start[machine.source_name]
        if machine.display_name in tested:
            rows.append(tested[machine.display_name])
        elif state.stage == Stage.COMPLETED:
            rows.append(_untested(machine, "migration completed earlier: nothing to test"))
        elif has_passed_test(state.item):
            assert state.item is not None
            rows.append(
                MigrationTestReport(
                    machine=machine.display_name,
                    item=machine.source_name,
                    passed=True,
                    detail=f"passed earlier (tested {state.item.last_test_time}): not tested again",
                    tested_at=state.item.last_test_time,
                )
            )
        else:
            rows.append(_untested(machine, _held(journeyed, machine, journeyed.states[machine.source_name], "test")))
    return rows


def _failed_test(machine: str, error: str) -> MigrationTestReport:
    return MigrationTestReport(machine=machine, item="", passed=False, detail=f"test migration failed: {error}")


def _untested(machine: MachinePlan, why: str) -> MigrationTestReport:
    return MigrationTestReport(
        machine=machine.display_name, item=machine.source_name, passed=False, skipped=True, detail=why
    )


def wave_cutovers(
    machines: list[MachinePlan], start: dict[str, MachineState], journeyed: Journeyed
) -> list[CutoverResult]:
    """One cutover row per machine: cut over (or verified) in this run, completed earlier, or why not now."""
    by_machine = {m.display_name: m for m in machines}
    cut = {
        r.machine: r
        for r in step_reports(
            journeyed,
            "cutover",
            lambda name, error: CutoverResult(
                machine=name,
                item=by_machine[name].source_name,
                outcome="failed",
                old_ip=by_machine[name].source_ip,
                detail=f"cutover failed: {error}",
                options=FAILURE_OPTIONS,
                test_waiver=by_machine[name].waiver_note,
            ),
        )
    }
    rows = []
    for machine in machines:
        if machine.display_name in cut:
            rows.append(cut[machine.display_name])
        elif start[machine.source_name].stage == Stage.COMPLETED:
            rows.append(completed_earlier(machine))
        else:
            rows.append(skipped(machine, _held(journeyed, machine, journeyed.states[machine.source_name], "cutover")))
    return rows
