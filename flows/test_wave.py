"""`test_wave`: test-migrate every machine of a wave into the isolated test network, verify the test
VMs, and publish the test report that sign-off is based on."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import PollInterval, WaveName
from wavelift.tasks.board import refresh_board
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.lifecycle import Stage, observe, target_vms
from wavelift.tasks.outcomes import each_machine, finish
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.test_migration import PARALLEL_TESTS, MigrationTestReport, run_test_migration
from wavelift.tasks.vault_status import VaultStatusBoard


def _not_testable(stage: Stage) -> str | None:
    """Why a machine is not test-migrated now (its test would find nothing to test), or None."""
    return {
        Stage.PLANNED: "not replicating yet: run replicate-wave first",
        Stage.COMPLETED: "migration completed earlier: nothing to test",
        Stage.FAILED: "replication failed or is being removed: see the vault",
    }.get(stage)


def publish_test_report(
    plan_name: str, wave: str, reports: list[MigrationTestReport], waived: list[MachinePlan]
) -> None:
    """The test report sign-off is based on: one row per machine tested, not tested, or waived."""
    create_table_artifact(
        key=f"test-report-{plan_name}-{wave}",
        table=[
            {
                "machine": r.machine,
                "result": "skipped" if r.skipped else "passed" if r.passed else "FAILED",
                "detail": r.detail,
                "test_vm": r.vm.name if r.vm else "",
                "test_ip": r.vm.private_ip if r.vm else "",
                "tested_at": r.tested_at or "",
                "cleaned_up": r.cleaned_up,
            }
            for r in reports
        ]
        + [
            {
                "machine": m.display_name,
                "result": "waived",
                "detail": f"waived by {m.test_waived_by}: {m.test_waiver_reason}",
                "test_vm": "",
                "test_ip": "",
                "tested_at": "",
                "cleaned_up": False,
            }
            for m in waived
        ],
        description=f"Test migration of {plan_name}/{wave}: {sum(r.passed for r in reports)} passed, "
        f"{sum(not r.passed and not r.skipped for r in reports)} failed, {sum(r.skipped for r in reports)} not "
        f"tested, {len(waived)} waived.",
    )


@flow(
    name="test-wave",
    flow_run_name="test-{plan_name}-{wave}",
)
def test_wave(
    plan_name: PlanName, wave: WaveName, poll_interval: PollInterval | None = None
) -> list[MigrationTestReport]:
    """Test-migrate the wave's machines (those whose plan waives the test are listed, not tested).

    Args:
        plan_name: The plan (a wavelift Wave Plan block).
        wave: The wave to test.
        poll_interval: Seconds between vault reads while a test started earlier is awaited; empty means the
            target block's.
    """
    plan = WavePlanBlock.load(plan_name).plan
    selected = plan.wave(wave)
    infra = resolve_infrastructure(plan.target_block)
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    poll_interval = poll_interval or target.poll_interval
    states = observe(
        selected.machines,
        VaultStatusBoard.for_vault(target, infra.vault_id, poll_interval).refresh(),
        target_vms(target),
    )
    clean_up = selected.cleanup_test == "immediately"
    waived = [m for m in selected.machines if m.test_waived]
    skipped = {
        m.source_name: why
        for m in selected.machines
        if not m.test_waived and (why := _not_testable(states[m.source_name].stage))
    }
    reports = each_machine(
        [m for m in selected.machines if not m.test_waived and m.source_name not in skipped],
        lambda m: run_test_migration(plan.target_block, infra, m, clean_up, poll_interval),
        lambda m, error: MigrationTestReport(
            machine=m.display_name, item=m.source_name, passed=False, detail=f"test migration failed: {error}"
        ),
        PARALLEL_TESTS,
    )
    reports += [
        MigrationTestReport(
            machine=m.display_name, item=m.source_name, passed=False, skipped=True, detail=skipped[m.source_name]
        )
        for m in selected.machines
        if m.source_name in skipped
    ]
    publish_test_report(plan_name, wave, reports, waived)
    failures = {r.machine: r.detail for r in reports if not r.passed and not r.skipped}
    refresh_board(plan.target_block, plan_name, selected, infra.vault_id, failures)
    return finish(reports, f"test migration of {plan_name}/{wave}", len(selected.machines), failures)
