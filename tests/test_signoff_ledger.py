"""The sign-off ledger keeps every decision, even when several sign-offs are saved at the same moment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from blocks.signoff import SignOff, SignOffLedger


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
    assert ledger.latest("item-3").approver == "approver-3"  # type: ignore[union-attr]
