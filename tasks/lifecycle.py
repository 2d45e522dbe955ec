"""Where a machine stands in its lifecycle: one definition, read from every system of record that says so.

Site Recovery's migration item tells replication, test and migration state until the migration is
completed; then the item is gone and only the Azure VM says the machine moved. Reading the item alone
made a finished wave look new: a re-run replicated, tested and cut over its machines again. So a
machine's state is observed from both, and every flow asks this module — "seeded", "test passed",
"migrated" are defined here once, on the SDK's own enums (`MigrationState`, `TestMigrationState`),
covering every value the pinned SDK knows, never on string literals scattered through the flows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum, StrEnum

from azure.mgmt.recoveryservicessiterecovery.models import MigrationState as MS
from azure.mgmt.recoveryservicessiterecovery.models import TestMigrationState as TS
from pydantic import BaseModel, Field

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.vault_status import ItemStatus


def _azure(*states: Enum) -> frozenset[str]:
    """Azure's words for SDK enum members (items carry plain strings, see `tasks.vault_status`)."""
    return frozenset(str(s.value) for s in states)


REPLICATION_FAILED = _azure(MS.ENABLE_MIGRATION_FAILED, MS.INITIAL_SEEDING_FAILED)
BEING_REMOVED = _azure(MS.DISABLE_MIGRATION_IN_PROGRESS, MS.DISABLE_MIGRATION_FAILED)
REPLICATING = MS.REPLICATING.value
MIGRATING = _azure(MS.MIGRATION_IN_PROGRESS)
MIGRATED = _azure(MS.MIGRATION_SUCCEEDED, MS.MIGRATION_COMPLETED_WITH_INFORMATION, MS.MIGRATION_PARTIALLY_SUCCEEDED)
CUTOVER_FAILED = _azure(MS.MIGRATION_FAILED)  # the source may be shut down: a roll back powers it on again
# Initial seeding is over: delta sync runs (or ran), replication is paused or resuming, or the machine migrated.
SEEDED = (
    _azure(
        MS.REPLICATING,
        MS.MIGRATION_FAILED,
        MS.RESUME_IN_PROGRESS,
        MS.RESUME_INITIATED,
        MS.SUSPENDING_PROTECTION,
        MS.PROTECTION_SUSPENDED,
    )
    | MIGRATING
    | MIGRATED
)
TESTING = _azure(TS.TEST_MIGRATION_IN_PROGRESS)
TEST_PASSED = _azure(TS.TEST_MIGRATION_SUCCEEDED, TS.TEST_MIGRATION_COMPLETED_WITH_INFORMATION)
# A test VM may exist but did not pass: it is reported failed and cleaned up before another test.
TEST_FAILED = _azure(TS.TEST_MIGRATION_FAILED, TS.TEST_MIGRATION_PARTIALLY_SUCCEEDED)
NO_TEST = TS.NONE.value
LAST_TEST_SUCCEEDED = (
    "Succeeded"  # lastTestMigrationStatus once the test VM is cleaned up (a free-form string in the API)
)


class Stage(StrEnum):
    """The steps a machine goes through, as far as Azure shows them."""

    PLANNED = "planned"  # in the plan, nothing in Azure yet
    REPLICATING = "replicating"  # enabled, initial seeding under way
    SEEDED = "seeded"  # initial seeding done, delta sync running
    TESTED = "tested"  # a test migration passed (the test VM may be gone)
    MIGRATED = "migrated"  # the Azure VM exists; the migration item may still be there
    COMPLETED = "completed"  # the migration was completed: the item is gone, the Azure VM remains
    FAILED = "failed"  # Azure reports the replication failed or is being removed
    ROLLED_BACK = "rolled back"  # the source runs again; the Azure VM is stopped and tagged (roll-back-cutover)


ROLLED_BACK_TAG = "wavelift-rolled-back"  # on the Azure VM: when, by whom and why its cutover was rolled back
ROLLED_BACK_NEXT = (
    "its cutover was rolled back: to migrate it anew, remove the stopped Azure VM and its replication, then replicate"
)


def rolled_back(tags: dict[str, str] | None) -> bool:
    """Whether an Azure VM's tags say its cutover was rolled back (the VM stays, stopped, for the record)."""
    return ROLLED_BACK_TAG in (tags or {})


class MachineState(BaseModel):
    """What the vault and the target resource group say about one plan machine, read once."""

    machine: str
    item: ItemStatus | None
    vm_exists: bool
    rolled_back: bool = False
    observed: datetime | None = Field(default=None, description="When it was read (None: unknown).")

    @classmethod
    def seen_now(cls, machine: MachinePlan, item: ItemStatus | None, vm_exists: bool) -> MachineState:
        """The machine as a step has just seen it (Azure's answer to its last write or read)."""
        return cls(machine=machine.display_name, item=item, vm_exists=vm_exists, observed=datetime.now(UTC))

    @property
    def stage(self) -> Stage:
        if self.rolled_back:
            return Stage.ROLLED_BACK
        item = self.item
        if item is None:
            return Stage.COMPLETED if self.vm_exists else Stage.PLANNED
        if item.migration_state in MIGRATED:
            return Stage.MIGRATED
        if item.migration_state in REPLICATION_FAILED | BEING_REMOVED:
            return Stage.FAILED
        if has_passed_test(item):
            return Stage.TESTED
        return Stage.SEEDED if is_seeded(item) else Stage.REPLICATING

    @property
    def migrated(self) -> bool:
        """The machine runs in Azure: migrated, or its migration completed (item removed, VM in place)."""
        return self.stage in (Stage.MIGRATED, Stage.COMPLETED)


def is_seeded(item: ItemStatus | None) -> bool:
    """Initial seeding is over (the machine no longer needs an initial-replication slot)."""
    return item is not None and item.migration_state in SEEDED


def seeding_over(item: ItemStatus | None) -> bool:
    """Nothing more to wait for: seeded, failed, or being removed."""
    return item is not None and (item.migration_state in SEEDED | REPLICATION_FAILED | BEING_REMOVED)


def has_passed_test(item: ItemStatus | None) -> bool:
    """A test migration passed: its test VM is up, or it was cleaned up after succeeding."""
    if item is None:
        return False
    return item.test_state in TEST_PASSED or (
        item.test_state == NO_TEST and item.last_test_status == LAST_TEST_SUCCEEDED
    )


def target_vms(target: AzureMigrationTarget) -> dict[str, dict[str, str]]:
    """The VMs in the target resource group, by lower-cased name, with their tags: one paged list per flow, not a
    GET per machine."""
    return {
        vm.name.lower(): dict(vm.tags or {})
        for vm in target.compute_client().virtual_machines.list(target.target_resource_group)
    }


def observe(
    machines: list[MachinePlan], items: dict[str, ItemStatus], vms: dict[str, dict[str, str]]
) -> dict[str, MachineState]:
    """Each machine's state, by source name, from one vault list (`items`, by lower-cased item name) and one VM list."""
    now = datetime.now(UTC)
    return {
        m.source_name: MachineState(
            machine=m.display_name,
            item=items.get(m.source_name.lower()),
            vm_exists=m.target_vm_name.lower() in vms,
            rolled_back=rolled_back(vms.get(m.target_vm_name.lower())),
            observed=now,
        )
        for m in machines
    }
