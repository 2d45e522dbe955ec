"""Sign-offs as a Prefect block: a durable, append-only record of who approved or rejected which
machine's test migration, when and why. The cutover reads it; reviewers read it in the UI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, Literal

from prefect.blocks.core import Block
from prefect.concurrency.sync import concurrency
from pydantic import BaseModel, Field

from wavelift.tasks.limits import ensure_concurrency_limit

LEDGER_LOCK = "wavelift-sign-off-ledger"
# A writer waits this long for more decisions before it saves: a wave's tests end one by one, and each save
# rewrites the whole ledger (at 185 machines it was a third of Prefect's database per machine, in row versions).
GROUP_SECONDS = 2.0


class SignOff(BaseModel):
    """One decision about one machine's tested migration."""

    machine: str
    item: str
    decision: Literal["approved", "rejected"]
    approver: str
    comment: str
    at: datetime
    tested_at: str | None = Field(
        default=None, description="When the test migration that was judged ran (Azure's lastTestMigrationTime)."
    )
    flow_run_id: str | None = Field(default=None, description="The sign-off run, for the run history.")


class _GroupCommit:
    """One writer per ledger and process; decisions that arrive while it writes go together in the next write.

    A caller returns once a write that held its decisions succeeded; if that write fails, the decisions go back
    to the front of the queue for the next writer, and the failed writer raises. A writer first waits `window`
    seconds for decisions that are on their way.
    """

    _ledgers: ClassVar[dict[str, _GroupCommit]] = {}
    _ledgers_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, window: float = GROUP_SECONDS) -> None:
        self._window = window
        self._pending: list[SignOff] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()

    @classmethod
    def of(cls, ledger: str) -> _GroupCommit:
        with cls._ledgers_lock:
            return cls._ledgers.setdefault(ledger, cls())

    def append(self, records: list[SignOff], write: Callable[[list[SignOff]], None]) -> None:
        mine = {id(r) for r in records}
        with self._queue_lock:
            self._pending += records
        with self._writer:
            with self._queue_lock:
                if not any(id(r) in mine for r in self._pending):
                    return  # an earlier writer saved them
            time.sleep(self._window)  # decisions arriving meanwhile go in this write
            with self._queue_lock:
                batch, self._pending = self._pending, []
            try:
                write(batch)
            except BaseException:
                with self._queue_lock:
                    self._pending = batch + self._pending
                raise


class SignOffLedger(Block):
    """Every sign-off decision of one wave, oldest first; the latest decision per machine counts.

    Example:
        ```python
        from wavelift.blocks.signoff import SignOffLedger
        ledger = SignOffLedger.load("BLOCK_NAME")
        print(ledger.latest("machine-item-name"))
        ```
    """

    _block_type_name = "wavelift Sign-off Ledger"
    _block_type_slug = "wavelift-sign-off-ledger"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/tutorial-migrate-vmware#run-a-test-migration"

    records: list[SignOff] = Field(
        default_factory=list, description="Sign-off decisions, oldest first; never rewritten."
    )

    @staticmethod
    def block_name(plan: str, wave: str) -> str:
        return f"signoff-{plan}-{wave}"

    @classmethod
    def for_wave(cls, plan: str, wave: str) -> SignOffLedger:
        """The wave's ledger, or an empty one if nobody signed anything off yet."""
        try:
            return cls.load(cls.block_name(plan, wave))
        except ValueError:
            return cls()

    @classmethod
    def append(cls, plan: str, wave: str, records: list[SignOff]) -> None:
        """Add decisions to the wave's ledger without losing anyone else's: the read, append and save happen
        under a one-slot global concurrency limit, so two sign-offs saved at the same moment both stay.

        Within a process the decisions of one wave are written as a group (`_GroupCommit`): a run signing off
        machines one by one as their tests pass writes the block once per group, not once per machine
        (each write reads and saves the whole ledger under the global lock: a quarter second, serialised)."""
        _GroupCommit.of(cls.block_name(plan, wave)).append(records, lambda batch: cls._write(plan, wave, batch))

    @classmethod
    def _write(cls, plan: str, wave: str, records: list[SignOff]) -> None:
        ensure_concurrency_limit(LEDGER_LOCK, 1)
        with concurrency(LEDGER_LOCK, occupy=1, strict=True, lease_duration=60):
            ledger = cls.for_wave(plan, wave)
            ledger.records.extend(records)
            ledger.save(cls.block_name(plan, wave), overwrite=True)

    def latest(self, item: str) -> SignOff | None:
        return next((r for r in reversed(self.records) if r.item == item), None)
