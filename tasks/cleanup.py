"""Clean-up of one machine after its cutover: test leftovers, the completed migration's replication,
and — only past the gates of DESIGN rule 4 — its on-prem backups and raw disk files.

Every step reads where things stand first and acts only where something is left, so a second run
does nothing; without `execute` it only says what it would do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.onprem import BackupCatalog, ConfinementError, DiskDatastore, DiskFile
from wavelift.tasks.as_built import AsBuiltRecord, as_built
from wavelift.tasks.disaster_recovery import read_dr
from wavelift.tasks.discovery import OnPremIdentity, ReplicationInfrastructure, discover_machines, onprem_identities
from wavelift.tasks.events import machine_event
from wavelift.tasks.harden import backup_vault, read_backup
from wavelift.tasks.lifecycle import MIGRATED, ROLLED_BACK_TAG, TEST_FAILED, rolled_back
from wavelift.tasks.outcomes import Done
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.test_migration import clean_up_test
from wavelift.tasks.vault_status import read_item
from wavelift.tasks.vm_checks import VmFacts, find_vm

if TYPE_CHECKING:
    from wavelift.tasks.journey import Facts, Trip


class Gate(BaseModel):
    """One condition of DESIGN rule 4, as checked for one machine."""

    name: str
    passed: bool
    detail: str


class Action(BaseModel):
    """One clean-up step: done, what a dry run would do, or held back by a gate."""

    step: str
    outcome: Literal["done", "would", "held"]
    detail: str


class CleanupReport(BaseModel):
    """Everything the clean-up checked and did for one machine."""

    machine: str
    migrated: bool
    detail: str
    gates: list[Gate] = []
    actions: list[Action] = []
    record: AsBuiltRecord | None = None
    error: str | None = None

    @property
    def held_by(self) -> list[Gate]:
        return [g for g in self.gates if not g.passed]


def onprem_gates(vm: VmFacts, backup: dict | None, grace: timedelta) -> list[Gate]:
    """VM verified running, protected by a completed backup, and the grace period passed on Azure's clock."""
    protected = (
        bool(backup) and backup.get("protectionState") == "Protected" and backup.get("lastBackupStatus") == "Completed"
    )
    age = vm.read_at - vm.created if vm.read_at and vm.created else None
    return [
        Gate(name="vm-running", passed=vm.power_state == "running", detail=f"Azure VM {vm.name} is {vm.power_state}"),
        Gate(
            name="backup-protected",
            passed=protected,
            detail="no backup protection"
            if not backup
            else f"backup under {backup.get('policyName')}: {backup.get('protectionState')}, "
            f"last backup {backup.get('lastBackupStatus') or 'never'}",
        ),
        Gate(
            name="grace-period",
            passed=age is not None and age >= grace,
            detail=f"VM created {_hours(age)} ago, grace period {_hours(grace)}"
            if age is not None
            else "Azure did not say when the VM was created",
        ),
    ]


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f} h"


def _step(execute: bool, step: str, detail: str, do: Callable[[], object]) -> Action:
    if not execute:
        return Action(step=step, outcome="would", detail=detail)
    do()
    return Action(step=step, outcome="done", detail=detail)


def clean_up_machine(
    target_block: str,
    policy_block: str,
    infra: ReplicationInfrastructure,
    machine: MachinePlan,
    execute: bool,
    identity: OnPremIdentity,
) -> CleanupReport:
    """Clean up after one machine's cutover, as far as its gates allow; on-prem only for its discovered identity."""
    target, policy = load_for_run(AzureMigrationTarget, target_block), load_for_run(CleanupPolicy, policy_block)
    status, vm = read_item(target, infra, machine), find_vm(target, machine.target_vm_name)
    actions: list[Action] = []
    migrated = vm is not None and not rolled_back(vm.tags) and (status is None or status.migration_state in MIGRATED)
    if (
        status is not None
        and "TestMigrateCleanup" in status.allowed_operations
        and (migrated or status.test_state in TEST_FAILED)
    ):
        actions.append(
            _step(
                execute,
                "test-resources",
                f"remove the test VM {machine.target_vm_name}-test ({status.test_state})",
                lambda: clean_up_test(target, infra, machine, "wavelift clean-up"),
            )
        )
    if not migrated or vm is None:
        detail = "not migrated yet" if status is None else f"not migrated yet ({status.migration_state})"
        if vm is not None and rolled_back(vm.tags):
            detail = f"its cutover was rolled back ({vm.tags[ROLLED_BACK_TAG]}): its on-prem copies stay"
        return CleanupReport(machine=machine.display_name, migrated=False, detail=detail, actions=actions)

    hardening = load_for_run(HardeningPolicy, policy.hardening_policy)
    backup = read_backup(target, vm.name, backup_vault(target, hardening))
    gates = onprem_gates(vm, backup, timedelta(hours=policy.grace_period_hours))
    running = next(g for g in gates if g.name == "vm-running")
    if status is not None and policy.complete_migration:
        if running.passed:
            items = target.site_recovery_client().replication_migration_items
            actions.append(
                _step(
                    execute,
                    "complete-migration",
                    f"remove the replication of {machine.source_name} and its seed disks",
                    lambda: items.begin_delete(*infra.item_args(machine.source_name)).result(),
                )
            )
        else:
            actions.append(Action(step="complete-migration", outcome="held", detail=running.detail))
    catalog, datastore = policy.catalog(), policy.disks()
    if catalog or datastore:
        actions += _clean_up_onprem(identity, catalog, datastore, gates, execute)

    removed = status is None or (
        execute and any(a.step == "complete-migration" and a.outcome == "done" for a in actions)
    )
    jobs, disks = _onprem_left(identity.server, catalog, datastore)
    record = as_built(machine, vm, backup, read_dr(target, hardening, vm.name), removed, jobs, len(disks))
    held = [g for g in gates if not g.passed]
    done = [a.step for a in actions if a.outcome == "done"]
    if done:  # an event per change of state: a run that found nothing to do says nothing
        machine_event(machine, "cleanup.held" if held else "cleaned-up", actions=done, held_by=[g.name for g in held])
    detail = "on-prem copies kept: " + "; ".join(g.detail for g in held) if held else "all gates passed"
    if identity.problem and (catalog or datastore):
        detail += f"; on-prem left alone: {identity.problem}"
    return CleanupReport(
        machine=machine.display_name, migrated=True, detail=detail, gates=gates, actions=actions, record=record
    )


def _onprem_left(
    server: str | None, catalog: BackupCatalog | None, datastore: DiskDatastore | None
) -> tuple[list[str], list[DiskFile]]:
    """The server's backup jobs and disk files still on-prem (none known without a confirmed identity)."""
    if server is None:
        return [], []
    try:
        return (catalog.jobs_of(server) if catalog else []), (datastore.disk_files(server) if datastore else [])
    except ConfinementError:
        return [], []


def _clean_up_onprem(
    identity: OnPremIdentity,
    catalog: BackupCatalog | None,
    datastore: DiskDatastore | None,
    gates: list[Gate],
    execute: bool,
) -> list[Action]:
    """Take the server out of its local backup jobs and delete its raw disk files, only when every gate passed and
    discovery confirmed whom the adapters act on; an adapter's refusal holds everything back before any change."""
    server = identity.server
    if server is None:
        return [Action(step="on-prem", outcome="held", detail=f"on-prem copies kept: {identity.problem}")]
    try:
        jobs = catalog.jobs_of(server) if catalog else []
        disks = datastore.disk_files(server) if datastore else []
    except ConfinementError as exc:
        return [Action(step="on-prem", outcome="held", detail=f"on-prem copies kept: {exc}")]
    if not (jobs or disks):
        return []
    held = [g for g in gates if not g.passed]
    if held:
        what = f"{len(jobs)} backup job(s) and {len(disks)} disk file(s) of {server} kept"
        return [Action(step="on-prem", outcome="held", detail=f"{what}: " + "; ".join(g.detail for g in held))]
    actions = [
        _step(
            execute,
            "on-prem-backup",
            f"remove {server} from backup job {job}",
            lambda job=job: catalog.remove_from_job(job, server),
        )
        for job in jobs
    ]
    actions += [
        _step(
            execute,
            "on-prem-disk",
            f"delete {d.path} ({d.size_bytes / 1024**3:.0f} GiB)",
            lambda d=d: datastore.delete(server, d),
        )
        for d in disks
    ]
    return actions


def cleanup_step(trip: Trip, machine: MachinePlan, facts: Facts) -> Done:
    """The itinerary's clean-up step (a dry run unless the journey executes it); the on-prem identities of the
    wave are discovered once for the run, and each machine is cleaned up as its own identity only."""
    policy_block = trip.journey.cleanup_policy
    assert policy_block is not None  # the step is due only with a policy
    identities = trip.once(
        "identities", lambda: onprem_identities(trip.wave.machines, discover_machines.fn(trip.target_block))
    )
    report = clean_up_machine(
        trip.target_block,
        policy_block,
        trip.infra,
        machine,
        trip.journey.execute_cleanup,
        identities[machine.source_name],
    )
    # The step read the item and the VM itself: a machine it found migrated (not rolled back) stands where it stood,
    # or completed if Azure answered the removal of its replication. Anything else is read again.
    completed = any(a.step == "complete-migration" and a.outcome == "done" for a in report.actions)
    item = None if completed else facts.state.item
    seen = facts.state.model_copy(update={"item": item, "observed": datetime.now(UTC)}) if report.migrated else None
    if not report.migrated and not report.actions:  # rolled back or not migrated after all: read again, as before it
        return Done(ok=True, detail=report.detail, left_alone=report.detail)
    return Done(ok=not report.error, detail=report.error or report.detail, report=report, observed=seen)
