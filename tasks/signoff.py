"""Sign-off records: a person's decision on a machine's latest test migration, as the ledger keeps it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from prefect import runtime

from wavelift.blocks.signoff import SignOff, SignOffLedger
from wavelift.tasks.events import machine_event
from wavelift.tasks.outcomes import Done
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.test_migration import clean_up_test
from wavelift.tasks.vault_status import ItemStatus

if TYPE_CHECKING:
    from wavelift.tasks.journey import Facts, Trip


def signoff_record(
    machine: MachinePlan,
    decision: Literal["approved", "rejected"],
    approver: str,
    comment: str,
    tested: ItemStatus | None,
    at: datetime,
) -> SignOff:
    """The decision bound to the test it judges (the item's last test time): a later test needs a new one."""
    return SignOff(
        machine=machine.display_name,
        item=machine.source_name,
        decision=decision,
        approver=approver,
        comment=comment,
        at=at,
        flow_run_id=str(runtime.flow_run.id),
        tested_at=tested.last_test_time if tested else None,
    )


def pre_approval_step(trip: Trip, machine: MachinePlan, facts: Facts) -> Done:
    """The itinerary's sign-off step when the run carries a pre-approval (rehearsals, demos): the named person's
    approval of the passed test goes to the ledger as the sign-off deployment would write it, and the test VM
    is removed if the wave cleans up after sign-off."""
    approver = trip.journey.pre_approved_by
    assert approver is not None  # the step is due only with a pre-approval
    record = signoff_record(
        machine, "approved", approver, trip.journey.pre_approval_comment, facts.state.item, datetime.now(UTC)
    )
    SignOffLedger.append(trip.plan.name, trip.wave.name, [record])
    machine_event(machine, "signed-off", approver=approver, tested_at=record.tested_at, pre_approved=True)
    detail = f"pre-approved by {approver}"
    if trip.wave.cleanup_test == "after_signoff":
        if clean_up_test(trip.target(), trip.infra, machine, f"wavelift: signed off by {approver}"):
            detail += "; test VM removed"
    return Done(ok=True, detail=detail, report=record)
