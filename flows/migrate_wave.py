"""`migrate_wave`: a wave from replication to clean-up, as child flow runs an operator can follow.

A preflight reads the target first and stops the wave on a red finding (a missing quota, a full subnet,
a taken VM name: what would otherwise fail hours later, or at cutover with the source shut down), unless
the request overrides it with a written reason, which the run records. Then replicate, testing each
machine as soon as it is seeded (test-wave then verifies and reports every test), cut over what is signed
off, then harden the migrated VMs and clean up after them when policies are given (the clean-up is a dry
run unless `execute_cleanup` is set). Sign-off normally comes from people, through the sign-off
deployment, while this run is not waiting; `pre_approved_by` records one in this run instead (rehearsals
and the demo), visibly, as that person's decision. Every step reads Azure before it acts, so running this
again after a crash finishes the wave without doing anything twice.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event
from prefect.states import Completed, Failed
from pydantic import BaseModel, Field, model_validator

from blocks.parameters import CleanupPolicyName, HardeningPolicyName, PlanName
from flows.cleanup import CleanupRequest, cleanup_wave
from flows.cutover import CutoverRequest, cutover, nothing_moved
from flows.harden import harden_wave
from flows.parameters import PersonName, PollInterval, WaveName
from flows.preflight import preflight_wave
from flows.replicate import replicate_wave
from flows.signoff import SignOffRequest, sign_off
from flows.smoke_test import smoke_test_wave
from flows.test_wave import test_wave
from tasks.cleanup import CleanupReport
from tasks.cutover import CutoverResult
from tasks.harden import HardeningReport
from tasks.outcomes import finish
from tasks.preflight import PreflightReport
from tasks.smoke_test import SmokeTest
from tasks.test_migration import MigrationTestReport


class MigrateWaveRequest(BaseModel):
    """The migrate-wave form."""

    plan_name: PlanName
    wave: WaveName = Field(description="The wave to migrate.")
    poll_interval: PollInterval | None = Field(
        default=None,
        description="Seconds between vault reads while machines seed or migrate (0.1–3600); "
        "empty means the target block's.",
    )
    test_when_seeded: bool = Field(
        default=True,
        description="Test-migrate each machine as soon as its initial seeding ends (pipelined), rather than after "
        "the whole wave has seeded.",
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


@flow(name="migrate-wave", flow_run_name="migrate-{request.plan_name}-{request.wave}")
def migrate_wave(request: MigrateWaveRequest) -> WaveOutcome:
    checked = preflight_wave(request.plan_name, request.wave, request.hardening_policy)
    if checked.red and not _overridden(request, checked):
        return Failed(
            name="Stopped by preflight",
            message=f"preflight found {len(checked.red)} red finding(s); nothing was started: "
            + "; ".join(f"{f.scope}: {f.check}: {f.detail}" for f in checked.red[:5])
            + " (fix them, or override with preflight_override_reason and preflight_override_by)",
        )
    replication = replicate_wave(
        request.plan_name, request.wave, request.poll_interval, test_when_seeded=request.test_when_seeded
    )
    tests = test_wave(request.plan_name, request.wave, request.poll_interval)
    if request.pre_approved_by and any(t.passed for t in tests):
        sign_off(
            SignOffRequest(
                plan_name=request.plan_name,
                wave=request.wave,
                decision="approve",
                approver=request.pre_approved_by,
                comment=request.pre_approval_comment,
                machines=[t.machine for t in tests if t.passed],
            )
        )
    cutovers = (
        cutover(CutoverRequest(plan_name=request.plan_name, waves=[request.wave], poll_interval=request.poll_interval))
        if request.cut_over
        else []
    )
    migrated = [c for c in cutovers if c.outcome in ("migrated", "already-migrated")]
    smoke_tests = smoke_test_wave(request.plan_name, request.wave) if migrated else []  # while the window is open
    hardening = (
        harden_wave(request.plan_name, request.wave, request.hardening_policy)
        if request.hardening_policy and migrated
        else []
    )
    cleanup = (
        cleanup_wave(
            CleanupRequest(
                plan_name=request.plan_name,
                wave=request.wave,
                policy_block=request.cleanup_policy,
                execute=request.execute_cleanup,
            )
        )
        if request.cleanup_policy and migrated
        else []
    )
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
    failures = (
        replication.failed
        | {t.machine: t.detail for t in tests if not t.passed and not t.skipped}
        | {c.machine: c.detail for c in cutovers if c.outcome == "failed"}
        | {t.machine: t.detail for t in smoke_tests if not t.ok}
        | {h.machine: "hardening incomplete" for h in hardening if not h.ok}
        | {c.machine: c.error for c in cleanup if c.error}
    )
    outcome = WaveOutcome(tests=tests, cutovers=cutovers, smoke_tests=smoke_tests, hardening=hardening, cleanup=cleanup)
    if request.cut_over and not failures and not any(c.outcome == "migrated" for c in cutovers):
        return Completed(
            data=outcome,
            name="Nothing cut over",
            message=nothing_moved(cutovers) if cutovers else "nothing to cut over",
        )
    seen = {t.machine for t in tests} | {c.machine for c in cutovers} | set(replication.failed)
    return finish(outcome, f"migrate-wave {request.plan_name}/{request.wave}", len(seen), failures)
