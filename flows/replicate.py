"""`replicate_wave`: initial replication of a wave as a sliding window, and optionally each machine's test
migration as soon as it is seeded.

Machines start largest first. Each holds a slot of the global initial-replication limit (100) from
enable until seeded, so the next machine starts as soon as any slot frees, in this run or another:
batches of 100 are how the plan is cut and reported, not a barrier that waits for the slowest. With
`test_when_seeded` a machine is test-migrated the moment its seeding ends (a test holds no replication
slot), so the wave is all tested about one test after its last machine seeded, not after every machine
seeded and then every test ran: the first machines were ready days earlier.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as wait_any
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectConcurrentFuture
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from blocks.azure import AzureMigrationTarget
from blocks.parameters import PlanName
from blocks.plan import WavePlanBlock
from flows.parameters import PollInterval, WaveName
from tasks.board import publish_board
from tasks.discovery import resolve_infrastructure
from tasks.lifecycle import Stage, observe, target_vms
from tasks.outcomes import error_text, finish
from tasks.plan_models import MAX_BATCH, MachinePlan
from tasks.replication import ReplicationOutcome, replicate_machine
from tasks.test_migration import PARALLEL_TESTS, MigrationTestReport, run_test_migration
from tasks.vault_status import VaultStatusBoard

WAITING_BEYOND_SLOTS = 8  # machines queued for a slot at any time: enough to hand a freed slot over at once
BOARD_SECONDS = 60.0  # how often the wave board gets a new version while the wave replicates


class ReplicationSummary(BaseModel):
    """What a replication run did."""

    plan: str
    wave: str
    seeded: list[str] = Field(default_factory=list)
    adopted: list[str] = Field(default_factory=list)
    completed: list[str] = Field(
        default_factory=list, description="Migrated and completed earlier: nothing to replicate."
    )
    failed: dict[str, str] = Field(default_factory=dict)
    tests: list[MigrationTestReport] = Field(
        default_factory=list, description="The test migrations started as machines seeded (test_when_seeded)."
    )


def _test_report(machine: MachinePlan, future: PrefectConcurrentFuture) -> MigrationTestReport:
    """A pipelined test's report; a test that raised is a failed row (test-wave reports it again)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one machine's failed test is its row
        return MigrationTestReport(
            machine=machine.display_name, item=machine.source_name, passed=False, detail=error_text(exc)
        )


def _finished(running: dict[PrefectConcurrentFuture, MachinePlan], timeout: float) -> list[PrefectConcurrentFuture]:
    """The task futures that ended, waiting at most `timeout` for the first.

    Waits on the thread pool's own futures: `prefect.futures.wait(..., timeout=)` arms a SIGALRM when
    the flow runs in a process's main thread (as under a worker), and an alarm landing inside its
    `threading.Event.wait` left a lock held and hung the whole flow run (seen with prefect 3.9.1).
    """
    ended, _ = wait_any([f.wrapped_future for f in running], timeout=timeout, return_when=FIRST_COMPLETED)
    return [f for f in running if f.wrapped_future in ended]


@flow(
    name="replicate-wave",
    flow_run_name="replicate-{plan_name}-{wave}",
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_BATCH + WAITING_BEYOND_SLOTS + PARALLEL_TESTS),
)
def replicate_wave(
    plan_name: PlanName,
    wave: WaveName,
    poll_interval: PollInterval | None = None,
    batch: Annotated[int, Field(ge=1, le=1000)] | None = None,
    test_when_seeded: bool = False,
) -> ReplicationSummary:
    """Replicate every machine of a wave (or of one of its batches); re-running it adopts what already replicates.

    Args:
        plan_name: The plan (a wavelift Wave Plan block).
        wave: The wave to replicate.
        poll_interval: Seconds between vault reads while machines seed; empty means the target block's.
        batch: Only this batch of the wave (1 = the largest machines); empty replicates the whole wave.
            Runs of several batches may go to different workers: the global limit holds across them.
        test_when_seeded: Test-migrate each machine as soon as it is seeded (unless its plan waives the test),
            instead of leaving every test to test-wave.
    """
    logger = get_run_logger()
    plan = WavePlanBlock.load(plan_name).plan
    machines = [
        (number, m)
        for number, machines in enumerate(plan.wave(wave).batches(), start=1)
        if batch in (None, number)
        for m in machines
    ]
    if batch is not None and not machines:
        raise ValueError(
            f"wave {wave} of plan {plan_name} has {len(plan.wave(wave).batches())} batch(es); there is no batch {batch}"
        )
    scope = f"{plan_name}-{wave}" + (f"-batch-{batch}" if batch else "")
    infra = resolve_infrastructure(plan.target_block)
    target = AzureMigrationTarget.load(plan.target_block)
    poll_interval = poll_interval or target.poll_interval
    board = VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval)
    progress = create_progress_artifact(
        progress=0.0, key=f"replication-{scope}", description=f"Initial replication of {scope}."
    )
    vms = target_vms(target)  # the VMs of completed migrations: they do not come and go while a wave replicates
    states = observe([m for _, m in machines], board.refresh(), vms)
    summary = ReplicationSummary(
        plan=plan_name,
        wave=wave,
        completed=[m.display_name for _, m in machines if states[m.source_name].stage == Stage.COMPLETED],
    )
    queue = deque(
        m for _, m in machines if m.display_name not in summary.completed
    )  # a completed migration is never replicated again
    running: dict[PrefectConcurrentFuture, MachinePlan] = {}
    testing: dict[PrefectConcurrentFuture, MachinePlan] = {}
    to_test: deque[MachinePlan] = deque()  # seeded, waiting for a test thread: tests never delay a replication's start
    clean_up = plan.wave(wave).cleanup_test == "immediately"
    board_at = time.monotonic()
    while queue or running or testing or to_test:
        while queue and len(running) < MAX_BATCH + WAITING_BEYOND_SLOTS:
            machine = queue.popleft()
            running[replicate_machine.submit(plan.target_block, infra, machine, poll_interval)] = machine
        while to_test and len(testing) < PARALLEL_TESTS:
            machine = to_test.popleft()
            testing[run_test_migration.submit(plan.target_block, infra, machine, clean_up, poll_interval)] = machine
        done = _finished(running | testing, 1.0)
        for future in done:
            if future in testing:
                summary.tests.append(_test_report(testing.pop(future), future))
                continue
            machine = running.pop(future)
            try:
                outcome: ReplicationOutcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a machine's failure is reported, the wave goes on
                summary.failed[machine.display_name] = error_text(exc)
                continue
            (summary.adopted if outcome.adopted else summary.seeded).append(machine.display_name)
            if test_when_seeded and not machine.test_waived:
                to_test.append(machine)
        if done:
            finished = len(summary.seeded) + len(summary.adopted) + len(summary.completed) + len(summary.failed)
            update_progress_artifact(artifact_id=progress, progress=100.0 * finished / len(machines))
        if time.monotonic() - board_at > BOARD_SECONDS:
            publish_board(
                plan_name, plan.wave(wave), observe(plan.wave(wave).machines, board.cached(), vms), summary.failed
            )
            board_at = time.monotonic()
    publish_board(plan_name, plan.wave(wave), observe(plan.wave(wave).machines, board.refresh(), vms), summary.failed)
    logger.info(
        "%s/%s: %d seeded, %d adopted, %d completed earlier, %d failed; %d tested as they seeded",
        plan_name,
        wave,
        len(summary.seeded),
        len(summary.adopted),
        len(summary.completed),
        len(summary.failed),
        len(summary.tests),
    )
    return finish(summary, f"replication of {scope}", len(machines), summary.failed)
