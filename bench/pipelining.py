"""Benchmark of pipelining: time to "every machine tested" when each machine is test-migrated as soon as it
is seeded, against the lockstep of replicate-wave then test-wave, on the same estate.

For each N it runs the same seeded estate twice, each on a fresh emulator at the same speed (median
seeding about 20 s of real time) and the same Prefect test server with the 100-slot limit:
- lockstep: `replicate_wave`, then `test_wave` (tests start when the whole wave has seeded);
- pipelined: `replicate_wave(test_when_seeded=True)`, then `test_wave` (which only verifies and reports).
It prints, in emulated hours from the first enable: when the last machine seeded, when the last test
ended, and the ratio pipelined / lockstep of the time to all tested, plus the test phase's length after
the last seeding in each mode. It asserts nothing.

    .venv/bin/python bench/pipelining.py [N ...]          (default: 60)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from replication import SEED, _parse, alone_seconds, saved_plan  # the same estate and clock as bench/replication.py

TARGET_MEDIAN_REAL_SECONDS = 20.0
POLL_EMULATED_SECONDS = 300.0


def _events(history: dict[str, list[dict]], kind: str) -> list[float]:
    return [_parse(e["time"]) for events in history.values() for e in events if e["event"] == kind]


def run(machines: int, pipelined: bool, speed: float) -> dict[str, float]:
    """One wave replicated and tested; times in emulated hours from the first enable."""
    from wavelift.emulator.admin import EmulatorAdmin
    from wavelift.emulator.config import EmulatorConfig
    from wavelift.emulator.server import EmulatorThread
    from wavelift.flows.replicate import replicate_wave
    from wavelift.flows.test_wave import test_wave

    state_dir = Path(tempfile.mkdtemp(prefix=f"wavelift-pipelining-{machines}-"))
    config = EmulatorConfig(machines=machines, seed=SEED, speed=speed, state_dir=state_dir)
    with EmulatorThread(config) as emu:
        c = emu.connection
        plan, _ = saved_plan(state_dir, f"pipelining-{machines}")
        poll = POLL_EMULATED_SECONDS / speed
        started = time.monotonic()
        replicate_wave(plan.name, "wave-1", poll_interval=poll, test_when_seeded=pipelined)
        reports = test_wave(plan.name, "wave-1", poll_interval=poll)
        wall = time.monotonic() - started
        history = EmulatorAdmin(c).history()
    first = min(_events(history, "enable_replication"))
    seeded, tested = max(_events(history, "seeded")), max(_events(history, "test_migrated"))
    return {
        "seeded_h": (seeded - first) / 3600,
        "tested_h": (tested - first) / 3600,
        "tests_after_seeding_h": (tested - seeded) / 3600,
        "passed": sum(r.passed for r in reports),
        "test_starts": len(_events(history, "test_migrate_started")),
        "wall_s": wall,
    }


def main(sizes: list[int]) -> None:
    from wavelift.deployments.local_prefect import postgres_prefect

    with postgres_prefect():
        for n in sizes:
            speed = statistics.median(alone_seconds(n, "heavy-tailed").values()) / TARGET_MEDIAN_REAL_SECONDS
            lockstep, pipelined = run(n, False, speed), run(n, True, speed)
            print(f"\nN = {n} servers (emulator x{speed:.0f}: median seeding ~{TARGET_MEDIAN_REAL_SECONDS:.0f} s real)")
            for name, r in (("lockstep", lockstep), ("pipelined", pipelined)):
                print(
                    f"  {name:<9} last seeded {r['seeded_h']:6.2f} h, all tested {r['tested_h']:6.2f} h "
                    f"(tests end {r['tests_after_seeding_h']:5.2f} h after the last seeding); {r['passed']:.0f} "
                    f"passed, {r['test_starts']:.0f} tests run; wall {r['wall_s']:.0f} s"
                )
            print(f"  time to all tested, pipelined / lockstep = {pipelined['tested_h'] / lockstep['tested_h']:.3f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [60])
