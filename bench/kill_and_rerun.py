"""Benchmark of convergence: kill `migrate-wave` at random points of a wave, run it again each time, then run
it once more on the finished wave, and count what Azure was asked to do twice.

On a fresh emulator (median seeding about 10 s of real time) and a Prefect server on PostgreSQL with the
100-slot limit, each attempt runs migrate-wave in its own process and SIGKILLs it after a random 2–25 s.
At each kill, and 12 s into each run, it prints the global limit's taken slots beside the initial
replications Azure has in flight: a killed run's slots stay taken until the next run takes over those of
machines still seeding and gives back those of machines done seeding. Then one run goes to the end, and one more
runs on the finished wave. It prints, per kind of write (enable, test migration, migration, source
shutdown), how many machines got it more than once, and how many writes the run on the finished wave made.
It asserts nothing.

    .venv/bin/python bench/kill_and_rerun.py [MACHINES [KILLS]]          (default: 66 9)
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from replication import SEED, alone_seconds, saved_plan

REPO = Path(__file__).resolve().parents[1]
TARGET_MEDIAN_REAL_SECONDS = 10.0
LOOK_AFTER = 12.0  # seconds into a run (its process started and its first steps taken) to compare slots with Azure
WRITES = {
    "enable": "enable_replication",
    "test migration": "test_migrate_started",
    "migration": "migrate_started",
}


def _request_json(plan: str) -> str:
    from wavelift.flows.migrate_wave import MigrateWaveRequest

    request = MigrateWaveRequest(plan_name=plan, wave="wave-1", poll_interval=1.0, pre_approved_by="bench")
    return request.model_dump_json()


def _attempt(plan: str, kill_after: float | None, look: Callable[[], str] | None = None) -> str:
    """migrate-wave in its own process, SIGKILLed after `kill_after` seconds (None: to the end); what `look`
    says `LOOK_AFTER` seconds into the run, if it still runs then ("-" if not)."""
    from prefect.settings import PREFECT_API_URL

    code = (
        "from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave; "
        f"migrate_wave(MigrateWaveRequest.model_validate_json({_request_json(plan)!r}))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started, seen = time.monotonic(), "-"
    if look is not None and (kill_after is None or kill_after > LOOK_AFTER):
        try:
            process.wait(timeout=LOOK_AFTER)
        except subprocess.TimeoutExpired:
            seen = look()
    try:
        process.wait(timeout=None if kill_after is None else max(0.0, kill_after - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return seen


def _taken_slots() -> int:
    from prefect.client.orchestration import get_client

    from wavelift.tasks.replication import INITIAL_REPLICATION_LIMIT

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(INITIAL_REPLICATION_LIMIT).active_slots


def _in_flight(state: dict) -> int:
    seeding = ("EnableMigrationInProgress", "InitialSeedingInProgress")
    return sum(1 for m in state["machines"] if m["migration_item"] and m["migration_item"]["state"] in seeding)


def _twice(history: dict[str, list[dict]]) -> dict[str, int]:
    """Per kind of write, the machines that got it more than once."""
    counts = {}
    for label, kind in WRITES.items():
        per_machine = Counter(name for name, events in history.items() for e in events if e["event"] == kind)
        counts[label] = sum(1 for n in per_machine.values() if n > 1)
    shutdowns = Counter(
        name
        for name, events in history.items()
        for e in events
        if e["event"] == "migrate_started" and e.get("perform_shutdown") == "true"
    )
    counts["source shutdown"] = sum(1 for n in shutdowns.values() if n > 1)
    return counts


def _writes(history: dict[str, list[dict]]) -> int:
    return sum(1 for events in history.values() for e in events if e["event"] in WRITES.values())


def main(machines: int, kills: int) -> None:
    from wavelift.deployments.local_prefect import postgres_prefect
    from wavelift.emulator.admin import EmulatorAdmin
    from wavelift.emulator.config import EmulatorConfig
    from wavelift.emulator.server import EmulatorThread
    from wavelift.tasks.plan_models import MaintenanceWindow

    chance = random.Random(SEED)
    speed = statistics.median(alone_seconds(machines, "heavy-tailed").values()) / TARGET_MEDIAN_REAL_SECONDS
    state_dir = Path(tempfile.mkdtemp(prefix=f"wavelift-kill-{machines}-"))
    now = datetime.now(UTC) - timedelta(hours=1)
    window = MaintenanceWindow(timezone="UTC", start=clock(now.hour), end=clock((now.hour + 6) % 24))
    config = EmulatorConfig(machines=machines, seed=SEED, speed=speed, state_dir=state_dir)
    with postgres_prefect(), EmulatorThread(config) as emu:
        c = emu.connection
        plan, _ = saved_plan(state_dir, "kill", window)
        admin = EmulatorAdmin(c)
        print(f"N = {len(plan.waves[0].machines)} planned servers, emulator x{speed:.0f}, {kills} kills")
        print(f"  run  killed after  at the kill: slots taken / Azure seeding   {LOOK_AFTER:.0f} s into the run: same")

        def look() -> str:
            return f"{_taken_slots()} / {_in_flight(admin.state())}"

        started = time.monotonic()
        for attempt in range(1, kills + 1):
            after = chance.uniform(2, 25)
            early = _attempt(plan.name, after, look)
            print(f"  {attempt:>3}  {after:10.1f} s  {look():>34}   {early:>25}")
        print(f"  {kills + 1:>3}  {'(to the end)':>12}  {'':>34}   {_attempt(plan.name, None, look):>25}")
        converged = time.monotonic() - started
        history = admin.history()
        migrated = sum(1 for events in history.values() if any(e["event"] == "migrated" for e in events))
        _attempt(plan.name, None)  # the finished wave, run again
        again = _writes(admin.history()) - _writes(history)
    print(f"  converged in {converged:.0f} s real: {migrated} migrated")
    for label, count in _twice(history).items():
        print(f"  machines with more than one {label}: {count}")
    print(f"  enables, test migrations and migrations of one more run on the finished wave: {again}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(args[0] if args else 66, args[1] if len(args) > 1 else 9)
