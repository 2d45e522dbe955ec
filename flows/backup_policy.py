"""`update_backup_policy`: apply a changed backup hour or retention to Azure's policy, when an operator asks.

Hardening writes the vault's backup policy once and then only reports how it differs from the hardening
policy: a write re-applies the policy to every VM under it, across waves. This flow is that explicit
change: a dry run (the default) says what would change and how many protected VMs it reaches; with
`execute` it writes the policy once and records who asked, as an event.
"""

from __future__ import annotations

from prefect import flow
from prefect.events import emit_event
from prefect.states import Completed
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import HardeningPolicyName, PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import PersonName, WaveName
from wavelift.tasks.backup_policy import desired_policy, policy_differences, read_policy, write_policy
from wavelift.tasks.harden import backup_vault


class BackupPolicyChange(BaseModel):
    """What an update-backup-policy run found, and whether it wrote the change."""

    policy: str
    vault: str
    changes: list[str]
    protected_items: int
    applied: bool


@flow(name="update-backup-policy", flow_run_name="update-backup-policy-{policy_block}")
def update_backup_policy(
    plan_name: PlanName,
    wave: WaveName,
    policy_block: HardeningPolicyName,
    requested_by: PersonName,
    execute: bool = False,
) -> BackupPolicyChange:
    """Change Azure's VM backup policy to the hardening policy's hour and retention (a dry run unless `execute`).

    Args:
        plan_name: The plan whose target holds the vault.
        wave: The wave whose time zone the backup hour is in.
        policy_block: The wavelift Hardening Policy block with the new hour or retention.
        requested_by: Who asks for the change (recorded with it).
        execute: Write the change; off says what it would change.
    """
    plan = WavePlanBlock.load(plan_name).plan
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    policy = load_for_run(HardeningPolicy, policy_block)
    vault, rg = backup_vault(target, policy), target.resource_group
    backup = target.backup_client()
    desired = desired_policy(policy, plan.wave(wave).window.timezone)
    existing = read_policy(backup, vault, rg, policy.backup_policy)
    if existing is None:
        change = BackupPolicyChange(
            policy=policy.backup_policy, vault=vault, changes=[], protected_items=0, applied=False
        )
        return Completed(
            data=change, name="No policy yet", message="hardening creates it with the first VM it protects"
        )
    change = BackupPolicyChange(
        policy=policy.backup_policy,
        vault=vault,
        changes=policy_differences(existing, desired),
        protected_items=existing.properties.protected_items_count or 0,
        applied=False,
    )
    summary = f"policy {change.policy} in vault {vault}: {', '.join(change.changes)}; {change.protected_items} VMs"
    if not change.changes:
        return Completed(data=change, name="Nothing to change", message=f"policy {change.policy} is as asked")
    if not execute:
        return Completed(data=change, name="Dry run", message=f"would change {summary} (run with execute)")
    write_policy(backup, vault, rg, policy.backup_policy, desired)
    change.applied = True
    emit_event(
        event="wavelift.backup-policy.changed",
        resource={"prefect.resource.id": f"wavelift.backup-policy.{vault}.{change.policy}"},
        payload={"by": requested_by, "changes": change.changes, "protected_items": change.protected_items},
    )
    return Completed(data=change, name="Changed", message=f"changed {summary}, as {requested_by} asked")
