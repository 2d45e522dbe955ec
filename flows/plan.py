"""`import_plan`: build a wave plan from discovery plus an assessment export or a migrate-at-scale
CSV, and save it as a block document, only if every row is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from prefect import State, flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed
from prefect.utilities.annotations import quote
from pydantic import BaseModel, Field

from wavelift.blocks.plan import WavePlanBlock
from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.discovery import DiscoveredMachine, discover_machines
from wavelift.tasks.migrate_csv import read_migrate_csv
from wavelift.tasks.plan_files import kind_of, read_bytes
from wavelift.tasks.plan_models import WavePlan
from wavelift.tasks.planning import PlanSettings, plan_from_assessment, plan_from_csv
from wavelift.tasks.problems import InputRefused, Problem


class PlanImport(BaseModel):
    """Where the plan comes from."""

    source: Literal["assessment", "csv"] = Field(
        description="An Azure Migrate assessment export (.xlsx) or a migrate-at-scale input CSV."
    )
    path: str = Field(min_length=1, max_length=4096, description="Path of the file on the worker.")
    assessment_path: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="With a CSV: the assessment export for rows marked OK_TO_USE_ASSESSMENT.",
    )
    overwrite: bool = Field(default=False, description="Replace an existing plan of the same name.")


class PlanOutcome(BaseModel):
    """A plan, or every problem that refused it."""

    plan: WavePlan | None = None
    problems: list[Problem] = Field(default_factory=list)


@task(task_run_name="build-plan-{settings.plan_name}")
def build_plan(source: PlanImport, settings: PlanSettings, discovered: list[DiscoveredMachine]) -> PlanOutcome:
    """Parse the file(s) and join them with discovery; a refusal comes back as the list of problems, not a crash."""
    path = Path(source.path)
    try:
        kind = kind_of(read_bytes(path), path.name)
        if kind != ("xlsx" if source.source == "assessment" else "csv"):
            what = "an Excel workbook" if kind == "xlsx" else "a CSV"
            raise InputRefused(
                [
                    Problem(
                        source=path.name,
                        field="source",
                        reason=f"the file is {what}, but the import says {source.source!r}",
                    )
                ]
            )
        if source.source == "assessment":
            return PlanOutcome(plan=plan_from_assessment(discovered, read_assessment(path), settings, path.name))
        assessed = read_assessment(source.assessment_path) if source.assessment_path else None
        return PlanOutcome(plan=plan_from_csv(discovered, read_migrate_csv(path), settings, assessed, path.name))
    except InputRefused as exc:
        return PlanOutcome(problems=exc.problems)


@task(task_run_name="save-plan-{plan.name}")
def save_plan(plan: WavePlan, overwrite: bool) -> str:
    """Save the plan as a block document; refuse to replace one unless asked."""
    if not overwrite:
        try:
            WavePlanBlock.load(plan.name)
        except ValueError:
            pass
        else:
            raise ValueError(f"a plan named {plan.name} exists; set overwrite to replace it")
    WavePlanBlock.of(plan).save(plan.name, overwrite=overwrite)
    return plan.name


@flow(name="import-plan", flow_run_name="import-plan-{settings.plan_name}")
def import_plan(source: PlanImport, settings: PlanSettings) -> WavePlan | State:
    """Discover, build and save a wave plan; nothing is saved if any row is refused."""
    discovered = discover_machines(settings.target_block)
    # quote(): thousands of machines are data, not futures; Prefect need not walk them looking for some
    outcome = build_plan(source, settings, quote(discovered))
    if outcome.plan is None:
        refusal = InputRefused(outcome.problems)
        create_table_artifact(
            key=f"plan-{settings.plan_name}-refused",
            table=[p.model_dump() for p in outcome.problems],
            description=f"Plan {settings.plan_name} was refused: {len(outcome.problems)} problem(s), nothing was "
            "saved.",
        )
        return Failed(message=str(refusal), data=refusal)
    plan = outcome.plan
    save_plan(quote(plan), source.overwrite)
    create_table_artifact(
        key=f"plan-{plan.name}",
        table=[
            {
                "wave": w.name,
                "batch": i + 1,
                "machine": m.display_name,
                "target": m.target_vm_name,
                "size": m.target_vm_size,
                "disks": ", ".join(d.disk_type for d in m.disks),
                "disk_gb": m.total_gb,
                "shutdown": m.perform_shutdown,
            }
            for w in plan.waves
            for i, batch in enumerate(w.batches())
            for m in batch
        ],
        description=f"Plan {plan.name}: machines by wave and replication batch.",
    )
    create_markdown_artifact(
        key=f"plan-{plan.name}-summary",
        markdown="\n".join(
            [f"# Plan {plan.name}", ""]
            + [
                f"- wave **{w.name}**: {len(w.machines)} machines in {len(w.batches())} batch(es), window "
                f"{', '.join(w.window.days)} "
                f"{w.window.start:%H:%M}–{w.window.end:%H:%M} {w.window.timezone}"
                for w in plan.waves
            ]
            + ["", f"## Left out ({len(plan.excluded)})", ""]
            + [f"- {e.machine}: {e.reason}" for e in plan.excluded]
        ),
        description=f"Plan {plan.name} at a glance, with the machines left out and why.",
    )
    return plan
