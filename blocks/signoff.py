"""Sign-offs as Prefect blocks: a durable, append-only record of who approved or rejected which
machine's test migration, when and why. The cutover reads it; reviewers read it in the UI.

A wave's ledger is a chain of pages of at most `PAGE_RECORDS` decisions: the first page is the ledger block
(`signoff-<plan>-<wave>`), which also names the later pages. A save rewrites one page, never the whole
ledger, so what a decision costs Prefect's database does not grow with the wave (at 890 machines, rewriting
the whole ledger at each save made its row versions a third of the database per machine)."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Literal

from prefect.blocks.core import Block
from prefect.concurrency.sync import concurrency
from pydantic import BaseModel, Field

from wavelift.tasks.limits import ensure_concurrency_limit

LEDGER_LOCK = "wavelift-sign-off-ledger"
# A writer waits this long for more decisions before it saves: a wave's tests end one by one, and each save
# rewrites a page (when it rewrote the whole ledger, at 185 machines its row versions were a third of Prefect's
# database per machine).
GROUP_SECONDS = 2.0
# Decisions per page: a save rewrites at most this many (about 15 KB of JSON, which Prefect's server stores
# encrypted: a third larger, and incompressible); reading a 1,000-machine ledger loads twenty pages, the full ones
# once per process. With 100, `block_document` was 6.6 KB of Prefect's database a machine at 185 machines.
PAGE_RECORDS = 50


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


class _SchemaOnce:
    """A block class whose JSON schema is built once per process. Prefect's `Block.save` builds it about two dozen
    times a save (once for each field it checks for secrets, again for the block schema and its checksum), half of
    a ledger save's CPU; a class's schema never changes. Each caller gets its own copy: Prefect edits what it gets."""

    _schemas: ClassVar[dict[tuple, dict[str, Any]]] = {}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (cls, args, tuple(sorted(kwargs.items())))
        if key not in _SchemaOnce._schemas:
            _SchemaOnce._schemas[key] = super().model_json_schema(*args, **kwargs)  # type: ignore[misc]
        return copy.deepcopy(_SchemaOnce._schemas[key])


class _Page:
    """What a page does, for the ledger and its later pages alike."""

    records: list[SignOff]

    def take(self, records: list[SignOff]) -> list[SignOff]:
        """Append what fits on this page; return the rest."""
        room = max(PAGE_RECORDS - len(self.records), 0)
        self.records.extend(records[:room])
        return records[room:]


class SignOffLedgerPage(_SchemaOnce, Block, _Page):
    """Decisions of a wave's sign-off ledger after its first page, oldest first; the ledger block names its
    pages in order.

    Example:
        ```python
        from wavelift.blocks.signoff import SignOffLedgerPage
        page = SignOffLedgerPage.load("BLOCK_NAME")
        print(page.plan, page.wave, len(page.records))
        ```
    """

    _block_type_name = "wavelift Sign-off Ledger Page"
    _block_type_slug = "wavelift-sign-off-ledger-page"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/tutorial-migrate-vmware#run-a-test-migration"

    plan: str = Field(default="", description="The plan whose wave this page belongs to.")
    wave: str = Field(default="", description="The wave whose decisions these are.")
    records: list[SignOff] = Field(default_factory=list, description="Sign-off decisions, oldest first.")

    _full: ClassVar[dict[str, list[SignOff]]] = {}  # a full page is never written again: read once per process

    @classmethod
    def read(cls, name: str, plan: str, wave: str) -> SignOffLedgerPage:
        """The page, or an empty one if the ledger named it but a save stopped before it was written."""
        if name in cls._full:
            return cls(plan=plan, wave=wave, records=list(cls._full[name]))
        try:
            page = cls.load(name)
        except ValueError:
            return cls(plan=plan, wave=wave)
        if len(page.records) >= PAGE_RECORDS:
            cls._full[name] = list(page.records)
        return page


class SignOffLedger(_SchemaOnce, Block, _Page):
    """Every sign-off decision of one wave, oldest first; the latest decision per machine counts.

    The block holds the first `PAGE_RECORDS` decisions and the names of the pages with the later ones
    (`SignOffLedgerPage`); `for_wave` reads them all.

    Example:
        ```python
        from wavelift.blocks.signoff import SignOffLedger
        first_page = SignOffLedger.load("BLOCK_NAME")
        ledger = SignOffLedger.for_wave("PLAN", "WAVE")  # every page
        print(ledger.latest("machine-item-name"))
        ```
    """

    _block_type_name = "wavelift Sign-off Ledger"
    _block_type_slug = "wavelift-sign-off-ledger"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/tutorial-migrate-vmware#run-a-test-migration"

    records: list[SignOff] = Field(
        default_factory=list,
        description="Sign-off decisions, oldest first; never rewritten. Here the first page; later ones in `pages`.",
    )
    pages: list[str] = Field(
        default_factory=list, description="The wavelift Sign-off Ledger Page blocks with later decisions, in order."
    )

    @staticmethod
    def block_name(plan: str, wave: str) -> str:
        return f"signoff-{plan}-{wave}"

    @classmethod
    def for_wave(cls, plan: str, wave: str) -> SignOffLedger:
        """Every decision of the wave's ledger, its pages' included, or an empty ledger if nobody signed
        anything off yet. For reading: `append` writes."""
        ledger = cls._first_page(plan, wave)
        for name in ledger.pages:
            ledger.records.extend(SignOffLedgerPage.read(name, plan, wave).records)
        return ledger

    @classmethod
    def _first_page(cls, plan: str, wave: str) -> SignOffLedger:
        try:
            return cls.load(cls.block_name(plan, wave))
        except ValueError:
            return cls()

    @classmethod
    def append(cls, plan: str, wave: str, records: list[SignOff]) -> None:
        """Add decisions to the wave's ledger without losing anyone else's: the read, append and save happen
        under a one-slot global concurrency limit, so two sign-offs saved at the same moment both stay.

        Within a process the decisions of one wave are written as a group (`_GroupCommit`): a run signing off
        machines one by one as their tests pass writes a page once per group, not once per machine
        (each write reads and saves a page under the global lock: a quarter second, serialised)."""
        _GroupCommit.of(cls.block_name(plan, wave)).append(records, lambda batch: cls._write(plan, wave, batch))

    @classmethod
    def _write(cls, plan: str, wave: str, records: list[SignOff]) -> None:
        """Fill the last page, then start new ones. A new page is named in the ledger before it is saved: a
        save that stops between the two leaves a name that reads as an empty page and is filled next time,
        never a page nobody can find."""
        ensure_concurrency_limit(LEDGER_LOCK, 1)
        with concurrency(LEDGER_LOCK, occupy=1, strict=True, lease_duration=60):
            ledger = cls._first_page(plan, wave)
            last_name = ledger.pages[-1] if ledger.pages else cls.block_name(plan, wave)
            last: SignOffLedger | SignOffLedgerPage = ledger
            if ledger.pages:
                last = SignOffLedgerPage.read(last_name, plan, wave)
            rest = last.take(records)
            if len(rest) < len(records):
                last.save(last_name, overwrite=True)
            while rest:
                name = f"signoff-page-{uuid.uuid4().hex}"
                ledger.pages.append(name)
                ledger.save(cls.block_name(plan, wave), overwrite=True)
                page = SignOffLedgerPage(plan=plan, wave=wave)
                rest = page.take(rest)
                page.save(name)

    def latest(self, item: str) -> SignOff | None:
        return next((r for r in reversed(self.records) if r.item == item), None)
