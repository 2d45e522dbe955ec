"""Prefect events for machine state changes: reviewers and automations see every step per machine."""

from __future__ import annotations

from prefect.events import emit_event

from wavelift.tasks.plan_models import MachinePlan


def machine_event(machine: MachinePlan, what: str, **payload: object) -> None:
    """Emit `wavelift.machine.<what>` about one machine (resource `wavelift.machine.<item name>`)."""
    emit_event(
        event=f"wavelift.machine.{what}",
        resource={
            "prefect.resource.id": f"wavelift.machine.{machine.source_name}",
            "prefect.resource.name": machine.display_name,
        },
        payload=payload,
    )
