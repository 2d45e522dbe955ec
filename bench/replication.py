"""Benchmark of `replicate_wave` against the emulator: how close the sliding window gets to the
capacity model's lower bound, compared with batches that wait for their slowest machine.

For each estate and N it starts `wavelift emulator` (a separate process, so this process's CPU is the
orchestrator's) at a speed where the median initial seeding takes about 30 s of real time, plans one
wave, runs it on a Prefect server with the 100-slot global limit, and prints:
- makespan / lower bound, where makespan runs from the first enable to the last machine seeded and
  the lower bound is max(longest single seeding, total seeding time / 100) from the capacity model;
- the same ratio for a batch-barrier schedule (batches of 100, each waiting for its slowest);
- slot hand-over: from the moment a seeded machine could first be seen as seeded and its slot freed,
  to the next machine's enable, in real seconds (the k-th freed slot lets in the (100+k)-th machine);
- how late a finished seeding was first read, as a share of the median seeding time;
- ARM requests per machine by kind, and vault list calls per poll interval;
- orchestrator CPU seconds per machine and peak memory.
The flat estate (every server 100–800 GB) is the one where the bound is reachable; the heavy-tailed one
is the realistic mix. It asserts nothing.

    .venv/bin/python bench/replication.py [--disks flat|heavy-tailed] [N ...]   (default: both, 1000)
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
from typing import Any

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="wavelift-bench-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from wavelift.emulator.config import CapacityModel  # noqa: E402
from wavelift.emulator.estate import DiskProfile, generate  # noqa: E402
from wavelift.emulator.seeding import SeedingEngine  # noqa: E402

SEED = 42
SLOTS = 100
POLL_EMULATED_SECONDS = 300.0  # a five-minute poll interval, as against Azure
TARGET_MEDIAN_REAL_SECONDS = 30.0
LIST = "LIST Microsoft.RecoveryServices/vaults/replicationMigrationItems"
GET = (
    "GET Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationMigrationItems"
)


def saved_plan(state_dir: Path, name: str, window: object = None) -> tuple[Any, list[Any]]:
    """The emulator's discovered machines and assessment planned as `name` (target block `name` too), with the
    100-slot limit made sure of: what every bench starts from. Returns the plan and the machines in discovery
    order."""
    from wavelift.blocks.azure import AzureMigrationTarget
    from wavelift.blocks.plan import WavePlanBlock
    from wavelift.tasks.arm import list_json
    from wavelift.tasks.assessment import read_assessment
    from wavelift.tasks.discovery import parse_machine
    from wavelift.tasks.limits import ensure_concurrency_limit
    from wavelift.tasks.planning import PlanSettings, plan_from_assessment
    from wavelift.tasks.replication import INITIAL_REPLICATION_LIMIT

    connection = json.loads((state_dir / "connection.json").read_text())
    target = AzureMigrationTarget.from_emulator(state_dir / "connection.json")
    target.save(name, overwrite=True)
    rg_id = f"/subscriptions/{connection['subscription_id']}/resourceGroups/{connection['resource_group']}"
    site = f"{rg_id}/providers/Microsoft.OffAzure/VMwareSites/{connection['site']}/machines"
    settings = {"window": window} if window is not None else {}
    discovered = [parse_machine(m) for m in list_json(target.site_recovery_client(), site, "2020-01-01")]
    plan = plan_from_assessment(
        discovered,
        read_assessment(connection["assessment_workbook"]),
        PlanSettings(plan_name=name, target_block=name, **settings),
    )
    WavePlanBlock.of(plan).save(plan.name, overwrite=True)
    ensure_concurrency_limit(INITIAL_REPLICATION_LIMIT, SLOTS)
    return plan, discovered


def alone_seconds(machines: int, disks: DiskProfile) -> dict[str, float]:
    """Each ready machine's seeding time with the appliances to itself (emulated seconds)."""
    engine = SeedingEngine(CapacityModel(), lambda owner, t: None)
    return {
        m.display_name: engine.alone_seconds([d.size_gb for d in m.disks])
        for m in generate(machines, SEED, disks)
        if m.readiness != "Not Ready For Azure"
    }


def barrier_makespan(times: list[float]) -> float:
    """Batches of 100 that each wait for their slowest machine."""
    return sum(max(times[i : i + SLOTS]) for i in range(0, len(times), SLOTS))


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def hand_overs(enables: list[float], freed: list[float]) -> list[float]:
    """Seconds from the k-th freed slot to the enable it let in (the (SLOTS+k)-th), while machines queued."""
    enables, freed = sorted(enables), sorted(freed)
    return [max(0.0, enables[SLOTS + k] - at) for k, at in enumerate(freed) if SLOTS + k < len(enables)]


def run(machines: int, disks: DiskProfile) -> dict[str, object]:
    from wavelift.emulator.admin import EmulatorAdmin
    from wavelift.flows.replicate import replicate_wave

    alone = alone_seconds(machines, disks)
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
            "--disks",
            disks,
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (state_dir / "connection.json").exists():
            time.sleep(0.1)
        connection = json.loads((state_dir / "connection.json").read_text())
        admin = EmulatorAdmin(connection)
        plan, discovered = saved_plan(state_dir, f"bench-{disks}-{machines}")
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
    seeded_at = {m: _parse(e["time"]) for m, events in history.items() for e in events if e["event"] == "seeded"}
    seeded = list(seeded_at.values())
    shown_after = stats["seeding_shown_after_seconds"]
    handover = [h / speed for h in hand_overs(enables, [seeded_at[m] + shown_after[m] for m in shown_after])]
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
        "handover_mean": statistics.fmean(handover) if handover else 0.0,
        "handover_p95": statistics.quantiles(handover, n=20)[-1] if len(handover) > 1 else 0.0,
        "noticed_mean_s": statistics.fmean(shown_after.values()),
        "noticed_share": statistics.fmean(shown_after.values()) / statistics.median(alone.values()),
        "throttled": stats["throttled"],
        "requests_per_machine": {k: round(v / n, 2) for k, v in sorted(stats["requests"].items())},
        "lists_per_interval": stats["requests"].get(LIST, 0) / intervals,
        "pages_per_interval": (stats["requests"].get(LIST, 0) + stats["requests"].get(f"{LIST} (next page)", 0))
        / intervals,
        "gets_per_interval": stats["requests"].get(GET, 0) / intervals,
        "cpu_per_machine": cpu / n,
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(estates: list[DiskProfile], sizes: list[int]) -> None:
    from wavelift.deployments.local_prefect import postgres_prefect

    with postgres_prefect():
        for disks in estates:
            for n in sizes:
                report(run(n, disks), disks)


def report(r: dict, disks: str) -> None:
    """Print one run's figures."""
    print(
        f"\n{disks} estate, N = {r['machines']} ready machines (emulator x{r['speed']:.0f}: median seeding "
        f"~{TARGET_MEDIAN_REAL_SECONDS:.0f} s real), wall {r['wall_s']:.0f} s"
    )
    print(f"  makespan {r['makespan_h']:.2f} h emulated, lower bound {r['bound_h']:.2f} h")
    print(
        f"  sliding window         makespan / bound = {r['ratio']:.3f}   (peak concurrent initial replications "
        f"{r['peak']}, throttled {r['throttled']})"
    )
    print(f"  batch barrier (LPT)    makespan / bound = {r['barrier_lpt']:.3f}")
    print(
        f"  slot hand-over (freed -> next enabled)  = mean {r['handover_mean']:.2f} s, "
        f"p95 {r['handover_p95']:.2f} s real"
    )
    print(
        f"  seeding noticed after it ended          = mean {r['noticed_mean_s']:.0f} s emulated = "
        f"{100 * r['noticed_share']:.2f} % of the median seeding"
    )
    print(f"  batch barrier (as discovered) ratio     = {r['barrier_discovery']:.3f}")
    print(
        f"  ARM reads per poll interval             = {r['lists_per_interval']:.2f} vault lists "
        f"({r['pages_per_interval']:.2f} pages) + {r['gets_per_interval']:.2f} item reads"
    )
    print(
        f"  orchestrator CPU per machine            = {r['cpu_per_machine']:.3f} s; peak RSS {r['peak_rss_mb']:.0f} MB"
    )
    print("  ARM requests per machine:")
    for kind, count in r["requests_per_machine"].items():
        print(f"    {count:8.2f}  {kind}")


if __name__ == "__main__":
    args = sys.argv[1:]
    chosen = ["flat", "heavy-tailed"]
    if args[:1] == ["--disks"]:
        chosen, args = [args[1]], args[2:]
    main(chosen, [int(a) for a in args] or [1000])
