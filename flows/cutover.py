"""`cutover`: the one flow behind both the nightly cron deployment and "cut over now".

It takes the signed-off machines of every wave whose maintenance window is open, and starts a
machine only if its predicted final sync and boot end before the window closes (DESIGN rule 3).
Outside the window it refuses unless forced with a recorded reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field, model_validator

from flows.parameters import PlanName, PollInterval, WaveName
from blocks.azure import AzureMigrationTarget
from blocks.plan import WavePlanBlock
from blocks.signoff import SignOffLedger
from tasks.cutover import CutoverResult, cut_over, eligibility
from tasks.discovery import resolve_infrastructure
from tasks.plan_models import MachinePlan
from tasks.vault_status import VaultStatusBoard

PARALLEL_CUTOVERS = 20
FIXED_MINUTES = 20.0
MINUTES_PER_TB = 30.0


class CutoverRequest(BaseModel):
    """The cutover form (and the nightly deployment's parameters)."""

    plan_name: PlanName
    waves: list[WaveName] = Field(default_factory=list, max_length=100, description="Waves to consider; empty means every wave of the plan.")
    force_outside_window: bool = Field(default=False, description="Cut over even though the maintenance window is closed.")
    force_reason: str | None = Field(default=None, max_length=2000, description="Why the window is overridden; required with force_outside_window and recorded.")
    fixed_minutes: float = Field(default=FIXED_MINUTES, gt=0, le=1440,
                                 description="Predicted minutes of every cutover beyond the final sync: shutdown, VM creation, boot.")
    minutes_per_tb: float = Field(default=MINUTES_PER_TB, ge=0, le=1440, description="Predicted final-sync minutes per TB of disks (a day's churn at most).")
    prediction_reason: str | None = Field(default=None, max_length=2000,
                                          description="Why the prediction is shorter than wavelift's default; required then, and recorded.")
    poll_interval: PollInterval = Field(default=60.0, description="Seconds between vault reads while a migration started earlier is awaited (0.1–3600).")

    @model_validator(mode="after")
    def _reasons(self) -> "CutoverRequest":
        if self.force_outside_window and not (self.force_reason or "").strip():
            raise ValueError("forcing a cutover outside the maintenance window needs force_reason")
        if (self.fixed_minutes < FIXED_MINUTES or self.minutes_per_tb < MINUTES_PER_TB) and not (self.prediction_reason or "").strip():
            raise ValueError(f"a prediction shorter than the default ({FIXED_MINUTES:g} min + {MINUTES_PER_TB:g} min per TB) "
                             "needs prediction_reason: a short prediction lets a cutover start that may not end inside the window")
        return self

    def predicted(self, machine: MachinePlan) -> timedelta:
        return timedelta(minutes=self.fixed_minutes + self.minutes_per_tb * machine.total_gb / 1024)


def _skip(machine: MachinePlan, why: str) -> CutoverResult:
    return CutoverResult(machine=machine.display_name, item=machine.source_name, outcome="skipped", detail=why, old_ip=machine.source_ip,
                         test_waiver=machine.waiver_note)


@flow(name="cutover", flow_run_name="cutover-{request.plan_name}", task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_CUTOVERS))
def cutover(request: CutoverRequest) -> list[CutoverResult]:
    """Cut over what may go now; report every machine of the chosen waves with what happened to it."""
    logger = get_run_logger()
    plan = WavePlanBlock.load(request.plan_name).plan
    target = AzureMigrationTarget.load(plan.target_block)
    infra = resolve_infrastructure(plan.target_block)
    statuses = VaultStatusBoard.for_vault(target, plan.target_block, infra.vault_id, request.poll_interval).refresh()
    now = datetime.now(timezone.utc)
    results: list[CutoverResult] = []
    futures = []
    for wave in [plan.wave(name) for name in request.waves] or plan.waves:
        window = wave.window.open_at(now)
        if window is None and not request.force_outside_window:
            results += [_skip(m, f"the maintenance window of wave {wave.name} is closed") for m in wave.machines]
            continue
        if window is None:
            logger.warning("Wave %s cut over OUTSIDE its window: %s", wave.name, request.force_reason)
        ledger = SignOffLedger.for_wave(plan.name, wave.name)
        for machine in wave.machines:
            status = statuses.get(machine.source_name.lower())
            reason = eligibility(machine, status, ledger.latest(machine.source_name))
            if reason is None and window is not None and status.migration_state != "MigrationSucceeded" and now + request.predicted(machine) > window[1]:  # type: ignore[union-attr]
                reason = f"predicted to take {request.predicted(machine)}, which would end after the window closes at {window[1]:%H:%M} UTC"
            if reason:
                results.append(_skip(machine, reason))
            else:
                futures.append(cut_over.submit(plan.target_block, infra, machine, request.poll_interval))
    results += [f.result() for f in futures]
    create_table_artifact(
        key=f"cutover-{plan.name}",
        table=[{"machine": r.machine, "outcome": r.outcome, "old_ip": r.old_ip or "", "new_ip": r.new_ip or "", "vm": r.vm.name if r.vm else "",
                "source_shutdown": "" if r.performed_shutdown is None else ("yes" if r.performed_shutdown else "NO"), "detail": r.detail,
                "test_waiver": r.test_waiver or "",
                "options": " | ".join(r.options)} for r in results],
        description=f"Cutover of {plan.name} at {now:%Y-%m-%d %H:%M} UTC" + (f" (forced outside the window: {request.force_reason})" if request.force_outside_window else "")
                    + (f"; prediction {request.fixed_minutes:g} min + {request.minutes_per_tb:g} min/TB: {request.prediction_reason}"
                       if request.prediction_reason else ""),
    )
    return results
