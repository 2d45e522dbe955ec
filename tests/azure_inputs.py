"""Request bodies built with the SDK's own models, as a caller of the real API would write them."""

from __future__ import annotations

from typing import Any

from azure.mgmt.recoveryservicessiterecovery import models as m

from wavelift.tasks.arm import list_json


def discovered(emu: Any) -> list[dict]:
    """The emulator's discovered machines, read through the ARM pipeline."""
    c = emu.connection
    rg_id = f"/subscriptions/{c['subscription_id']}/resourceGroups/{c['resource_group']}"
    path = f"{rg_id}/providers/Microsoft.OffAzure/VMwareSites/{c['site']}/machines"
    return list(list_json(emu.target.site_recovery_client(), path, "2020-01-01"))


def build_enable_input(
    c: dict, machine: dict, target_vm_name: str | None = None, **overrides: Any
) -> m.EnableMigrationInput:
    disks = [
        m.VMwareCbtDiskInput(
            disk_id=d["uuid"],
            is_os_disk="true" if i == 0 else "false",
            log_storage_account_id=c["log_storage_account_id"],
            log_storage_account_sas_secret_name="migratelsa-cacheSas",
            disk_type="StandardSSD_LRS",
        )
        for i, d in enumerate(machine["properties"]["disks"])
    ]
    details: dict[str, Any] = dict(
        vmware_machine_id=machine["id"],
        disks_to_include=disks,
        data_mover_run_as_account_id=c["run_as_account_id"],
        snapshot_run_as_account_id=c["run_as_account_id"],
        target_resource_group_id=f"/subscriptions/{c['subscription_id']}/resourceGroups/{c['target_resource_group']}",
        target_network_id=c["target_network_id"],
        target_subnet_name=c["target_subnet"],
        test_network_id=c["test_network_id"],
        test_subnet_name=c["test_subnet"],
        target_vm_name=target_vm_name or machine["properties"]["displayName"],
        target_vm_size="Standard_D2s_v3",
        license_type="NoLicenseType",
    )
    details.update(overrides)
    return m.EnableMigrationInput(
        properties=m.EnableMigrationInputProperties(
            policy_id=c["policy_id"], provider_specific_details=m.VMwareCbtEnableMigrationInput(**details)
        )
    )


def build_test_migrate_input(network_id: str, recovery_point_id: str) -> m.TestMigrateInput:
    return m.TestMigrateInput(
        properties=m.TestMigrateInputProperties(
            provider_specific_details=m.VMwareCbtTestMigrateInput(
                recovery_point_id=recovery_point_id, network_id=network_id
            )
        )
    )


def build_migrate_input(perform_shutdown: str = "true") -> m.MigrateInput:
    return m.MigrateInput(
        properties=m.MigrateInputProperties(
            provider_specific_details=m.VMwareCbtMigrateInput(perform_shutdown=perform_shutdown)
        )
    )


def build_cleanup_input(comments: str = "test passed") -> m.TestMigrateCleanupInput:
    return m.TestMigrateCleanupInput(properties=m.TestMigrateCleanupInputProperties(comments=comments))
