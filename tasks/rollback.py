"""Roll back one machine's cutover: the source server runs again and the Azure VM is stopped, on the record.

A cutover that failed after the source was shut down, or that the application owner rejects inside the
window, leaves the service down or in the wrong place. Rolling back stops (deallocates) the Azure VM
first — never two copies of a server running at once —, tags it `wavelift-rolled-back` with when, who and
why (the system of record every later run reads: cutover, hardening and clean-up leave such a machine
alone), and powers the source on through the site's `SourcePower` adapter. Replication is kept as Azure
has it: after a failed migration the item still replicates and the machine can be cut over again; after
a completed one it cannot, and migrating anew means removing the stopped VM and replicating again.

Each step reads its system of record first, so a second run does nothing; a dry run says what it would do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from prefect.blocks.core import Block
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.onprem import SourcePower
from wavelift.tasks.discovery import OnPremIdentity, ReplicationInfrastructure
from wavelift.tasks.events import machine_event
from wavelift.tasks.lifecycle import CUTOVER_FAILED, MIGRATED, MIGRATING, ROLLED_BACK_TAG, rolled_back
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.vault_status import read_item
from wavelift.tasks.vm_checks import find_vm

STOPPED = ("deallocated", "deallocating", "stopped")


class RollbackResult(BaseModel):
    """What a roll back did (or, in a dry run, would do) for one machine."""

    machine: str
    outcome: Literal["rolled-back", "would-roll-back", "nothing-to-do", "refused"]
    actions: list[str]
    replication: str
    detail: str


def _refused(machine: MachinePlan, why: str) -> RollbackResult:
    return RollbackResult(machine=machine.display_name, outcome="refused", actions=[], replication="", detail=why)


def roll_back_machine(
    target_block: str,
    infra: ReplicationInfrastructure,
    machine: MachinePlan,
    identity: OnPremIdentity,
    power_block: str,
    note: str,
    execute: bool,
) -> RollbackResult:
    """Roll one machine back; `note` ("<when> by <who>: <why>") goes on the Azure VM's tag and in the event."""
    if identity.server is None:
        return _refused(machine, f"the source server cannot be powered on: {identity.problem}")
    target = load_for_run(AzureMigrationTarget, target_block)
    status, vm = read_item(target, infra, machine), find_vm(target, machine.target_vm_name)
    if status is not None and status.migration_state in MIGRATING:
        return _refused(machine, "a migration is under way: wait for it to end, then roll back")
    power = load_for_run(Block, power_block)  # any site's SourcePower subclass, named "<block-type-slug>/<block-name>"
    if not isinstance(power, SourcePower):
        return _refused(machine, f"{power_block} is not a SourcePower block")
    source_on = power.power_state(identity.server) == "ON"
    steps: list[tuple[str, Callable[[], object]]] = []
    if vm is not None and vm.power_state not in STOPPED:
        compute = target.compute_client().virtual_machines
        steps.append(
            (
                f"deallocate the Azure VM {vm.name} ({vm.power_state})",
                lambda: compute.begin_deallocate(target.target_resource_group, vm.name).result(),
            )
        )
    if vm is not None and not rolled_back(vm.tags):
        steps.append((f"tag {vm.name} {ROLLED_BACK_TAG}={note}", lambda: _tag(target, vm.name, vm.tags, note)))
    cut_over = vm is not None or (status is not None and status.migration_state in MIGRATED | CUTOVER_FAILED)
    if not source_on and cut_over:
        steps.append((f"power the source server {identity.server} on", lambda: power.power_on(identity.server)))
    replication = (
        f"kept ({status.migration_state})"
        if status is not None
        else "removed when the migration was completed: replicate again to migrate anew"
    )
    if not steps:
        return RollbackResult(
            machine=machine.display_name,
            outcome="nothing-to-do",
            actions=[],
            replication=replication,
            detail="the source runs and no Azure VM runs in its place" if source_on else "nothing was cut over",
        )
    if execute:
        for _, step in steps:
            step()
        machine_event(machine, "rolled-back", note=note, actions=[what for what, _ in steps])
    return RollbackResult(
        machine=machine.display_name,
        outcome="rolled-back" if execute else "would-roll-back",
        actions=[what for what, _ in steps],
        replication=replication,
        detail="rolled back" if execute else "DRY RUN: nothing was changed",
    )


def _tag(target: AzureMigrationTarget, vm_name: str, tags: dict[str, str], note: str) -> None:
    from azure.mgmt.compute import models as cm

    compute = target.compute_client().virtual_machines
    compute.begin_update(
        target.target_resource_group, vm_name, cm.VirtualMachineUpdate(tags={**tags, ROLLED_BACK_TAG: note[:256]})
    ).result()


def rollback_note(by: str, reason: str, now: datetime | None = None) -> str:
    """What the tag and the event record: when (UTC), who, why (Azure keeps 256 characters of a tag value)."""
    return f"{(now or datetime.now(UTC)):%Y-%m-%dT%H:%MZ} by {by}: {reason}"[:256]
