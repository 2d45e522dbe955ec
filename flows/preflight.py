"""`preflight_wave`: check a wave against the target before it starts, and change nothing.

Run by `migrate-wave` before replication, and on its own from the UI while a wave is prepared. It reads
Azure once (the resource providers' registrations first, then quotas, subnets, sizes, VM names, the
vault, the run-as accounts, what the hardening policy needs) and publishes one table of findings, per
machine and for the wave: red would make the wave fail later (after hours of replication, or at cutover
with the source already shut down), amber is worth knowing, green was checked and holds. A run with red
findings ends in a state named after them.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.states import Completed

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import HardeningPolicyName, PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import WaveName
from wavelift.tasks.disaster_recovery import cache_account_name, recovery_group_name
from wavelift.tasks.harden import backup_vault
from wavelift.tasks.preflight import PolicyNeeds, PreflightReport, preflight, unregistered
from wavelift.tasks.preflight_reads import read_providers, read_target


def policy_needs(policy_block: str | None, target: AzureMigrationTarget) -> PolicyNeeds:
    """What hardening will ask of Azure: nothing without a policy."""
    if policy_block is None:
        return PolicyNeeds()
    policy = load_for_run(HardeningPolicy, policy_block)
    return PolicyNeeds(
        backup=True,
        backup_vault=backup_vault(target, policy),
        backup_vault_made=policy.backup_vault is not None,
        encryption_at_host=policy.encryption == "encryption_at_host",
        disaster_recovery=policy.disaster_recovery,
        key_vault_id=policy.key_vault_resource_id if policy.encryption == "azure_disk_encryption" else None,
        dr_places=(
            (recovery_group_name(target, policy), cache_account_name(target, policy))
            if policy.disaster_recovery
            else None
        ),
    )


@flow(name="preflight-wave", flow_run_name="preflight-{plan_name}-{wave}")
def preflight_wave(
    plan_name: PlanName, wave: WaveName, hardening_policy: HardeningPolicyName | None = None
) -> PreflightReport:
    """Check the wave against the target: what would make it fail later. Reads only.

    Args:
        plan_name: The plan (a wavelift Wave Plan block).
        wave: The wave to check.
        hardening_policy: The Hardening Policy the wave will be hardened with, if any: its needs are checked too.
    """
    plan = WavePlanBlock.load(plan_name).plan
    selected = plan.wave(wave)
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    needs = policy_needs(hardening_policy, target)
    providers = read_providers(plan.target_block, needs)
    report = preflight(
        plan_name,
        selected,
        providers,
        None if unregistered(providers, needs) else read_target(plan.target_block, selected, needs),
        needs,
        (target.target_network_id, target.target_subnet),
        (target.test_network_id, target.test_subnet),
    )
    create_table_artifact(
        key=f"preflight-{plan_name}-{wave}",
        table=[
            f.model_dump(mode="json") for f in sorted(report.findings, key=lambda f: (f.severity != "red", f.scope))
        ],
        description=f"Preflight of {plan_name}/{wave}: {report.summary()}. Red stops migrate-wave unless overridden "
        "with a reason.",
    )
    if report.red:
        listed = "; ".join(f"{f.scope}: {f.check}: {f.detail}" for f in report.red[:5])
        return Completed(
            data=report, name=f"{len(report.red)} red", message=f"preflight of {plan_name}/{wave}: {listed}"
        )
    return report
