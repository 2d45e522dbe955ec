"""One vault-level list per poll interval, shared by every machine that waits.

Waiting for initial seeding takes hours; a GET per machine per interval would grow ARM reads with
the wave (and hit ARM's throttling). Instead one board per vault lists all migration items (paged)
once per interval and wakes the tasks whose machines changed, and reads a single item only when
its seeding is predicted to end before the next list. Tasks of one flow run share the board (they
run in threads of one process); each process has its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.tasks.arm import list_pages, sdk_api_version
from wavelift.tasks.discovery import ReplicationInfrastructure, vault_scope
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.sources import details_of

if TYPE_CHECKING:
    from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
    from azure.mgmt.recoveryservicessiterecovery.models import MigrationItem


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


def _time(stamp: str | None) -> str | None:
    """An ARM timestamp as the SDK's datetime would print it (`isoformat()`), so stored times compare equal."""
    return datetime.fromisoformat(stamp).isoformat() if stamp else None


def item_status(item: MigrationItem | Mapping[str, Any]) -> ItemStatus:
    """A migration item as an `ItemStatus` (plain strings, so it can be logged and stored), from its ARM JSON
    or from the SDK's model of it. Vault lists are read as JSON: building the SDK's models cost about 0.4 ms
    of CPU an item, so listing a vault of a thousand items every few minutes kept a core busy."""
    data = item if isinstance(item, Mapping) else item.as_dict()
    props = data.get("properties") or {}
    details = details_of(props.get("providerSpecificDetails") or {})
    job = props.get("currentJob") or {}
    if job.get("jobName") in (None, "None"):  # Site Recovery names an idle item's job "None"
        job = {}
    return ItemStatus(
        name=data["name"],
        id=data["id"],
        migration_state=str(props.get("migrationState")),
        migration_state_description=props.get("migrationStateDescription"),
        test_state=str(props.get("testMigrateState")),
        allowed_operations=[str(op) for op in props.get("allowedOperations") or []],
        seeding_percent=details.seeding_percent if details else None,
        last_recovery_point_id=details.last_recovery_point_id if details else None,
        last_test_status=props.get("lastTestMigrationStatus"),
        last_migration_status=props.get("lastMigrationStatus"),
        last_test_time=_time(props.get("lastTestMigrationTime")),
        last_migration_time=_time(props.get("lastMigrationTime")),
        current_job=job.get("jobName"),
        current_job_started=_time(job.get("startTime")),
        primary_nic_id=details.primary_nic_id if details else None,
        resync_required=details.resync_required if details else False,
    )


@dataclass
class _Seeding:
    """Two readings of one item's seeding progress, from which its end is predicted."""

    first_at: float
    first_percent: int
    last_at: float
    last_percent: int
    checked_at: float = 0.0  # when the item was last read on its own

    def predicted_end(self) -> float | None:
        """When the seeding ends at its rate so far (monotonic seconds), or None before it has moved."""
        moved = self.last_percent - self.first_percent
        if moved <= 0:
            return None
        return self.last_at + (100 - self.last_percent) * (self.last_at - self.first_at) / moved


class VaultStatusBoard:
    """The latest list of a vault's migration items, listed once per interval, and read item by item when a
    machine's seeding is predicted to end before the next list.

    A fixed interval alone notices a finished seeding half an interval late on average (a five-minute poll
    against an hour of seeding is 4 % of it, and a freed replication slot idles as long). From two readings of
    a machine's seeding percentage the board predicts when it ends and reads that one item then; a machine
    predicted too early is read again no sooner than a tenth of an interval later. ARM reads per interval
    stay about the number of machines that finish in it, whatever the size of the wave.
    """

    _boards: ClassVar[dict[tuple[str, str, str], VaultStatusBoard]] = {}
    _boards_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, client: SiteRecoveryManagementClient, vault_id: str, interval: float) -> None:
        self._client = client
        self._vault_id = vault_id
        self._rg, self._vault = vault_scope(vault_id)
        self.interval = interval
        self._items: dict[str, ItemStatus] = {}
        self._seeding: dict[str, _Seeding] = {}
        self._refreshed_at = 0.0  # when the latest list started: the next one is due an interval later
        self._changed = threading.Condition()
        self._refresh_lock = threading.Lock()

    @classmethod
    def for_vault(cls, target: AzureMigrationTarget, vault_id: str, interval: float) -> VaultStatusBoard:
        """The process-wide board of a vault as this target reaches it (created on first use): a target whose
        fields change (an endpoint, a credential) gets a board of its own, never one holding the old client."""
        key = (target.fingerprint(), vault_id.lower(), f"{interval:g}")
        with cls._boards_lock:
            if key not in cls._boards:
                cls._boards[key] = cls(target.site_recovery_client(), vault_id, interval)
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
        refreshes it; everyone else sleeps until that refresh (or the next) wakes them, or until their own
        machine's seeding is predicted to end, when they read their item alone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        key = name.lower()
        while True:
            status = self._items.get(key)
            if done(status):
                return status
            now = time.monotonic()
            if deadline is not None and now > deadline:
                raise TimeoutError(
                    f"{name} did not reach the awaited state within {timeout:.0f} s (last seen: "
                    f"{status.migration_state if status else 'absent'})"
                )
            list_due = self._refreshed_at + self.interval
            if list_due <= now and self._refresh_lock.acquire(blocking=False):
                try:
                    self._refresh_locked()
                finally:
                    self._refresh_lock.release()
                continue
            read_due = self._read_due(key)
            if status is not None and read_due is not None and read_due <= now:
                self._read_alone(status)
                continue
            wake = list_due if read_due is None else min(list_due, read_due)
            with self._changed:
                if self._refreshed_at + self.interval <= now:  # another waiter is listing: its pages wake everyone
                    self._changed.wait(timeout=max(self.interval, 1.0))
                else:
                    self._changed.wait(timeout=max(wake - now, 0.05))

    def _read_due(self, key: str) -> float | None:
        """When to read this item alone: its predicted end, if that comes well before the next list and
        the item was not read alone in the last tenth of an interval."""
        seeding = self._seeding.get(key)
        end = seeding.predicted_end() if seeding else None
        if seeding is None or end is None:
            return None
        due = max(end, seeding.checked_at + self.interval / 10)
        return due if due < self._refreshed_at + self.interval * 0.9 else None

    def _read_alone(self, status: ItemStatus) -> None:
        """GET one item and put it on the board (a machine whose seeding should have just ended)."""
        fabric, container = _fabric_and_container(status.id)
        key, started = status.name.lower(), time.monotonic()
        try:
            fresh = item_status(
                self._client.replication_migration_items.get(self._rg, self._vault, fabric, container, status.name)
            )
        except ResourceNotFoundError:
            fresh = None
        except HttpResponseError:  # the next list reads it anyway; a failed early look is no reason to fail
            fresh = status
        with self._changed:
            if fresh is not status:  # read anew (None: the item is gone)
                if fresh is None:
                    self._items.pop(key, None)
                else:
                    self._items[key] = fresh
                self._note_progress(key, fresh, started)
            if key in self._seeding:
                self._seeding[key].checked_at = started
            self._changed.notify_all()

    def _note_progress(self, key: str, status: ItemStatus | None, at: float) -> None:
        """Keep the first and the latest reading of a seeding that has started (0 % < progress < 100 %)."""
        percent = status.seeding_percent if status else None
        if percent is None or not 0 < percent < 100:
            self._seeding.pop(key, None)
        elif key not in self._seeding:
            self._seeding[key] = _Seeding(at, percent, at, percent)
        else:
            self._seeding[key].last_at, self._seeding[key].last_percent = at, percent

    def _refresh_locked(self) -> None:
        """The list call itself; the caller holds `_refresh_lock`. Waiters hear of each page as it arrives: a
        vault of a thousand items is ten pages, and a machine on the first need not wait for the last."""
        started = time.monotonic()
        items: dict[str, ItemStatus] = {}
        path = f"{self._vault_id}/replicationMigrationItems"
        try:
            for page in list_pages(self._client, path, sdk_api_version(self._client)):
                statuses = {i["name"].lower(): item_status(i) for i in page}
                items.update(statuses)
                with self._changed:
                    self._items.update(statuses)
                    self._changed.notify_all()
            with self._changed:
                self._items, self._refreshed_at = items, started
                for key in set(self._seeding) - set(items):
                    del self._seeding[key]
                for key, status in items.items():
                    self._note_progress(key, status, started)
        finally:  # a failed list wakes the waiters too: the next of them lists again
            with self._changed:
                self._changed.notify_all()


def _fabric_and_container(item_id: str) -> tuple[str, str]:
    """The fabric and protection container names in a migration item's ARM id."""
    segments = item_id.split("/")
    lower = [s.lower() for s in segments]
    return (
        segments[lower.index("replicationfabrics") + 1],
        segments[lower.index("replicationprotectioncontainers") + 1],
    )


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
