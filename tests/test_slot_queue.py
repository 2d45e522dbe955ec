"""The slot queue on a real Prefect API: this process's waiters for a global limit are served in the order
they came (as many at once as there are free slots), never more than the limit at once, and a slot
released here goes to the next waiter at once rather than after Prefect's retry back-off."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.exceptions import ObjectNotFound

from tasks.limits import SlotQueue, _unreachable, ensure_concurrency_limit


def _holders(queue: SlotQueue, count: int, hold_seconds: float) -> tuple[list[int], list[int]]:
    """Start `count` waiters one after another (each queued before the next starts); return the order in
    which they got a slot and the most that held one at the same time."""
    order: list[int] = []
    holding, peak = [0], [0]
    lock = threading.Lock()

    def wait(index: int) -> None:
        with queue.hold(lease_duration=60):
            with lock:
                order.append(index)
                holding[0] += 1
                peak[0] = max(peak[0], holding[0])
            time.sleep(hold_seconds)
            with lock:
                holding[0] -= 1

    threads = []
    for index in range(count):
        threads.append(threading.Thread(target=wait, args=(index,)))
        threads[-1].start()
        while len(queue._waiting) + len(order) <= index:  # until this one has queued (or been served)
            time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return order, peak


def test_waiters_are_served_in_order_and_never_beyond_the_limit(prefect_server: None) -> None:
    ensure_concurrency_limit("wavelift-test-queue-order", 2)
    queue = SlotQueue("wavelift-test-queue-order")
    order, peak = _holders(queue, count=6, hold_seconds=0.4)
    assert sorted(order[:2]) == [0, 1]  # two free slots: the first two ask at once
    assert order[2:] == [2, 3, 4, 5]  # the rest got each freed slot in the order they came
    assert peak[0] == 2


def test_a_slot_released_here_goes_to_the_next_waiter_without_the_retry_delay(prefect_server: None) -> None:
    ensure_concurrency_limit("wavelift-test-queue-handover", 1)
    queue = SlotQueue("wavelift-test-queue-handover", retry_seconds=600)  # a missed wake-up would wait 10 minutes
    order, peak = _holders(queue, count=3, hold_seconds=0.2)
    assert order == [0, 1, 2] and peak[0] == 1


def test_a_missing_limit_is_an_error_not_a_wait(prefect_server: None) -> None:
    with pytest.raises(ObjectNotFound), SlotQueue("wavelift-test-no-such-limit").hold():
        pass


def test_only_an_unreachable_prefect_is_waited_for() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/api/v2/concurrency_limits/increment-with-lease")

    def refused(status: int) -> ConcurrencySlotAcquisitionError:
        error = ConcurrencySlotAcquisitionError("refused")
        error.__cause__ = httpx.HTTPStatusError("", request=request, response=httpx.Response(status, request=request))
        return error

    assert _unreachable(httpx.ConnectError("connection refused"))
    assert _unreachable(refused(503))
    assert not _unreachable(refused(422))  # the request itself is wrong
    assert not _unreachable(ConcurrencySlotAcquisitionError("limits must be created before acquiring slots"))
