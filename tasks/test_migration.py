"""Test migration: check the prerequisites, test-migrate into the isolated test network, verify the
test VM (exists, running, NIC in the test subnet), and clean it up when the plan says so.

Reads before it acts: a test already succeeded (this run crashed after it, or it ran earlier) is
verified or reported, never started again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from prefect import get_run_logger
from pydantic import BaseModel, Field

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.tasks.discovery import ReplicationInfrastructure
from wavelift.tasks.events import machine_event
from wavelift.tasks.lifecycle import (
    NO_TEST,
    REPLICATING,
    TEST_FAILED,
    TEST_PASSED,
    TESTING,
    MachineState,
    has_passed_test,
)
from wavelift.tasks.outcomes import Done, error_text
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.sources import adapter_for
from wavelift.tasks.test_network import isolation_problem
from wavelift.tasks.transient import is_transient
from wavelift.tasks.vault_status import ItemStatus, VaultStatusBoard, item_status
from wavelift.tasks.vm_checks import VmFacts, read_vm

if TYPE_CHECKING:
    from wavelift.tasks.journey import Facts, Trip

READY_DESCRIPTION = "Ready to migrate"

PARALLEL_TESTS = 20  # test migrations at once: each creates a VM and a NIC, and is read back


class MigrationTestReport(BaseModel):
    """The outcome of one machine's test migration, as the test report shows it."""

    machine: str
    item: str
    passed: bool
    detail: str
    tested_at: str | None = None
    vm: VmFacts | None = None
    cleaned_up: bool = False
    skipped: bool = Field(
        default=False, description="Not tested in this run, for the reason in detail (not replicating, or migrated)."
    )
    checked_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def prerequisite_problem(status: ItemStatus, target: AzureMigrationTarget) -> str | None:
    """Why a test migration cannot start now, as Microsoft's StartTestMigration script checks it."""
    if status.migration_state != REPLICATING and status.migration_state_description != READY_DESCRIPTION:
        return f"replication is {status.migration_state} ({status.migration_state_description}), not ready to migrate"
    if status.test_state in TEST_FAILED:
        return (
            f"the last test migration ended {status.test_state}: clean it up first (cleanup-wave removes failed tests)"
        )
    if "TestMigrate" not in status.allowed_operations:
        allowed = ", ".join(status.allowed_operations) or "none"
        return f"Azure does not allow TestMigrate now (allowed: {allowed}; test state {status.test_state})"
    if not target.test_network_id:
        return "the target has no test network"
    return None


def _verify(target: AzureMigrationTarget, machine: MachinePlan, status: ItemStatus) -> MigrationTestReport:
    """Azure must say the test passed (a test "partially succeeded" did not), and the test VM must run with its
    NIC in the test subnet."""
    subnet = machine.test_subnet or target.test_subnet
    facts = read_vm(target, f"{machine.target_vm_name}-test")
    expected_subnet = f"{target.test_network_id}/subnets/{subnet}".lower()
    problems = [
        p
        for p in (
            None if status.test_state in TEST_PASSED else f"Azure ended the test {status.test_state}",
            None if facts.power_state == "running" else f"test VM is {facts.power_state}, not running",
            None
            if (facts.subnet_id or "").lower() == expected_subnet
            else f"test VM's NIC is in {facts.subnet_id}, not the test subnet {subnet}",
        )
        if p
    ]
    return MigrationTestReport(
        machine=machine.display_name,
        item=machine.source_name,
        passed=not problems,
        vm=facts,
        tested_at=status.last_test_time,
        detail="; ".join(problems) or f"test VM {facts.name} running in {subnet} at {facts.private_ip}",
    )


def run_test_migration(
    target_block: str,
    infra: ReplicationInfrastructure,
    machine: MachinePlan,
    clean_up: bool,
    poll_interval: float = 60.0,
) -> MigrationTestReport:
    """Test-migrate one machine and report whether its test VM came up where it should."""
    target = load_for_run(AzureMigrationTarget, target_block)
    return _test_machine(target, infra, machine, clean_up, poll_interval)[0]


def _test_machine(
    target: AzureMigrationTarget,
    infra: ReplicationInfrastructure,
    machine: MachinePlan,
    clean_up: bool,
    poll_interval: float,
) -> tuple[MigrationTestReport, ItemStatus]:
    """The test and its report, with the migration item as Azure last showed it (its answer to the test or to
    the clean-up after it, or the read before)."""
    logger = get_run_logger()
    items = target.site_recovery_client().replication_migration_items
    args = infra.item_args(machine.source_name)
    status = item_status(items.get(*args))
    ended_now = status.test_state in TESTING  # this run sees the test end: its event is this run's to emit
    if status.test_state in TESTING:  # started by a run that died: wait for it, do not start another
        board = VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval)
        waited = board.wait_for(machine.source_name, lambda s: s is not None and s.test_state not in TESTING)
        status = waited if waited is not None else status
    if has_passed_test(status) and status.test_state == NO_TEST:
        earlier = MigrationTestReport(
            machine=machine.display_name,
            item=machine.source_name,
            passed=True,
            cleaned_up=True,
            detail="tested and cleaned up earlier",
            tested_at=status.last_test_time,
        )
        return earlier, status
    if status.test_state not in TEST_PASSED:
        problem = prerequisite_problem(status, target) or isolation_problem(target)
        if problem:
            return MigrationTestReport(
                machine=machine.display_name, item=machine.source_name, passed=False, detail=problem
            ), status
        body = adapter_for(machine).test_input(target, machine, status.last_recovery_point_id, status.primary_nic_id)
        try:
            ended_now = True
            status = item_status(items.begin_test_migrate(*args, body).result())
        except HttpResponseError as exc:
            if is_transient(exc):
                raise  # the retry reads the item first and waits for the test already under way
            failed = MigrationTestReport(
                machine=machine.display_name,
                item=machine.source_name,
                passed=False,
                detail=f"test migration failed: {error_text(exc)}",
            )
            return failed, status
        logger.info("%s: test migration %s", machine.display_name, status.test_state)
    try:
        report = _verify(target, machine, status)
    except ResourceNotFoundError:
        report = MigrationTestReport(
            machine=machine.display_name,
            item=machine.source_name,
            passed=False,
            detail=f"test VM {machine.target_vm_name}-test does not exist",
        )
    if ended_now:  # one event per test: a later run that only verifies it says nothing new
        machine_event(
            machine, "test.passed" if report.passed else "test.failed", detail=report.detail, tested_at=report.tested_at
        )
    if clean_up:
        status = clean_up_test(target, infra, machine, "wavelift: cleaned up right after the test") or status
        report.cleaned_up = True
    return report, status


def clean_up_test_migration(
    target_block: str, infra: ReplicationInfrastructure, machine: MachinePlan, comment: str
) -> bool:
    """Remove one machine's test VM (after its sign-off); False when there was nothing to clean up."""
    return clean_up_test(load_for_run(AzureMigrationTarget, target_block), infra, machine, comment) is not None


def clean_up_test(
    target: AzureMigrationTarget, infra: ReplicationInfrastructure, machine: MachinePlan, comment: str
) -> ItemStatus | None:
    """Remove the test VM through Site Recovery, if the item, read now, allows it (an action's answer may show the
    item as it was); the item as Azure answered the clean-up, or None when there was nothing to clean up."""
    from azure.mgmt.recoveryservicessiterecovery import models as m

    items = target.site_recovery_client().replication_migration_items
    args = infra.item_args(machine.source_name)
    if "TestMigrateCleanup" not in item_status(items.get(*args)).allowed_operations:
        return None
    return item_status(
        items.begin_test_migrate_cleanup(
            *args, m.TestMigrateCleanupInput(properties=m.TestMigrateCleanupInputProperties(comments=comment[:1024]))
        ).result()
    )


def migration_test_step(trip: Trip, machine: MachinePlan, facts: Facts) -> Done:
    """The itinerary's test step: test-migrate the machine into the isolated network and verify its test VM."""
    clean_up = trip.wave.cleanup_test == "immediately"
    report, status = _test_machine(trip.target(), trip.infra, machine, clean_up, trip.poll_interval)
    # Azure's last answer stands for the machine when it shows the test passed; anything else is read again.
    seen = MachineState.seen_now(machine, status, vm_exists=False) if has_passed_test(status) else None
    return Done(ok=report.passed, detail=report.detail, report=report, observed=seen if report.passed else None)
