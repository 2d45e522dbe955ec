"""`resync_wave`: repair the replications of a wave that need it, a dry run unless `execute`."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field

from wavelift.blocks.parameters import PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import WaveName
from wavelift.tasks.board import refresh_board
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.outcomes import each_machine, finish
from wavelift.tasks.resync import ResyncReport, resync_machine

PARALLEL_RESYNCS = 20  # machines read (and resynced) at once


class ResyncRequest(BaseModel):
    """The resync-wave form."""

    plan_name: PlanName
    wave: WaveName = Field(description="The wave whose replications are repaired.")
    machines: list[str] = Field(
        default_factory=list,
        max_length=10000,
        description="Machine names to resync even if Azure does not flag them; empty means those Azure flags "
        "(resyncRequired) and those whose cutover failed.",
    )
    execute: bool = Field(
        default=False, description="Really resync. Off (the default) is a dry run that lists what would go."
    )


@flow(name="resync-wave", flow_run_name="resync-{request.plan_name}-{request.wave}")
def resync_wave(request: ResyncRequest) -> list[ResyncReport]:
    """Resync what needs it (or what the operator names), where Azure allows it; report every machine."""
    plan = WavePlanBlock.load(request.plan_name).plan
    wave = plan.wave(request.wave)
    unknown = {name.lower() for name in request.machines} - {m.display_name.lower() for m in wave.machines}
    if unknown:
        raise ValueError(f"not machines of wave {wave.name}: {', '.join(sorted(unknown))}")
    named = {name.lower() for name in request.machines}
    infra = resolve_infrastructure(plan.target_block)
    reports = each_machine(
        wave.machines,
        lambda m: resync_machine(plan.target_block, infra, m, m.display_name.lower() in named, request.execute),
        lambda m, error: ResyncReport(machine=m.display_name, outcome="failed", detail=error),
        PARALLEL_RESYNCS,
    )
    for r in reports:  # the run's history, a line a machine
        get_run_logger().info("%s: %s: %s", r.machine, r.outcome, r.detail)
    acted = sum(r.outcome in ("resynced", "would resync") for r in reports)
    create_table_artifact(
        key=f"resync-{plan.name}-{wave.name}",
        table=[r.model_dump() for r in reports],
        description=("" if request.execute else "DRY RUN — nothing was changed. ")
        + f"Resync of {plan.name}/{wave.name}: {acted} machine(s).",
    )
    failures = {r.machine: r.detail for r in reports if r.outcome == "failed"}
    refresh_board(plan.target_block, plan.name, wave, infra.vault_id, failures)
    return finish(reports, f"resync of {plan.name}/{wave.name}", len(reports), failures)
