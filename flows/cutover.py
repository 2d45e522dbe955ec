"""`cutover`: the one flow behind both the nightly cron deployment and "cut over now".

It takes the signed-off machines of every wave whose maintenance window is open, and starts a
machine only if its predicted final sync and boot end before the window closes (DESIGN rule 3).
Outside the window it refuses unless forced with a recorded reason.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field, model_validator

from blocks.azure import AzureMigrationTarget
from blocks.parameters import PlanName
from blocks.plan import WavePlanBlock
from blocks.signoff import SignOffLedger
from flows.parameters import PollInterval, WaveName
from tasks.board import publish_board
from tasks.cutover import FAILURE_OPTIONS, CutoverResult, cut_over, eligibility
from tasks.discovery import resolve_infrastructure
from tasks.lifecycle import ROLLED_BACK_NEXT, Stage, observe, target_vms
from tasks.outcomes import finish, gather
from tasks.plan_models import MachinePlan
from tasks.vault_status import VaultStatusBoard

PARALLEL_CUTOVERS = 20
FIXED_MINUTES = 20.0
MINUTES_PER_TB = 30.0


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

    def predicted(self, machine: MachinePlan) -> timedelta:
        return timedelta(minutes=self.fixed_minutes + self.minutes_per_tb * machine.total_gb / 1024)


def _skip(machine: MachinePlan, why: str) -> CutoverResult:
    return CutoverResult(
        machine=machine.display_name,
        item=machine.source_name,
        outcome="skipped",
        detail=why,
        old_ip=machine.source_ip,
        test_waiver=machine.waiver_note,
    )


def _completed(machine: MachinePlan) -> CutoverResult:
    return CutoverResult(
        machine=machine.display_name,
        item=machine.source_name,
        outcome="already-migrated",
        old_ip=machine.source_ip,
        detail=f"migration completed earlier; Azure VM {machine.target_vm_name} in place",
        test_waiver=machine.waiver_note,
    )


def _run_name() -> str:
    """`cutover-<plan>-<waves>` (or `-all-waves`): the runs list says which waves a cutover was for."""
    request = flow_run.parameters["request"]
    request = request if isinstance(request, CutoverRequest) else CutoverRequest.model_validate(request)
    return f"cutover-{request.plan_name}-{'-'.join(request.waves) or 'all-waves'}"


@flow(name="cutover", flow_run_name=_run_name, task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_CUTOVERS))
def cutover(request: CutoverRequest) -> list[CutoverResult]:
    """Cut over what may go now; report every machine of the chosen waves with what happened to it."""
    logger = get_run_logger()
    plan = WavePlanBlock.load(request.plan_name).plan
    target = AzureMigrationTarget.load(plan.target_block)
    infra = resolve_infrastructure(plan.target_block)
    poll_interval = request.poll_interval or target.poll_interval
    vault = VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval)
    statuses = vault.refresh()
    vms = target_vms(target)
    now = datetime.now(UTC)
    results: list[CutoverResult] = []
    futures = []
    for wave in [plan.wave(name) for name in request.waves] or plan.waves:
        states = observe(wave.machines, statuses, vms)
        completed = [
            m for m in wave.machines if states[m.source_name].stage == Stage.COMPLETED
        ]  # the item is gone: the VM says it moved
        results += [_completed(m) for m in completed]
        waiting = [m for m in wave.machines if m not in completed]
        window = wave.window.open_at(now)
        if window is None and not request.force_outside_window:
            results += [
                _skip(m, f"the maintenance window of wave {wave.name} is {wave.window.describe_closed(now)}")
                for m in waiting
            ]
            continue
        if window is None:
            logger.warning("Wave %s cut over OUTSIDE its window: %s", wave.name, request.force_reason)
        ledger = SignOffLedger.for_wave(plan.name, wave.name)
        for machine in waiting:
            state = states[machine.source_name]
            reason = (
                ROLLED_BACK_NEXT
                if state.stage == Stage.ROLLED_BACK
                else eligibility(machine, state.item, ledger.latest(machine.source_name))
            )
            if (
                reason is None
                and window is not None
                and not state.migrated
                and now + request.predicted(machine) > window[1]
            ):
                reason = (
                    f"predicted to take {request.predicted(machine)}, "
                    f"which would end after the window closes at {window[1]:%H:%M} UTC"
                )
            if reason:
                results.append(_skip(machine, reason))
            else:
                futures.append((machine, cut_over.submit(plan.target_block, infra, machine, poll_interval)))
    results += gather(
        futures,
        lambda m, error: CutoverResult(
            machine=m.display_name,
            item=m.source_name,
            outcome="failed",
            old_ip=m.source_ip,
            detail=f"cutover failed: {error}",
            options=FAILURE_OPTIONS,
            test_waiver=m.waiver_note,
        ),
    )
    create_table_artifact(
        key=f"cutover-{plan.name}",
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
        description=f"Cutover of {plan.name} at {now:%Y-%m-%d %H:%M} UTC"
        + (f" (forced outside the window: {request.force_reason})" if request.force_outside_window else "")
        + (
            f"; prediction {request.fixed_minutes:g} min + {request.minutes_per_tb:g} min/TB: "
            f"{request.prediction_reason}"
            if request.prediction_reason
            else ""
        ),
    )
    failures = {r.machine: r.detail for r in results if r.outcome == "failed"}
    after, vms_after = vault.refresh(), target_vms(target)  # one read after the cutovers serves every wave's board
    for wave in [plan.wave(name) for name in request.waves] or plan.waves:
        publish_board(plan.name, wave, observe(wave.machines, after, vms_after), failures)
    if failures or not results or any(r.outcome == "migrated" for r in results):
        return finish(results, f"cutover of {plan.name}", len(results), failures)
    return Completed(data=results, name="Nothing cut over", message=nothing_moved(results))


def nothing_moved(results: list[CutoverResult]) -> str:
    """Why a cutover moved nothing, counted by reason: 'nothing to cut over: 28 not signed off; 4 migrated earlier'."""
    reasons = Counter("migrated earlier" if r.outcome == "already-migrated" else r.detail for r in results)
    return "nothing to cut over: " + "; ".join(f"{count} {reason}" for reason, count in reasons.most_common())
