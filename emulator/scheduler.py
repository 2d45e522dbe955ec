"""Discrete events on the emulated clock: things that happen later (an LRO finishing, a VM booting)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Event = Callable[[float], None]


class Scheduler:
    """A time-ordered queue of callbacks, run when emulated time passes their due time."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = itertools.count()

    def at(self, when: float, event: Event) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), event))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> tuple[float, Event] | None:
        """The earliest event due by `now`, removed from the queue; None when nothing is due."""
        if self._heap and self._heap[0][0] <= now:
            when, _, event = heapq.heappop(self._heap)
            return when, event
        return None
