"""Benchmark of plan files at scale (issue P5): a 5,000-machine estate's assessment export and
migrate-at-scale CSV, as `wavelift emulator --machines 5000` writes them.

Prints, each in real seconds on this machine:
- `wavelift check-plan-file` on the workbook and on the CSV (a fresh process each, as an operator runs it);
- the `import-plan` flow from each file (discovery of 5,000 machines, parse, plan, save the block);
- loading the saved plan as every flow does (`WavePlanBlock.load(...).plan`, then one wave's batches);
- this process's peak memory.
It asserts nothing.

    .venv/bin/python bench/plan_files.py [MACHINES]        (default: 5000)
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
T = TypeVar("T")
WAVELIFT = str(Path(sys.executable).with_name("wavelift"))


def _timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _check(path: str) -> float:
    seconds, done = _timed(lambda: subprocess.run([WAVELIFT, "check-plan-file", path], capture_output=True, text=True))
    if done.returncode != 0:
        raise RuntimeError(f"check-plan-file {path} failed: {done.stderr}")
    print(f"  check-plan-file {Path(path).name:<28} {seconds:6.2f} s   ({done.stdout.strip()})")
    return seconds


def main(machines: int) -> None:
    from wavelift.blocks.azure import AzureMigrationTarget
    from wavelift.blocks.plan import WavePlanBlock
    from wavelift.deployments.local_prefect import postgres_prefect
    from wavelift.flows.plan import PlanImport, import_plan
    from wavelift.tasks.planning import PlanSettings

    state_dir = Path(tempfile.mkdtemp(prefix=f"wavelift-bench-plan-{machines}-"))
    emulator = subprocess.Popen(
        [WAVELIFT, "emulator", "--machines", str(machines), "--state-dir", str(state_dir)], stderr=subprocess.DEVNULL
    )
    try:
        while not (state_dir / "connection.json").exists():
            time.sleep(0.1)
        connection = json.loads((state_dir / "connection.json").read_text())
        print(f"{machines} machines")
        _check(connection["assessment_workbook"])
        _check(connection["migrate_csv"])
        with postgres_prefect():
            AzureMigrationTarget.from_emulator(state_dir / "connection.json").save("bench-plan", overwrite=True)
            for source, path in [("assessment", connection["assessment_workbook"]), ("csv", connection["migrate_csv"])]:
                settings = PlanSettings(plan_name=f"bench-{source}", target_block="bench-plan")
                seconds, plan = _timed(
                    lambda source=source, path=path, settings=settings: import_plan(
                        PlanImport(source=source, path=path, overwrite=True), settings
                    )
                )
                waves = len(plan.waves)
                count = sum(len(w.machines) for w in plan.waves)
                print(f"  import-plan from the {source:<10} {seconds:6.2f} s   ({count} machines in {waves} waves)")
            seconds, plan = _timed(lambda: WavePlanBlock.load("bench-assessment").plan)
            first = plan.waves[0]
            batch_seconds, batches = _timed(lambda: plan.wave(first.name).batches())
            print(
                f"  a flow loads the plan              {seconds + batch_seconds:6.2f} s   "
                f"(block {seconds:.2f} s, {first.name}'s {len(batches)} batches {batch_seconds:.3f} s)"
            )
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=60)
    print(f"  peak memory of this process        {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:6.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
