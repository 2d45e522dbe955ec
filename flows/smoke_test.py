"""`smoke_test_wave`: after cutover, is every migrated server's application listening in Azure?

Probes each migrated VM of the wave from the inside (Run Command, see `tasks.smoke_test`) and publishes one
table: a machine whose ports are closed fails the run's count, while the window is still open to fix it or
roll it back. Machines not migrated yet, or rolled back, are left out; it changes nothing, so it can run any
time again.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.blocks.parameters import PlanName
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.parameters import WaveName
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.lifecycle import observe, target_vms
from wavelift.tasks.outcomes import each_machine, finish
from wavelift.tasks.smoke_test import SmokeTest, smoke_test_machine
from wavelift.tasks.vault_status import VaultStatusBoard

PARALLEL_PROBES = 20


def publish_smoke_tests(plan_name: str, wave: str, tests: list[SmokeTest]) -> None:
    """The smoke test's table: one row per migrated machine probed."""
    create_table_artifact(
        key=f"smoke-test-{plan_name}-{wave}",
        table=[{"machine": t.machine, "ok": t.ok, "detail": t.detail} for t in tests],
        description=f"Smoke test of {plan_name}/{wave}: {sum(t.ok for t in tests)} of {len(tests)} migrated machines "
        "listening on every port.",
    )


@flow(
    name="smoke-test-wave",
    flow_run_name="smoke-test-{plan_name}-{wave}",
)
def smoke_test_wave(plan_name: PlanName, wave: WaveName) -> list[SmokeTest]:
    """Probe the application ports of the wave's migrated VMs from inside them.

    Args:
        plan_name: The plan (a wavelift Wave Plan block).
        wave: The wave whose migrated machines are probed.
    """
    plan = WavePlanBlock.load(plan_name).plan
    selected = plan.wave(wave)
    target = load_for_run(AzureMigrationTarget, plan.target_block)
    infra = resolve_infrastructure(plan.target_block)
    states = observe(
        selected.machines, VaultStatusBoard.for_vault(target, infra.vault_id, 0).refresh(), target_vms(target)
    )
    migrated = [m for m in selected.machines if states[m.source_name].migrated]
    tests = each_machine(
        migrated,
        lambda m: smoke_test_machine(plan.target_block, m),
        lambda m, error: SmokeTest(machine=m.display_name, open=[], closed=[], detail=error),
        PARALLEL_PROBES,
    )
    publish_smoke_tests(plan_name, wave, tests)
    failures = {t.machine: t.detail for t in tests if not t.ok}
    return finish(tests, f"smoke test of {plan_name}/{wave}", len(tests), failures)
