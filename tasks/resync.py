"""Resync: Site Recovery's repair of a replication that needs it (Azure flags it `resyncRequired`, or a
cutover failed and Azure offers StartResync) — one of the operator's options after a failed cutover,
as a real action with its guard, a dry run, and the check after it."""

from __future__ import annotations

from typing import Literal

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.tasks.discovery import ReplicationInfrastructure
from wavelift.tasks.events import machine_event
from wavelift.tasks.lifecycle import MIGRATED
from wavelift.tasks.outcomes import error_text
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.sources import adapter_for
from wavelift.tasks.transient import is_transient
from wavelift.tasks.vault_status import ItemStatus, item_status

RESYNC = "StartResync"
FAILED_MIGRATION = "MigrationFailed"


class ResyncReport(BaseModel):
    """What a resync did (or would do) for one machine."""

    machine: str
    outcome: Literal["resynced", "would resync", "not needed", "refused", "failed"]
    detail: str


def needs_resync(status: ItemStatus) -> bool:
    """Azure says the replication needs a resync, or a cutover failed and left it to be repaired."""
    return status.resync_required or status.migration_state == FAILED_MIGRATION


def resync_machine(
    target_block: str, infra: ReplicationInfrastructure, machine: MachinePlan, named: bool, execute: bool
) -> ResyncReport:
    """Resync one machine's replication when Azure allows it and it needs it (or the operator named it)."""
    target = load_for_run(AzureMigrationTarget, target_block)
    items = target.site_recovery_client().replication_migration_items
    args = infra.item_args(machine.source_name)
    try:
        status = item_status(items.get(*args))
    except ResourceNotFoundError:
        return ResyncReport(machine=machine.display_name, outcome="refused", detail="no replication to resync")
    if status.migration_state in MIGRATED:
        return ResyncReport(machine=machine.display_name, outcome="refused", detail="migrated: nothing to resync")
    if not (named or needs_resync(status)):
        return ResyncReport(machine=machine.display_name, outcome="not needed", detail=f"{status.migration_state}")
    if RESYNC not in status.allowed_operations:
        allowed = ", ".join(status.allowed_operations) or "none"
        return ResyncReport(
            machine=machine.display_name, outcome="refused", detail=f"Azure does not allow it now ({allowed})"
        )
    why = "Azure flags resyncRequired" if status.resync_required else status.migration_state
    if not execute:
        return ResyncReport(machine=machine.display_name, outcome="would resync", detail=why)
    try:
        after = item_status(items.begin_resync(*args, adapter_for(machine).resync_input()).result())
    except HttpResponseError as exc:
        if is_transient(exc):
            raise
        return ResyncReport(machine=machine.display_name, outcome="failed", detail=f"resync failed: {error_text(exc)}")
    machine_event(machine, "resync.started", reason=why, state=after.migration_state)
    return ResyncReport(machine=machine.display_name, outcome="resynced", detail=f"{why}; now {after.migration_state}")
