"""One vault-level list per poll interval, shared by every machine that waits.

Waiting for initial seeding takes hours; a GET per machine per interval would grow ARM reads with
the wave (and hit ARM's throttling). Instead one board per vault lists all migration items (paged)
once per interval and wakes the tasks whose machines changed. Tasks of one flow run share the
board (they run in threads of one process); each process has its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ClassVar

from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel

from blocks.azure import AzureMigrationTarget
from tasks.discovery import ReplicationInfrastructure, vault_scope
from tasks.plan_models import MachinePlan
from tasks.sources import details_of


class ItemStatus(BaseModel):
    """What the vault says about one machine's replication."""

    name: str
    id: str
    migration_state: str
    migration_state_description: str | None = None
    test_state: str
    allowed_operations: list[str]
    seeding_percent: int | None = None
    last_recovery_point_id: str | None = None
    last_test_status: str | None = None
    last_test_time: str | None = None
    last_migration_status: str | None = None
    last_migration_time: str | None = None
    current_job: str | None = None
    current_job_started: str | None = None
    primary_nic_id: str | None = None
    resync_required: bool = False


def _plain(value: object) -> str:
    """An SDK enum member as Azure's string (`str()` of these enums gives `MigrationState.X`)."""
    return str(getattr(value, "value", value))


def item_status(item: object) -> ItemStatus:
    """An SDK `MigrationItem` as an `ItemStatus` (plain strings, so it can be logged and stored)."""
    props = item.properties  # type: ignore[attr-defined]
    details = details_of(props.provider_specific_details)
    job = props.current_job if props.current_job and props.current_job.job_name != "None" else None  # "None": idle
    return ItemStatus(
        name=item.name,
        id=item.id,  # type: ignore[attr-defined]
        migration_state=_plain(props.migration_state),
        migration_state_description=props.migration_state_description,
        test_state=_plain(props.test_migrate_state),
        allowed_operations=[_plain(op) for op in props.allowed_operations or []],
        seeding_percent=details.seeding_percent if details else None,
        last_recovery_point_id=details.last_recovery_point_id if details else None,
        last_test_status=props.last_test_migration_status,
        last_migration_status=props.last_migration_status,
        last_test_time=props.last_test_migration_time.isoformat() if props.last_test_migration_time else None,
        last_migration_time=props.last_migration_time.isoformat() if props.last_migration_time else None,
        current_job=job.job_name if job else None,
        current_job_started=job.start_time.isoformat() if job and job.start_time else None,
        primary_nic_id=details.primary_nic_id if details else None,
        resync_required=details.resync_required if details else False,
    )


class VaultStatusBoard:
    """The latest list of a vault's migration items, refreshed at most once per interval."""

    _boards: ClassVar[dict[tuple[str, str, str], VaultStatusBoard]] = {}
    _boards_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, target: AzureMigrationTarget, resource_group: str, vault: str, interval: float) -> None:
        self._client = target.site_recovery_client()
        self._rg, self._vault = resource_group, vault
        self.interval = interval
        self._items: dict[str, ItemStatus] = {}
        self._refreshed_at = 0.0
        self._changed = threading.Condition()
        self._refresh_lock = threading.Lock()

    @classmethod
    def for_vault(cls, target: AzureMigrationTarget, vault_id: str, interval: float) -> VaultStatusBoard:
        """The process-wide board of a vault as this target reaches it (created on first use): a target whose
        fields change (an endpoint, a credential) gets a board of its own, never one holding the old client."""
        key = (target.fingerprint(), vault_id.lower(), f"{interval:g}")
        with cls._boards_lock:
            if key not in cls._boards:
                cls._boards[key] = cls(target, *vault_scope(vault_id), interval)
            return cls._boards[key]

    def refresh(self) -> dict[str, ItemStatus]:
        """List the vault now (one paged list call) and wake every waiter."""
        return self._listed_within(0.0)

    def snapshot(self) -> dict[str, ItemStatus]:
        """The items as last listed, listed again first if that is older than the interval."""
        return self._listed_within(self.interval)

    def _listed_within(self, age: float) -> dict[str, ItemStatus]:
        with self._refresh_lock:  # callers arriving together wait for one list instead of each making one
            if age <= 0 or time.monotonic() - self._refreshed_at >= age:
                self._refresh_locked()
            return dict(self._items)

    def cached(self) -> dict[str, ItemStatus]:
        """The items as last listed, without calling Azure (for reports)."""
        return dict(self._items)

    def wait_for(
        self, name: str, done: Callable[[ItemStatus | None], bool], timeout: float | None = None
    ) -> ItemStatus | None:
        """Block until `done(status)` holds for item `name`. Whichever waiter finds the list stale
        refreshes it; everyone else sleeps until that refresh (or the next) wakes them."""
        deadline = None if timeout is None else time.monotonic() + timeout
        key = name.lower()
        while True:
            status = self._items.get(key)
            if done(status):
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"{name} did not reach the awaited state within {timeout:.0f} s (last seen: "
                    f"{status.migration_state if status else 'absent'})"
                )
            stale_in = self.interval - (time.monotonic() - self._refreshed_at)
            if stale_in <= 0 and self._refresh_lock.acquire(blocking=False):
                try:
                    self._refresh_locked()
                finally:
                    self._refresh_lock.release()
                continue
            with self._changed:
                self._changed.wait(timeout=max(stale_in, 0.05))

    def _refresh_locked(self) -> None:
        """The list call itself; the caller holds `_refresh_lock`."""
        items = {
            i.name.lower(): item_status(i) for i in self._client.replication_migration_items.list(self._rg, self._vault)
        }
        with self._changed:
            self._items, self._refreshed_at = items, time.monotonic()
            self._changed.notify_all()


def read_item(
    target: AzureMigrationTarget, infra: ReplicationInfrastructure, machine: MachinePlan
) -> ItemStatus | None:
    """One machine's migration item, read now; None when the vault has none (never enabled, or completed)."""
    try:
        return item_status(
            target.site_recovery_client().replication_migration_items.get(*infra.item_args(machine.source_name))
        )
    except ResourceNotFoundError:
        return None
