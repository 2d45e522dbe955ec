"""Benchmark of a wave spread over two workers (issue #12's P5: a 1,000-machine wave on two workers stays within
1 GB per process): how much memory each process takes at its peak, and that the 100-slot limit still holds.

It starts `wavelift emulator` on the flat estate (a separate process) at a speed where the median seeding takes
about 30 s of real time, a Prefect server on a fresh PostgreSQL database with wavelift's deployments, and two
process workers on the pool, each taking one run at a time (`--limit 1`) and keeping half of ARM's request budget
(the README's scale-out advice: shares that add up to 1). It starts `replicate-wave` once per batch of the wave,
as an operator spreads a wave over workers, and reads every second the peak resident memory (`VmHWM`) of the
server, the workers and each flow-run process they start. It prints each process's peak, the emulator's peak of
concurrent initial replications and how many machines replicated. It asserts nothing.

    .venv/bin/python bench/two_workers.py [N]    (default 1000)
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
from lifecycle_cost import peak_rss_mb, start_emulator  # noqa: E402 - the lifecycle bench's estate and /proc
from replication import POLL_EMULATED_SECONDS, TARGET_MEDIAN_REAL_SECONDS, alone_seconds, saved_plan  # noqa: E402

DATABASE = "wavelift_bench_two_workers"
WORKERS = ("bench-a", "bench-b")
SAMPLE_SECONDS = 1.0


class PeakMemory:
    """Every second, the peak resident memory of each named process and of the flow runs its workers started."""

    def __init__(self, named: dict[str, int]) -> None:
        self.named = named
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        from wavelift.deployments.local_prefect import children

        while not self._stop.wait(SAMPLE_SECONDS):
            for name, pid in self.named.items():
                self._read(name, pid)
                if name.startswith("worker"):
                    for child in children(pid):  # a flow run (and any process it started)
                        self._read(f"flow run {child} ({name})", child)

    def _read(self, name: str, pid: int) -> None:
        try:
            self.peaks[name] = max(self.peaks.get(name, 0.0), peak_rss_mb(pid))
        except OSError:  # the process ended between the listing and the read
            pass

    def close(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def run(machines: int) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    from wavelift.blocks.azure import AzureMigrationTarget
    from wavelift.blocks.parameters import reference
    from wavelift.blocks.plan import WavePlanBlock
    from wavelift.deployments.definitions import WORK_POOL, NightlyCutover
    from wavelift.deployments.local_prefect import postgres_prefect
    from wavelift.deployments.setup import setup
    from wavelift.emulator.admin import EmulatorAdmin

    speed = statistics.median(alone_seconds(machines, "flat").values()) / TARGET_MEDIAN_REAL_SECONDS
    state_dir = Path(tempfile.mkdtemp(prefix=f"wavelift-two-workers-{machines}-"))
    emulator = start_emulator(machines, speed, state_dir)
    try:
        with postgres_prefect(database=DATABASE) as server:
            while not (state_dir / "connection.json").exists():
                time.sleep(0.1)
            admin = EmulatorAdmin(json.loads((state_dir / "connection.json").read_text()))
            setup(NightlyCutover())
            plan, _ = saved_plan(state_dir, "bench")
            target = AzureMigrationTarget.load("bench")
            target.arm_request_share = 1 / len(WORKERS)  # each worker's runs keep to half of ARM's budget
            target.save("bench", overwrite=True)
            batches = plan.waves[0].batches()
            workers = {f"worker {name}": server.start_worker(WORK_POOL, name, limit=1).pid for name in WORKERS}
            memory = PeakMemory({"Prefect server": server.processes[0].pid, **workers})
            started = time.monotonic()
            runs = [
                run_deployment(
                    "replicate-wave/replicate-wave",
                    parameters={
                        "plan_name": reference(WavePlanBlock, plan.name),
                        "wave": "wave-1",
                        "poll_interval": POLL_EMULATED_SECONDS / speed,
                        "batch": number,
                    },
                    timeout=0,
                )
                for number in range(1, len(batches) + 1)
            ]
            with get_client(sync_client=True) as client:
                while not all((state := client.read_flow_run(r.id).state) and state.is_final() for r in runs):
                    time.sleep(2)
                states = [client.read_flow_run(r.id).state for r in runs]
            wall = time.monotonic() - started
            peaks = memory.close()
            stats, state = admin.stats(), admin.state()
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=60)
    replicating = sum(1 for i in state["migration_items"] if i["properties"]["migrationState"] == "Replicating")
    ready = len(plan.waves[0].machines)
    print(
        f"\nN = {ready} ready machines (of {machines}), {len(batches)} batch runs on {len(WORKERS)} workers, "
        f"emulator x{speed:.0f}, wall {wall:.0f} s"
    )
    print(
        f"  runs: {', '.join(f'{count} {name}' for name, count in Counter(s.name for s in states).items())}; "
        f"machines replicating at the end: {replicating} of {ready}"
    )
    peak = stats["peak_concurrent_initial_replications"]
    print(
        f"  peak concurrent initial replications (the emulator's count): {peak} (limit 100); throttled requests: "
        f"{stats['throttled']}"
    )
    print("  peak resident memory, MB (issue #12's P5: at most 1,024 a process):")
    flow_runs = {k: v for k, v in peaks.items() if k.startswith("flow run")}
    for name in ["Prefect server", *workers]:
        print(f"    {name:40s} {peaks.get(name, 0.0):7.0f}")
    if flow_runs:
        values = sorted(flow_runs.values())
        print(
            f"    {'flow-run processes (' + str(len(values)) + ')':40s} {values[-1]:7.0f} at most, "
            f"median {statistics.median(values):.0f}"
        )


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
