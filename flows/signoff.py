"""`sign_off`: operators approve or reject tested machines from the Prefect UI's form.

A sign-off is its own short flow run, not a paused run: no worker waits hours for a person, and
the decision is a durable record (the wave's ledger block) that the run history links to.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from prefect import flow, runtime
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field, model_validator

from flows.parameters import PersonName, PlanName, WaveName
from blocks.azure import AzureMigrationTarget
from blocks.plan import WavePlanBlock
from blocks.signoff import SignOff, SignOffLedger
from tasks.discovery import resolve_infrastructure
from tasks.problems import InputRefused, Problem
from tasks.test_migration import clean_up_test_migration
from tasks.vault_status import VaultStatusBoard


PARALLEL_CLEANUPS = 20


class SignOffRequest(BaseModel):
    """The sign-off form."""

    plan_name: PlanName
    wave: WaveName = Field(description="The wave whose test migrations are judged.")
    decision: Literal["approve", "reject"] = Field(description="Approve the machines for cutover, or reject them.")
    approver: PersonName = Field(description="Who decides (name or e-mail); recorded with the decision.")
    comment: str = Field(default="", max_length=2000, description="Why; required to reject.")
    machines: list[str] = Field(default_factory=list, max_length=10000, description="Machine names; empty means every machine of the wave whose test passed.")

    @model_validator(mode="after")
    def _reason_to_reject(self) -> "SignOffRequest":
        if self.decision == "reject" and not self.comment.strip():
            raise ValueError("a rejection needs a comment saying why")
        return self


@flow(name="sign-off", flow_run_name="sign-off-{request.plan_name}-{request.wave}-{request.decision}", task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_CLEANUPS))
def sign_off(request: SignOffRequest) -> list[SignOff]:
    """Record the decision for each machine against the test it judges; refuse unknown or untested machines."""
    plan = WavePlanBlock.load(request.plan_name).plan
    wave = plan.wave(request.wave)
    target = AzureMigrationTarget.load(plan.target_block)
    infra = resolve_infrastructure(plan.target_block)
    statuses = VaultStatusBoard.for_vault(target, plan.target_block, infra.vault_id, 0).refresh()
    by_name = {m.display_name.lower(): m for m in wave.machines}
    problems = [Problem(source="sign-off", field="machines", reason=f"'{name}' is not a machine of wave {wave.name}") for name in request.machines if name.lower() not in by_name]
    chosen = [by_name[n.lower()] for n in request.machines if n.lower() in by_name] or list(wave.machines)
    tested = {m.source_name: statuses.get(m.source_name.lower()) for m in chosen}
    passed = {name for name, s in tested.items() if s is not None and (s.test_state == "TestMigrationSucceeded" or s.last_test_status == "Succeeded")}
    if request.machines and request.decision == "approve":
        problems += [Problem(source="sign-off", field="machines", reason=f"'{m.display_name}' has no succeeded test migration to approve")
                     for m in chosen if m.source_name not in passed]
    if problems:
        raise InputRefused(problems)
    now = datetime.now(timezone.utc)
    judged = [m for m in chosen if m.source_name in passed or request.decision == "reject"]
    records = [SignOff(machine=m.display_name, item=m.source_name, decision="approved" if request.decision == "approve" else "rejected",
                       approver=request.approver, comment=request.comment, at=now, flow_run_id=str(runtime.flow_run.id),
                       tested_at=tested[m.source_name].last_test_time if tested[m.source_name] else None) for m in judged]
    ledger = SignOffLedger.for_wave(plan.name, wave.name)
    ledger.records.extend(records)
    ledger.save(SignOffLedger.block_name(plan.name, wave.name), overwrite=True)
    create_table_artifact(key=f"sign-off-{plan.name}-{wave.name}", table=[r.model_dump(mode="json") for r in records],
                          description=f"{request.approver} {request.decision}d {len(records)} machine(s) of {plan.name}/{wave.name}: {request.comment}")
    if wave.cleanup_test == "after_signoff" and request.decision == "approve":
        cleanups = [clean_up_test_migration.submit(plan.target_block, infra, m, f"wavelift: signed off by {request.approver}") for m in judged]
        [f.result() for f in cleanups]
    return records
