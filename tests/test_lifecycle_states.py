"""Where a machine stands, from the migration item and the Azure VM together: every state of the pinned
SDK's enums maps to a stage, "migrated" is more than `MigrationSucceeded`, and a completed migration (its
item gone) is still a migration — never a machine to replicate again."""

from __future__ import annotations

from datetime import UTC

import pytest
from azure.mgmt.recoveryservicessiterecovery import models as asr

from wavelift.tasks.lifecycle import MachineState, Stage, has_passed_test, is_seeded, observe, seeding_over
from wavelift.tasks.plan_models import MachinePlan, PlannedDisk
from wavelift.tasks.vault_status import ItemStatus

SITE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OffAzure/VMwareSites/site/machines"


def _item(state: str, test: str = "None", last_test: str | None = None) -> ItemStatus:
    return ItemStatus(
        name="item-1",
        id="id",
        migration_state=state,
        test_state=test,
        allowed_operations=[],
        last_test_status=last_test,
    )


@pytest.mark.parametrize("state", [s.value for s in asr.MigrationState])
def test_every_migration_state_of_the_sdk_has_a_stage(state: str) -> None:
    stage = MachineState(machine="web-01", item=_item(state), vm_exists=False).stage
    expected = {
        "None": Stage.REPLICATING,
        "EnableMigrationInProgress": Stage.REPLICATING,
        "InitialSeedingInProgress": Stage.REPLICATING,
        "EnableMigrationFailed": Stage.FAILED,
        "InitialSeedingFailed": Stage.FAILED,
        "DisableMigrationInProgress": Stage.FAILED,
        "DisableMigrationFailed": Stage.FAILED,
        "MigrationSucceeded": Stage.MIGRATED,
        "MigrationCompletedWithInformation": Stage.MIGRATED,
        "MigrationPartiallySucceeded": Stage.MIGRATED,
    }.get(state, Stage.SEEDED)
    assert stage == expected
    assert is_seeded(_item(state)) == (expected in (Stage.SEEDED, Stage.MIGRATED))
    assert seeding_over(_item(state)) == (
        state not in ("None", "EnableMigrationInProgress", "InitialSeedingInProgress")
    )


@pytest.mark.parametrize("test", [s.value for s in asr.TestMigrationState])
def test_a_test_passes_only_when_azure_says_it_succeeded(test: str) -> None:
    passed = test in ("TestMigrationSucceeded", "TestMigrationCompletedWithInformation")
    assert has_passed_test(_item("Replicating", test)) == passed
    assert MachineState(machine="web-01", item=_item("Replicating", test), vm_exists=False).stage == (
        Stage.TESTED if passed else Stage.SEEDED
    )
    assert has_passed_test(_item("Replicating", "None", "Succeeded")) and not has_passed_test(
        _item("Replicating", "None", "Failed")
    )
    assert not has_passed_test(None)


def test_a_completed_migration_is_read_from_the_azure_vm() -> None:
    machine = MachinePlan(
        source_name="item-1",
        machine_id=f"{SITE}/item-1",
        display_name="web-01",
        os_type="Linux",
        target_vm_name="Web-VM",
        target_vm_size="Standard_B2s",
        disks=[PlannedDisk(uuid="d", size_gb=1, is_os=True)],
    )
    completed = observe([machine], {}, {"web-vm": {}})["item-1"]
    assert completed.stage == Stage.COMPLETED and completed.migrated
    planned = observe([machine], {}, {"other-vm": {}})["item-1"]
    assert planned.stage == Stage.PLANNED and not planned.migrated
    assert observe([machine], {"item-1": _item("MigrationCompletedWithInformation")}, {"web-vm": {}})["item-1"].migrated


def test_the_board_says_what_each_machine_waits_for() -> None:
    from datetime import datetime, time

    from wavelift.blocks.signoff import SignOff, SignOffLedger
    from wavelift.tasks.board import board_rows
    from wavelift.tasks.plan_models import MaintenanceWindow, Wave

    def plan(n: int, **fields: object) -> MachinePlan:
        return MachinePlan(
            source_name=f"item-{n}",
            machine_id=f"{SITE}/item-{n}",
            display_name=f"web-{n}",
            os_type="Linux",
            target_vm_name=f"vm-{n}",
            target_vm_size="Standard_B2s",
            disks=[PlannedDisk(uuid="d", size_gb=100 - n, is_os=True)],
            **fields,
        )

    tested = ItemStatus(
        name="item-3",
        id="id",
        migration_state="Replicating",
        test_state="None",
        allowed_operations=[],
        last_test_status="Succeeded",
        last_test_time="2026-12-01T10:00:00+00:00",
    )
    machines = [plan(1), plan(2), plan(3), plan(4), plan(5, test_waiver_reason="vendor-tested", test_waived_by="ivy")]
    wave = Wave(
        name="wave-1",
        window=MaintenanceWindow(timezone="UTC", days=["Sat"], start=time(22), end=time(4)),
        machines=machines,
    )
    states = {
        "item-1": MachineState(machine="web-1", item=None, vm_exists=False),
        "item-2": MachineState(
            machine="web-2",
            item=_item("InitialSeedingInProgress").model_copy(update={"seeding_percent": 42}),
            vm_exists=False,
        ),
        "item-3": MachineState(machine="web-3", item=tested, vm_exists=False),
        "item-4": MachineState(machine="web-4", item=None, vm_exists=True),
        "item-5": MachineState(machine="web-5", item=_item("Replicating"), vm_exists=False),
    }
    ledger = SignOffLedger(
        records=[
            SignOff(
                machine="web-3",
                item="item-3",
                decision="approved",
                approver="ann",
                comment="ok",
                at=datetime(2026, 12, 1, tzinfo=UTC),
                tested_at=tested.last_test_time,
            )
        ]
    )
    rows = {
        r.machine: r
        for r in board_rows(wave, states, ledger, {"web-2": "slow disk"}, datetime(2026, 12, 2, 12, tzinfo=UTC))
    }
    assert (rows["web-1"].stage, rows["web-1"].next_step) == ("planned", "replicate")
    assert (rows["web-2"].waiting_for, rows["web-2"].last_error) == ("seeding 42%", "slow disk")
    assert (rows["web-3"].stage, rows["web-3"].next_step, rows["web-3"].since) == (
        "tested",
        "cutover",
        tested.last_test_time,
    )
    assert rows["web-3"].waiting_for == "the window, closed until 22:00 UTC (Sat 2026-12-05)"
    assert (rows["web-4"].stage, rows["web-4"].waiting_for) == ("completed", "migration completed")
    assert rows["web-5"].next_step == "cutover (test waived)" and [r.batch for r in rows.values()] == [1, 1, 1, 1, 1]
