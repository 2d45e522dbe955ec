"""`cleanup_wave`: after the cutover, remove what the migration left behind and write the as-built docs.

A dry run unless `execute` is set: it reports, machine by machine, what it would remove and which gate
of DESIGN rule 4 holds the on-prem clean-up back. Run it again any time: it removes only what is left.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.docs import DocsTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import CleanupPolicyName, PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import WaveName
from wavelift.tasks.as_built import (
    AsBuiltRecord,
    file_name,
    index_key,
    machine_markdown,
    wave_document,
    wave_markdown,
)
from wavelift.tasks.board import refresh_board
from wavelift.tasks.cleanup import CleanupReport, clean_up_machine
from wavelift.tasks.discovery import discover_machines, onprem_identities, resolve_infrastructure
from wavelift.tasks.outcomes import each_machine, finish

PARALLEL_CLEANUPS = 10


class CleanupRequest(BaseModel):
    """The cleanup-wave form."""

    plan_name: PlanName
    wave: WaveName = Field(description="The wave to clean up after.")
    policy_block: CleanupPolicyName = Field(
        description="CleanupPolicy block: grace period, on-prem adapters, docs target."
    )
    execute: bool = Field(
        default=False, description="Really remove things. Off (the default) is a dry run that lists what would go."
    )


class AsBuiltDocs(BaseModel):
    """Where the wave's as-built records went."""

    written: list[str]
    commit: str | None


@task(task_run_name="publish-as-built-{plan_name}-{wave}")
def publish_as_built(
    plan_name: str, wave: str, docs_block: str | None, records: list[AsBuiltRecord], execute: bool
) -> AsBuiltDocs:
    """Write one page per machine and the wave's index to the docs target (and commit them), and publish the
    wave's as-built document (the index and every record) as an artifact; a dry run writes nothing."""
    if not execute:
        return AsBuiltDocs(written=[], commit=None)
    if records:
        create_markdown_artifact(
            key=index_key(plan_name, wave),
            markdown=wave_document(plan_name, wave, records),
            description=f"As-built document of {plan_name}/{wave}: the index, then each machine's record.",
        )
    if not docs_block:
        return AsBuiltDocs(written=[], commit=None)
    docs = DocsTarget.load(docs_block)
    pages = {f"{plan_name}/{wave}/{file_name(r)}": machine_markdown(r) for r in records} | {
        f"{plan_name}/{wave}/README.md": wave_markdown(plan_name, wave, records, file_name)
    }
    written = [path for path, text in pages.items() if docs.write(path, text)]
    commit = (
        docs.commit_changes(written, f"as-built: {plan_name}/{wave} ({len(records)} machines)") if written else None
    )
    return AsBuiltDocs(written=written, commit=commit)


def publish_cleanup(
    plan_name: str, wave: str, policy: CleanupPolicy, reports: list[CleanupReport], execute: bool
) -> AsBuiltDocs:
    """The as-built records of the machines cleaned up, and the clean-up table (a dry run says so first)."""
    records = [r.record for r in reports if r.record is not None]
    docs = publish_as_built(plan_name, wave, policy.docs_target, records, execute)
    mode = "" if execute else "DRY RUN — nothing was changed. "
    create_table_artifact(
        key=f"cleanup-{plan_name}-{wave}",
        table=[
            {
                "machine": r.machine,
                "migrated": r.migrated,
                "held by": ", ".join(g.name for g in r.held_by),
                "actions": " | ".join(f"{a.outcome}: {a.detail}" for a in r.actions) or "nothing left to do",
                "detail": r.detail,
            }
            for r in reports
        ],
        description=f"{mode}Clean-up of {plan_name}/{wave}: "
        f"{sum(r.migrated and not r.held_by for r in reports)} of "
        f"{sum(r.migrated for r in reports)} migrated machines past every gate; {len(docs.written)} docs pages written"
        + (f", commit {docs.commit[:12]}" if docs.commit else "")
        + ".",
    )
    return docs


@flow(
    name="cleanup-wave",
    flow_run_name="cleanup-{request.plan_name}-{request.wave}",
)
def cleanup_wave(request: CleanupRequest) -> list[CleanupReport]:
    """Clean up after the wave's migrated machines as far as their gates allow, and publish the as-built records."""
    plan = WavePlanBlock.load(request.plan_name).plan
    selected = plan.wave(request.wave)
    policy = load_for_run(CleanupPolicy, request.policy_block)
    infra = resolve_infrastructure(plan.target_block)
    identities = onprem_identities(selected.machines, discover_machines(plan.target_block))
    reports = each_machine(
        selected.machines,
        lambda m: clean_up_machine(
            plan.target_block, request.policy_block, infra, m, request.execute, identities[m.source_name]
        ),
        lambda m, error: CleanupReport(
            machine=m.display_name, migrated=False, detail=f"clean-up failed: {error}", error=error
        ),
        PARALLEL_CLEANUPS,
    )
    publish_cleanup(request.plan_name, request.wave, policy, reports, request.execute)
    failures = {r.machine: r.error for r in reports if r.error}
    refresh_board(plan.target_block, request.plan_name, selected, infra.vault_id, failures)
    return finish(reports, f"clean-up of {request.plan_name}/{request.wave}", len(reports), failures)
