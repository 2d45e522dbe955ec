"""The sign-off ledger keeps every decision, even when several sign-offs are saved at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from wavelift.blocks.signoff import SignOff, SignOffLedger, _GroupCommit

NOW = datetime.now(UTC)


def test_decisions_saved_at_once_are_all_kept(prefect_server: None) -> None:
    def decide(n: int) -> None:
        SignOffLedger.append(
            "ledger-a",
            "wave-1",
            [
                SignOff(
                    machine=f"m-{n}",
                    item=f"item-{n}",
                    decision="approved",
                    approver=f"approver-{n}",
                    comment="ok",
                    at=datetime.now(UTC),
                )
            ],
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(decide, range(16)))
    ledger = SignOffLedger.for_wave("ledger-a", "wave-1")
    assert sorted(r.item for r in ledger.records) == sorted(f"item-{n}" for n in range(16))
    assert ledger.latest("item-3").approver == "approver-3"


def _decision(n: int) -> SignOff:
    return SignOff(machine=f"m-{n}", item=f"item-{n}", decision="approved", approver="ann", comment="ok", at=NOW)


def test_decisions_arriving_together_are_written_together_and_once() -> None:
    written: list[list[str]] = []

    def write(batch: list[SignOff]) -> None:
        time.sleep(0.05)  # a block save: the others queue meanwhile
        written.append([r.item for r in batch])

    commit, together = _GroupCommit(), threading.Barrier(16)

    def decide(n: int) -> None:
        together.wait()
        commit.append([_decision(n)], write)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(decide, range(16)))
    assert sorted(item for batch in written for item in batch) == sorted(f"item-{n}" for n in range(16))
    assert len(written) < 16 / 2  # grouped, not one save per decision


def test_decisions_arriving_one_by_one_within_the_window_share_a_write() -> None:
    """A wave's tests pass one after another: a writer waits its window for them, so ten decisions a tenth of a
    second apart take two or three saves of the ledger, not ten."""
    written: list[list[str]] = []
    commit = _GroupCommit(window=0.5)

    def decide(n: int) -> None:
        time.sleep(0.1 * n)
        commit.append([_decision(n)], lambda batch: written.append([r.item for r in batch]))

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(decide, range(10)))
    assert sorted(item for batch in written for item in batch) == sorted(f"item-{n}" for n in range(10))
    assert len(written) <= 3


def test_a_failed_write_leaves_its_decisions_to_the_next_writer() -> None:
    written: list[str] = []
    failures = iter([True])

    def write(batch: list[SignOff]) -> None:
        if next(failures, False):
            raise ConnectionError("the Prefect API dropped the connection")
        written.extend(r.item for r in batch)

    commit = _GroupCommit()
    with pytest.raises(ConnectionError):
        commit.append([_decision(1)], write)
    commit.append([_decision(2)], write)
    assert written == ["item-1", "item-2"]
