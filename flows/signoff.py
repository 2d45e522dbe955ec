"""`sign_off`: operators approve or reject tested machines from the Prefect UI's form.

A sign-off is its own short flow run, not a paused run: no worker waits hours for a person, and
the decision is a durable record (the wave's ledger block) that the run history links to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field, model_validator

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.blocks.signoff import SignOff, SignOffLedger
from wavelift.flows.parameters import PersonName, WaveName
from wavelift.tasks.board import refresh_board
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.lifecycle import has_passed_test
from wavelift.tasks.outcomes import each_machine, finish
from wavelift.tasks.problems import InputRefused, Problem
from wavelift.tasks.signoff import signoff_record
from wavelift.tasks.test_migration import clean_up_test_migration
from wavelift.tasks.vault_status import ItemStatus, VaultStatusBoard

PARALLEL_CLEANUPS = 20


class SignOffRequest(BaseModel):
    """The sign-off form."""

    plan_name: PlanName
    wave: WaveName = Field(description="The wave whose test migrations are judged.")
    decision: Literal["approve", "reject"] = Field(description="Approve the machines for cutover, or reject them.")
    approver: PersonName = Field(description="Who decides (name or e-mail); recorded with the decision.")
    comment: str = Field(default="", max_length=2000, description="Why; required to reject.")
    machines: list[str] = Field(
        default_factory=list,
        max_length=10000,
        description="Machine names; empty means every machine of the wave whose test passed.",
    )

    @model_validator(mode="after")
    def _reason_to_reject(self) -> SignOffRequest:
        if self.decision == "reject" and not self.comment.strip():
            raise ValueError("a rejection needs a comment saying why")
        return self


def _already(latest: SignOff | None, decision: str, approver: str, item: ItemStatus | None) -> bool:
    """The same person's same decision on the same test is on record.

    A re-run (of migrate-wave too) then records nothing new."""
    return (
        latest is not None
        and (latest.decision, latest.approver) == (decision, approver)
        and latest.tested_at == (item.last_test_time if item else None)
    )


@flow(
    name="sign-off",
    flow_run_name="sign-off-{request.plan_name}-{request.wave}-{request.decision}",
)
def sign_off(request: SignOffRequest) -> list[SignOff]:
    """Record the decision for each machine against the test it judges; refuse unknown or untested machines."""
    plan = WavePlanBlock.load(request.plan_name).plan
    wave = plan.wave(request.wave)
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    infra = resolve_infrastructure(plan.target_block)
    statuses = VaultStatusBoard.for_vault(target, infra.vault_id, 0).refresh()
    by_name = {m.display_name.lower(): m for m in wave.machines}
    problems = [
        Problem(source="sign-off", field="machines", reason=f"'{name}' is not a machine of wave {wave.name}")
        for name in request.machines
        if name.lower() not in by_name
    ]
    chosen = [by_name[n.lower()] for n in request.machines if n.lower() in by_name] or list(wave.machines)
    tested = {m.source_name: statuses.get(m.source_name.lower()) for m in chosen}
    passed = {name for name, s in tested.items() if has_passed_test(s)}
    if request.machines and request.decision == "approve":
        problems += [
            Problem(
                source="sign-off",
                field="machines",
                reason=f"'{m.display_name}' has no succeeded test migration to approve",
            )
            for m in chosen
            if m.source_name not in passed
        ]
    if problems:
        raise InputRefused(problems)
    now = datetime.now(UTC)
    ledger = SignOffLedger.for_wave(plan.name, wave.name)
    decision = "approved" if request.decision == "approve" else "rejected"
    judged = [
        m
        for m in chosen
        if (m.source_name in passed or request.decision == "reject")
        and not _already(ledger.latest(m.source_name), decision, request.approver, tested[m.source_name])
    ]
    records = [
        signoff_record(m, decision, request.approver, request.comment, tested[m.source_name], now) for m in judged
    ]
    if records:
        SignOffLedger.append(plan.name, wave.name, records)
    create_table_artifact(
        key=f"sign-off-{plan.name}-{wave.name}",
        table=[r.model_dump(mode="json") for r in records],
        description=f"{request.approver} {request.decision}d {len(records)} machine(s) of {plan.name}/{wave.name}: "
        f"{request.comment}",
    )
    if wave.cleanup_test == "after_signoff" and request.decision == "approve":
        comment = f"wavelift: signed off by {request.approver}"
        removed = each_machine(
            judged,
            lambda m: clean_up_test_migration(plan.target_block, infra, m, comment),
            lambda m, error: f"the test VM was not removed: {error}",
            PARALLEL_CLEANUPS,
        )
        failures = {
            m.display_name: outcome for m, outcome in zip(judged, removed, strict=True) if isinstance(outcome, str)
        }
        refresh_board(plan.target_block, plan.name, wave, infra.vault_id, failures)
        return finish(records, f"test VM clean-up after the sign-off of {plan.name}/{wave.name}", len(judged), failures)
    refresh_board(plan.target_block, plan.name, wave, infra.vault_id)
    return records
