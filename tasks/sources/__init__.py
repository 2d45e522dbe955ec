"""Source platforms behind one adapter: what Site Recovery needs to enable, test-migrate and migrate a
machine of that platform, and how the platform's provider-specific details of a migration item read.

VMware agentless (`VMwareCbt`) is the first. Hyper-V or physical servers are one new module here that
implements `SourceAdapter` and registers itself in `ADAPTERS`; no phase needs to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wavelift.blocks.azure import AzureMigrationTarget
    from wavelift.tasks.discovery import ReplicationInfrastructure
    from wavelift.tasks.plan_models import MachinePlan


class ItemDetails(Protocol):
    """What the phases read from an item's provider-specific details."""

    seeding_percent: int | None
    last_recovery_point_id: str | None
    primary_nic_id: str | None
    resync_required: bool


class SourceAdapter(Protocol):
    """One source platform's side of the Site Recovery calls."""

    source_type: str  # the plan's `source_type`
    instance_type: str  # Site Recovery's providerSpecificDetails.instanceType of its items

    def enable_input(self, target: AzureMigrationTarget, infra: ReplicationInfrastructure, machine: MachinePlan) -> Any:
        """The body of enable-replication (`replication_migration_items.begin_create`)."""

    def test_input(
        self,
        target: AzureMigrationTarget,
        machine: MachinePlan,
        recovery_point_id: str | None,
        primary_nic_id: str | None,
    ) -> Any:
        """The body of a test migration into the target's test network."""

    def migrate_input(self, machine: MachinePlan) -> Any:
        """The body of the migration, shutting the source down unless the plan opts out."""

    def resync_input(self) -> Any:
        """The body of a resync (Site Recovery's repair of a replication that needs it)."""

    def details(self, provider_specific_details: Mapping[str, Any]) -> ItemDetails:
        """The item's provider-specific details (its ARM JSON) as the phases read them."""


ADAPTERS: dict[str, SourceAdapter] = {}


def register(adapter: SourceAdapter) -> SourceAdapter:
    ADAPTERS[adapter.source_type] = adapter
    return adapter


def adapter_for(machine: MachinePlan) -> SourceAdapter:
    """The adapter of the machine's source platform."""
    return ADAPTERS[machine.source_type]


def details_of(provider_specific_details: Mapping[str, Any]) -> ItemDetails | None:
    """An item's details, read by the adapter whose instance type they carry (None for an unknown platform)."""
    instance_type = provider_specific_details.get("instanceType")
    adapter = next((a for a in ADAPTERS.values() if a.instance_type == instance_type), None)
    return adapter.details(provider_specific_details) if adapter else None


# The platforms register themselves once, when this package is first imported (not on every item of every list).
from wavelift.tasks.sources import vmware  # noqa: E402, F401
