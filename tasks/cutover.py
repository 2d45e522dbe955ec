"""Cutover of one machine: migrate with the source shut down (final sync), verify the Azure VM,
record its new IP; or say exactly why the machine was not cut over and what the operator can do.

Which machines may go, and when, is decided before this runs (`eligibility`, the window check in
the flow); the step itself reads the item first, so a re-run after a crash waits for or verifies
the migration it already started instead of starting another.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from azure.core.exceptions import HttpResponseError
from prefect import get_run_logger
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.signoff import SignOff
from wavelift.tasks.discovery import ReplicationInfrastructure
from wavelift.tasks.events import machine_event
from wavelift.tasks.lifecycle import MIGRATED, MIGRATING, MachineState, has_passed_test
from wavelift.tasks.outcomes import Done, error_text
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.sources import adapter_for
from wavelift.tasks.transient import is_transient
from wavelift.tasks.vault_status import ItemStatus, VaultStatusBoard, item_status
from wavelift.tasks.vm_checks import VmFacts, read_vm

if TYPE_CHECKING:
    from wavelift.tasks.journey import Facts, Trip

FAILURE_OPTIONS = [
    "retry: run the cutover again (Azure still allows Migrate)",
    "resync: start a resync of the replication, then test and cut over again",
    "roll back: power the source server on again and stop the cutover for this machine",
]


class CutoverResult(BaseModel):
    """One machine's cutover, as the cutover report and the as-built record show it."""

    machine: str
    item: str
    outcome: Literal["migrated", "already-migrated", "skipped", "failed"]
    detail: str
    performed_shutdown: bool | None = None
    old_ip: str | None = None
    new_ip: str | None = None
    vm: VmFacts | None = None
    options: list[str] = []
    test_waiver: str | None = None


FIXED_MINUTES = 20.0  # every cutover beyond its final sync: shutdown, VM creation, boot
MINUTES_PER_TB = 30.0  # final sync per TB of disks (a day's churn at most)


def predicted_duration(machine: MachinePlan, fixed_minutes: float, minutes_per_tb: float) -> timedelta:
    """How long the machine's cutover is predicted to take, from its disks' size."""
    return timedelta(minutes=fixed_minutes + minutes_per_tb * machine.total_gb / 1024)


def overruns_window(predicted: timedelta, now: datetime, closes: datetime) -> str | None:
    """Why a cutover may not start now because it would end after the window closes (DESIGN rule 3), or None."""
    if now + predicted <= closes:
        return None
    return f"predicted to take {predicted}, which would end after the window closes at {closes:%H:%M} UTC"


def skipped(machine: MachinePlan, why: str) -> CutoverResult:
    """The row of a machine not cut over now, with the reason."""
    return CutoverResult(
        machine=machine.display_name,
        item=machine.source_name,
        outcome="skipped",
        detail=why,
        old_ip=machine.source_ip,
        test_waiver=machine.waiver_note,
    )


def completed_earlier(machine: MachinePlan) -> CutoverResult:
    """The row of a machine whose migration was completed earlier (its item is gone, its Azure VM in place)."""
    return CutoverResult(
        machine=machine.display_name,
        item=machine.source_name,
        outcome="already-migrated",
        old_ip=machine.source_ip,
        detail=f"migration completed earlier; Azure VM {machine.target_vm_name} in place",
        test_waiver=machine.waiver_note,
    )


def eligibility(machine: MachinePlan, status: ItemStatus | None, signoff: SignOff | None) -> str | None:
    """Why a machine may not cut over now (DESIGN rule 2), or None if it may."""
    if status is None:
        return "not replicating"
    if status.migration_state in MIGRATED | MIGRATING:
        return None
    if machine.test_waived:
        return (
            None
            if "Migrate" in status.allowed_operations
            else f"Azure does not allow Migrate in state {status.migration_state}"
        )
    if not has_passed_test(status):
        return "no succeeded test migration"
    if signoff is None or signoff.decision != "approved":
        return "not signed off" if signoff is None else f"rejected by {signoff.approver}: {signoff.comment}"
    if signoff.tested_at != status.last_test_time:
        return f"the sign-off judged the test of {signoff.tested_at}, but the latest test ran {status.last_test_time}"
    if "Migrate" not in status.allowed_operations:
        return f"Azure does not allow Migrate in state {status.migration_state}/{status.test_state}"
    return None


def _verify(target: AzureMigrationTarget, machine: MachinePlan) -> tuple[VmFacts, list[str]]:
    facts = read_vm(target, machine.target_vm_name)
    subnet = f"{target.target_network_id}/subnets/{machine.target_subnet or target.target_subnet}".lower()
    problems = [
        p
        for p in (
            None if facts.power_state == "running" else f"VM is {facts.power_state}, not running",
            None
            if facts.size.lower() == machine.target_vm_size.lower()
            else f"VM size is {facts.size}, planned {machine.target_vm_size}",
            None
            if (facts.subnet_id or "").lower() == subnet
            else f"NIC is in {facts.subnet_id}, not the target subnet",
            None if facts.private_ip else "NIC has no private IP",
        )
        if p
    ]
    return facts, problems


def _result(machine: MachinePlan, outcome: str, detail: str, **extra: object) -> CutoverResult:
    """The cutover's answer, also emitted as the machine's `cutover.<outcome>` event."""
    result = CutoverResult(
        machine=machine.display_name,
        item=machine.source_name,
        outcome=outcome,
        detail=detail,
        old_ip=machine.source_ip,
        test_waiver=machine.waiver_note,
        **extra,
    )
    machine_event(
        machine,
        f"cutover.{outcome}",
        detail=detail,
        old_ip=result.old_ip,
        new_ip=result.new_ip,
        test_waiver=result.test_waiver,
    )
    return result


def cut_over(
    target_block: str, infra: ReplicationInfrastructure, machine: MachinePlan, poll_interval: float
) -> tuple[CutoverResult, ItemStatus]:
    """Migrate one eligible machine and verify its VM; never starts a second migration. Returns the result and the
    migration item as Azure last showed it (its answer to the migration, or the read before it)."""
    logger = get_run_logger()
    target = load_for_run(AzureMigrationTarget, target_block)
    items = target.site_recovery_client().replication_migration_items
    args = infra.item_args(machine.source_name)
    status = item_status(items.get(*args))
    if status.migration_state in MIGRATING:
        board = VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval)
        waited = board.wait_for(machine.source_name, lambda s: s is not None and s.migration_state not in MIGRATING)
        status = waited if waited is not None else status
    already = status.migration_state in MIGRATED
    if not already:
        if not machine.perform_shutdown:
            logger.warning(
                "%s migrates WITHOUT a source shutdown: %s", machine.display_name, machine.shutdown_opt_out_reason
            )
        try:
            status = item_status(items.begin_migrate(*args, adapter_for(machine).migrate_input(machine)).result())
        except HttpResponseError as exc:
            if is_transient(exc):
                # throttled or unavailable: the retry reads the item first and waits for the migration already under way
                raise
            failed = _result(
                machine,
                "failed",
                f"migration failed: {error_text(exc)}",
                performed_shutdown=machine.perform_shutdown,
                options=FAILURE_OPTIONS,
            )
            return failed, status
    facts, problems = _verify(target, machine)
    if problems:
        failed = _result(
            machine, "failed", "; ".join(problems), vm=facts, new_ip=facts.private_ip, options=FAILURE_OPTIONS
        )
        return failed, status
    logger.info("%s: migrated to %s (%s)", machine.display_name, facts.name, facts.private_ip)
    detail = f"VM {facts.name} running, {facts.size}, {facts.private_ip}"
    if not already and not machine.perform_shutdown:
        detail += f"; migrated WITHOUT a source shutdown: {machine.shutdown_opt_out_reason}"
    result = _result(
        machine,
        "already-migrated" if already else "migrated",
        detail,
        vm=facts,
        new_ip=facts.private_ip,
        performed_shutdown=None if already else machine.perform_shutdown,
    )
    return result, status


def cutover_step(trip: Trip, machine: MachinePlan, facts: Facts) -> Done:
    """The itinerary's cutover step: migrate the machine (its guards checked the window and the sign-off), or
    verify the Azure VM of a migration that happened earlier."""
    result, status = cut_over(trip.target_block, trip.infra, machine, trip.poll_interval)
    ok = result.outcome in ("migrated", "already-migrated")
    # A verified VM and Azure's answer to the migration are the machine as it stands, when that answer shows it
    # migrated: Microsoft's example answer to Migrate shows the item as it was (Replicating), so anything else is
    # read again.
    seen = MachineState.seen_now(machine, status, vm_exists=True) if status.migration_state in MIGRATED else None
    return Done(ok=ok, detail=result.detail, report=result, observed=seen if ok else None)
