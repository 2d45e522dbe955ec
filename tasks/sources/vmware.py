"""VMware agentless migration (Site Recovery's `VMwareCbt`), with the bodies `New-AzMigrateServerReplication`,
`Start-AzMigrateTestMigration` and `Start-AzMigrateServerMigration` send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.tasks.discovery import ReplicationInfrastructure
from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.sources import register

LOG_STORAGE_SAS_SUFFIX = "-cacheSas"


@dataclass(frozen=True)
class VMwareCbtDetails:
    seeding_percent: int | None
    last_recovery_point_id: str | None
    primary_nic_id: str | None
    resync_required: bool


class VMwareAgentless:
    """The VMware agentless adapter."""

    source_type = "vmware"
    instance_type = "VMwareCbt"

    def enable_input(self, target: AzureMigrationTarget, infra: ReplicationInfrastructure, machine: MachinePlan) -> Any:
        from azure.mgmt.recoveryservicessiterecovery import models as m

        storage_name = infra.log_storage_account_id.rsplit("/", 1)[1]
        disks = [
            m.VMwareCbtDiskInput(
                disk_id=d.uuid,
                is_os_disk="true" if d.is_os else "false",
                disk_type=d.disk_type,
                log_storage_account_id=infra.log_storage_account_id,
                log_storage_account_sas_secret_name=f"{storage_name}{LOG_STORAGE_SAS_SUFFIX}",
            )
            for d in machine.disks
        ]
        details = m.VMwareCbtEnableMigrationInput(
            vmware_machine_id=machine.machine_id,
            disks_to_include=disks,
            data_mover_run_as_account_id=infra.run_as_for(machine.vcenter_id),
            snapshot_run_as_account_id=infra.run_as_for(machine.vcenter_id),
            target_resource_group_id=target.target_resource_group_id,
            target_network_id=target.target_network_id,
            target_subnet_name=machine.target_subnet or target.target_subnet,
            test_network_id=target.test_network_id,
            test_subnet_name=machine.test_subnet or target.test_subnet,
            target_vm_name=machine.target_vm_name,
            target_vm_size=machine.target_vm_size,
            license_type=machine.license_type,
            sql_server_license_type=machine.sql_server_license_type,
            target_vm_tags=machine.tags or None,
            perform_auto_resync="true",
            target_boot_diagnostics_storage_account_id=infra.log_storage_account_id,  # Az.Migrate's default
        )
        return m.EnableMigrationInput(
            properties=m.EnableMigrationInputProperties(policy_id=infra.policy_id, provider_specific_details=details)
        )

    def test_input(
        self,
        target: AzureMigrationTarget,
        machine: MachinePlan,
        recovery_point_id: str | None,
        primary_nic_id: str | None,
    ) -> Any:
        from azure.mgmt.recoveryservicessiterecovery import models as m

        nic = m.VMwareCbtNicInput(
            nic_id=primary_nic_id, is_primary_nic="true", test_subnet_name=machine.test_subnet or target.test_subnet
        )
        return m.TestMigrateInput(
            properties=m.TestMigrateInputProperties(
                provider_specific_details=m.VMwareCbtTestMigrateInput(
                    recovery_point_id=recovery_point_id,
                    network_id=target.test_network_id,
                    vm_nics=[nic] if primary_nic_id else None,
                )
            )
        )

    def migrate_input(self, machine: MachinePlan) -> Any:
        from azure.mgmt.recoveryservicessiterecovery import models as m

        shutdown = "true" if machine.perform_shutdown else "false"  # Site Recovery's flags are strings
        return m.MigrateInput(
            properties=m.MigrateInputProperties(
                provider_specific_details=m.VMwareCbtMigrateInput(perform_shutdown=shutdown)
            )
        )

    def resync_input(self) -> Any:
        from azure.mgmt.recoveryservicessiterecovery import models as m

        # skipCbtReset "true" keeps VMware's changed-block tracking: the resync compares disks, it does not re-seed them
        return m.ResyncInput(
            properties=m.ResyncInputProperties(provider_specific_details=m.VMwareCbtResyncInput(skip_cbt_reset="true"))
        )

    def details(self, provider_specific_details: Mapping[str, Any]) -> VMwareCbtDetails:
        d = provider_specific_details
        return VMwareCbtDetails(
            seeding_percent=d.get("initialSeedingProgressPercentage"),
            last_recovery_point_id=d.get("lastRecoveryPointId"),
            resync_required=str(d.get("resyncRequired", "false")).lower() == "true",
            primary_nic_id=next(
                (n.get("nicId") for n in d.get("vmNics") or [] if str(n.get("isPrimaryNic")).lower() == "true"), None
            ),
        )


register(VMwareAgentless())
