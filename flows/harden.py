"""`harden_wave`: network security group, disk encryption, backup and DR replication for every migrated VM of a wave."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import HardeningPolicyName, PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import WaveName
from wavelift.tasks.board import refresh_board
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.harden import HardeningReport
from wavelift.tasks.journey import Goal, Journey, Trip
from wavelift.tasks.lifecycle import observe, target_vms
from wavelift.tasks.outcomes import finish
from wavelift.tasks.reconcile import drive
from wavelift.tasks.vault_status import VaultStatusBoard
from wavelift.tasks.wave_rows import failed_hardening, step_reports


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
)
def harden_wave(plan_name: PlanName, wave: WaveName, policy_block: HardeningPolicyName) -> list[HardeningReport]:
    """Harden the wave's migrated machines; machines not migrated yet are left for a later run. The itinerary's
    harden step alone: the same guards and failure policy as in `migrate-wave`, the DR infrastructure built once
    by the first machine that needs it.

    Args:
        plan_name: The plan (a wavelift Wave Plan block).
        wave: The wave to harden.
        policy_block: The wavelift Hardening Policy block: NSG rules, encryption, backup, DR.
    """
    plan = WavePlanBlock.load(plan_name).plan
    selected = plan.wave(wave)
    infra = resolve_infrastructure(plan.target_block)
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    states = observe(
        selected.machines,
        VaultStatusBoard.for_vault(target, infra.vault_id, 0).refresh(),
        target_vms(target),
    )
    journey = Journey(goal=Goal.CLEANED_UP, only=frozenset({"harden"}), hardening_policy=policy_block)
    journeyed = drive(Trip(plan, selected, infra, target.poll_interval, journey), selected.machines, states, {})
    reports = step_reports(journeyed, "harden", failed_hardening)
    publish_hardening(plan_name, wave, reports)
    failures = {r.machine: " | ".join(s.detail for s in r.steps if not s.ok) for r in reports if not r.ok}
    refresh_board(plan.target_block, plan_name, selected, infra.vault_id, failures)
    return finish(reports, f"hardening of {plan_name}/{wave}", len(reports), failures)
