"""Roll back as a real action: after a cutover, the named machine's Azure VM is stopped and tagged and its
source server powered on again — a dry run first, never twice, only inside the window — and every later
run reads the machine as rolled back, even one that read it before the roll back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from azure.core.exceptions import ResourceNotFoundError
from prefect import flow, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from tests.conftest import Emulated, StartEmulator
from tests.test_harden import _policy
from tests.test_lifecycle import _events, _replicated_plan, _window
from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.onprem import HttpSourcePower
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.cutover import CutoverRequest, cutover
from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave
from wavelift.flows.rollback import RollbackRequest, rollback_cutover
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.journey import Goal, Journey, Trip
from wavelift.tasks.lifecycle import ROLLED_BACK_TAG, Stage, observe, target_vms
from wavelift.tasks.reconcile import Journeyed, drive
from wavelift.tasks.vault_status import VaultStatusBoard


def _untimed(actions: list[str]) -> list[str]:
    """The actions without the roll-back tag's minute (a dry run and the run after it may fall either side of one)."""
    return [re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", "<when>", action) for action in actions]


def _task_runs(flow_run_id: UUID) -> list[str]:
    """The names of a flow run's task runs."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return [r.name for r in runs]


def _rejection(emu: Emulated, plan: str, machine: str) -> RollbackRequest:
    """The application owner's roll back of one machine of the plan's wave (a dry run), with the site's power
    adapter saved as `<plan>-power`."""
    HttpSourcePower(url=f"{emu.connection['onprem_url']}/machines", ca_bundle=emu.connection["ca_cert"]).save(
        f"{plan}-power", overwrite=True
    )
    return RollbackRequest(
        plan_name=plan,
        wave="wave-1",
        machines=[machine],
        reason="application owner rejected the cutover",
        requested_by="olivia",
        source_power=f"wavelift-http-source-power/{plan}-power",
    )


def test_a_rejected_cutover_is_rolled_back_once(start_emulator: StartEmulator, prefect_server: None) -> None:
    emu: Emulated
    emu, machines = _replicated_plan(start_emulator, "rb-a", 3, seed=71)
    migrate_wave(MigrateWaveRequest(plan_name="rb-a", wave="wave-1", poll_interval=0.3, pre_approved_by="hank"))
    rejected, kept = machines[0], machines[1]
    request = _rejection(emu, "rb-a", rejected)
    history = emu.admin.history()

    [dry] = rollback_cutover(request)
    assert dry.outcome == "would-roll-back" and len(dry.actions) == 3 and emu.admin.history() == history
    assert dry.replication.startswith("kept (Migration")

    run = rollback_cutover(request.model_copy(update={"execute": True}), return_state=True)
    [done] = run.result()
    tasks = _task_runs(run.state_details.flow_run_id)  # the run's own reads; each machine's step in its threads
    assert tasks and all(t.startswith(("discover-machines-", "resolve-replication-infrastructure-")) for t in tasks)
    assert done.outcome == "rolled-back" and _untimed(done.actions) == _untimed(dry.actions)  # a minute may pass
    assert [e["machine"] for e in _events(emu, "source_powered_on")] == [rejected]
    vm = emu.target.compute_client().virtual_machines.get(emu.connection["target_resource_group"], rejected)
    assert vm.tags[ROLLED_BACK_TAG].endswith("by olivia: application owner rejected the cutover")
    view = (
        emu.target.compute_client()
        .virtual_machines.get(emu.connection["target_resource_group"], rejected, expand="instanceView")
        .instance_view
    )
    assert "PowerState/deallocated" in [s.code for s in view.statuses]

    [again] = rollback_cutover(request.model_copy(update={"execute": True}))
    assert again.outcome == "nothing-to-do" and len(_events(emu, "source_powered_on")) == 1

    plan = WavePlanBlock.load("rb-a").plan
    states = observe(plan.waves[0].machines, {}, target_vms(emu.target))
    stages = {s.machine: s.stage for s in states.values()}
    assert stages[rejected] == Stage.ROLLED_BACK and stages[kept] != Stage.ROLLED_BACK
    skipped = {r.machine: r for r in cutover(CutoverRequest(plan_name="rb-a"))}
    assert skipped[rejected].outcome == "skipped" and "rolled back" in skipped[rejected].detail

    stored = WavePlanBlock.load("rb-a")
    stored.waves[0].window = _window(False)
    stored.save("rb-a", overwrite=True)
    with pytest.raises(PermissionError, match="window"):
        rollback_cutover(request.model_copy(update={"machines": [kept], "execute": True}))
    with pytest.raises(LookupError, match="no machine"):
        rollback_cutover(request.model_copy(update={"machines": ["not-in-the-wave"]}))
    assert len(_events(emu, "source_powered_on")) == 1


def test_a_machine_rolled_back_after_the_run_read_it_is_left_alone_by_hardening_and_clean_up(
    start_emulator: StartEmulator, prefect_server: None
) -> None:
    """Hardening and clean-up are not preceded by a new read of a machine whose reading went stale while it waited
    for its lane: their own first reads decide, so a VM rolled back meanwhile keeps no NSG and no encryption and its
    replication stays, and the others are hardened without their migration items being read again."""
    emu, machines = _replicated_plan(start_emulator, "rb-b", 3, seed=72)
    migrate_wave(MigrateWaveRequest(plan_name="rb-b", wave="wave-1", poll_interval=0.3, pre_approved_by="hank"))
    _policy(emu).save("rb-b-policy", overwrite=True)
    plan = WavePlanBlock.load("rb-b").plan
    wave, infra = plan.waves[0], resolve_infrastructure.fn(plan.target_block)
    board = VaultStatusBoard.for_vault(emu.target, infra.vault_id, 0).refresh()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    read_then = {
        name: state.model_copy(update={"observed": an_hour_ago})
        for name, state in observe(wave.machines, board, target_vms(emu.target)).items()
    }
    assert {s.stage for s in read_then.values()} == {Stage.MIGRATED}
    rejected = machines[0]
    rollback_cutover(_rejection(emu, "rb-b", rejected).model_copy(update={"execute": True}))
    emu.admin.reset_stats()

    @flow
    def on_an_old_reading(journey: Journey) -> Journeyed:
        return drive(Trip(plan, wave, infra, 0.3, journey), wave.machines, read_then, {})

    journeyed = on_an_old_reading(
        Journey(goal=Goal.CLEANED_UP, only=frozenset({"harden"}), hardening_policy="rb-b-policy")
    )
    source = {m.display_name: m.source_name for m in wave.machines}
    assert sorted(p.machine for p in journeyed.reports("harden")) == sorted(machines[1:])
    assert all(p.done.ok for p in journeyed.reports("harden"))
    assert journeyed.states[source[rejected]].stage == Stage.ROLLED_BACK
    assert "rolled back" in journeyed.held[source[rejected]][1]
    rg = emu.connection["target_resource_group"]
    vm = emu.target.compute_client().virtual_machines.get(rg, rejected)
    nic = emu.target.network_client().network_interfaces.get(
        rg, vm.network_profile.network_interfaces[0].id.split("/")[-1]
    )
    assert nic.network_security_group is None
    with pytest.raises(ResourceNotFoundError):
        emu.target.compute_client().virtual_machine_extensions.get(rg, rejected, "AzureDiskEncryption")
    assert not [kind for kind in emu.admin.stats()["requests"] if "replicationMigrationItems" in kind]

    CleanupPolicy(hardening_policy="rb-b-policy", grace_period_hours=0).save("rb-b-cleanup", overwrite=True)
    cleaned = on_an_old_reading(
        Journey(goal=Goal.CLEANED_UP, only=frozenset({"clean-up"}), cleanup_policy="rb-b-cleanup", execute_cleanup=True)
    )
    assert rejected not in [p.machine for p in cleaned.reports("clean-up")]
    assert "rolled back" in cleaned.held[source[rejected]][1]
    assert cleaned.states[source[rejected]].stage == Stage.ROLLED_BACK
    assert source[rejected] in {i["name"] for i in emu.admin.state()["migration_items"]}
