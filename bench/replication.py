"""Benchmark of `replicate_wave` against the emulator: how close the sliding window gets to the
capacity model's lower bound, compared with batches that wait for their slowest machine.

For each N it starts `wavelift emulator` (a separate process, so this process's CPU is the
orchestrator's) at a speed where the median initial seeding takes about a minute of real time,
plans one wave, runs it on a Prefect server with the 100-slot global limit, and prints:
- makespan / lower bound, where makespan runs from the first enable to the last machine seeded and
  the lower bound is max(longest single seeding, total seeding time / 100) from the capacity model;
- the same ratio for a batch-barrier schedule (batches of 100, each waiting for its slowest);
- ARM requests per machine by kind, and vault list calls per poll interval;
- orchestrator CPU seconds per machine and peak memory.
It asserts nothing.

    .venv/bin/python bench/replication.py [N ...]          (default: 100 1000)
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="wavelift-bench-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from emulator.config import CapacityModel  # noqa: E402
from emulator.estate import generate  # noqa: E402
from emulator.seeding import SeedingEngine  # noqa: E402

SEED = 42
SLOTS = 100
POLL_EMULATED_SECONDS = 300.0  # a five-minute poll interval, as against Azure
TARGET_MEDIAN_REAL_SECONDS = 60.0


def alone_seconds(machines: int) -> dict[str, float]:
    """Each ready machine's seeding time with the appliances to itself (emulated seconds)."""
    engine = SeedingEngine(CapacityModel(), lambda owner, t: None)
    return {
        m.display_name: engine.alone_seconds([d.size_gb for d in m.disks])
        for m in generate(machines, SEED)
        if m.readiness != "Not Ready For Azure"
    }


def barrier_makespan(times: list[float]) -> float:
    """Batches of 100 that each wait for their slowest machine."""
    return sum(max(times[i : i + SLOTS]) for i in range(0, len(times), SLOTS))


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run(machines: int) -> dict[str, object]:
    from blocks.azure import AzureMigrationTarget
    from blocks.plan import WavePlanBlock
    from emulator.admin import EmulatorAdmin
    from flows.replicate import replicate_wave
    from tasks.arm import list_json
    from tasks.assessment import read_assessment
    from tasks.discovery import parse_machine
    from tasks.limits import ensure_concurrency_limit
    from tasks.planning import PlanSettings, plan_from_assessment
    from tasks.replication import INITIAL_REPLICATION_LIMIT

    alone = alone_seconds(machines)
    speed = statistics.median(alone.values()) / TARGET_MEDIAN_REAL_SECONDS
    state_dir = Path(tempfile.mkdtemp(prefix=f"wavelift-bench-{machines}-"))
    emulator = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("wavelift")),
            "emulator",
            "--machines",
            str(machines),
            "--seed",
            str(SEED),
            "--speed",
            f"{speed:.3f}",
            "--state-dir",
            str(state_dir),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (state_dir / "connection.json").exists():
            time.sleep(0.1)
        connection = json.loads((state_dir / "connection.json").read_text())
        admin = EmulatorAdmin(connection)
        target = AzureMigrationTarget.from_emulator(state_dir / "connection.json")
        target.save("bench", overwrite=True)
        rg_id = f"/subscriptions/{connection['subscription_id']}/resourceGroups/{connection['resource_group']}"
        site = f"{rg_id}/providers/Microsoft.OffAzure/VMwareSites/{connection['site']}/machines"
        discovered = [parse_machine(m) for m in list_json(target.site_recovery_client(), site, "2020-01-01")]
        plan = plan_from_assessment(
            discovered,
            read_assessment(connection["assessment_workbook"]),
            PlanSettings(plan_name=f"bench-{machines}", target_block="bench"),
        )
        WavePlanBlock.of(plan).save(plan.name, overwrite=True)
        ensure_concurrency_limit(INITIAL_REPLICATION_LIMIT, SLOTS)
        admin.reset_stats()
        cpu_before, started = time.process_time(), time.monotonic()
        replicate_wave(plan.name, "wave-1", poll_interval=POLL_EMULATED_SECONDS / speed)
        cpu, wall = time.process_time() - cpu_before, time.monotonic() - started
        history = admin.history()
        stats = admin.stats()
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=60)
    enables = [_parse(e["time"]) for events in history.values() for e in events if e["event"] == "enable_replication"]
    seeded = [_parse(e["time"]) for events in history.values() for e in events if e["event"] == "seeded"]
    makespan = max(seeded) - min(enables)
    times = sorted(alone.values(), reverse=True)
    bound = max(max(times), sum(times) / SLOTS)
    in_discovery_order = [alone[m.display_name] for m in discovered if m.display_name in alone]
    n = len(times)
    intervals = wall / (POLL_EMULATED_SECONDS / speed)
    return {
        "machines": n,
        "speed": speed,
        "makespan_h": makespan / 3600,
        "bound_h": bound / 3600,
        "ratio": makespan / bound,
        "barrier_lpt": barrier_makespan(times) / bound,
        "barrier_discovery": barrier_makespan(in_discovery_order) / bound,
        "peak": stats["peak_concurrent_initial_replications"],
        "throttled": stats["throttled"],
        "requests_per_machine": {k: round(v / n, 2) for k, v in sorted(stats["requests"].items())},
        "pages_per_interval": stats["requests"].get(
            "LIST Microsoft.RecoveryServices/vaults/replicationMigrationItems", 0
        )
        / intervals,
        "pages_per_list": -(-n // 100),
        "cpu_per_machine": cpu / n,
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(sizes: list[int]) -> None:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        for n in sizes:
            r = run(n)
            print(
                f"\nN = {r['machines']} ready machines (emulator x{r['speed']:.0f}: median seeding "
                f"~{TARGET_MEDIAN_REAL_SECONDS:.0f} s real), wall {r['wall_s']:.0f} s"
            )
            print(f"  makespan {r['makespan_h']:.2f} h emulated, lower bound {r['bound_h']:.2f} h")
            print(
                f"  sliding window         makespan / bound = {r['ratio']:.3f}   (peak concurrent initial replications "
                f"{r['peak']}, throttled {r['throttled']})"
            )
            print(f"  batch barrier (LPT)    makespan / bound = {r['barrier_lpt']:.3f}")
            print(f"  batch barrier (as discovered) ratio     = {r['barrier_discovery']:.3f}")
            lists = r["pages_per_interval"] / r["pages_per_list"]  # type: ignore[operator]
            print(
                f"  vault list reads per poll interval      = {r['pages_per_interval']:.2f} pages = {lists:.2f} full "
                f"lists of {r['pages_per_list']} page(s)"
            )
            print(
                f"  orchestrator CPU per machine            = {r['cpu_per_machine']:.3f} s; peak RSS "
                f"{r['peak_rss_mb']:.0f} MB"
            )
            print("  ARM requests per machine:")
            for kind, count in r["requests_per_machine"].items():  # type: ignore[union-attr]
                print(f"    {count:8.2f}  {kind}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000])
