"""The itinerary's rules, on their own (no emulator, no Prefect server): which step comes next for a machine
wherever it stands, and which safety rule holds it — the order a reconciling run follows."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Literal

import pytest

from wavelift.blocks.signoff import SignOff
from wavelift.tasks.itinerary import ITINERARY, Step, Waiting, next_step, stopped
from wavelift.tasks.journey import Facts, Goal, Journey
from wavelift.tasks.lifecycle import ROLLED_BACK_NEXT, MachineState, Stage
from wavelift.tasks.plan_models import MachinePlan, MaintenanceWindow, Wave
from wavelift.tasks.vault_status import ItemStatus

SITE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OffAzure/VMwareSites/site/machines"
TESTED_AT = "2026-12-01T10:00:00+00:00"
OPEN = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)  # a Saturday, inside 22:00–04:00
CLOSED = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
WINDOW = MaintenanceWindow(timezone="UTC", days=["Sat", "Sun"], start=time(22), end=time(4))
ALL_THE_WAY = Journey(goal=Goal.CLEANED_UP, hardening_policy="harden", cleanup_policy="clean")


def _machine(data_gb: int = 0, **fields: object) -> MachinePlan:
    disks = [{"uuid": "os", "size_gb": 100, "is_os": True}]
    return MachinePlan.model_validate(
        {
            "source_name": "item-1",
            "machine_id": f"{SITE}/item-1",
            "display_name": "web-01",
            "os_type": "Linux",
            "target_vm_name": "web-01",
            "target_vm_size": "Standard_B2s",
            "disks": disks + ([{"uuid": "data", "size_gb": data_gb, "is_os": False}] if data_gb else []),
            **fields,
        }
    )


def _item(state: str = "Replicating", test: str = "None", passed: bool = False) -> ItemStatus:
    return ItemStatus(
        name="item-1",
        id="id",
        migration_state=state,
        test_state=test,
        allowed_operations=["Migrate", "TestMigrate"],
        last_test_status="Succeeded" if passed else None,
        last_test_time=TESTED_AT if passed else None,
    )


def _state(item: ItemStatus | None, vm: bool = False, rolled_back: bool = False) -> MachineState:
    return MachineState(machine="web-01", item=item, vm_exists=vm, rolled_back=rolled_back)


def _approval(tested_at: str | None = TESTED_AT, decision: Literal["approved", "rejected"] = "approved") -> SignOff:
    return SignOff(
        machine="web-01", item="item-1", decision=decision, approver="ann", comment="ok", at=OPEN, tested_at=tested_at
    )


def _facts(
    state: MachineState,
    journey: Journey = ALL_THE_WAY,
    machine: MachinePlan | None = None,
    signoff: SignOff | None = None,
    now: datetime = OPEN,
    taken: dict[str, bool] | None = None,
) -> Facts:
    machine = machine or _machine()
    wave = Wave(name="wave-1", window=WINDOW, machines=[_machine()])  # the guards read its name and window
    return Facts(machine=machine, state=state, signoff=signoff, wave=wave, now=now, journey=journey, taken=taken or {})


def _next(facts: Facts) -> str | None:
    decision = next_step(facts)
    if isinstance(decision, Waiting):
        return f"{decision.step.name} waits: {decision.guard}"
    return decision.name if isinstance(decision, Step) else None


def test_a_machine_goes_from_plan_to_clean_up_in_the_itinerary_order() -> None:
    tested = _item(passed=True)
    assert _next(_facts(_state(None))) == "replicate"
    assert _next(_facts(_state(_item("InitialSeedingInProgress")))) == "replicate"  # adopted where a killed run left it
    assert _next(_facts(_state(_item()))) == "test"
    assert _next(_facts(_state(tested), signoff=_approval())) == "cutover"
    assert _next(_facts(_state(_item("MigrationSucceeded"), vm=True))) == "cutover"  # verified, needs no window
    migrated = _state(_item("MigrationSucceeded"), vm=True)
    assert _next(_facts(migrated, taken={"cutover": True})) == "smoke-test"
    assert _next(_facts(migrated, taken={"cutover": True, "smoke-test": True})) == "harden"
    assert _next(_facts(migrated, taken={"cutover": True, "smoke-test": True, "harden": True})) == "clean-up"
    done = {"cutover": True, "smoke-test": True, "harden": True, "clean-up": True}
    assert _next(_facts(migrated, taken=done)) is None
    assert [s.name for s in ITINERARY] == [
        "replicate",
        "test",
        "sign-off",
        "cutover",
        "smoke-test",
        "harden",
        "clean-up",
    ]


def test_a_run_goes_only_as_far_as_its_goal() -> None:
    seeded, tested = _state(_item()), _state(_item(passed=True))
    assert _next(_facts(seeded, Journey(goal=Goal.SEEDED))) is None
    assert _next(_facts(seeded, Journey(goal=Goal.TESTED))) == "test"
    assert _next(_facts(tested, Journey(goal=Goal.TESTED))) is None  # no cutover in a test-only run
    assert _next(_facts(tested, Journey(goal=Goal.TESTED, pre_approved_by="ann"))) == "sign-off"
    migrated = _state(_item("MigrationSucceeded"), vm=True)
    taken = {"cutover": True, "smoke-test": True}
    assert _next(_facts(migrated, Journey(goal=Goal.MIGRATED), taken=taken)) is None
    assert _next(_facts(migrated, Journey(goal=Goal.CLEANED_UP), taken=taken)) is None  # no policies: nothing to do


def test_a_cutover_waits_for_the_sign_off_of_the_latest_test() -> None:
    tested = _state(_item(passed=True))
    assert _next(_facts(tested)) == "cutover waits: signed off on the latest test"
    assert _next(_facts(tested, signoff=_approval(tested_at="2026-11-01T10:00:00+00:00"))) == (
        "cutover waits: signed off on the latest test"
    )
    rejected = next_step(_facts(tested, signoff=_approval(decision="rejected")))
    assert isinstance(rejected, Waiting) and "rejected by ann" in rejected.reason
    assert _next(_facts(tested, Journey(goal=Goal.MIGRATED, pre_approved_by="ann"))) == "sign-off"
    pre_approved = Journey(goal=Goal.MIGRATED, pre_approved_by="ann")
    assert _next(_facts(tested, pre_approved, signoff=_approval())) == "cutover"


def test_a_cutover_without_a_shutdown_needs_a_reason_on_record() -> None:
    ready = _state(_item(passed=True))
    unexplained = _machine().model_copy(update={"perform_shutdown": False})  # as a hand-edited block could hold
    held = next_step(_facts(ready, machine=unexplained, signoff=_approval()))
    assert isinstance(held, Waiting) and held.guard == "source shut down, or opted out with a reason"
    explained = unexplained.model_copy(update={"shutdown_opt_out_reason": "a cluster node: the peer keeps serving"})
    assert _next(_facts(ready, machine=explained, signoff=_approval())) == "cutover"


def test_a_failed_test_holds_the_cutover_and_a_waived_test_does_not() -> None:
    failed_test = _state(_item(test="TestMigrationFailed"))
    decision = next_step(_facts(failed_test, taken={"test": False}))
    assert isinstance(decision, Waiting) and decision.step.name == "cutover"
    assert decision.reason == "no succeeded test migration"
    waived = _machine(test_waiver_reason="vendor-certified appliance", test_waived_by="ivy")
    assert _next(_facts(_state(_item()), machine=waived)) == "cutover"


def test_the_window_holds_a_cutover_but_not_a_verification() -> None:
    ready = _state(_item(passed=True))
    closed = next_step(_facts(ready, signoff=_approval(), now=CLOSED))
    assert isinstance(closed, Waiting) and closed.guard == "window open" and "closed until 22:00" in closed.reason
    big = _machine(data_gb=20_000)  # 20 min + 30 min per TB: about 10 hours, in a window 5 hours from its end
    overrun = next_step(_facts(ready, machine=big, signoff=_approval()))
    assert isinstance(overrun, Waiting) and overrun.guard == "ends inside the window"
    migrated = _state(_item("MigrationSucceeded"), vm=True)
    assert _next(_facts(migrated, now=CLOSED)) == "cutover"
    started = _state(_item("MigrationInProgress", passed=True))  # a killed run's migration is awaited, window or not
    assert _next(_facts(started, machine=big, signoff=_approval(), now=CLOSED)) == "cutover"


def test_a_failed_step_holds_what_builds_on_it() -> None:
    migrated = _state(_item("MigrationSucceeded"), vm=True)
    smoke_failed = next_step(_facts(migrated, taken={"cutover": True, "smoke-test": False}))
    assert isinstance(smoke_failed, Waiting) and smoke_failed.step.name == "harden"
    assert "roll the cutover back" in smoke_failed.reason
    # a VM whose cutover check failed is not probed, but hardened, and its clean-up's own gates judge it
    assert _next(_facts(migrated, taken={"cutover": False})) == "harden"
    not_hardened = next_step(_facts(migrated, taken={"cutover": True, "smoke-test": True, "harden": False}))
    assert isinstance(not_hardened, Waiting) and not_hardened.step.name == "clean-up"


def test_a_finished_wave_is_never_replicated_tested_or_cut_over_again() -> None:
    completed = _state(None, vm=True)
    assert completed.stage == Stage.COMPLETED
    assert _next(_facts(completed, Journey(goal=Goal.CLEANED_UP, pre_approved_by="ann"))) is None
    assert _next(_facts(completed)) == "harden"  # reads before it writes: nothing changes on a hardened VM


def test_a_failed_replication_or_a_roll_back_stops_the_machine() -> None:
    failed = _facts(_state(_item("InitialSeedingFailed")))
    assert next_step(failed) is None and "InitialSeedingFailed" in (stopped(failed) or "")
    rolled = _facts(_state(_item("MigrationSucceeded"), vm=True, rolled_back=True))
    assert next_step(rolled) is None and stopped(rolled) == ROLLED_BACK_NEXT


@pytest.mark.parametrize("stage_item", ["None", "Replicating", "MigrationFailed", "ProtectionSuspended"])
@pytest.mark.parametrize("goal", list(Goal))
def test_every_stage_and_goal_has_a_decision(stage_item: str, goal: Goal) -> None:
    item = None if stage_item == "None" else _item(stage_item)
    decision = next_step(_facts(_state(item), Journey(goal=goal)))
    assert decision is None or isinstance(decision, Step | Waiting)
    if isinstance(decision, Step | Waiting):
        step = decision if isinstance(decision, Step) else decision.step
        assert step.goal <= goal


def test_a_full_lane_lets_in_the_machine_furthest_along_then_the_earliest() -> None:
    """When a place frees in a lane, a cutover goes before a test (machines finish rather than pile up half-way),
    machines at the same step go in the order they came, and no lane holds more machines than its places."""
    from wavelift.tasks.itinerary import LANES, OPERATIONS, STEPS
    from wavelift.tasks.reconcile import Lanes

    lanes = Lanes()
    machines = {
        n: _machine(source_name=f"item-{n}", machine_id=f"{SITE}/item-{n}", display_name=f"web-{n:02d}")
        for n in range(LANES[OPERATIONS] + 4)
    }
    for n in range(LANES[OPERATIONS] + 2):
        lanes.add(machines[n], STEPS["test"])
    started = lanes.start()
    assert [m.display_name for m, _ in started] == [f"web-{n:02d}" for n in range(LANES[OPERATIONS])]
    lanes.add(machines[LANES[OPERATIONS] + 2], STEPS["cutover"])
    lanes.add(machines[LANES[OPERATIONS] + 3], STEPS["replicate"])  # another lane: starts at once
    assert [(m.display_name, s.name) for m, s in lanes.start()] == [(f"web-{LANES[OPERATIONS] + 3:02d}", "replicate")]

    lanes.done(STEPS["test"])
    lanes.done(STEPS["test"])
    assert [(m.display_name, s.name) for m, s in lanes.start()] == [
        (f"web-{LANES[OPERATIONS] + 2:02d}", "cutover"),
        (f"web-{LANES[OPERATIONS]:02d}", "test"),
    ]
    assert len(lanes) == 1 and lanes.start() == []
