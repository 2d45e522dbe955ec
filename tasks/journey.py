"""What a run asks of its machines and what their steps share: the data of the itinerary (`tasks.itinerary`).

Kept apart from the itinerary, which imports every step's module, so that those modules can name `Facts`
and `Trip` too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.signoff import SignOff
from wavelift.tasks.cutover import FIXED_MINUTES, MINUTES_PER_TB
from wavelift.tasks.discovery import ReplicationInfrastructure
from wavelift.tasks.lifecycle import MachineState
from wavelift.tasks.plan_models import MachinePlan, Wave, WavePlan

T = TypeVar("T")


class Goal(IntEnum):
    """How far a run takes its machines."""

    SEEDED = 1  # initial replication done
    TESTED = 2  # a test migration passed (and, with a pre-approval, signed off)
    MIGRATED = 3  # cut over inside the window and smoke-tested
    CLEANED_UP = 4  # hardened and cleaned up as the run's policies ask


class Journey(BaseModel):
    """What a run asks of its machines: how far, and with which decisions and policies."""

    goal: Goal
    pre_approved_by: str | None = Field(default=None, description="Signs off each passed test in the run.")
    pre_approval_comment: str = ""
    hardening_policy: str | None = None
    cleanup_policy: str | None = None
    execute_cleanup: bool = False
    fixed_minutes: float = FIXED_MINUTES
    minutes_per_tb: float = MINUTES_PER_TB
    only: frozenset[str] | None = Field(
        default=None, description="The only steps this run takes (the nightly cutover: cutover and smoke test)."
    )
    forced_outside_window: str | None = Field(
        default=None, description="Why this run cuts over although the window is closed (recorded with the run)."
    )


@dataclass(frozen=True)
class Facts:
    """Everything a step's guards read about one machine: its observed state, its latest sign-off, the wave's
    window and the clock, and the steps this run already took for it (name -> whether it ended well; the steps
    after cutover leave no stage in Azure, so the run remembers them)."""

    machine: MachinePlan
    state: MachineState
    signoff: SignOff | None
    wave: Wave
    now: datetime
    journey: Journey
    taken: Mapping[str, bool]


class Trip:
    """One run's shared means: the plan's target block and vault, its poll interval, the wave and the journey,
    and the wave-wide inputs a step computes once for every machine (`once`: the DR infrastructure, the NSGs,
    the on-prem identities)."""

    def __init__(
        self, plan: WavePlan, wave: Wave, infra: ReplicationInfrastructure, poll_interval: float, journey: Journey
    ) -> None:
        self.plan, self.wave, self.infra, self.poll_interval, self.journey = plan, wave, infra, poll_interval, journey
        self.target_block = plan.target_block
        self._once: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def target(self) -> AzureMigrationTarget:
        """The target block, loaded once for the run (its clients are cached per process anyway)."""
        return load_for_run(AzureMigrationTarget, self.target_block)

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` the first time a machine's step asks for `key`; every later step gets that value. Each key
        has its own lock: building the DR infrastructure (minutes) holds up only the steps that need it."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._once:
                self._once[key] = compute()
            return self._once[key]
