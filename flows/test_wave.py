"""`test_wave`: test-migrate every machine of a wave into the isolated test network, verify the test
VMs, and publish the test report that sign-off is based on."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from flows.parameters import PlanName, PollInterval, WaveName
from blocks.plan import WavePlanBlock
from tasks.discovery import resolve_infrastructure
from tasks.test_migration import MigrationTestReport, run_test_migration

PARALLEL_TESTS = 20


@flow(name="test-wave", flow_run_name="test-{plan_name}-{wave}", task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_TESTS))
def test_wave(plan_name: PlanName, wave: WaveName, poll_interval: PollInterval = 60.0) -> list[MigrationTestReport]:
    """Test-migrate the wave's machines (those whose plan waives the test are listed, not tested).

    Args:
        plan_name: The plan (a wavelift Wave Plan block).
        wave: The wave to test.
        poll_interval: Seconds between vault reads while a test started earlier is awaited.
    """
    plan = WavePlanBlock.load(plan_name).plan
    selected = plan.wave(wave)
    infra = resolve_infrastructure(plan.target_block)
    clean_up = selected.cleanup_test == "immediately"
    futures = [run_test_migration.submit(plan.target_block, infra, m, clean_up, poll_interval) for m in selected.machines if not m.test_waived]
    reports = [f.result() for f in futures]
    waived = [m for m in selected.machines if m.test_waived]
    create_table_artifact(
        key=f"test-report-{plan_name}-{wave}",
        table=[{"machine": r.machine, "result": "passed" if r.passed else "FAILED", "detail": r.detail, "test_vm": r.vm.name if r.vm else "",
                "test_ip": r.vm.private_ip if r.vm else "", "tested_at": r.tested_at or "", "cleaned_up": r.cleaned_up} for r in reports]
        + [{"machine": m.display_name, "result": "waived", "detail": f"waived by {m.test_waived_by}: {m.test_waiver_reason}", "test_vm": "", "test_ip": "", "tested_at": "", "cleaned_up": False}
           for m in waived],
        description=f"Test migration of {plan_name}/{wave}: {sum(r.passed for r in reports)} passed, {sum(not r.passed for r in reports)} failed, {len(waived)} waived.",
    )
    return reports
