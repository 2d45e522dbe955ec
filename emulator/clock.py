"""The emulated clock: emulated time runs `speed` times faster than the wall clock.

Replication takes hours in Azure; the emulator compresses it so a demo or a test sees the whole
lifecycle in seconds or minutes, while every duration it reports stays in realistic emulated units.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class EmulatedClock:
    """Emulated seconds since the Unix epoch, starting at the wall-clock time of creation."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real_origin = time.monotonic()
        self._emulated_origin = time.time()
        self._skipped = 0.0

    def now(self) -> float:
        """Emulated time as a POSIX timestamp."""
        return self._emulated_origin + self._skipped + (time.monotonic() - self._real_origin) * self.speed

    def skip(self, seconds: float) -> None:
        """Jump emulated time forward (an inspection endpoint uses it to fast-forward tests)."""
        self._skipped += max(0.0, seconds)


def iso(timestamp: float) -> str:
    """ARM's timestamp format: ISO 8601 in UTC with a trailing Z."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
