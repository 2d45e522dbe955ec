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
    seconds to tens of seconds. Here only as many waiters as the limit has free slots ask the server (the
    one at the head when none is free); a slot released in this process wakes them at once, and a slot
    released elsewhere (another run, another worker) is found by the head's next try two seconds later.
    The limit itself stays the server's: every slot is a Prefect lease, so it holds across runs and
    workers. Losing the connection to Prefect delays the waiters, it never fails them.
    """

    _queues: ClassVar[dict[str, SlotQueue]] = {}
    _queues_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str, retry_seconds: float = CROSS_PROCESS_RETRY_SECONDS) -> None:
        self.name = name
        self._retry_seconds = retry_seconds
        self._waiting: deque[object] = deque()
        self._front = 1  # how many waiters at the front of the line ask at once: the free slots last read
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
        """Try for a slot whenever this waiter is at the front of the line and something may have changed."""
        unreachable = 0  # tries in a row the server did not answer
        while True:
            with self._changed:
                while self._waiting.index(ticket) >= self._front:
                    self._changed.wait()
            try:
                if self._take(slot, lease_duration):
                    return
                pause, unreachable = self._retry_seconds, 0
            except (httpx.TransportError, httpx.HTTPStatusError, ConcurrencySlotAcquisitionError) as exc:
                if not _unreachable(exc):
                    raise  # the limit is missing or the request is wrong: waiting would not help
                unreachable += 1
                pause = min(MAX_CONNECTION_BACKOFF_SECONDS, self._retry_seconds * 2**unreachable)
                logger.warning("%s: no answer from Prefect (%s); next try in %.0f s", self.name, exc, pause)
            with self._changed:
                self._changed.wait(timeout=pause)

    def _take(self, slot: ExitStack, lease_duration: float) -> bool:
        """Take a slot if the limit shows one free; False if none is, or another process took it first.

        Reads the limit before asking for a lease: Prefect logs every refused lease request as an error
        (and counts it against the limit's Retry-After), a read costs neither. As many waiters as there are
        free slots ask at once, so a wave's first hundred machines start together, not one after another."""
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(self.name)
        free = limit.limit - limit.active_slots if limit.active else 1
        with self._changed:
            self._front = max(1, free)
            self._changed.notify_all()
        if free <= 0:
            return False
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
        return True


def _unreachable(exc: Exception) -> bool:
    """Whether Prefect could not be reached or failed on its side (worth waiting for), as opposed to saying no."""
    cause = exc.__cause__ if isinstance(exc, ConcurrencySlotAcquisitionError) else exc
    if isinstance(cause, httpx.HTTPStatusError):
        return cause.response.status_code >= 500
    return isinstance(cause, httpx.TransportError)
