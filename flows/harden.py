"""`harden_wave`: network security group, disk encryption and backup for every migrated VM of a wave."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from blocks.azure import AzureMigrationTarget
from blocks.plan import WavePlanBlock
from tasks.discovery import resolve_infrastructure
from tasks.harden import HardeningReport, harden_machine
from tasks.vault_status import VaultStatusBoard

PARALLEL_HARDENING = 10


@flow(name="harden-wave", flow_run_name="harden-{plan_name}-{wave}", task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_HARDENING))
def harden_wave(plan_name: str, wave: str, policy_block: str) -> list[HardeningReport]:
    """Harden the wave's migrated machines; machines not migrated yet are left for a later run."""
    plan = WavePlanBlock.load(plan_name).plan
    selected = plan.wave(wave)
    infra = resolve_infrastructure(plan.target_block)
    statuses = VaultStatusBoard.for_vault(AzureMigrationTarget.load(plan.target_block), plan.target_block, infra.vault_id, 0).refresh()
    migrated = [m for m in selected.machines if (s := statuses.get(m.source_name.lower())) is not None and s.migration_state == "MigrationSucceeded"]
    reports = [f.result() for f in [harden_machine.submit(plan.target_block, policy_block, m, selected.window.timezone) for m in migrated]]
    create_table_artifact(
        key=f"hardening-{plan_name}-{wave}",
        table=[{"machine": r.machine, **{s.step: ("ok" if s.ok else "FAILED") + (" (changed)" if s.changed else "") for s in r.steps},
                "detail": " | ".join(s.detail for s in r.steps)} for r in reports],
        description=f"Hardening of {plan_name}/{wave}: {sum(r.ok for r in reports)} of {len(reports)} migrated machines fully hardened.",
    )
    return reports
