"""`cutover`: the one flow behind both the nightly cron deployment and "cut over now".

The itinerary (`tasks.itinerary`) up to "migrated", with only its cutover and smoke-test steps: a
signed-off machine of a wave whose maintenance window is open starts only if its predicted final sync
and boot end before the window closes (DESIGN rule 3), and is probed as soon as it runs in Azure, while
the window is still open to fix it or roll it back. Outside the window it refuses unless forced with a
recorded reason. A migration started earlier (a killed run's) is awaited and verified, window or not.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed
from pydantic import BaseModel, Field, model_validator

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.blocks.signoff import SignOffLedger
from wavelift.flows.parameters import PollInterval, WaveName
from wavelift.flows.smoke_test import publish_smoke_tests
from wavelift.tasks.board import publish_board
from wavelift.tasks.cutover import FIXED_MINUTES, MINUTES_PER_TB, CutoverResult
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.journey import Goal, Journey, Trip
from wavelift.tasks.lifecycle import observe, target_vms
from wavelift.tasks.outcomes import finish
from wavelift.tasks.reconcile import drive
from wavelift.tasks.vault_status import VaultStatusBoard
from wavelift.tasks.wave_rows import failed_smoke_test, step_reports, wave_cutovers

CUTOVER_STEPS = frozenset({"cutover", "smoke-test"})  # the nightly run cuts over and probes, nothing else


class CutoverRequest(BaseModel):
    """The cutover form (and the nightly deployment's parameters)."""

    plan_name: PlanName
    waves: list[WaveName] = Field(
        default_factory=list, max_length=100, description="Waves to consider; empty means every wave of the plan."
    )
    force_outside_window: bool = Field(
        default=False, description="Cut over even though the maintenance window is closed."
    )
    force_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why the window is overridden; required with force_outside_window and recorded.",
    )
    fixed_minutes: float = Field(
        default=FIXED_MINUTES,
        gt=0,
        le=1440,
        description="Predicted minutes of every cutover beyond the final sync: shutdown, VM creation, boot.",
    )
    minutes_per_tb: float = Field(
        default=MINUTES_PER_TB,
        ge=0,
        le=1440,
        description="Predicted final-sync minutes per TB of disks (a day's churn at most).",
    )
    prediction_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why the prediction is shorter than wavelift's default; required then, and recorded.",
    )
    poll_interval: PollInterval | None = Field(
        default=None,
        description="Seconds between vault reads while a migration started earlier is awaited (0.1–3600); "
        "empty means the target block's.",
    )

    @model_validator(mode="after")
    def _reasons(self) -> CutoverRequest:
        if self.force_outside_window and not (self.force_reason or "").strip():
            raise ValueError("forcing a cutover outside the maintenance window needs force_reason")
        if (self.fixed_minutes < FIXED_MINUTES or self.minutes_per_tb < MINUTES_PER_TB) and not (
            self.prediction_reason or ""
        ).strip():
            raise ValueError(
                f"a prediction shorter than the default ({FIXED_MINUTES:g} min + {MINUTES_PER_TB:g} min per TB) "
                "needs prediction_reason: a short prediction lets a cutover start that may not end inside the window"
            )
        return self


def publish_cutover_report(plan_name: str, results: list[CutoverResult], description: str) -> None:
    """The cutover table (artifact `cutover-<plan>`): one row per machine with old and new IP, whether its source
    was shut down, and the options of a failed one."""
    create_table_artifact(
        key=f"cutover-{plan_name}",
        table=[
            {
                "machine": r.machine,
                "outcome": r.outcome,
                "old_ip": r.old_ip or "",
                "new_ip": r.new_ip or "",
                "vm": r.vm.name if r.vm else "",
                "source_shutdown": "" if r.performed_shutdown is None else ("yes" if r.performed_shutdown else "NO"),
                "detail": r.detail,
                "test_waiver": r.test_waiver or "",
                "options": " | ".join(r.options),
            }
            for r in results
        ],
        description=description,
    )


def _run_name() -> str:
    """`cutover-<plan>-<waves>` (or `-all-waves`): the runs list says which waves a cutover was for."""
    request = flow_run.parameters["request"]
    request = request if isinstance(request, CutoverRequest) else CutoverRequest.model_validate(request)
    return f"cutover-{request.plan_name}-{'-'.join(request.waves) or 'all-waves'}"


@flow(
    name="cutover",
    flow_run_name=_run_name,
)
def cutover(request: CutoverRequest) -> list[CutoverResult]:
    """Cut over what may go now and smoke-test it; report every machine of the chosen waves with what happened."""
    logger = get_run_logger()
    plan = WavePlanBlock.load(request.plan_name).plan
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    infra = resolve_infrastructure(plan.target_block)
    poll_interval = request.poll_interval or target.poll_interval
    statuses, vms = VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval).refresh(), target_vms(target)
    now = datetime.now(UTC)
    journey = Journey(
        goal=Goal.MIGRATED,
        only=CUTOVER_STEPS,
        forced_outside_window=request.force_reason if request.force_outside_window else None,
        fixed_minutes=request.fixed_minutes,
        minutes_per_tb=request.minutes_per_tb,
    )
    results: list[CutoverResult] = []
    failures: dict[str, str] = {}
    for wave in [plan.wave(name) for name in request.waves] or plan.waves:
        if wave.window.open_at(now) is None and request.force_outside_window:
            logger.warning("Wave %s cut over OUTSIDE its window: %s", wave.name, request.force_reason)
        machines = [m for batch in wave.batches() for m in batch]
        start = observe(machines, statuses, vms)
        ledger = SignOffLedger.for_wave(plan.name, wave.name)
        journeyed = drive(
            Trip(plan, wave, infra, poll_interval, journey),
            machines,
            start,
            {m.source_name: ledger.latest(m.source_name) for m in machines},
        )
        results += wave_cutovers(machines, start, journeyed)
        smoke_tests = step_reports(journeyed, "smoke-test", failed_smoke_test)
        if smoke_tests:
            publish_smoke_tests(plan.name, wave.name, smoke_tests)
        failures |= journeyed.failures()
        publish_board(plan.name, wave, journeyed.states, journeyed.failures(), journeyed.held)
    publish_cutover_report(
        plan.name,
        results,
        f"Cutover of {plan.name} at {now:%Y-%m-%d %H:%M} UTC"
        + (f" (forced outside the window: {request.force_reason})" if request.force_outside_window else "")
        + (
            f"; prediction {request.fixed_minutes:g} min + {request.minutes_per_tb:g} min/TB: "
            f"{request.prediction_reason}"
            if request.prediction_reason
            else ""
        ),
    )
    if failures or not results or any(r.outcome == "migrated" for r in results):
        return finish(results, f"cutover of {plan.name}", len(results), failures)
    return Completed(data=results, name="Nothing cut over", message=nothing_moved(results))


def nothing_moved(results: list[CutoverResult]) -> str:
    """Why a cutover moved nothing, counted by reason: 'nothing to cut over: 28 not signed off; 4 migrated earlier'."""
    reasons = Counter("migrated earlier" if r.outcome == "already-migrated" else r.detail for r in results)
    return "nothing to cut over: " + "; ".join(f"{count} {reason}" for reason, count in reasons.most_common())
