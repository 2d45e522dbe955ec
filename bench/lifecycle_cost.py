"""Benchmark of what one machine costs, phase by phase, across its whole lifecycle (issue #12's P3).

For each N it starts `wavelift emulator` (a separate process, so this process's CPU is the flows') on the
flat estate, a Prefect server on a fresh PostgreSQL database, saves the emulator's blocks and a plan whose
window is open, then runs the flows an operator would, one after the other, each in this process:
replicate-wave; migrate-wave up to the test and its sign-off (pre-approved, as a rehearsal); migrate-wave
with the cutover (and smoke test); harden-wave; cleanup-wave (executed, no grace period). For each phase it
prints, per ready machine: the flow process's CPU, how fast the machine was meanwhile (`SpeedProbe`), the
Prefect server's CPU (its process and children), the emulator's CPU, what Prefect's database grew by, the
events, task runs and log lines it gained, the ARM requests the phase made, and its wall time; then the whole
lifecycle's totals, and the peak memory of the flow process and of the Prefect server. Each phase's run
observes the machines first (what a re-run after a crash does too), so its figures include that. It asserts
nothing.

    cd bench && ../.venv/bin/python lifecycle_cost.py [N ...] 2>/dev/null    (default: 200 1000; stderr has the logs)
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # what a deployment logs to the run history
from replication import SEED, alone_seconds, saved_plan  # noqa: E402 - the same estate and plan as bench/replication.py

TARGET_MEDIAN_REAL_SECONDS = 10.0
POLL_EMULATED_SECONDS = 300.0
DATABASE = "wavelift_bench_lifecycle"
APPROVER = "bench/lifecycle_cost.py (rehearsal)"
TICKS = os.sysconf("SC_CLK_TCK")
PROBE_SECONDS = 1.0
PROBE_ROUNDS = 10  # about 10 ms of CPU a sample


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its waited-for children, plus those of its live descendants (Linux /proc)."""
    from wavelift.deployments.local_prefect import children

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    return own + sum(cpu_seconds(child) for child in children(pid))


async def _query(sql: str) -> list[dict]:
    import asyncpg  # Prefect's own PostgreSQL driver

    connection = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database=DATABASE)
    try:
        return [dict(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def _database_figures() -> dict[str, float]:
    (row,) = await _query(
        "SELECT pg_database_size(current_database()) AS bytes, (SELECT count(*) FROM events) AS events, "
        "(SELECT count(*) FROM task_run) AS task_runs, (SELECT count(*) FROM log) AS logs"
    )
    return {key: float(value) for key, value in row.items()}


def busiest(ready: int) -> tuple[str, str]:
    """The kinds of event the lifecycle stored most, and the largest tables, per machine."""
    events = asyncio.run(_query("SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC LIMIT 8"))
    tables = asyncio.run(
        _query(
            "SELECT relname AS name, pg_total_relation_size(relid) AS n FROM pg_catalog.pg_statio_user_tables "
            "ORDER BY n DESC LIMIT 8"
        )
    )
    return (
        ", ".join(f"{row['event']} {row['n'] / ready:.1f}" for row in events),
        ", ".join(f"{row['name']} {row['n'] / ready / 1024:.1f}" for row in tables),
    )


def database_figures() -> dict[str, float]:
    """Prefect's database now, once the server's event persister has written what it was sent (its count
    stops moving)."""
    figures = asyncio.run(_database_figures())
    for _ in range(30):
        time.sleep(2)
        settled = asyncio.run(_database_figures())
        if settled["events"] == figures["events"]:
            return settled
        figures = settled
    return figures


def peak_rss_mb(pid: int) -> float:
    """A live process's peak resident memory (Linux /proc: VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Meters:
    """What the bench reads before and after a phase."""

    server_pid: int
    emulator_pid: int
    requests: Callable[[], float]

    def read(self) -> dict[str, float]:
        return {
            "flow_cpu": time.process_time(),
            "server_cpu": cpu_seconds(self.server_pid),
            "emulator_cpu": cpu_seconds(self.emulator_pid),
            "requests": self.requests(),
            "wall": time.monotonic(),
            **database_figures(),
        }


def fixed_workload_ms(rounds: int) -> float:
    """CPU milliseconds of the same work in every run (parsing JSON and validating it with pydantic, what most of
    the flows' time in the SDKs is), the speed probe's sample. Run once before the phases, as this bench did until
    2026-12-06, it did not tell runs apart (253–294 ms while hardening's CPU moved 55–74 ms a machine over seven
    runs): the machine's speed moves within the run, so the probe samples it throughout."""
    from pydantic import BaseModel

    class Item(BaseModel):
        id: str
        name: str
        properties: dict

    disks = [{"id": f"disk-{d}", "sizeGB": 100 * d} for d in range(4)]
    page = json.dumps(
        {
            "value": [
                {"id": f"/items/{i}", "name": f"m{i}", "properties": {"progress": i, "disks": disks}}
                for i in range(200)
            ]
        }
    )
    started = time.thread_time()  # this thread's: the process's other threads may still be flushing logs and events
    for _ in range(rounds):
        [Item.model_validate(v) for v in json.loads(page)["value"]]
    return (time.thread_time() - started) * 1000


def probe_forever() -> None:
    """The speed probe's process: a small sample of the fixed workload every `PROBE_SECONDS`, a line each with the
    monotonic time it ended (the same clock in every process) and its CPU milliseconds."""
    while True:
        ms = fixed_workload_ms(PROBE_ROUNDS)
        print(f"{time.monotonic():.3f} {ms:.3f}", flush=True)
        time.sleep(PROBE_SECONDS)


class SpeedProbe:
    """How fast this machine was while each phase ran, measured beside it: a process of its own running the same
    small workload every second (1–2 % of a core). This 2-core VM's speed moves under the bench: on an idle machine,
    two probes' 5-second means of the same work went from 6.9 to 10.9 ms of CPU within half a minute, alike;
    beside the bench's servers the sample mostly took 15–19 ms where it took 9–10 alone; and on 2026-12-06 the
    phases took twice the CPU in one session as in the one before, the Prefect server's too, for the same work.
    Each phase's CPU is printed beside the probe's median, so runs are compared where it is alike; it is not a
    divisor, since how closely the flows' CPU follows it is not known."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._process = subprocess.Popen([sys.executable, __file__, "--probe"], stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            at, ms = line.split()
            self.samples.append((float(at), float(ms)))

    def median_ms(self, start: float, end: float) -> float:
        """The probe's median CPU milliseconds between two monotonic times (NaN without a sample)."""
        inside = [ms for at, ms in list(self.samples) if start <= at <= end]
        return statistics.median(inside) if inside else float("nan")

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def phases(plan: str, blocks: str, poll: float) -> dict[str, Callable[[], object]]:
    """The flows of the lifecycle, in order, as an operator runs them."""
    from wavelift.flows.cleanup import CleanupRequest, cleanup_wave
    from wavelift.flows.harden import harden_wave
    from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave
    from wavelift.flows.replicate import replicate_wave

    def wave(**kwargs: object) -> object:
        return migrate_wave(MigrateWaveRequest(plan_name=plan, wave="wave-1", poll_interval=poll, **kwargs))

    return {
        "replicate": lambda: replicate_wave(plan, "wave-1", poll_interval=poll),
        "test + sign-off": lambda: wave(pre_approved_by=APPROVER, cut_over=False),
        "cutover + smoke test": lambda: wave(cut_over=True),
        "harden": lambda: harden_wave(plan, "wave-1", blocks),
        "clean up": lambda: cleanup_wave(
            CleanupRequest(plan_name=plan, wave="wave-1", policy_block=blocks, execute=True)
        ),
    }


def start_emulator(machines: int, speed: float, state_dir: Path) -> subprocess.Popen:
    """`wavelift emulator` on the flat estate, in a process of its own, writing its files to `state_dir`."""
    args = ["emulator", "--machines", str(machines), "--seed", str(SEED), "--speed", f"{speed:.3f}"]
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("wavelift")), *args, "--state-dir", str(state_dir), "--disks", "flat"],
        stderr=subprocess.DEVNULL,
    )


def run(machines: int) -> tuple[int, dict[str, dict[str, float]]]:
    """One lifecycle of N discovered machines; returns the ready machines and each phase's figures per machine."""
    from wavelift.deployments.emulator_blocks import save_emulator_blocks
    from wavelift.deployments.local_prefect import postgres_prefect
    from wavelift.emulator.admin import EmulatorAdmin
    from wavelift.tasks.plan_models import MaintenanceWindow

    speed = statistics.median(alone_seconds(machines, "flat").values()) / TARGET_MEDIAN_REAL_SECONDS
    state_dir = Path(tempfile.mkdtemp(prefix=f"wavelift-lifecycle-{machines}-"))
    opened = datetime.now(UTC) - timedelta(hours=1)
    window = MaintenanceWindow(timezone="UTC", start=clock(opened.hour), end=clock((opened.hour + 8) % 24))
    emulator = start_emulator(machines, speed, state_dir)
    probe = SpeedProbe()
    requests: dict[str, str] = {}
    try:
        with postgres_prefect(database=DATABASE) as server:
            while not (state_dir / "connection.json").exists():
                time.sleep(0.1)
            admin = EmulatorAdmin(json.loads((state_dir / "connection.json").read_text()))
            save_emulator_blocks(state_dir / "connection.json", "bench", docs_folder=state_dir / "docs", grace_hours=0)
            plan, _ = saved_plan(state_dir, "bench", window)
            ready = len(plan.waves[0].machines)
            meters = Meters(server.processes[0].pid, emulator.pid, lambda: float(admin.stats()["requests_total"]))
            figures, before, kinds = {}, meters.read(), Counter(admin.stats()["requests"])
            for name, phase in phases(plan.name, "bench", POLL_EMULATED_SECONDS / speed).items():
                phase()
                after = meters.read()
                figures[name] = {key: (after[key] - before[key]) / ready for key in after}
                figures[name]["wall"] *= ready  # the phase's wall time, not per machine
                figures[name]["probe"] = probe.median_ms(before["wall"], after["wall"])
                before, kinds_before, kinds = after, kinds, Counter(admin.stats()["requests"])
                requests[name] = ", ".join(f"{k} {n / ready:.1f}" for k, n in (kinds - kinds_before).most_common(12))
            done = admin.state()
            events, tables = busiest(ready)
            server_mb = peak_rss_mb(server.processes[0].pid)
    finally:
        probe.close()
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=60)
    cleaned = sum(1 for m in done["machines"] if not m["migration_item"] and not m["backup_jobs"])
    print(f"\nN = {ready} ready machines (of {machines}), emulator x{speed:.0f}; cleaned up at the end: {cleaned}")
    flow_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory: flow process {flow_mb:.0f} MB, Prefect server {server_mb:.0f} MB")
    print(
        "  this machine's speed: 'probe ms' is the CPU the speed probe's fixed sample took during the phase (median); "
        "compare runs' CPU only where it is alike"
    )
    print(f"  events per machine by kind: {events}")
    print(f"  database KB per machine by table (indexes included): {tables}")
    for name, busiest_kinds in requests.items():
        print(f"  ARM requests per machine, {name}: {busiest_kinds}")
    return ready, figures


COLUMNS = (  # key, heading, scale, format
    ("flow_cpu", "flow CPU ms", 1000, "{:>12.0f}"),
    ("probe", "probe ms", 1, "{:>9.1f}"),
    ("server_cpu", "server CPU ms", 1000, "{:>14.0f}"),
    ("emulator_cpu", "emulator ms", 1000, "{:>12.0f}"),
    ("bytes", "DB KB", 1 / 1024, "{:>7.1f}"),
    ("events", "events", 1, "{:>7.1f}"),
    ("task_runs", "task runs", 1, "{:>10.1f}"),
    ("logs", "logs", 1, "{:>6.1f}"),
    ("requests", "ARM req", 1, "{:>8.1f}"),
    ("wall", "wall s", 1, "{:>7.0f}"),
)


def report(figures: dict[str, dict[str, float]]) -> None:
    """The table: per ready machine, each phase and the whole lifecycle (wall: the phase's seconds)."""
    print(
        f"  {'phase (per machine)':<22}" + "".join(f"{heading:>{len(fmt.format(0))}}" for _, heading, _, fmt in COLUMNS)
    )
    total = {key: sum(row[key] for row in figures.values()) for key, *_ in COLUMNS}
    total["probe"] = sum(row["probe"] * row["wall"] for row in figures.values()) / total["wall"]  # by wall time
    for name, row in [*figures.items(), ("whole lifecycle", total)]:
        print(f"  {name:<22}" + "".join(fmt.format(row[key] * scale) for key, _, scale, fmt in COLUMNS))


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        probe_forever()
    sizes = [int(a) for a in sys.argv[1:]] or [200, 1000]
    if len(sizes) == 1:
        report(run(sizes[0])[1])
    else:
        # Each N in a process of its own: Prefect's concurrency-slot service keeps the API client of the first server
        # it met (`prefect.concurrency.services`), so a second N's sign-off ledger lock went to the first N's stopped
        # server and failed; and the peak memory printed is then each N's own.
        for n in sizes:
            subprocess.run([sys.executable, __file__, str(n)], check=True)
