"""Blocks loaded once per flow run.

Every step of every machine names the blocks it needs (the target, the policies, the on-prem adapters) and
used to load them itself: at a thousand machines that was thousands of API reads, each stored by Prefect as a
`prefect.block.*.loaded` event, for documents that do not change during a run. `load_for_run` loads a block
the first time a flow run asks for it and hands every later step of that run the same instance; a new run
(the next wave, a re-run after the operator edited a block) loads it anew. Outside a flow run it just loads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TypeVar

from prefect import runtime
from prefect.blocks.core import Block

B = TypeVar("B", bound=Block)
KEPT_RUNS = 8  # flow runs whose blocks stay cached in the process (tests and benches run many in one process)

_loaded: OrderedDict[str, dict[tuple[type[Block], str], Block]] = OrderedDict()
_locks: dict[tuple[str, type[Block], str], threading.Lock] = {}
_lock = threading.Lock()


def load_for_run(kind: type[B], name: str) -> B:
    """The block `name` of `kind`, loaded once per flow run (the steps of a run share it)."""
    run = runtime.flow_run.id
    if run is None:
        return kind.load(name)
    key = (kind, name)
    with _lock:
        lock = _locks.setdefault((run, kind, name), threading.Lock())
    with lock:  # the first step of the run loads it; the others wait for that one load
        with _lock:
            blocks = _loaded.setdefault(run, {})
            _loaded.move_to_end(run)
            while len(_loaded) > KEPT_RUNS:
                gone, _ = _loaded.popitem(last=False)
                for stale in [k for k in _locks if k[0] == gone]:
                    del _locks[stale]
            if key in blocks:
                return blocks[key]  # type: ignore[return-value]
        block = kind.load(name)
        with _lock:
            blocks[key] = block
        return block
