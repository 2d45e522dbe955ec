"""One machine's way from the plan to clean-up, as an itinerary of steps (after Forklift's per-VM itinerary,
kubev2v/forklift `pkg/controller/plan/migration.go`: phases, predicates, `itinerary.Next`).

Each step says when it is due (where the machine stands, as `tasks.lifecycle` observes it), the guards that
must hold before it may act — the DESIGN safety rules as named predicates — and the action, which lives in
the step's own module. `next_step` is the one place that decides what a machine does next; a flow only
chooses the machines and how far they go (a `Goal`), and `tasks.reconcile` acts. A new step is an entry in
`ITINERARY` plus its module.

The rules are pure functions of a machine's `Facts` (they call neither Azure nor Prefect): the guards and
the order are unit-tested on their own (tests/test_itinerary.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from wavelift.tasks.cleanup import cleanup_step
from wavelift.tasks.cutover import cutover_step, eligibility, overruns_window, predicted_duration
from wavelift.tasks.harden import harden_step
from wavelift.tasks.journey import Facts, Goal, Trip
from wavelift.tasks.lifecycle import MIGRATING, ROLLED_BACK_NEXT, MachineState, Stage
from wavelift.tasks.outcomes import Done
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.replication import replicate_step
from wavelift.tasks.signoff import pre_approval_step
from wavelift.tasks.smoke_test import smoke_test_step
from wavelift.tasks.test_migration import migration_test_step


@dataclass(frozen=True)
class Guard:
    """A named rule that must hold before a step acts: `waits_for` says what the step waits for, or None."""

    name: str
    waits_for: Callable[[Facts], str | None]


def _always(f: Facts) -> bool:
    return True


@dataclass(frozen=True)
class Step:
    """One entry of the itinerary: due once per run for a machine that stands at one of `at` when `when` holds."""

    name: str
    goal: Goal  # the step belongs to runs that go at least this far
    at: frozenset[Stage]
    guards: tuple[Guard, ...]
    act: Callable[[Trip, MachinePlan, Facts], Done]  # in the step's module; raises only on a transient error
    reached: Callable[[MachineState], bool]  # the check after it, on the machine observed anew
    lane: str  # the `LANES` entry that bounds how many machines of a run take this step, and its like, at once
    when: Callable[[Facts], bool] = _always
    # How the machine is observed after the step: as the step last read it (`Done.observed`), else read anew; or
    # not at all (the step leaves its stage as it was).
    observe_after: Literal["read", "none"] = "read"
    # The step's own first read covers what its guards look at (the item, the VM and its rolled-back tag), and it
    # leaves alone a machine it finds elsewhere: a machine whose observation went stale while it waited for its
    # lane is not read again before it (at 890 machines, 0.7 of them waited for hardening: three reads each).
    reads_first: bool = False

    def due(self, f: Facts) -> bool:
        allowed = f.journey.only is None or self.name in f.journey.only
        return allowed and self.name not in f.taken and f.state.stage in self.at and self.when(f)


@dataclass(frozen=True)
class Waiting:
    """The next step is held by a guard: what it waits for (a window, a sign-off, a failed earlier step)."""

    step: Step
    guard: str
    reason: str


# The guards: DESIGN's safety rules 1–3 (the clean-up gates of rule 4 are its own), named as reports show them.
def _started(f: Facts) -> bool:
    """The migration started earlier (a killed run's) or is over: the cutover step only awaits and verifies it."""
    return f.state.migrated or (f.state.item is not None and f.state.item.migration_state in MIGRATING)


def _window_open(f: Facts) -> str | None:
    if _started(f) or f.journey.forced_outside_window or f.wave.window.open_at(f.now) is not None:
        return None
    return f"the maintenance window of wave {f.wave.name} is {f.wave.window.describe_closed(f.now)}"


def _fits_window(f: Facts) -> str | None:
    window = f.wave.window.open_at(f.now)
    if _started(f) or window is None:
        return None
    predicted = predicted_duration(f.machine, f.journey.fixed_minutes, f.journey.minutes_per_tb)
    return overruns_window(predicted, f.now, window[1])


def _ended_well(step: str, consequence: str) -> Guard:
    """A step that this run took for the machine and that failed holds what builds on it."""

    def waits_for(f: Facts) -> str | None:
        return None if f.taken.get(step, True) else consequence

    return Guard(f"{step} ended well", waits_for)


def _shutdown_agreed(f: Facts) -> str | None:
    if f.machine.perform_shutdown or (f.machine.shutdown_opt_out_reason or "").strip():
        return None
    return "the plan neither shuts the source down nor gives a reason not to (DESIGN rule 1)"


WINDOW_OPEN = Guard("window open", _window_open)
SHUTDOWN_AGREED = Guard("source shut down, or opted out with a reason", _shutdown_agreed)
SIGNED_OFF = Guard("signed off on the latest test", lambda f: eligibility(f.machine, f.state.item, f.signoff))
FITS_WINDOW = Guard("ends inside the window", _fits_window)
SMOKE_TEST_PASSED = _ended_well("smoke-test", "the smoke test failed: fix the application or roll the cutover back")
HARDENED = _ended_well("harden", "hardening is incomplete: the clean-up waits for a fully hardened VM")


def _needs_approval(f: Facts) -> bool:
    """The run pre-approves, and the latest test has no approval yet."""
    item = f.state.item
    return f.journey.pre_approved_by is not None and not (
        f.signoff is not None
        and f.signoff.decision == "approved"
        and item is not None
        and f.signoff.tested_at == item.last_test_time
    )


def _stage_is(*stages: Stage) -> Callable[[MachineState], bool]:
    return lambda state: state.stage in stages


def _anything(state: MachineState) -> bool:
    return True


REPLICATION, OPERATIONS, AFTERCARE, LEDGER = "initial replication", "operations", "aftercare", "ledger"
LANES = {
    REPLICATION: 108,  # the 100 slots of initial replication, and a few machines waiting to take a freed one at once
    # Test migrations, cutovers and smoke tests: Azure operations polled until they end, which share ARM's read
    # budget (25 reads/s a subscription) with the seeding polls.
    OPERATIONS: 40,
    # Hardening and clean-up of machines already moved: a lane of their own, so that forty of them, each making
    # dozens of ARM requests, never keep a test or a cutover from starting (in one lane they held up the demo's last
    # test and cutover by 41 s and 27 s).
    AFTERCARE: 30,
    LEDGER: 20,  # pre-approvals saved together go to the ledger in one write
}


def threads(steps: Iterable[Step]) -> int:
    """Task runner threads for a flow that takes these steps: one per place in their lanes."""
    return sum(LANES[lane] for lane in {step.lane for step in steps})


SEEDED_OR_LATER = (Stage.SEEDED, Stage.TESTED, Stage.MIGRATED, Stage.COMPLETED)
MOVED = frozenset({Stage.MIGRATED, Stage.COMPLETED})
ITINERARY: tuple[Step, ...] = (
    Step(
        "replicate",
        Goal.SEEDED,
        frozenset({Stage.PLANNED, Stage.REPLICATING}),
        (),
        replicate_step,
        _stage_is(*SEEDED_OR_LATER),
        lane=REPLICATION,
    ),
    Step(
        "test",
        Goal.TESTED,
        frozenset({Stage.SEEDED}),
        (),
        migration_test_step,
        _stage_is(Stage.TESTED),
        lane=OPERATIONS,
        when=lambda f: not f.machine.test_waived,
    ),
    Step(
        "sign-off",
        Goal.TESTED,
        frozenset({Stage.TESTED}),
        (),
        pre_approval_step,
        _anything,
        lane=LEDGER,
        when=_needs_approval,
        observe_after="none",
    ),
    Step(
        "cutover",
        Goal.MIGRATED,
        frozenset({Stage.SEEDED, Stage.TESTED, Stage.MIGRATED}),  # a migrated VM is verified
        (WINDOW_OPEN, SIGNED_OFF, FITS_WINDOW, SHUTDOWN_AGREED),
        cutover_step,
        _stage_is(*MOVED),
        lane=OPERATIONS,
    ),
    Step(
        "smoke-test",
        Goal.MIGRATED,
        frozenset({Stage.MIGRATED}),
        (),
        smoke_test_step,
        _anything,
        lane=OPERATIONS,
        when=lambda f: f.taken.get("cutover", True),  # a VM whose cutover check failed is not probed (its row says why)
        observe_after="none",
    ),
    Step(
        "harden",
        Goal.CLEANED_UP,
        MOVED,
        (SMOKE_TEST_PASSED,),  # a VM whose cutover check failed is hardened still: it runs in Azure
        harden_step,
        _anything,
        lane=AFTERCARE,
        when=lambda f: f.journey.hardening_policy is not None,
        observe_after="none",
        reads_first=True,
    ),
    Step(
        "clean-up",
        Goal.CLEANED_UP,
        MOVED,
        (SMOKE_TEST_PASSED, HARDENED),  # the clean-up's own gates (VM running, backup, grace period) come after
        cleanup_step,
        _anything,
        lane=AFTERCARE,
        when=lambda f: f.journey.cleanup_policy is not None,
        reads_first=True,
    ),
)
STEPS = {step.name: step for step in ITINERARY}
RANK = {step.name: place for place, step in enumerate(ITINERARY)}  # how far along the itinerary a step is


def stopped(f: Facts) -> str | None:
    """Why the machine goes no further whatever the run asks: its replication failed, or its cutover was rolled
    back (the operator decides what comes next)."""
    if f.state.stage == Stage.ROLLED_BACK:
        return ROLLED_BACK_NEXT
    if f.state.stage == Stage.FAILED and f.state.item is not None:
        item = f.state.item
        return f"replication {item.migration_state}: {item.migration_state_description or 'see the vault'}"
    return None


def next_step(f: Facts) -> Step | Waiting | None:
    """The machine's next step (its guards hold), the step a guard holds (`Waiting`), or None: it has gone as
    far as the run's goal, or a failure or a roll back stopped it (`stopped` says which)."""
    if stopped(f):
        return None
    for step in ITINERARY:
        if step.goal > f.journey.goal or not step.due(f):
            continue
        for guard in step.guards:
            if reason := guard.waits_for(f):
                return Waiting(step, guard.name, reason)
        return step
    return None
