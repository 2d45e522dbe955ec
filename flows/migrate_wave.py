"""`migrate_wave`: a wave from replication to clean-up, each machine along its own itinerary.

A preflight reads the target first and stops the wave on a red finding (a missing quota, a full subnet,
a taken VM name: what would otherwise fail hours later, or at cutover with the source shut down), unless
the request overrides it with a written reason, which the run records. Then every machine goes through
`tasks.itinerary` as far as the request asks — replicate, test, sign-off, cutover inside the window, smoke
test, harden, clean up (a dry run unless `execute_cleanup` is set) — each at its own pace: one seeded is
tested at once, one signed off is cut over while others still seed. Sign-off normally comes from people,
through the sign-off deployment, while this run is not waiting; `pre_approved_by` records one in this run
instead (rehearsals and the demo), visibly, as that person's decision. Every step observes Azure before it
acts, so running this again — after a crash, or after the wave finished — does nothing twice.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event
from prefect.states import Completed, Failed
from pydantic import BaseModel, Field, model_validator

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import CleanupPolicyName, HardeningPolicyName, PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.blocks.signoff import SignOffLedger
from wavelift.flows.cleanup import publish_cleanup
from wavelift.flows.cutover import nothing_moved, publish_cutover_report
from wavelift.flows.harden import publish_hardening
from wavelift.flows.parameters import PersonName, PollInterval, WaveName
from wavelift.flows.preflight import preflight_wave
from wavelift.flows.smoke_test import publish_smoke_tests
from wavelift.flows.test_wave import publish_test_report
from wavelift.tasks.board import publish_board
from wavelift.tasks.cleanup import CleanupReport
from wavelift.tasks.cutover import CutoverResult
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.harden import HardeningReport
from wavelift.tasks.journey import Goal, Journey, Trip
from wavelift.tasks.lifecycle import observe, target_vms
from wavelift.tasks.outcomes import finish
from wavelift.tasks.preflight import PreflightReport
from wavelift.tasks.reconcile import drive
from wavelift.tasks.replication import release_finished_slots
from wavelift.tasks.smoke_test import SmokeTest
from wavelift.tasks.test_migration import MigrationTestReport
from wavelift.tasks.vault_status import VaultStatusBoard
from wavelift.tasks.wave_rows import (
    failed_cleanup,
    failed_hardening,
    failed_smoke_test,
    step_reports,
    wave_cutovers,
    wave_tests,
)

BOARD_SECONDS = 60.0  # how often the wave board gets a new version while the wave moves


class MigrateWaveRequest(BaseModel):
    """The migrate-wave form."""

    plan_name: PlanName
    wave: WaveName = Field(description="The wave to migrate.")
    poll_interval: PollInterval | None = Field(
        default=None,
        description="Seconds between vault reads while machines seed or migrate (0.1–3600); "
        "empty means the target block's.",
    )
    pre_approved_by: PersonName | None = Field(
        default=None, description="Sign off every passed test in this run on behalf of this person (rehearsals, demos)."
    )
    pre_approval_comment: str = Field(
        default="pre-approved in the migrate-wave run", max_length=2000, description="Recorded with a pre-approval."
    )
    cut_over: bool = Field(
        default=True,
        description="Cut over the signed-off machines if the wave's window is open; otherwise the nightly cutover "
        "does.",
    )
    hardening_policy: HardeningPolicyName | None = Field(
        default=None, description="HardeningPolicy block to harden the migrated VMs with; empty skips hardening."
    )
    cleanup_policy: CleanupPolicyName | None = Field(
        default=None,
        description="CleanupPolicy block to clean up after the migrated VMs with; empty skips the clean-up.",
    )
    execute_cleanup: bool = Field(
        default=False, description="Really remove what the clean-up's gates allow; off is a dry run that lists it."
    )
    preflight_override_reason: str | None = Field(
        default=None,
        min_length=10,
        max_length=2000,
        description="Start the wave despite red preflight findings, for this written reason (recorded in the run).",
    )
    preflight_override_by: PersonName | None = Field(
        default=None, description="Who overrides the red preflight findings (required with a reason)."
    )

    @model_validator(mode="after")
    def _override_names_its_author(self) -> MigrateWaveRequest:
        if self.preflight_override_reason and not self.preflight_override_by:
            raise ValueError("a preflight override needs preflight_override_by: who decided it is recorded")
        return self


class WaveOutcome(BaseModel):
    """What a migrate-wave run did, phase by phase."""

    tests: list[MigrationTestReport]
    cutovers: list[CutoverResult]
    smoke_tests: list[SmokeTest] = Field(default_factory=list)
    hardening: list[HardeningReport] = Field(default_factory=list)
    cleanup: list[CleanupReport] = Field(default_factory=list)


def _journey(request: MigrateWaveRequest) -> Journey:
    """How far the request takes the wave's machines, and with which decisions and policies."""
    cleans_up = request.hardening_policy or request.cleanup_policy
    return Journey(
        goal=Goal.CLEANED_UP if request.cut_over and cleans_up else Goal.MIGRATED if request.cut_over else Goal.TESTED,
        pre_approved_by=request.pre_approved_by,
        pre_approval_comment=request.pre_approval_comment,
        hardening_policy=request.hardening_policy,
        cleanup_policy=request.cleanup_policy,
        execute_cleanup=request.execute_cleanup,
    )


def _overridden(request: MigrateWaveRequest, checked: PreflightReport) -> bool:
    """Whether the wave may start despite red findings: only with a written reason, which is logged and
    emitted as an event (`wavelift.preflight.overridden`) for reviewers."""
    if not request.preflight_override_reason:
        return False
    red = [f"{f.scope}: {f.check}: {f.detail}" for f in checked.red]
    get_run_logger().warning(
        "Preflight overridden by %s despite %d red finding(s) (%s): %s",
        request.preflight_override_by,
        len(red),
        "; ".join(red[:5]),
        request.preflight_override_reason,
    )
    emit_event(
        event="wavelift.preflight.overridden",
        resource={"prefect.resource.id": f"wavelift.wave.{request.plan_name}.{request.wave}"},
        payload={"by": request.preflight_override_by, "reason": request.preflight_override_reason, "red": red},
    )
    return True


@flow(
    name="migrate-wave",
    flow_run_name="migrate-{request.plan_name}-{request.wave}",
)
def migrate_wave(request: MigrateWaveRequest) -> WaveOutcome:
    checked = preflight_wave(request.plan_name, request.wave, request.hardening_policy)
    if checked.red and not _overridden(request, checked):
        return Failed(
            name="Stopped by preflight",
            message=f"preflight found {len(checked.red)} red finding(s); nothing was started: "
            + "; ".join(f"{f.scope}: {f.check}: {f.detail}" for f in checked.red[:5])
            + " (fix them, or override with preflight_override_reason and preflight_override_by)",
        )
    plan = WavePlanBlock.load(request.plan_name).plan
    wave = plan.wave(request.wave)
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    infra = resolve_infrastructure(plan.target_block)
    poll_interval = request.poll_interval or target.poll_interval
    machines = [m for batch in wave.batches() for m in batch]  # largest first
    start = observe(
        machines, VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval).refresh(), target_vms(target)
    )
    release_finished_slots(target, infra, poll_interval)
    ledger = SignOffLedger.for_wave(plan.name, wave.name)
    journeyed = drive(
        Trip(plan, wave, infra, poll_interval, _journey(request)),
        machines,
        start,
        {m.source_name: ledger.latest(m.source_name) for m in machines},
        progress=lambda j: publish_board(plan.name, wave, j.states, j.failures(), j.held),
        progress_seconds=BOARD_SECONDS,
    )
    publish_board(plan.name, wave, journeyed.states, journeyed.failures(), journeyed.held)
    tests = wave_tests(machines, start, journeyed)
    publish_test_report(plan.name, wave.name, tests, [m for m in machines if m.test_waived])
    cutovers = wave_cutovers(machines, start, journeyed) if request.cut_over else []
    if cutovers:
        publish_cutover_report(plan.name, cutovers, f"Cutover of {plan.name}/{wave.name} in {runtime.flow_run.name}")
    smoke_tests = step_reports(journeyed, "smoke-test", failed_smoke_test)
    if smoke_tests:
        publish_smoke_tests(plan.name, wave.name, smoke_tests)
    hardening = step_reports(journeyed, "harden", failed_hardening)
    if request.hardening_policy:
        publish_hardening(plan.name, wave.name, hardening)
    cleanup = step_reports(journeyed, "clean-up", failed_cleanup)
    if request.cleanup_policy:
        publish_cleanup(
            plan.name, wave.name, load_for_run(CleanupPolicy, request.cleanup_policy), cleanup, request.execute_cleanup
        )
    migrated = [c for c in cutovers if c.outcome in ("migrated", "already-migrated")]
    cleaned = [c for c in cleanup if c.migrated and not c.held_by]
    create_markdown_artifact(
        key=f"wave-summary-{request.plan_name}-{request.wave}",
        markdown="\n".join(
            [
                f"# {request.plan_name} / {request.wave}",
                "",
                f"- preflight: {checked.summary()}"
                + (
                    f"; red overridden by {request.preflight_override_by}: {request.preflight_override_reason}"
                    if checked.red
                    else ""
                ),
                f"- test migrations: {sum(t.passed for t in tests)} passed, {sum(not t.passed for t in tests)} failed",
                "- sign-off: "
                + (
                    f"pre-approved by {request.pre_approved_by}"
                    if request.pre_approved_by
                    else "by the sign-off deployment"
                ),
                f"- cutover: {len(migrated)} migrated, {sum(c.outcome == 'failed' for c in cutovers)} failed, "
                f"{sum(c.outcome == 'skipped' for c in cutovers)} waiting",
                f"- smoke test: {sum(t.ok for t in smoke_tests)} of {len(smoke_tests)} listening on every port",
                f"- hardening: {sum(h.ok for h in hardening)} of {len(hardening)} fully hardened"
                if request.hardening_policy
                else "- hardening: not requested",
                (
                    f"- clean-up{'' if request.execute_cleanup else ' (dry run)'}: {len(cleaned)} of "
                    f"{sum(c.migrated for c in cleanup)} past every gate"
                    if request.cleanup_policy
                    else "- clean-up: not requested"
                ),
            ]
        ),
        description="Where the wave stands after this run.",
    )
    failures = journeyed.failures()
    outcome = WaveOutcome(tests=tests, cutovers=cutovers, smoke_tests=smoke_tests, hardening=hardening, cleanup=cleanup)
    if request.cut_over and not failures and not any(c.outcome == "migrated" for c in cutovers):
        return Completed(
            data=outcome,
            name="Nothing cut over",
            message=nothing_moved(cutovers) if cutovers else "nothing to cut over",
        )
    return finish(outcome, f"migrate-wave {request.plan_name}/{request.wave}", len(machines), failures)
