"""Prefect global concurrency limits wavelift relies on: made sure of before use (creating one twice is harmless),
and handed to this process's waiters in order and without delay."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import ClassVar

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

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
    workers. Losing the connection to Prefect delays the waiters, it never fails them.
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

    @classmethod
    def of(cls, name: str) -> SlotQueue:
        """The process-wide queue of a limit (created on first use)."""
        with cls._queues_lock:
            return cls._queues.setdefault(name, cls(name))

    @contextmanager
    def hold(self, lease_duration: float = 300) -> Iterator[None]:
        """Wait for a slot in arrival order, hold it for the block, then wake the next waiter. A release Prefect
        does not answer is logged, not raised: the work is done, and the lease ends by itself."""
        ticket = object()
        with self._changed:
            self._waiting.append(ticket)
        slot = ExitStack()
        try:
            self._acquire(ticket, slot, lease_duration)
        finally:
            with self._changed:
                if ticket in self._waiting:  # still there when the wait failed; a granted waiter left already
                    self._waiting.remove(ticket)
                self._changed.notify_all()
        try:
            yield
        finally:
            try:
                slot.close()
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                if not _unreachable(exc):
                    raise
                logger.warning(
                    "%s: Prefect did not take the slot back (%s); its lease ends within %.0f s",
                    self.name,
                    exc,
                    lease_duration,
                )
            with self._changed:
                self._changed.notify_all()

    def _acquire(self, ticket: object, slot: ExitStack, lease_duration: float) -> None:
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
                if granted and self._leased(slot, lease_duration):
                    return
                if not granted and self._read_free_slots() > 0:
                    continue
                pause, unreachable = self._retry_seconds, 0
            except (httpx.TransportError, httpx.HTTPStatusError, ConcurrencySlotAcquisitionError) as exc:
                if not _unreachable(exc):
                    raise  # the limit is missing or the request is wrong: waiting would not help
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
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(self.name)
        with self._changed:
            free = limit.limit - limit.active_slots - self._asking if limit.active else 1
            self._grants = max(0, free)
        return free

    def _leased(self, slot: ExitStack, lease_duration: float) -> bool:
        """Ask Prefect for the granted slot's lease; False if another process took the slot first."""
        try:
            slot.enter_context(
                concurrency(
                    self.name,
                    occupy=1,
                    max_retries=0,
                    strict=True,
                    lease_duration=lease_duration,
                    raise_on_lease_renewal_failure=False,  # a brief loss of the server must not fail a machine
                )
            )
        except ConcurrencySlotAcquisitionError as exc:
            cause = exc.__cause__
            if isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code == 423:
                return False
            raise
        finally:
            with self._changed:
                self._asking -= 1
        return True


def _unreachable(exc: Exception) -> bool:
    """Whether Prefect could not be reached or failed on its side (worth waiting for), as opposed to saying no."""
    cause = exc.__cause__ if isinstance(exc, ConcurrencySlotAcquisitionError) else exc
    if isinstance(cause, httpx.HTTPStatusError):
        return cause.response.status_code >= 500
    return isinstance(cause, httpx.TransportError)
