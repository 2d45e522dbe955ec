"""`replicate_wave`: initial replication of a wave as a sliding window, and optionally each machine's test
migration as soon as it is seeded: the itinerary (`tasks.itinerary`) up to "seeded" or "tested".

Machines start largest first. Each holds a slot of the global initial-replication limit (100) from
enable until seeded, so the next machine starts as soon as any slot frees, in this run or another:
batches of 100 are how the plan is cut and reported, not a barrier that waits for the slowest. With
`test_when_seeded` a machine is test-migrated the moment its seeding ends (a test holds no replication
slot), so the wave is all tested about one test after its last machine seeded, not after every machine
seeded and then every test ran: the first machines were ready days earlier.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from pydantic import BaseModel, Field

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import PollInterval, WaveName
from wavelift.tasks.board import publish_board
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.journey import Goal, Journey, Trip
from wavelift.tasks.lifecycle import MachineState, Stage, observe, target_vms
from wavelift.tasks.outcomes import finish
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.reconcile import Journeyed, drive
from wavelift.tasks.replication import release_finished_slots
from wavelift.tasks.test_migration import MigrationTestReport
from wavelift.tasks.vault_status import VaultStatusBoard
from wavelift.tasks.wave_rows import step_reports

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


@flow(
    name="replicate-wave",
    flow_run_name="replicate-{plan_name}-{wave}",
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
    plan = WavePlanBlock.load(plan_name).plan
    selected = plan.wave(wave)
    machines = [m for number, ms in enumerate(selected.batches(), start=1) if batch in (None, number) for m in ms]
    if batch is not None and not machines:
        raise ValueError(
            f"wave {wave} of plan {plan_name} has {len(selected.batches())} batch(es); there is no batch {batch}"
        )
    scope = f"{plan_name}-{wave}" + (f"-batch-{batch}" if batch else "")
    infra = resolve_infrastructure(plan.target_block)
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    poll_interval = poll_interval or target.poll_interval
    progress = create_progress_artifact(
        progress=0.0, key=f"replication-{scope}", description=f"Initial replication of {scope}."
    )
    vault = VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval)
    vms = target_vms(target)  # the VMs of completed migrations: they do not come and go while a wave replicates
    start = observe(machines, vault.refresh(), vms)
    release_finished_slots(target, infra, poll_interval)

    def report(journeyed: Journeyed) -> None:
        seeded = sum(journeyed.states[m.source_name].stage not in (Stage.PLANNED, Stage.REPLICATING) for m in machines)
        update_progress_artifact(artifact_id=progress, progress=100.0 * seeded / len(machines))
        wave_states = observe(selected.machines, vault.cached(), vms) | journeyed.states  # a batch is part of it
        publish_board(plan_name, selected, wave_states, journeyed.failures(), journeyed.held)

    journeyed = drive(
        Trip(plan, selected, infra, poll_interval, Journey(goal=Goal.TESTED if test_when_seeded else Goal.SEEDED)),
        machines,
        start,
        {},
        progress=report,
        progress_seconds=BOARD_SECONDS,
    )
    report(journeyed)
    summary = _summary(plan_name, wave, machines, start, journeyed)
    get_run_logger().info(
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


def _summary(
    plan_name: str, wave: str, machines: list[MachinePlan], start: dict[str, MachineState], journeyed: Journeyed
) -> ReplicationSummary:
    """The replication's outcome per machine: seeded in this run, adopted (enabled earlier), completed earlier, or
    failed; and the tests taken as machines seeded."""
    replicated = {p.machine: p for p in journeyed.reports("replicate")}
    summary = ReplicationSummary(
        plan=plan_name,
        wave=wave,
        tests=step_reports(
            journeyed,
            "test",
            lambda m, error: MigrationTestReport(machine=m, item="", passed=False, detail=f"test failed: {error}"),
        ),
    )
    for machine in machines:
        name, stage = machine.display_name, start[machine.source_name].stage
        passed = replicated.get(name)
        if stage == Stage.COMPLETED:
            summary.completed.append(name)
        elif passed is not None and passed.done is not None and not passed.done.ok:
            summary.failed[name] = passed.done.detail
        elif name in journeyed.stopped:
            summary.failed[name] = journeyed.stopped[name]
        elif passed is not None and not (passed.done and passed.done.report and passed.done.report.adopted):
            summary.seeded.append(name)
        elif passed is not None or stage not in (Stage.PLANNED, Stage.REPLICATING):
            summary.adopted.append(name)
    return summary
