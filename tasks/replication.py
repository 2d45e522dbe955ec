"""Replication: enable a machine's replication (through its source platform's adapter) and wait for its initial
seeding, holding one slot of the global initial-replication limit from enable until seeded.

Reads before it acts: a machine the vault already replicates is adopted, not enabled again, and an
enable that Azure answers with a conflict is treated the same way. Waiting uses the shared vault
board, so a thousand waiting machines cost one list call per poll interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from prefect import get_run_logger
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.tasks.discovery import ReplicationInfrastructure, vault_scope
from wavelift.tasks.events import machine_event
from wavelift.tasks.lifecycle import MachineState, is_seeded, seeding_over
from wavelift.tasks.limits import SlotQueue
from wavelift.tasks.outcomes import Done
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.slot_leases import MachineSlot, release_finished
from wavelift.tasks.sources import adapter_for
from wavelift.tasks.vault_status import ItemStatus, VaultStatusBoard

if TYPE_CHECKING:
    from wavelift.tasks.journey import Facts, Trip

INITIAL_REPLICATION_LIMIT = "wavelift-initial-replications"


class ReplicationFailed(RuntimeError):
    """Azure reports that a machine's replication failed; retrying the task would not help."""


class ReplicationOutcome(BaseModel):
    """How one machine's initial replication ended."""

    machine: str
    item: str
    state: str
    adopted: bool


def _enable(
    target: AzureMigrationTarget, infra: ReplicationInfrastructure, machine: MachinePlan
) -> tuple[bool, str | None]:
    """Start replication: (adopted, job). Adopted when Azure already had it (a 409); the job is the Site Recovery
    job the enable started, named by the operation URL Azure answers with, as Az.Migrate reads it
    (`New-AzMigrateServerReplication.ps1`: `$output.Target.Split("/")[12]`), or None if the answer names none."""
    client = target.site_recovery_client()
    answers: list[PipelineResponse] = []
    try:
        body = adapter_for(machine).enable_input(target, infra, machine)
        client.replication_migration_items.begin_create(
            *infra.item_args(machine.source_name), body, polling=False, raw_response_hook=answers.append
        )
    except HttpResponseError as exc:
        if exc.status_code == 409:
            return True, None
        raise
    return False, operation_job(answers[-1].http_response.headers)


def operation_job(headers: Mapping[str, str]) -> str | None:
    """The Site Recovery job an accepted action started: the last segment of its monitor URL."""
    url = headers.get("Azure-AsyncOperation") or headers.get("Location")
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] if url else None


def job_errors(target: AzureMigrationTarget, infra: ReplicationInfrastructure, job: str | None) -> str:
    """What a failed job says went wrong (Azure's codes and messages), for the operator's report."""
    if job is None:
        return ""
    found = target.site_recovery_client().replication_jobs.get(*vault_scope(infra.vault_id), job)
    details = [e.service_error_details for e in (found.properties.errors or []) if e.service_error_details]
    return "; ".join(f"{d.code}: {d.message}" for d in details)


def replicate_machine(
    target: AzureMigrationTarget,
    infra: ReplicationInfrastructure,
    machine: MachinePlan,
    poll_interval: float,
    seeding_timeout: float = timedelta(days=14).total_seconds(),
) -> tuple[ReplicationOutcome, ItemStatus]:
    """Enable (or adopt) one machine's replication and return once its initial seeding is done, with the item as
    the wait for it last read it.

    The machine's slot is its own, not the run's: one an earlier (killed) run took for it is taken over, and a
    machine Azure already replicates goes to the head of the line, since it uses Azure's capacity anyway."""
    logger = get_run_logger()
    board = VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval)
    status = board.snapshot().get(machine.source_name.lower())
    if is_seeded(status):
        logger.info("%s already replicates (%s): adopted", machine.display_name, status.migration_state)
        outcome = ReplicationOutcome(
            machine=machine.display_name, item=machine.source_name, state=status.migration_state, adopted=True
        )
        return outcome, status
    job = None
    slot = MachineSlot(vault=infra.vault_id, item=machine.source_name, machine=machine.display_name)
    with SlotQueue.of(INITIAL_REPLICATION_LIMIT).hold(slot=slot, first=status is not None):
        adopted = status is not None
        if status is None:
            adopted, job = _enable(target, infra, machine)
            logger.info(
                "%s: replication %s",
                machine.display_name,
                "already enabled: adopted" if adopted else f"enabled (Site Recovery job {job})",
            )
            machine_event(machine, "replication.enabled", adopted=adopted, target_vm=machine.target_vm_name, job=job)
        final = board.wait_for(machine.source_name, seeding_over, seeding_timeout)
    assert final is not None
    if not is_seeded(final):
        machine_event(machine, "replication.failed", state=final.migration_state, job=job)
        why = job_errors(target, infra, job)
        raise ReplicationFailed(
            f"{machine.display_name}: {final.migration_state} ({final.migration_state_description})"
            + (f": job {job}: {why}" if why else "")
            + "; fix the cause, then stop replication and run the wave again"
        )
    machine_event(machine, "replication.seeded", state=final.migration_state)
    logger.info("%s: initial seeding done", machine.display_name)
    outcome = ReplicationOutcome(
        machine=machine.display_name, item=machine.source_name, state=final.migration_state, adopted=adopted
    )
    return outcome, final


def release_finished_slots(target: AzureMigrationTarget, infra: ReplicationInfrastructure, poll: float) -> int:
    """Give back the slots earlier runs recorded for machines of the vault whose seeding is over (a run killed
    while they seeded could not): the limit then counts what Azure is seeding, not what dead runs held."""
    items = VaultStatusBoard.for_vault(target, infra.vault_id, poll).snapshot()
    return len(
        release_finished(INITIAL_REPLICATION_LIMIT, infra.vault_id, lambda item: seeding_over(items.get(item.lower())))
    )


def replicate_step(trip: Trip, machine: MachinePlan, facts: Facts) -> Done:
    """The itinerary's replicate step: enable (or adopt) the machine's replication and wait out its seeding."""
    try:
        outcome, status = replicate_machine(trip.target(), trip.infra, machine, trip.poll_interval)
    except ReplicationFailed as exc:
        return Done(ok=False, detail=str(exc))
    # The item the wait saw seeded is the machine as it stands (the vault list may be older than that read).
    seen = MachineState.seen_now(machine, status, vm_exists=False)
    detail = "adopted: it replicated already" if outcome.adopted else "seeded"
    return Done(ok=True, detail=detail, report=outcome, observed=seen)
