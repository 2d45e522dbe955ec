"""The slot queue on a real Prefect API: this process's waiters for a global limit are served in the order
they came (as many at once as there are free slots), never more than the limit at once, and a slot
released here goes to the next waiter at once rather than after Prefect's retry back-off; and a machine's slot
is the machine's, not the run's: a run killed while its machines seed leaves nothing the next run cannot use."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from uuid import UUID

import httpx
import pytest
from prefect.client.base import PrefectHttpxSyncClient
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.variables import Variable

from wavelift.tasks import slot_leases
from wavelift.tasks.limits import SlotQueue, ensure_concurrency_limit
from wavelift.tasks.prompt_writes import PROMPT_PAUSE, PROMPT_TRIES, retry_soon_after_503
from wavelift.tasks.slot_leases import RECORD_AFTER, RECORD_TAG, MachineSlot, Recorded, release_finished
from wavelift.tasks.transient import prefect_unreachable


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

    def answered(status: int) -> httpx.HTTPStatusError:
        return httpx.HTTPStatusError("", request=request, response=httpx.Response(status, request=request))

    assert prefect_unreachable(httpx.ConnectError("connection refused"))
    assert prefect_unreachable(answered(503))
    assert not prefect_unreachable(answered(422))  # the request itself is wrong


def test_a_write_sqlite_refused_is_sent_again_soon_and_a_lasting_refusal_gets_prefects_back_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Prefect's own client (its retries, waits and headers) in front of a stand-in for a server whose SQLite refuses
    the lease four times (a refusal cannot be brought about on a real server at will); the waits are recorded."""
    answers = iter([503, 503, 503, 503, 200])
    sent: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(next(answers), json={"exception_message": "Service Unavailable"})

    waits: list[float] = []
    monkeypatch.setattr("prefect.client.base.time.sleep", waits.append)
    client = PrefectHttpxSyncClient(
        base_url="http://127.0.0.1:1/api",
        transport=httpx.MockTransport(server),
        event_hooks={"response": [retry_soon_after_503]},
    )
    with client:
        response = client.post("/v2/concurrency_limits/increment-with-lease", json={"names": ["limit"], "slots": 1})

    assert response.status_code == 200 and len(sent) == 5
    assert len(waits) == 4
    assert all(wait <= 2 * PROMPT_PAUSE[1] for wait in waits[:PROMPT_TRIES])  # Prefect's jitter adds up to a fifth
    assert waits[PROMPT_TRIES] >= 8  # the fourth refusal: Prefect's own back-off (2 ** 4 s, jittered)


def _active_slots(name: str) -> int:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def _machine(item: str) -> MachineSlot:
    return MachineSlot(vault="/subscriptions/s/vaults/v", item=item, machine=f"{item}.corp")


def _recorded(limit: str, item: str) -> bool:
    return _machine(item).record_name(limit) in Recorded.of(limit, fresh=True)


def _held_by_a_run_that_dies(limit: str, items: list[str]) -> ExitStack:
    """Slots taken for machines by a run that is then killed once they are recorded: the caller keeps the returned
    stack unclosed (were it collected, its slots would be given back)."""
    ensure_concurrency_limit(limit, 3)
    dead_run = ExitStack()
    for item in items:
        dead_run.enter_context(SlotQueue(limit).hold(lease_duration=60, slot=_machine(item)))
    deadline = time.monotonic() + RECORD_AFTER + 15
    while not all(_recorded(limit, item) for item in items):
        assert time.monotonic() < deadline, "the leases were not recorded"
        time.sleep(0.1)
    return dead_run


def test_a_machines_slot_outlives_the_run_that_took_it(prefect_server: None) -> None:
    """A run killed while its machine seeds leaves the slot taken; the next run that reaches the machine takes
    that slot over instead of waiting for a second one, and gives it back when the machine is done."""
    dead_run = _held_by_a_run_that_dies("wavelift-test-takeover", ["vm-1"])
    assert _active_slots("wavelift-test-takeover") == 1

    next_run = SlotQueue("wavelift-test-takeover", retry_seconds=600)  # waiting for a second slot would hang
    with next_run.hold(lease_duration=60, slot=_machine("vm-1")):
        assert _active_slots("wavelift-test-takeover") == 1  # still one slot for one machine
    assert _active_slots("wavelift-test-takeover") == 0
    assert not _recorded("wavelift-test-takeover", "vm-1")
    dead_run.close()  # the dead run's process goes: giving back what is gone already is no error


def test_slots_of_machines_that_finished_seeding_are_released_whoever_took_them(prefect_server: None) -> None:
    dead_run = _held_by_a_run_that_dies("wavelift-test-finished", ["vm-1", "vm-2"])
    assert _active_slots("wavelift-test-finished") == 2

    released = release_finished("wavelift-test-finished", "/subscriptions/s/vaults/V", lambda item: item == "vm-1")
    assert released == ["vm-1.corp"]
    assert _active_slots("wavelift-test-finished") == 1
    assert _recorded("wavelift-test-finished", "vm-2")  # still seeding: still counted
    dead_run.close()


def test_a_variable_tagged_as_a_record_but_holding_something_else_is_ignored(prefect_server: None) -> None:
    Variable.set("not-a-lease-record", {"hello": "world"}, tags=[RECORD_TAG], overwrite=True)
    assert "not-a-lease-record" not in Recorded.of("wavelift-test-stray", fresh=True)


def test_a_lease_released_while_the_keeper_records_it_leaves_no_record_and_no_warning(
    prefect_server: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A machine that seeds within seconds gives its slot back while the keeper's thread is recording the lease:
    the keeper's renewal then meets a lease Prefect no longer knows. That is no lapse to warn about, and the record
    the keeper wrote meanwhile must not outlive the lease (it would count a slot nobody holds)."""
    limit = "wavelift-test-quick-seed"
    ensure_concurrency_limit(limit, 3)
    lease_id = slot_leases.lease_slot(limit)
    keeper = slot_leases.LeaseKeeper()
    keeper.keep(lease_id, limit, 60, _machine("vm-1"))
    write = slot_leases.write_record

    def released_meanwhile(limit: str, slot: MachineSlot, lease: UUID) -> None:
        keeper.drop(lease)  # the holder's `finally`, as the keeper's thread records the lease
        slot_leases.release(lease)
        write(limit, slot, lease)

    monkeypatch.setattr(slot_leases, "write_record", released_meanwhile)
    keeper._update(lease_id, due=0.0)
    with caplog.at_level(logging.WARNING, logger="wavelift.limits"):
        keeper._renew_due()
    assert _active_slots(limit) == 0 and not _recorded(limit, "vm-1")
    assert not [r for r in caplog.records if "ended before it was renewed" in r.getMessage()]
