"""Initial seeding as a processor-sharing queue of disks.

Each disk waits for one of the appliances' parallel-disk slots (first come, first served), then seeds
at the per-disk rate, or at an equal share of the uplink when the active disks would exceed it. A
machine is seeded when its last disk is. A vCenter's appliance replicates at most `vms_per_vcenter`
machines at once (300 with one appliance, 500 with a scale-out one); Azure shows the others queued
until one finishes. Between two events every rate is constant, so `advance` moves exactly from
completion to completion.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from wavelift.emulator.config import CapacityModel

MB_PER_GB = 1024.0


@dataclass
class _Disk:
    owner: str
    remaining_mb: float


class SeedingEngine:
    """Tracks every disk being seeded and calls `on_seeded(owner, t)` when a machine finishes."""

    def __init__(self, capacity: CapacityModel, on_seeded: Callable[[str, float], None]) -> None:
        self._capacity = capacity
        self._on_seeded = on_seeded
        self._waiting: deque[_Disk] = deque()
        self._active: list[_Disk] = []
        self._total: dict[str, float] = {}
        self._left: dict[str, float] = {}
        self._disks_left: dict[str, int] = {}
        self._group: dict[str, str] = {}  # owner -> its vCenter
        self._started: set[str] = set()  # owners with a disk admitted: they count against their vCenter
        self._time: float | None = None

    def add(self, owner: str, sizes_gb: list[float], now: float, group: str = "") -> None:
        """Queue a machine's disks for seeding (`group`: the vCenter whose appliance replicates it)."""
        self.advance(now)
        self._time = now
        self._group[owner] = group
        self._total[owner] = sum(sizes_gb) * MB_PER_GB
        self._left[owner] = self._total[owner]
        self._disks_left[owner] = len(sizes_gb)
        self._waiting.extend(_Disk(owner, s * MB_PER_GB) for s in sizes_gb)
        self._admit()
        if not sizes_gb:
            self._finish(owner, now)

    def remove(self, owner: str, now: float) -> None:
        """Stop seeding a machine (replication disabled or paused)."""
        self.advance(now)
        self._waiting = deque(d for d in self._waiting if d.owner != owner)
        self._active = [d for d in self._active if d.owner != owner]
        self._forget(owner)
        self._admit()

    def progress(self, owner: str) -> int | None:
        """Percentage seeded, or None if the machine is not seeding."""
        if owner not in self._total:
            return None
        total = self._total[owner]
        return 100 if total == 0 else int(100 * (total - self._left[owner]) / total)

    def queued(self, owner: str) -> bool:
        """The machine waits for its vCenter's appliance: none of its disks has started."""
        return owner in self._total and owner not in self._started

    def seeding(self) -> int:
        return len(self._total)

    def _rate(self) -> float:
        if not self._active:
            return 0.0
        return min(self._capacity.disk_mbps, self._capacity.bandwidth_mbps / len(self._active))

    def _admit(self) -> None:
        """Start waiting disks in order while slots are free, skipping machines whose vCenter is at its limit."""
        if not self._waiting or len(self._active) >= self._capacity.parallel_disks:
            return
        running = Counter(self._group[o] for o in self._started)
        still: deque[_Disk] = deque()
        while self._waiting and len(self._active) < self._capacity.parallel_disks:
            disk = self._waiting.popleft()
            group = self._group[disk.owner]
            if disk.owner in self._started or running[group] < self._capacity.vms_per_vcenter:
                if disk.owner not in self._started:
                    self._started.add(disk.owner)
                    running[group] += 1
                self._active.append(disk)
            else:
                still.append(disk)
        still.extend(self._waiting)
        self._waiting = still

    def next_completion(self) -> float | None:
        """Emulated time of the next disk completion, if nothing else changes."""
        if not self._active or self._time is None:
            return None
        return self._time + min(d.remaining_mb for d in self._active) / self._rate()

    def advance(self, until: float) -> None:
        """Seed up to `until`, finishing disks (and machines) in time order."""
        if self._time is None:
            self._time = until
            return
        while self._active:
            rate = self._rate()
            step = min(d.remaining_mb for d in self._active) / rate
            if self._time + step > until:
                self._progress(rate * (until - self._time))
                break
            self._time += step
            self._progress(rate * step)
            done = [d for d in self._active if d.remaining_mb <= 1e-6]
            self._active = [d for d in self._active if d.remaining_mb > 1e-6]
            for disk in done:
                self._disks_left[disk.owner] -= 1
                if self._disks_left[disk.owner] == 0:
                    self._finish(disk.owner, self._time)
            self._admit()
        self._time = max(self._time, until)

    def _progress(self, mb: float) -> None:
        for disk in self._active:
            disk.remaining_mb -= mb
            self._left[disk.owner] -= mb

    def _forget(self, owner: str) -> None:
        for table in (self._total, self._left, self._disks_left, self._group):
            table.pop(owner, None)
        self._started.discard(owner)

    def _finish(self, owner: str, t: float) -> None:
        self._forget(owner)
        self._on_seeded(owner, t)

    def alone_seconds(self, sizes_gb: list[float]) -> float:
        """How long a machine's seeding takes with the appliances to itself (the capacity model's bound)."""
        rate = min(
            self._capacity.disk_mbps,
            self._capacity.bandwidth_mbps / max(1, min(len(sizes_gb), self._capacity.parallel_disks)),
        )
        return self._capacity.enable_seconds + (max(sizes_gb, default=0) * MB_PER_GB) / rate
