"""`migrate_wave`: a wave from replication to hardening, as child flow runs an operator can follow.

Replicate, test, cut over what is signed off, then harden the migrated VMs when a policy is given. Sign-off normally comes from people, through
the sign-off deployment, while this run is not waiting; `pre_approved_by` records one in this run
instead (rehearsals and the demo), visibly, as that person's decision. Every step reads Azure before
it acts, so running this again after a crash finishes the wave without doing anything twice.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from flows.cutover import CutoverRequest, cutover
from flows.harden import harden_wave
from flows.replicate import replicate_wave
from flows.signoff import SignOffRequest, sign_off
from flows.test_wave import test_wave
from tasks.cutover import CutoverResult
from tasks.harden import HardeningReport
from tasks.test_migration import MigrationTestReport


class MigrateWaveRequest(BaseModel):
    """The migrate-wave form."""

    plan_name: str = Field(description="The plan.")
    wave: str = Field(description="The wave to migrate.")
    poll_interval: float = Field(default=300.0, gt=0, description="Seconds between vault reads while machines seed or migrate.")
    pre_approved_by: str | None = Field(default=None, description="Sign off every passed test in this run on behalf of this person (rehearsals, demos).")
    pre_approval_comment: str = Field(default="pre-approved in the migrate-wave run", description="Recorded with a pre-approval.")
    cut_over: bool = Field(default=True, description="Cut over the signed-off machines if the wave's window is open; otherwise the nightly cutover does.")
    hardening_policy: str | None = Field(default=None, description="HardeningPolicy block to harden the migrated VMs with; empty skips hardening.")


class WaveOutcome(BaseModel):
    """What a migrate-wave run did, phase by phase."""

    tests: list[MigrationTestReport]
    cutovers: list[CutoverResult]
    hardening: list[HardeningReport] = Field(default_factory=list)


@flow(name="migrate-wave", flow_run_name="migrate-{request.plan_name}-{request.wave}")
def migrate_wave(request: MigrateWaveRequest) -> WaveOutcome:
    replicate_wave(request.plan_name, request.wave, request.poll_interval)
    tests = test_wave(request.plan_name, request.wave, request.poll_interval)
    if request.pre_approved_by and any(t.passed for t in tests):
        sign_off(SignOffRequest(plan_name=request.plan_name, wave=request.wave, decision="approve", approver=request.pre_approved_by,
                                comment=request.pre_approval_comment, machines=[t.machine for t in tests if t.passed]))
    cutovers = cutover(CutoverRequest(plan_name=request.plan_name, waves=[request.wave], poll_interval=request.poll_interval)) if request.cut_over else []
    migrated = [c for c in cutovers if c.outcome in ("migrated", "already-migrated")]
    hardening = harden_wave(request.plan_name, request.wave, request.hardening_policy) if request.hardening_policy and migrated else []
    create_markdown_artifact(
        key=f"wave-summary-{request.plan_name}-{request.wave}",
        markdown="\n".join([
            f"# {request.plan_name} / {request.wave}", "",
            f"- test migrations: {sum(t.passed for t in tests)} passed, {sum(not t.passed for t in tests)} failed",
            f"- sign-off: {'pre-approved by ' + request.pre_approved_by if request.pre_approved_by else 'by the sign-off deployment'}",
            f"- cutover: {len(migrated)} migrated, {sum(c.outcome == 'failed' for c in cutovers)} failed, {sum(c.outcome == 'skipped' for c in cutovers)} waiting",
            f"- hardening: {sum(h.ok for h in hardening)} of {len(hardening)} fully hardened" if request.hardening_policy else "- hardening: not requested",
        ]),
        description="Where the wave stands after this run.",
    )
    return WaveOutcome(tests=tests, cutovers=cutovers, hardening=hardening)
