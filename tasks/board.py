"""The wave board: one artifact, one row per machine, saying where it stands, since when, what comes next
and what that waits for (a slot, seeding, a sign-off, the window, the grace period), and its last error.

Every phase flow publishes it at its end (replicate-wave also while it runs), under one key per wave,
so an operator opens one artifact — not a replication table that stays "seeded" for machines long since
migrated — and a reviewer finds its versions in the run history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime

from prefect.artifacts import create_table_artifact
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.signoff import SignOff, SignOffLedger
from wavelift.tasks.lifecycle import ROLLED_BACK_NEXT, TEST_FAILED, MachineState, Stage, observe, target_vms
from wavelift.tasks.plan_models import MachinePlan, Wave
from wavelift.tasks.vault_status import VaultStatusBoard


class BoardRow(BaseModel):
    """One machine on the wave board."""

    machine: str
    batch: int
    stage: str
    since: str
    next_step: str
    waiting_for: str
    last_error: str


def _next(
    machine: MachinePlan, state: MachineState, signoff: SignOff | None, wave: Wave, now: datetime
) -> tuple[str, str]:
    """(next step, what it waits for) from the machine's stage."""
    item, stage = state.item, state.stage
    if stage == Stage.PLANNED:
        return "replicate", "a replication slot (replicate-wave)"
    if stage == Stage.ROLLED_BACK:
        return "migrate anew, or leave it on-prem", ROLLED_BACK_NEXT
    if stage == Stage.REPLICATING:
        return "finish initial seeding", f"seeding {item.seeding_percent or 0}%" if item else "seeding"
    if stage == Stage.FAILED:
        return (
            "fix the replication, then run the wave again",
            f"{item.migration_state}: {item.migration_state_description or ''}" if item else "",
        )
    if stage in (Stage.MIGRATED, Stage.COMPLETED):
        return (
            ("harden and clean up", "harden-wave / cleanup-wave (its grace period)")
            if stage == Stage.MIGRATED
            else ("nothing", "migration completed")
        )
    if stage == Stage.SEEDED and not machine.test_waived:
        failed = item is not None and item.test_state in TEST_FAILED
        return (
            ("clean up the failed test, then test again", "cleanup-wave") if failed else ("test migration", "test-wave")
        )
    window = "the window is open" if wave.window.open_at(now) else f"the window, {wave.window.describe_closed(now)}"
    if machine.test_waived:
        return "cutover (test waived)", window
    if signoff is None or signoff.tested_at != (item.last_test_time if item else None):
        return "sign-off", "a sign-off of the latest test (sign-off)"
    if signoff.decision == "rejected":
        return "test again or roll back", f"rejected by {signoff.approver}: {signoff.comment}"
    return "cutover", window


def _since(state: MachineState) -> str:
    """When the machine reached its stage, by Azure's timestamps where Azure gives one."""
    item = state.item
    if item is None:
        return ""
    return {
        Stage.REPLICATING: item.current_job_started,
        Stage.TESTED: item.last_test_time,
        Stage.MIGRATED: item.last_migration_time,
    }.get(state.stage) or ""


def board_rows(
    wave: Wave,
    states: dict[str, MachineState],
    ledger: SignOffLedger,
    errors: dict[str, str],
    now: datetime,
    held: Mapping[str, tuple[str, str]] | None = None,
) -> list[BoardRow]:
    """The board's rows, largest machines first as the batches are cut. `held` (by source name) is what a
    reconciling run knows about its machines: the next step and what it waits for, in the itinerary's words."""
    rows = []
    for batch, machines in enumerate(wave.batches(), start=1):
        for machine in machines:
            state = states[machine.source_name]
            next_step, waiting_for = (held or {}).get(machine.source_name) or _next(
                machine, state, ledger.latest(machine.source_name), wave, now
            )
            rows.append(
                BoardRow(
                    machine=machine.display_name,
                    batch=batch,
                    stage=state.stage.value,
                    since=_since(state),
                    next_step=next_step,
                    waiting_for=waiting_for,
                    last_error=errors.get(machine.display_name, ""),
                )
            )
    return rows


def refresh_board(
    target_block: str, plan_name: str, wave: Wave, vault_id: str, errors: dict[str, str] | None = None
) -> list[BoardRow]:
    """Read the wave's state afresh (one vault list, one VM list) and publish the board.

    The last thing every phase flow does."""
    target = load_for_run(AzureMigrationTarget, target_block)
    states = observe(wave.machines, VaultStatusBoard.for_vault(target, vault_id, 0).refresh(), target_vms(target))
    return publish_board(plan_name, wave, states, errors)


def publish_board(
    plan_name: str,
    wave: Wave,
    states: dict[str, MachineState],
    errors: dict[str, str] | None = None,
    held: Mapping[str, tuple[str, str]] | None = None,
) -> list[BoardRow]:
    """Publish the wave board (a new version of artifact `wave-board-<plan>-<wave>`)."""
    now = datetime.now(UTC)
    rows = board_rows(wave, states, SignOffLedger.for_wave(plan_name, wave.name), errors or {}, now, held)
    counts = Counter(r.stage for r in rows)
    create_table_artifact(
        key=f"wave-board-{plan_name}-{wave.name}",
        table=[r.model_dump() for r in rows],
        description=f"{plan_name}/{wave.name} at {now:%Y-%m-%d %H:%M} UTC: "
        + ", ".join(f"{count} {stage}" for stage, count in counts.most_common()),
    )
    return rows
