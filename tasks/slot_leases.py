"""Slots of a global concurrency limit held per machine, not per run.

A slot of the initial-replication limit stands for one replication Azure is seeding. Prefect's leases belong
to the process that asked for them, so a run killed while its machines seeded left their slots taken until
the leases ran out (5 minutes), while the next run, adopting the same machines, took a second slot for each:
the limit counted what dead runs held, not what Azure replicated. Here a lease held for a machine is recorded
under the machine (a Prefect variable named from the limit and the machine's identity, holding the lease id):

- the next run that reaches the machine takes the lease over (renews it) instead of asking for another slot;
- a run that finds a machine done seeding releases the lease recorded for it, whoever took it;
- a lease is first granted for Prefect's shortest term (60 s), then recorded and renewed for its full term by
  the keeper's thread 15 s later, out of the admission's way: a machine that seeds within seconds (in the
  emulator) costs Prefect no record, and a lease a kill caught before its record ends within a minute;
- every lease this process holds is renewed by one thread with one client (Prefect's own `concurrency()`
  starts a thread and a client per lease, and cannot take over a lease it did not grant).

Prefect 3.9 has no API that lists or revokes a limit's leases by holder; releasing a lease by id is public
(`decrement-with-lease`), and so is renewing one (`leases/{id}/renew`, 410 once it has expired).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from contextvars import copy_context
from datetime import UTC, datetime
from typing import ClassVar
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_API_URL
from pydantic import BaseModel, ValidationError

from wavelift.tasks.prompt_writes import retry_soon_after_503

_clients: dict[str, SyncPrefectClient] = {}
_clients_lock = threading.Lock()
RECORD_PREFIX = "wavelift-slot-"
RECORD_TAG = "wavelift-slot-lease"
RENEW_FRACTION = 0.5  # renew when half the lease has passed: one missed round still leaves the other half
RETRY_SECONDS = 5.0  # how soon a renewal Prefect did not answer is tried again
FIRST_LEASE_SECONDS = 60.0  # Prefect's shortest: a lease granted to a run killed before recording it ends soon
REFRESH_SECONDS = 60.0  # how long a run goes by its last list of lease records
RECORD_AFTER = 15.0  # a new lease is recorded (and renewed for its full term) this soon, by the keeper's thread
logger = logging.getLogger("wavelift.limits")


def prefect() -> SyncPrefectClient:
    """This process's client of the Prefect API the settings point at, for slot traffic: opened once and shared
    by every thread (a client per request built a new TLS context each, a sixth of the flow's CPU at 1,000
    machines). A write SQLite refused is sent again within a fraction of a second (`tasks.prompt_writes`)."""
    url = str(PREFECT_API_URL.value())
    with _clients_lock:
        if url not in _clients:
            client = get_client(sync_client=True, httpx_settings={"event_hooks": {"response": [retry_soon_after_503]}})
            client.__enter__()  # open for the life of the process
            _clients[url] = client
        return _clients[url]


class LeaseRecord(BaseModel):
    """The lease a machine's slot is held under, as a Prefect variable records it."""

    limit: str
    vault: str
    item: str  # the machine's identity in the vault (its source name)
    machine: str  # its display name, for people reading the variable in the UI
    lease_id: UUID
    since: datetime

    @staticmethod
    def name_for(limit: str, vault: str, item: str) -> str:
        """The variable's name: derived from the identity (never from a name a plan could shape)."""
        digest = hashlib.sha256(f"{limit}\n{vault.lower()}\n{item.lower()}".encode()).hexdigest()[:40]
        return RECORD_PREFIX + digest


class MachineSlot(BaseModel):
    """Whose slot a holder asks for: a machine of a vault."""

    vault: str
    item: str
    machine: str

    def record_name(self, limit: str) -> str:
        return LeaseRecord.name_for(limit, self.vault, self.item)


def write_record(limit: str, slot: MachineSlot, lease_id: UUID) -> None:
    """Record the lease under the machine: one request when the machine has no record yet (the usual case)."""
    name = slot.record_name(limit)
    record = LeaseRecord(
        limit=limit, vault=slot.vault, item=slot.item, machine=slot.machine, lease_id=lease_id, since=datetime.now(UTC)
    )
    value = record.model_dump(mode="json")
    try:
        prefect().create_variable(VariableCreate(name=name, value=value, tags=[RECORD_TAG]))
    except ObjectAlreadyExists:  # an earlier lease of the machine that ended: this one replaces it
        prefect().update_variable(VariableUpdate(name=name, value=value, tags=[RECORD_TAG]))


def delete_record(name: str) -> None:
    with suppress(ObjectNotFound):  # another run deleted it first
        prefect().delete_variable_by_name(name)


class Recorded:
    """The lease records of a limit as this process last listed them (one list for a run's takeovers, listed
    again after `REFRESH_SECONDS`): the records that matter are those of runs that died before this one began."""

    _listed: ClassVar[dict[str, tuple[float, dict[str, LeaseRecord]]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def of(cls, limit: str, fresh: bool = False) -> dict[str, LeaseRecord]:
        """By record name."""
        with cls._lock:
            at, records = cls._listed.get(limit, (0.0, {}))
            if fresh or time.monotonic() - at > REFRESH_SECONDS:
                records = dict(_records(limit))
                cls._listed[limit] = (time.monotonic(), records)
            return dict(records)

    @classmethod
    def forget(cls, limit: str, name: str) -> None:
        with cls._lock:
            cls._listed.get(limit, (0.0, {}))[1].pop(name, None)


def take_over(limit: str, slot: MachineSlot, lease_duration: float) -> UUID | None:
    """The lease recorded for the machine, renewed for this process; None if there is none or it has ended."""
    name = slot.record_name(limit)
    record = Recorded.of(limit).get(name)
    if record is None:
        return None
    Recorded.forget(limit, name)  # this process holds it now
    try:
        prefect().renew_concurrency_lease(record.lease_id, lease_duration)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code in (404, 410):
            delete_record(name)
            return None
        raise
    logger.info("%s: took over the slot an earlier run held (lease %s)", slot.machine, record.lease_id)
    return record.lease_id


def lease_slot(limit: str, lease_duration: float = FIRST_LEASE_SECONDS) -> UUID | None:
    """Ask Prefect for one slot of the limit; None if the limit is full (423). The first lease is short: until
    the machine's record names it, only its own run could give it back."""
    try:
        response = prefect().increment_concurrency_slots_with_lease([limit], 1, "concurrency", lease_duration)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 423:
            return None
        raise
    granted = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
    if not granted.limits:  # Prefect leases nothing at all when the limit does not exist
        release(granted.lease_id)
        raise ObjectNotFound(http_exc=Exception(f"no global concurrency limit named {limit!r}"))
    return granted.lease_id


def release(lease_id: UUID) -> None:
    """Give the slot back (a lease that already ended is no error)."""
    prefect().release_concurrency_slots_with_lease(lease_id)


def release_finished(limit: str, vault: str, finished: Callable[[str], bool]) -> list[str]:
    """Release the slots recorded for the vault's machines that `finished` says need none any more (seeded,
    failed, or further), whichever run took them; return those machines. Machines Azure does not list are
    left alone: their slot may be one a live run holds for an enable it is about to make."""
    released = []
    for name, record in Recorded.of(limit, fresh=True).items():
        if record.vault.lower() == vault.lower() and finished(record.item):
            release(record.lease_id)
            delete_record(name)
            Recorded.forget(limit, name)
            released.append(record.machine)
    if released:
        logger.info("%s: released %d slots held for machines that finished seeding", limit, len(released))
    return released


def _records(limit: str, page: int = 200) -> Iterator[tuple[str, LeaseRecord]]:
    """Every lease record of the limit, a page of variables at a time."""
    offset = 0
    while True:
        response = prefect().request(
            "POST",
            "/variables/filter",
            json={"variables": {"tags": {"all_": [RECORD_TAG]}}, "offset": offset, "limit": page},
        )
        response.raise_for_status()
        found = response.json()
        for variable in found:
            try:
                record = LeaseRecord.model_validate(variable["value"])
            except ValidationError:  # a variable someone else tagged so: not a record this code wrote
                logger.warning(
                    "Variable %s is tagged %s but holds no lease record: ignored", variable["name"], RECORD_TAG
                )
                continue
            if record.limit == limit:
                yield variable["name"], record
        if len(found) < page:
            return
        offset += page


class Held(BaseModel):
    """A lease this process holds: for how long it renews it, when next, and whose slot it is."""

    limit: str
    duration: float
    due: float  # time.monotonic() of the next renewal
    slot: MachineSlot | None = None
    recorded: bool = False


class LeaseKeeper:
    """Renews every lease this process holds, from one thread with one Prefect client, each when half of its
    term is gone. A machine's new lease is recorded first (one write at a time from this process, which SQLite,
    a small setup's database, takes without refusing any), and renewed for its full term only once recorded
    (until then for Prefect's shortest, so that a kill leaves it for a minute at most).

    A lease Prefect no longer knows (it ended while Prefect was out of reach, or another run released it) is
    dropped with a warning (one its holder gave back while this thread renewed it, quietly): the machine goes on,
    since stopping a seeding replication would not give the slot back to anyone. Losing Prefect for a while only
    delays renewals (tried again every few seconds)."""

    _instance: ClassVar[LeaseKeeper | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._leases: dict[UUID, Held] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of_process(cls) -> LeaseKeeper:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def keep(self, lease_id: UUID, limit: str, lease_duration: float, slot: MachineSlot | None = None) -> None:
        """Keep a lease just granted (for Prefect's shortest term) renewed for `lease_duration` at a time."""
        self._hold(lease_id, Held(limit=limit, duration=lease_duration, due=time.monotonic() + RECORD_AFTER, slot=slot))

    def keep_taken_over(self, lease_id: UUID, limit: str, lease_duration: float, slot: MachineSlot) -> None:
        """Keep a lease taken over from a dead run (just renewed for `lease_duration`, and recorded already)."""
        due = time.monotonic() + lease_duration * RENEW_FRACTION
        self._hold(lease_id, Held(limit=limit, duration=lease_duration, due=due, slot=slot, recorded=True))

    def _hold(self, lease_id: UUID, held: Held) -> None:
        with self._lock:
            self._leases[lease_id] = held
            if self._thread is None or not self._thread.is_alive():
                # in the starter's context: the Prefect settings in force there (the API URL) hold in the thread
                run_in_context = copy_context().run
                self._thread = threading.Thread(
                    target=run_in_context, args=(self._renew_forever,), name="wavelift-lease-keeper", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def drop(self, lease_id: UUID) -> Held | None:
        """Stop renewing the lease; what was kept of it (whether its record was written, say)."""
        with self._lock:
            return self._leases.pop(lease_id, None)

    def _renew_forever(self) -> None:
        while True:
            with self._lock:
                if not self._leases:
                    self._thread = None
                    return
                pause = min(held.due for held in self._leases.values()) - time.monotonic()
            if pause > 0 and self._wake.wait(pause):  # a lease was added: it may be due before the others
                self._wake.clear()
                continue
            self._renew_due()

    def _renew_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = {lease: held for lease, held in self._leases.items() if held.due <= now}
        for lease_id, held in due.items():
            recorded = held.recorded
            try:
                recorded = recorded or held.slot is None or self._record(lease_id, held)
                prefect().renew_concurrency_lease(lease_id, held.duration if recorded else FIRST_LEASE_SECONDS)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code in (404, 410):
                    self._ended(lease_id, held, wrote_record=recorded and not held.recorded)
                    continue
                if exc.response.status_code < 500:
                    raise
                self._retry_soon(lease_id, exc)
                continue
            except httpx.TransportError as exc:
                self._retry_soon(lease_id, exc)
                continue
            term = held.duration if recorded else FIRST_LEASE_SECONDS
            self._update(lease_id, due=time.monotonic() + term * RENEW_FRACTION, recorded=recorded)

    def _ended(self, lease_id: UUID, held: Held, wrote_record: bool) -> None:
        """A lease Prefect no longer knows. Usually its holder released it while this thread renewed it (a machine
        that seeded within seconds): nothing to say, but a record this thread wrote meanwhile would outlive the
        lease, so it goes. Still held here, it ended while Prefect was out of reach: the slot is free again."""
        if self.drop(lease_id) is not None:
            logger.warning("Lease %s ended before it was renewed; its slot is free again", lease_id)
        if wrote_record and held.slot is not None:
            try:
                delete_record(held.slot.record_name(held.limit))
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:  # the next release_finished removes it
                logger.warning("%s: the record of an ended lease stays for now (%s)", held.slot.machine, exc)

    def _record(self, lease_id: UUID, held: Held) -> bool:
        """Write the machine's record of the lease; False (and the lease kept short) if Prefect did not take it."""
        assert held.slot is not None
        try:
            write_record(held.limit, held.slot, lease_id)
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            logger.warning("%s: its slot's lease is not recorded yet (%s)", held.slot.machine, exc)
            return False
        return True

    def _update(self, lease_id: UUID, **changes: object) -> None:
        with self._lock:
            if lease_id in self._leases:
                self._leases[lease_id] = self._leases[lease_id].model_copy(update=changes)

    def _retry_soon(self, lease_id: UUID, exc: Exception) -> None:
        logger.warning("Prefect did not renew lease %s (%s); trying again in %.0f s", lease_id, exc, RETRY_SECONDS)
        self._update(lease_id, due=time.monotonic() + RETRY_SECONDS)
