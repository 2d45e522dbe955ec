"""The sign-off ledger keeps every decision, even when several sign-offs are saved at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from prefect.blocks.core import Block

from wavelift.blocks import signoff
from wavelift.blocks.signoff import SignOff, SignOffLedger, SignOffLedgerPage, _GroupCommit

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


def _decision(n: int, decision: str = "approved") -> SignOff:
    return SignOff(machine=f"m-{n}", item=f"item-{n}", decision=decision, approver="ann", comment="ok", at=NOW)


def test_a_long_ledger_is_kept_in_pages_and_read_whole(prefect_server: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save rewrites one page, not the whole ledger; a reader still sees every decision in order, and a later
    page's decision overrides an earlier page's."""
    monkeypatch.setattr(signoff, "PAGE_RECORDS", 3)
    SignOffLedger.append("ledger-b", "wave-1", [_decision(0)])
    SignOffLedger.append("ledger-b", "wave-1", [_decision(n) for n in range(1, 5)])
    SignOffLedger.append("ledger-b", "wave-1", [_decision(5), _decision(0, "rejected")])

    ledger = SignOffLedger.for_wave("ledger-b", "wave-1")
    assert [r.item for r in ledger.records] == [f"item-{n}" for n in range(6)] + ["item-0"]
    assert ledger.latest("item-0").decision == "rejected" and ledger.latest("item-4").decision == "approved"
    first = SignOffLedger.load(SignOffLedger.block_name("ledger-b", "wave-1"))
    pages = [SignOffLedgerPage.load(name) for name in first.pages]
    assert [len(first.records)] + [len(p.records) for p in pages] == [3, 3, 1]
    assert {(p.plan, p.wave) for p in pages} == {("ledger-b", "wave-1")}


def test_a_page_named_but_never_saved_reads_empty_and_is_filled_next(prefect_server: None) -> None:
    """A save that stopped between naming a new page and writing it loses nothing and hides nothing."""
    full = [_decision(n) for n in range(signoff.PAGE_RECORDS)]
    SignOffLedger(records=full, pages=["signoff-page-interrupted"]).save(
        SignOffLedger.block_name("ledger-c", "wave-1"), overwrite=True
    )
    assert len(SignOffLedger.for_wave("ledger-c", "wave-1").records) == len(full)

    SignOffLedger.append("ledger-c", "wave-1", [_decision(1, "rejected")])
    page = SignOffLedgerPage.load("signoff-page-interrupted")
    assert (page.plan, page.wave, page.records) == ("ledger-c", "wave-1", [_decision(1, "rejected")])
    assert SignOffLedger.for_wave("ledger-c", "wave-1").latest("item-1").decision == "rejected"


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


@pytest.mark.parametrize("block", [SignOffLedger, SignOffLedgerPage])
@pytest.mark.parametrize("by_alias", [True, False])
def test_a_ledgers_schema_is_prefects_own_and_each_caller_gets_a_copy(block: type[Block], by_alias: bool) -> None:
    """Prefect registers and checksums a block's schema on every save: the one built once per process must be what
    Prefect builds itself, and a caller that edits its copy (Prefect does) must not change the next caller's."""
    built_now = Block.model_json_schema.__func__(block, by_alias=by_alias)  # type: ignore[attr-defined]
    assert block.model_json_schema(by_alias=by_alias) == built_now
    block.model_json_schema(by_alias=by_alias)["properties"].clear()
    assert block.model_json_schema(by_alias=by_alias) == built_now
