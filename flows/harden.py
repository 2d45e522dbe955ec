"""`harden_wave`: network security group, disk encryption, backup and DR replication for every migrated VM of a wave."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.blocks.parameters import HardeningPolicyName, PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import WaveName
from wavelift.tasks.board import refresh_board
from wavelift.tasks.disaster_recovery import DrInfrastructure, ensure_dr_infrastructure
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.harden import HardeningReport, StepResult, harden_machine, nsg_specs
from wavelift.tasks.lifecycle import observe, target_vms
from wavelift.tasks.outcomes import finish, gather
from wavelift.tasks.transient import retry_transient
from wavelift.tasks.vault_status import VaultStatusBoard

PARALLEL_HARDENING = 10


@task(
    task_run_name="prepare-disaster-recovery-{target_block}",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_transient,
)
def prepare_disaster_recovery(target_block: str, policy_block: str) -> DrInfrastructure:
    """The wave's A2A infrastructure, created once before the machines are protected."""
    return ensure_dr_infrastructure(AzureMigrationTarget.load(target_block), HardeningPolicy.load(policy_block))


def publish_hardening(plan_name: str, wave: str, reports: list[HardeningReport]) -> None:
    """The hardening table: one row per migrated machine, one column per hardening step."""
    create_table_artifact(
        key=f"hardening-{plan_name}-{wave}",
        table=[
            {
                "machine": r.machine,
                **{s.step: s.summary for s in r.steps},
                "detail": " | ".join(s.detail for s in r.steps),
            }
            for r in reports
        ],
        description=f"Hardening of {plan_name}/{wave}: {sum(r.ok for r in reports)} of {len(reports)} migrated "
        "machines fully hardened.",
    )


@flow(
    name="harden-wave",
    flow_run_name="harden-{plan_name}-{wave}",
    task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_HARDENING),
)
def harden_wave(plan_name: PlanName, wave: WaveName, policy_block: HardeningPolicyName) -> list[HardeningReport]:
    """Harden the wave's migrated machines; machines not migrated yet are left for a later run.

    Args:
        plan_name: The plan (a wavelift Wave Plan block).
        wave: The wave to harden.
        policy_block: The wavelift Hardening Policy block: NSG rules, encryption, backup, DR.
    """
    plan = WavePlanBlock.load(plan_name).plan
    selected = plan.wave(wave)
    infra = resolve_infrastructure(plan.target_block)
    target = AzureMigrationTarget.load(plan.target_block)
    states = observe(
        selected.machines,
        VaultStatusBoard.for_vault(target, infra.vault_id, 0).refresh(),
        target_vms(target),
    )
    migrated = [m for m in selected.machines if states[m.source_name].migrated]
    policy = HardeningPolicy.load(policy_block)
    dr = prepare_disaster_recovery(plan.target_block, policy_block) if migrated and policy.disaster_recovery else None
    nsgs = nsg_specs([m for w in plan.waves for m in w.machines], policy)
    futures = [
        (
            m,
            harden_machine.submit(
                plan.target_block, policy_block, m, nsgs[m.source_name], selected.window.timezone, dr
            ),
        )
        for m in migrated
    ]
    reports = gather(
        futures,
        lambda m, error: HardeningReport(
            machine=m.display_name, steps=[StepResult(step="harden", ok=False, changed=False, detail=error)]
        ),
    )
    publish_hardening(plan_name, wave, reports)
    failures = {r.machine: " | ".join(s.detail for s in r.steps if not s.ok) for r in reports if not r.ok}
    refresh_board(plan.target_block, plan_name, selected, infra.vault_id, failures)
    return finish(reports, f"hardening of {plan_name}/{wave}", len(reports), failures)
