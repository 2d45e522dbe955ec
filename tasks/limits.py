"""Prefect global concurrency limits wavelift relies on: made sure of before use (creating one twice is harmless),
and handed to this process's waiters in order and without delay."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from wavelift.tasks.slot_leases import (
    LeaseKeeper,
    MachineSlot,
    delete_record,
    lease_slot,
    prefect,
    release,
    take_over,
)
from wavelift.tasks.transient import prefect_unreachable

CROSS_PROCESS_RETRY_SECONDS = 2.0  # how soon a waiter sees a slot freed by another process
MAX_CONNECTION_BACKOFF_SECONDS = 60.0
logger = logging.getLogger("wavelift.limits")


def ensure_concurrency_limit(name: str, limit: int) -> None:
    """Create the global concurrency limit, or set its size if it exists (held slots are kept)."""
    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except ObjectAlreadyExists:  # another run created it a moment ago
                pass
            return
        if current.limit != limit or not current.active:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=limit, active=True))


class SlotQueue:
    """This process's waiters for one global concurrency limit, served in the order they arrived.

    Prefect's own `concurrency()` retries a refused slot after the server's Retry-After, which grows with
    how long slots are held (up to 30 s), so a slot freed by a machine that finished seeding stayed idle for
    seconds to tens of seconds. Here the waiter at the head reads the limit and as many waiters as it has
    free slots ask for one; a slot released in this process wakes the head at once, and a slot released
    elsewhere (another run, another worker) is found by the head's next read two seconds later.
    The limit itself stays the server's: every slot is a Prefect lease, so it holds across runs and
    workers, and a machine's lease outlives a killed run (`wavelift.tasks.slot_leases`). Losing the connection
    to Prefect delays the waiters, it never fails them.
    """

    _queues: ClassVar[dict[str, SlotQueue]] = {}
    _queues_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str, retry_seconds: float = CROSS_PROCESS_RETRY_SECONDS) -> None:
        self.name = name
        self._retry_seconds = retry_seconds
        self._waiting: deque[object] = deque()
        self._grants = 0  # free slots the head's last read found that no waiter has taken yet
        self._asking = 0  # waiters that took a grant and wait for Prefect's answer (not yet in a read's count)
        self._changed = threading.Condition()
        self._leasing = threading.Lock()

    @classmethod
    def of(cls, name: str) -> SlotQueue:
        """The process-wide queue of a limit (created on first use)."""
        with cls._queues_lock:
            return cls._queues.setdefault(name, cls(name))

    @contextmanager
    def hold(self, lease_duration: float = 300, slot: MachineSlot | None = None, first: bool = False) -> Iterator[None]:
        """Hold a slot for the block, then wake the next waiter. With `slot`, the slot is the machine's: a lease
        an earlier run recorded for it is taken over rather than a second slot taken, and a new lease is recorded
        for the next run. `first` puts the waiter at the head of the line (a machine Azure already replicates
        uses its capacity anyway). A release Prefect does not answer is logged, not raised: the work is done,
        and the lease ends by itself."""
        keeper = LeaseKeeper.of_process()
        lease_id = self._taken_over(slot, lease_duration) if slot is not None else None
        if lease_id is not None and slot is not None:
            keeper.keep_taken_over(lease_id, self.name, lease_duration, slot)
        else:
            lease_id = self._wait_in_line(first)
            keeper.keep(lease_id, self.name, lease_duration, slot)
        try:
            yield
        finally:
            held = keeper.drop(lease_id)
            try:
                release(lease_id)
                if slot is not None and held is not None and held.recorded:
                    delete_record(slot.record_name(self.name))
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                if not prefect_unreachable(exc):
                    raise
                logger.warning(
                    "%s: Prefect did not take the slot back (%s); its lease ends within %.0f s",
                    self.name,
                    exc,
                    lease_duration,
                )
            with self._changed:
                self._changed.notify_all()

    def _taken_over(self, slot: MachineSlot, lease_duration: float) -> UUID | None:
        """The lease an earlier run recorded for the machine, now this run's; None if there is none to take (or
        Prefect cannot be asked now: the line below waits for it)."""
        try:
            return take_over(self.name, slot, lease_duration)
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            if not prefect_unreachable(exc):
                raise
            return None

    def _wait_in_line(self, first: bool) -> UUID:
        """Queue for a slot and return its lease; leave the line whatever happens."""
        ticket = object()
        with self._changed:
            if first:
                self._waiting.appendleft(ticket)
            else:
                self._waiting.append(ticket)
            self._changed.notify_all()
        try:
            return self._acquire(ticket)
        finally:
            with self._changed:
                if ticket in self._waiting:  # still there when the wait failed; a granted waiter left already
                    self._waiting.remove(ticket)
                self._changed.notify_all()

    def _acquire(self, ticket: object) -> UUID:
        """Wait to be first in line; then take a free slot the last read found, or read the limit again.

        Only the waiter at the head reads the limit, and each free slot it finds becomes one grant: the head
        takes a grant and leaves the line, so the next waiter can take the next grant while the first is still
        asking for its lease. Requests never outnumber the free slots, so Prefect refuses one (and logs an
        error for it) only when another process took the slot in between."""
        unreachable = 0  # tries in a row the server did not answer
        while True:
            with self._changed:
                while self._waiting[0] is not ticket:
                    self._changed.wait()
                granted = self._grants > 0
                if granted:
                    self._grants -= 1
                    self._asking += 1
                    self._waiting.popleft()
                    self._changed.notify_all()
            try:
                if granted and (lease_id := self._leased()) is not None:
                    return lease_id
                if not granted and self._read_free_slots() > 0:
                    continue
                pause, unreachable = self._retry_seconds, 0
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                if not prefect_unreachable(exc):
                    raise  # the request is wrong: waiting would not help
                unreachable += 1
                pause = min(MAX_CONNECTION_BACKOFF_SECONDS, self._retry_seconds * 2**unreachable)
                logger.warning("%s: no answer from Prefect (%s); next try in %.0f s", self.name, exc, pause)
            with self._changed:
                if granted:  # the grant was spent for nothing: back to the head of the line, and read again
                    self._waiting.appendleft(ticket)
                    self._grants = 0
                self._changed.wait(timeout=pause)

    def _read_free_slots(self) -> int:
        """Read the limit (a read costs Prefect little; a refused lease request costs an error in its log and
        counts against the limit's Retry-After) and turn its free slots into grants."""
        limit = prefect().read_global_concurrency_limit_by_name(self.name)
        with self._changed:
            free = limit.limit - limit.active_slots - self._asking if limit.active else 1
            self._grants = max(0, free)
        return free

    def _leased(self) -> UUID | None:
        """Ask Prefect for the granted slot's lease; None if another process took the slot first. One waiter at a
        time: leases come in the order of the line, and SQLite (a small setup's database) is not sent colliding
        writes, which it refuses with a 503 that Prefect's client retries two seconds later."""
        try:
            with self._leasing:
                return lease_slot(self.name)
        finally:
            with self._changed:
                self._asking -= 1
