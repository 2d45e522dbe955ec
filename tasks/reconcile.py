"""Reconcile machines with their itinerary: observe each in every system of record, take the next step its
guards allow, check the step's result on the machine observed anew, and say where it stands now.

`reconcile_machine` is the one function that acts on a machine for a reconciling flow; `drive` runs a wave's
machines through it as far as the run's goal. Each machine moves on its own: one seeded is tested at once
while others still seed, one signed off is cut over while others wait for their test. A failed step is the
machine's row (Azure's error, the operator's options) and holds only what builds on it; the wave goes on.

A pass is not a Prefect task run: a task run costs Prefect three events, a row and three state rows, and a
thousand-machine wave takes seven thousand passes. Each pass that takes a step is instead one log line of the
flow run, the step's own event about the machine (`wavelift.machine.replication.seeded`, `test.passed`,
`cutover.migrated`...: one per change of state) and `wavelift.machine.step.failed` when it failed; `drive`
retries a transient failure itself, as the task's retries did.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_any
from contextvars import copy_context
from datetime import UTC, datetime, timedelta

from prefect import get_run_logger
from pydantic import BaseModel, Field

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.signoff import SignOff
from wavelift.tasks.discovery import ReplicationInfrastructure
from wavelift.tasks.events import machine_event
from wavelift.tasks.itinerary import ITINERARY, LANES, RANK, STEPS, Step, Waiting, next_step, stopped, threads
from wavelift.tasks.journey import Facts, Trip
from wavelift.tasks.lifecycle import CUTOVER_FAILED, MIGRATED, MachineState, Stage, rolled_back
from wavelift.tasks.outcomes import Done, error_text
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.transient import RETRY_SECONDS, is_transient
from wavelift.tasks.vault_status import read_item
from wavelift.tasks.vm_checks import find_vm

STALE_AFTER = timedelta(minutes=5)  # an observation older than this (or a poll interval) is read again first


class Reconciled(BaseModel):
    """One pass of `reconcile_machine`: the step taken (None if the machine had nothing to do or a guard held
    it), what it did, what the machine waits for next, and its state observed after the step."""

    machine: str
    step: str | None
    done: Done | None = None
    waiting_for: str | None = Field(default=None, description="What holds the machine's next step, if anything.")
    state: MachineState


def observe_machine(
    target: AzureMigrationTarget, infra: ReplicationInfrastructure, machine: MachinePlan
) -> MachineState:
    """Where one machine stands, read now: its migration item, and its Azure VM wherever the VM decides
    (no item: never replicated or migration completed; migrated or failed: rolled back or not)."""
    item = read_item(target, infra, machine)
    vm = None
    if item is None or item.migration_state in MIGRATED | CUTOVER_FAILED:
        vm = find_vm(target, machine.target_vm_name)
    return MachineState(
        machine=machine.display_name,
        item=item,
        vm_exists=vm is not None,
        rolled_back=vm is not None and rolled_back(vm.tags),
        observed=datetime.now(UTC),
    )


def facts_of(trip: Trip, machine: MachinePlan, state: MachineState, signoff: SignOff | None, taken: dict) -> Facts:
    return Facts(
        machine=machine,
        state=state,
        signoff=signoff,
        wave=trip.wave,
        now=datetime.now(UTC),
        journey=trip.journey,
        taken=taken,
    )


def _act(step: Step, trip: Trip, machine: MachinePlan, facts: Facts) -> Done:
    """The step's action; a refusal is the step's failed outcome, a transient error is raised for a retry."""
    try:
        return step.act(trip, machine, facts)
    except Exception as exc:
        if is_transient(exc):
            raise
        return Done(ok=False, detail=error_text(exc))


def _observed_after(
    step: Step, done: Done, target: AzureMigrationTarget, trip: Trip, machine: MachinePlan, before: MachineState
) -> MachineState:
    """The machine after the step, read only where the step may have moved it and did not read it itself."""
    if step.observe_after == "none":
        return before
    return done.observed or observe_machine(target, trip.infra, machine)


def reconcile_machine(
    trip: Trip, machine: MachinePlan, step: str, state: MachineState, signoff: SignOff | None, taken: dict[str, bool]
) -> Reconciled:
    """Observe the machine, take its next step if the guards allow (normally `step`, which the flow chose from
    `state`), check the result on the machine observed anew, and log it; a failed step is also emitted as
    `wavelift.machine.step.failed` (each step's own module emits the event of what it changed).

    `state` stands for the first observation while it is recent (the flow's wave list, or the previous step's
    check): what changes a machine meanwhile is another run, and every action reads the item itself before it
    writes. After the step the machine is read again only where the step may have moved it and did not read it
    itself (`Step.observe_after`). A step that reads the machine itself first (`Step.reads_first`) is taken on a
    stale observation too, and its own read decides (`Done.left_alone`).
    Reads matter: a wave's steps share ARM's read budget with its seeding polls.
    """
    target = trip.target()
    recent = state.observed is not None and datetime.now(UTC) - state.observed < max(
        STALE_AFTER, timedelta(seconds=trip.poll_interval)
    )
    before = state if recent or STEPS[step].reads_first else observe_machine(target, trip.infra, machine)
    facts = facts_of(trip, machine, before, signoff, taken)
    decision = next_step(facts)
    if not isinstance(decision, Step):
        why = decision.reason if isinstance(decision, Waiting) else stopped(facts)
        return Reconciled(machine=machine.display_name, step=None, waiting_for=why, state=before)
    if decision.name != step:
        get_run_logger().info("%s: %s instead of %s (Azure moved on)", machine.display_name, decision.name, step)
    done = _act(decision, trip, machine, facts)
    if done.left_alone is not None:
        get_run_logger().info("%s: %s left it alone: %s", machine.display_name, decision.name, done.left_alone)
        after = done.observed or observe_machine(target, trip.infra, machine)
        return Reconciled(machine=machine.display_name, step=None, waiting_for=done.left_alone, state=after)
    after = _observed_after(decision, done, target, trip, machine, before)
    if done.ok and not decision.reached(after):
        done = done.model_copy(update={"ok": False, "detail": f"{done.detail}; but Azure shows it {after.stage}"})
    get_run_logger().log(
        logging.INFO if done.ok else logging.WARNING,
        "%s: %s %s (%s -> %s): %s",
        machine.display_name,
        decision.name,
        "ended well" if done.ok else "FAILED",
        before.stage.value,
        after.stage.value,
        done.detail,
    )
    if not done.ok:  # a step that ended well emitted its own event (seeded, test passed, migrated, hardened...)
        machine_event(
            machine,
            "step.failed",
            step=decision.name,
            detail=done.detail,
            stage_before=before.stage.value,
            stage=after.stage.value,
        )
    return Reconciled(machine=machine.display_name, step=decision.name, done=done, state=after)


class Journeyed(BaseModel):
    """Where a run left each machine: the passes it made (in order), its state, and what holds it now."""

    order: list[str] = Field(default_factory=list, description="The machines (display names) in the run's order.")
    passes: list[Reconciled] = Field(default_factory=list)
    states: dict[str, MachineState] = Field(default_factory=dict, description="By source name, after the run.")
    held: dict[str, tuple[str, str]] = Field(
        default_factory=dict, description="By source name: (the step a guard holds, why), or why it stopped."
    )
    stopped: dict[str, str] = Field(default_factory=dict, description="Failed replications, by display name.")

    def reports(self, step: str) -> list[Reconciled]:
        """The passes that took `step`, in the run's order of machines (not the order they ended in)."""
        rank = {name: i for i, name in enumerate(self.order)}
        return sorted((p for p in self.passes if p.step == step), key=lambda p: rank.get(p.machine, len(rank)))

    def failures(self) -> dict[str, str]:
        """Every machine whose step failed in this run, or whose replication Azure reports failed."""
        failed = {p.machine: p.done.detail for p in self.passes if p.done is not None and not p.done.ok}
        return self.stopped | failed


class Lanes:
    """Machines whose next step is decided, waiting for a place in the step's lane (`LANES`): when a place frees,
    the machine furthest along the itinerary goes first (a cutover before a test, a test before a new replication:
    machines finish rather than pile up half-way), and machines at the same step go in the order they came.

    A waiting machine is not decided again while it waits: its pass decides anew from its state and the time when
    it starts (a window that closed meanwhile holds it then). Deciding every waiting machine at every pass's end
    cost the flow a thousand decisions per pass at 1,000 machines."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[tuple[int, int, MachinePlan, Step]]] = {lane: [] for lane in LANES}
        self._busy: Counter[str] = Counter()
        self._order = itertools.count()

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._waiting.values())

    def add(self, machine: MachinePlan, step: Step) -> None:
        heapq.heappush(self._waiting[step.lane], (-RANK[step.name], next(self._order), machine, step))

    def start(self) -> list[tuple[MachinePlan, Step]]:
        """The machines that take a freed place now, each place taken until `done`."""
        started = []
        for lane, waiting in self._waiting.items():
            while waiting and self._busy[lane] < LANES[lane]:
                _, _, machine, step = heapq.heappop(waiting)
                self._busy[lane] += 1
                started.append((machine, step))
        return started

    def done(self, step: Step) -> None:
        self._busy[step.lane] -= 1


class Retries:
    """Steps that failed transiently, taken again after `RETRY_SECONDS`: (when, machine) in the order due."""

    def __init__(self) -> None:
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.due: list[tuple[float, MachinePlan]] = []

    def schedule(self, machine: MachinePlan, step: Step, error: BaseException) -> bool:
        """Whether the step gets another attempt (then the machine is due again later)."""
        attempt = self.attempts[(machine.source_name, step.name)]
        if not is_transient(error) or attempt >= len(RETRY_SECONDS):
            return False
        self.attempts[(machine.source_name, step.name)] += 1
        get_run_logger().warning(
            "%s: %s failed transiently (%s); again in %.0f s",
            machine.display_name,
            step.name,
            error_text(error),
            RETRY_SECONDS[attempt],
        )
        self.due.append((time.monotonic() + RETRY_SECONDS[attempt], machine))
        self.due.sort(key=lambda pair: pair[0])
        return True

    def wait(self, at_most: float) -> None:
        """Sleep until the next retry is due, `at_most` seconds."""
        if self.due:
            time.sleep(min(at_most, max(0.0, self.due[0][0] - time.monotonic())))

    def ready(self) -> list[MachinePlan]:
        """The machines whose retry is due now."""
        now, ready = time.monotonic(), []
        while self.due and self.due[0][0] <= now:
            ready.append(self.due.pop(0)[1])
        return ready


def drive(
    trip: Trip,
    machines: list[MachinePlan],
    states: dict[str, MachineState],
    signoffs: dict[str, SignOff | None],
    progress: Callable[[Journeyed], None] | None = None,
    progress_seconds: float = 60.0,
) -> Journeyed:
    """Run each machine through its itinerary as far as the trip's goal, each at its own pace, at most
    `LANES[lane]` machines of the run at once in each lane. When a lane is full, a machine further along its
    itinerary goes first (a cutover before a test, a test before a new replication: machines finish rather than
    pile up half-way); machines at the same step keep the given order (largest first). `progress` sees the
    run's state every `progress_seconds`.

    Passes run in threads of this run's own, each in a copy of the flow run's context (its logger, its events'
    related resources)."""
    journeyed = Journeyed(order=[m.display_name for m in machines], states=dict(states))
    taken: dict[str, dict[str, bool]] = {m.source_name: {} for m in machines}
    signoffs = dict(signoffs)
    queue: deque[MachinePlan] = deque(machines)
    running: dict[Future[Reconciled], tuple[MachinePlan, Step]] = {}
    lanes = Lanes()
    retries = Retries()
    reported_at = time.monotonic()
    steps = [s for s in ITINERARY if s.goal <= trip.journey.goal]
    with ThreadPoolExecutor(max_workers=threads(steps), thread_name_prefix="wavelift-pass") as pool:
        while queue or running or retries.due or lanes:
            queue.extend(retries.ready())
            while queue:
                machine = queue.popleft()
                name = machine.source_name
                facts = facts_of(trip, machine, journeyed.states[name], signoffs.get(name), taken[name])
                decision = next_step(facts)
                if isinstance(decision, Step):
                    lanes.add(machine, decision)
                else:
                    _hold(journeyed, machine, facts, decision)
            for machine, step in lanes.start():
                name = machine.source_name
                arguments = (trip, machine, step.name, journeyed.states[name], signoffs.get(name), dict(taken[name]))
                running[pool.submit(copy_context().run, reconcile_machine, *arguments)] = (machine, step)
            if running:
                ended = wait_any(running, timeout=1.0, return_when=FIRST_COMPLETED)[0]
            else:
                ended = set()
                retries.wait(at_most=1.0)
            for future in ended:
                machine, step = running.pop(future)
                lanes.done(step)
                if (passed := _result(future, machine, step, journeyed.states[machine.source_name], retries)) is None:
                    continue  # taken again later
                journeyed.passes.append(passed)
                journeyed.states[machine.source_name] = passed.state
                if passed.step is None:  # nothing to do after all: the guard that held it is its row
                    journeyed.held[machine.source_name] = (step.name, passed.waiting_for or "nothing to do now")
                    continue
                taken[machine.source_name][passed.step] = passed.done is not None and passed.done.ok
                if passed.step == "sign-off" and passed.done is not None and passed.done.ok:
                    signoffs[machine.source_name] = passed.done.report
                queue.append(machine)
            if progress and time.monotonic() - reported_at > progress_seconds:
                try:
                    progress(journeyed)
                except Exception as exc:  # noqa: BLE001 - a board not published this minute never stops the wave
                    get_run_logger().warning("The progress report failed (%s); the wave goes on", error_text(exc))
                reported_at = time.monotonic()
    return journeyed


def _hold(journeyed: Journeyed, machine: MachinePlan, facts: Facts, decision: Waiting | None) -> None:
    """Note why a machine goes no further in this run."""
    journeyed.held.pop(machine.source_name, None)
    if isinstance(decision, Waiting):
        journeyed.held[machine.source_name] = (decision.step.name, decision.reason)
    elif why := stopped(facts):
        journeyed.held[machine.source_name] = ("stopped", why)
        if facts.state.stage == Stage.FAILED:
            journeyed.stopped[machine.display_name] = why


def _result(
    future: Future[Reconciled], machine: MachinePlan, step: Step, state: MachineState, retries: Retries
) -> Reconciled | None:
    """The pass's result; None when it failed transiently and gets another attempt later. A pass that raised
    otherwise, or past its retries, is a failed step."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one machine's failure is its row, never the run's end
        if retries.schedule(machine, step, exc):
            return None
        return Reconciled(
            machine=machine.display_name, step=step.name, done=Done(ok=False, detail=error_text(exc)), state=state
        )
