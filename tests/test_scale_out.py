"""Scale-out: a Prefect server on PostgreSQL (127.0.0.1:5432) with two process workers on one pool.
Two batches of one wave replicate at the same time on different workers, and the emulator never sees
more than 100 initial replications at once: the global limit holds across workers."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from tests.azure_inputs import discovered
from tests.test_lifecycle import _window
from wavelift.blocks.parameters import reference
from wavelift.blocks.plan import WavePlanBlock
from wavelift.deployments.definitions import WORK_POOL, NightlyCutover
from wavelift.deployments.local_prefect import LocalPrefect
from wavelift.deployments.local_prefect import postgres_prefect as postgres_prefect_server
from wavelift.deployments.setup import setup
from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.discovery import parse_machine
from wavelift.tasks.planning import PlanSettings, plan_from_assessment


@pytest.fixture
def postgres_prefect(tmp_path: Path) -> Iterator[LocalPrefect]:
    """A Prefect server on a fresh PostgreSQL database, dropped afterwards."""
    with postgres_prefect_server(tmp_path / "prefect", f"wavelift_scale_out_{os.getpid()}") as server:
        yield server


@pytest.mark.timeout(900)
def test_two_workers_share_a_wave_under_one_limit(start_emulator, postgres_prefect: LocalPrefect) -> None:
    emu = start_emulator(machines=240, seed=5, speed=320, retry_after=2)
    setup(NightlyCutover())
    emu.target.save("scale-target", overwrite=True)
    plan = plan_from_assessment(
        [parse_machine(m) for m in discovered(emu)],
        read_assessment(emu.connection["assessment_workbook"]),
        PlanSettings(plan_name="scale", target_block="scale-target", window=_window(True)),
    )
    WavePlanBlock.of(plan).save("scale", overwrite=True)
    batches = plan.waves[0].batches()
    assert len(batches) >= 2 and len(batches[0]) + len(batches[1]) > 100
    workers = ["worker-a", "worker-b"]
    for name in workers:
        postgres_prefect.start_worker(
            WORK_POOL, name, limit=1
        )  # one run each: two batch runs must land on different workers

    runs = [
        run_deployment(
            "replicate-wave/replicate-wave",
            parameters={
                "plan_name": reference(WavePlanBlock, "scale"),
                "wave": "wave-1",
                "poll_interval": 1.0,
                "batch": number,
            },
            timeout=0,
        )
        for number in range(1, len(batches) + 1)
    ]
    with get_client(sync_client=True) as client:
        while not all((state := client.read_flow_run(run.id).state) and state.is_final() for run in runs):
            time.sleep(2)
        finished = [client.read_flow_run(run.id) for run in runs]

    assert [r.state.type.value for r in finished] == ["COMPLETED"] * len(runs), [r.state.message for r in finished]
    first, second = finished[0], finished[1]
    assert first.start_time < second.end_time and second.start_time < first.end_time  # the two batch runs overlapped
    logs = {name: (postgres_prefect.log_dir / f"worker-{name}.log").read_text() for name in workers}
    assert all(any(str(r.id) in log for r in finished) for log in logs.values()), "each worker ran part of the wave"
    state = emu.admin.state()
    replicated = {
        i["properties"]["machineName"]
        for i in state["migration_items"]
        if i["properties"]["migrationState"] == "Replicating"
    }
    assert replicated == {m.display_name for m in plan.waves[0].machines}
    # two batch runs of 100 want ~200 slots at once and seeding takes ~10 s at x320 (long enough for two loaded
    # workers to enable a hundred machines; a peak of 77 was seen at x400): the limit is what stops them at 100
    assert 80 <= state["stats"]["peak_concurrent_initial_replications"] <= 100
