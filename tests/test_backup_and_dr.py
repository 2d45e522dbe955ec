"""Azure Backup and Site Recovery A2A through the real SDK against the emulator."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.recoveryservices import models as vm_models
from azure.mgmt.recoveryservicesbackup import models as bm
from azure.mgmt.recoveryservicessiterecovery import models as sm
from azure.mgmt.resource.resources import models as rm
from azure.mgmt.storage import models as stm

from tests.conftest import Emulated
from tests.test_arm_behaviour import _raw
from tests.test_compute_network import _ade, _vm
from tests.test_spec_examples import BACKUP, SITE_RECOVERY, example_body, shape_differences
from wavelift.tasks.backup_discovery import VM_FILTER, ProtectableVms, protectable_vm
from wavelift.tasks.disk_encryption_keys import replicated_disk_keys


def _policy(days: int = 30) -> bm.ProtectionPolicyResource:
    return bm.ProtectionPolicyResource(
        properties=bm.AzureIaaSVMProtectionPolicy(
            time_zone="W. Europe Standard Time",
            schedule_policy=bm.SimpleSchedulePolicy(
                schedule_run_frequency="Daily", schedule_run_times=["2026-01-01T01:30:00Z"]
            ),
            retention_policy=bm.LongTermRetentionPolicy(
                daily_schedule=bm.DailyRetentionSchedule(
                    retention_times=["2026-01-01T01:30:00Z"],
                    retention_duration=bm.RetentionDuration(count=days, duration_type="Days"),
                )
            ),
        )
    )


def test_vm_backup_policy_discovery_protection_and_first_backup(emu: Emulated) -> None:
    rg, vault, target_rg = emu.rg, emu.vault, emu.connection["target_resource_group"]
    vm = _vm(emu, "erp-01", os_type="Windows")
    backup = emu.target.backup_client()
    for days in (6, 10000):  # Learn, "Support matrix for Azure VM backup": daily points are kept 7-9999 days
        with pytest.raises(HttpResponseError, match="BMSUserErrorInvalidPolicyInput"):
            backup.protection_policies.create_or_update(vault, rg, "daily-30d", _policy(days))
    answers = []
    accepted = backup.protection_policies.create_or_update(
        vault, rg, "daily-30d", _policy(), raw_response_hook=answers.append
    )
    assert accepted is None and answers[-1].http_response.status_code == 202, (
        "Azure may accept a policy with 202 (Microsoft's example), and the SDK then returns no policy"
    )
    with pytest.raises(ResourceNotFoundError):
        backup.protection_policies.get(vault, rg, "daily-30d")
    emu.admin.skip(60)
    policy = backup.protection_policies.get(vault, rg, "daily-30d")
    assert policy.name == "daily-30d"
    item = bm.ProtectedItemResource(
        properties=bm.AzureIaaSComputeVMProtectedItem(source_resource_id=vm.id, policy_id=policy.id)
    )
    name = f"iaasvmcontainerv2;{target_rg};erp-01".lower()
    container, item_name = f"iaasvmcontainer;{name}", f"vm;{name}"
    with pytest.raises(ResourceNotFoundError):  # the vault has not discovered the VM: no container to protect it in
        backup.protected_items.begin_create_or_update(vault, rg, "Azure", container, item_name, item).result()
    assert list(backup.backup_protectable_items.list(vault, rg, filter=VM_FILTER)) == []

    assert protectable_vm(emu.target, vault, vm.id) == name  # refreshContainers, its operation, the listing
    (listed,) = backup.backup_protectable_items.list(vault, rg, filter=VM_FILTER)
    assert (listed.properties["virtualMachineId"], listed.properties["protectionState"]) == (vm.id, "NotProtected")
    protected = backup.protected_items.begin_create_or_update(vault, rg, "Azure", container, item_name, item).result()
    assert protected.properties["protectionState"] == "IRPending"
    assert list(backup.backup_protectable_items.list(vault, rg, filter=VM_FILTER)) == []  # protected: not listed
    backup.backups.trigger(
        vault, rg, "Azure", container, item_name, bm.BackupRequestResource(properties=bm.IaasVMBackupRequest())
    )
    emu.admin.skip(3600)
    protected = backup.protected_items.get(vault, rg, "Azure", container, item_name)
    assert (protected.properties["protectionState"], protected.properties["lastBackupStatus"]) == (
        "Protected",
        "Completed",
    )
    assert protected.properties["policyId"].lower() == policy.id.lower()
    assert [i.name for i in backup.backup_protected_items.list(vault, rg)] == [item_name]
    assert backup.protection_policies.get(vault, rg, "daily-30d").properties.protected_items_count == 1
    for example, resource in (
        ("ProtectionPolicies_Get", policy.id),
        ("Compute_ProtectedItem_Get", protected.id),
    ):  # as Microsoft's examples answer (2025-02-01; the SDK sends 2026-10-01)
        answer = _raw(emu, "GET", resource, params={"api-version": "2026-10-01"})
        assert shape_differences(example_body(f"{BACKUP}/AzureIaasVm", example), answer.json()) == [], example


def test_a_vault_discovers_only_the_vms_of_its_region(emu: Emulated) -> None:
    vm = _vm(emu, "erp-02")  # in westeurope
    emu.target.recovery_services_client().vaults.begin_create_or_update(
        emu.rg, "vault-ne", vm_models.Vault(location="northeurope", sku=vm_models.Sku(name="RS0", tier="Standard"))
    ).result()
    assert protectable_vm(emu.target, "vault-ne", vm.id) is None
    assert protectable_vm(emu.target, emu.vault, vm.id) is not None


def test_a_run_lists_the_protectable_vms_once_for_all_its_vms(emu: Emulated) -> None:
    """Azure CLI lists the vault's protectable items for each VM it protects; a run hardening a wave lists them
    for its first VM, discovers once, and lists again only for a VM its last list did not have."""
    vms = [_vm(emu, f"web-{n:02d}") for n in range(4)]
    emu.admin.reset_stats()
    run = ProtectableVms(emu.target, emu.vault)
    names = [run.name(vm.id) for vm in vms]
    target_rg = emu.connection["target_resource_group"]
    assert names == [f"iaasvmcontainerv2;{target_rg};web-{n:02d}".lower() for n in range(4)]
    requests = emu.admin.stats()["requests"]
    lists = sum(n for kind, n in requests.items() if "backupProtectableItems" in kind)
    refreshes = sum(n for kind, n in requests.items() if "refreshContainers" in kind)
    assert (lists, refreshes) == (2, 1)  # before and after the one discovery

    late = _vm(emu, "web-04")  # migrated after the run listed
    assert run.name(late.id) == f"iaasvmcontainerv2;{target_rg};web-04".lower()
    assert run.name(vms[0].id) == names[0]


def test_protection_refuses_an_unknown_vm_or_policy(emu: Emulated) -> None:
    vm = _vm(emu, "erp-03")
    name = protectable_vm(emu.target, emu.vault, vm.id)
    backup = emu.target.backup_client()
    item = bm.ProtectedItemResource(
        properties=bm.AzureIaaSComputeVMProtectedItem(
            source_resource_id="/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/ghost",
            policy_id="/nope",
        )
    )
    with pytest.raises(HttpResponseError) as excinfo:
        backup.protected_items.begin_create_or_update(
            emu.vault, emu.rg, "Azure", f"iaasvmcontainer;{name}", f"vm;{name}", item
        ).result()
    assert excinfo.value.error.code == "BMSUserErrorVmNotFound"


def test_recovery_services_vault_create_and_read(emu: Emulated) -> None:
    vaults = emu.target.recovery_services_client().vaults
    created = vaults.begin_create_or_update(
        emu.rg, "vault-dr", vm_models.Vault(location="northeurope", sku=vm_models.Sku(name="RS0", tier="Standard"))
    ).result()
    assert created.location == "northeurope"
    assert {v.name for v in vaults.list_by_resource_group(emu.rg)} == {emu.vault, "vault-dr"}
    assert vaults.get(emu.rg, emu.vault).name == emu.vault


def _a2a_infrastructure(emu: Emulated) -> tuple[str, str, str, str]:
    """Create what Site Recovery needs for Azure-to-Azure: fabrics, containers, a policy, a mapping."""
    asr = emu.target.site_recovery_client()
    rg, vault = emu.rg, emu.vault
    names = {}
    for region in ("westeurope", "northeurope"):
        fabric = f"asr-a2a-default-{region}"
        asr.replication_fabrics.begin_create(
            rg,
            vault,
            fabric,
            sm.FabricCreationInput(
                properties=sm.FabricCreationInputProperties(custom_details=sm.AzureFabricCreationInput(location=region))
            ),
        ).result()
        container = asr.replication_protection_containers.begin_create(
            rg,
            vault,
            fabric,
            f"{fabric}-container",
            sm.CreateProtectionContainerInput(
                properties=sm.CreateProtectionContainerInputProperties(
                    provider_specific_input=[sm.A2AContainerCreationInput()]
                )
            ),
        ).result()
        names[region] = (fabric, container)
    policy = asr.replication_policies.begin_create(
        rg,
        vault,
        "a2a-24h",
        sm.CreatePolicyInput(
            properties=sm.CreatePolicyInputProperties(
                provider_specific_input=sm.A2APolicyCreationInput(
                    recovery_point_history=1440, app_consistent_frequency_in_minutes=240, multi_vm_sync_status="Enable"
                )
            )
        ),
    ).result()
    primary_fabric, primary_container = names["westeurope"]
    return primary_fabric, primary_container.name, names["northeurope"][1].id, policy.id


def _dr_places(emu: Emulated) -> tuple[str, str]:
    """A recovery resource group in the secondary region and a cache storage account in the VMs' region."""
    recovery_group = emu.target.resource_client().resource_groups.create_or_update(
        "rg-target-asr", rm.ResourceGroup(location="northeurope")
    )
    cache = (
        emu.target.storage_client()
        .storage_accounts.begin_create(
            emu.connection["target_resource_group"],
            "drcache01",
            stm.StorageAccountCreateParameters(
                sku=stm.Sku(name="Standard_LRS"), kind="StorageV2", location="westeurope"
            ),
        )
        .result()
    )
    return recovery_group.id, cache.id


def test_a2a_protection_dr_drill_and_removal(emu: Emulated) -> None:
    rg, vault, target_rg = emu.rg, emu.vault, emu.connection["target_resource_group"]
    vm = _vm(emu, "crm-01")
    fabric, container, recovery_container_id, policy_id = _a2a_infrastructure(emu)
    asr = emu.target.site_recovery_client()

    def body(recovery_group: str, disks: list[sm.A2AVmManagedDiskInputDetails] | None) -> sm.EnableProtectionInput:
        return sm.EnableProtectionInput(
            properties=sm.EnableProtectionInputProperties(
                policy_id=policy_id,
                provider_specific_details=sm.A2AEnableProtectionInput(
                    fabric_object_id=vm.id,
                    recovery_container_id=recovery_container_id,
                    recovery_resource_group_id=recovery_group,
                    vm_managed_disks=disks,
                ),
            )
        )

    primary_group = f"/subscriptions/{emu.connection['subscription_id']}/resourceGroups/{target_rg}"
    with pytest.raises(HttpResponseError, match="must be a resource group in the recovery region northeurope"):
        asr.replication_protected_items.begin_create(rg, vault, fabric, container, "crm-01", body(primary_group, None))
    recovery_group, cache = _dr_places(emu)
    with pytest.raises(HttpResponseError, match="vmManagedDisks must list the VM's managed disks"):
        asr.replication_protected_items.begin_create(rg, vault, fabric, container, "crm-01", body(recovery_group, []))
    disks = [
        sm.A2AVmManagedDiskInputDetails(
            disk_id=vm.storage_profile.os_disk.managed_disk.id,
            primary_staging_azure_storage_account_id=cache,
            recovery_resource_group_id=recovery_group,
        )
    ]
    protect = body(recovery_group, disks)
    item = asr.replication_protected_items.begin_create(rg, vault, fabric, container, "crm-01", protect).result()
    assert (item.properties.protection_state, item.properties.replication_health) == ("Protected", "Normal")
    assert item.properties.provider_specific_details.recovery_fabric_location == "northeurope"
    answer = _raw(emu, "GET", item.id, params={"api-version": "2025-08-01"}).json()
    assert shape_differences(example_body(SITE_RECOVERY, "ReplicationProtectedItems_Get"), answer) == []
    with pytest.raises(HttpResponseError) as excinfo:
        asr.replication_protected_items.begin_create(rg, vault, fabric, container, "crm-01-again", protect).result()
    assert excinfo.value.status_code == 409

    drill = sm.TestFailoverInput(
        properties=sm.TestFailoverInputProperties(
            failover_direction="PrimaryToRecovery",
            network_type="VmNetworkAsInput",
            network_id=emu.connection["test_network_id"],
            provider_specific_details=sm.A2ATestFailoverInput(),
        )
    )
    item = asr.replication_protected_items.begin_test_failover(rg, vault, fabric, container, "crm-01", drill).result()
    assert item.properties.test_failover_state == "WaitingForCompletion"
    assert (
        item.properties.provider_specific_details.tfo_azure_vm_name == "crm-01-drtest"
    )  # Site Recovery names the drill VM
    drill_vm = emu.target.compute_client().virtual_machines.get("rg-target-asr", "crm-01-drtest")
    assert drill_vm.location == "northeurope"  # in the recovery resource group of the secondary region
    item = asr.replication_protected_items.begin_test_failover_cleanup(
        rg,
        vault,
        fabric,
        container,
        "crm-01",
        sm.TestFailoverCleanupInput(properties=sm.TestFailoverCleanupInputProperties(comments="drill ok")),
    ).result()
    assert item.properties.test_failover_state == "None"
    with pytest.raises(ResourceNotFoundError):
        emu.target.compute_client().virtual_machines.get("rg-target-asr", "crm-01-drtest")
    assert [i.name for i in asr.replication_protected_items.list(rg, vault)] == ["crm-01"]

    asr.replication_protected_items.begin_delete(
        rg,
        vault,
        fabric,
        container,
        "crm-01",
        sm.DisableProtectionInput(
            properties=sm.DisableProtectionInputProperties(disable_protection_reason="NotSpecified")
        ),
    ).result()
    with pytest.raises(ResourceNotFoundError):
        asr.replication_protected_items.get(rg, vault, fabric, container, "crm-01")


def test_hardening_says_why_a_vault_of_another_region_cannot_protect_the_vm(emu: Emulated) -> None:
    from types import SimpleNamespace

    from wavelift.blocks.hardening import HardeningPolicy
    from wavelift.tasks.harden import backup_vault, ensure_backup, read_backup

    _vm(emu, "erp-04")
    emu.target.recovery_services_client().vaults.begin_create_or_update(
        emu.rg, "vault-ne", vm_models.Vault(location="northeurope", sku=vm_models.Sku(name="RS0", tier="Standard"))
    ).result()
    target = emu.target.model_copy(update={"vault": "vault-ne"})
    step = ensure_backup(
        target, SimpleNamespace(target_vm_name="erp-04"), HardeningPolicy(management_cidrs=["10.0.0.0/24"]), "UTC"
    )
    assert not step.ok and "protects a VM only from a Recovery Services vault in the VM's region" in step.detail

    # the fix: the policy names a backup vault, which hardening creates in the target region and protects from
    policy = HardeningPolicy(management_cidrs=["10.0.0.0/24"], backup_vault="wavelift-backup")
    step = ensure_backup(target, SimpleNamespace(target_vm_name="erp-04"), policy, "UTC")
    assert step.ok and step.resource == "backup policy wavelift-daily in vault wavelift-backup", step.detail
    vaults = emu.target.recovery_services_client().vaults
    assert vaults.get(emu.rg, "wavelift-backup").location == "westeurope"
    assert read_backup(target, "erp-04", backup_vault(target, policy))["protectionState"] in ("IRPending", "Protected")


def test_an_encrypted_vm_replicates_only_with_its_key_copied_to_the_secondary_region(emu: Emulated) -> None:
    """Learn, "Replicate Azure Disk Encryption-enabled virtual machines to another Azure region": the VM's disk
    encryption key must be in a Key Vault of the recovery region, named for each disk; wavelift copies it as
    Microsoft's CopyKeys.ps1 does (vault `<name>-asr` in group `<group>-asr`)."""
    rg, vault, target_rg = emu.rg, emu.vault, emu.connection["target_resource_group"]
    vm = _vm(emu, "pay-01")
    settings = {
        "EncryptionOperation": "EnableEncryption",
        "KeyVaultURL": emu.connection["key_vault_url"],
        "KeyVaultResourceId": emu.connection["key_vault_id"],
    }
    compute = emu.target.compute_client()
    compute.virtual_machine_extensions.begin_create_or_update(
        target_rg, "pay-01", "AzureDiskEncryption", _ade("AzureDiskEncryptionForLinux", settings)
    ).result()
    (key,) = {
        s.disk_encryption_key.secret_url
        for d in compute.virtual_machines.instance_view(target_rg, "pay-01").disks
        for s in d.encryption_settings or []
    }
    fabric, container, recovery_container_id, policy_id = _a2a_infrastructure(emu)
    recovery_group, cache = _dr_places(emu)
    items = emu.target.site_recovery_client().replication_protected_items

    def protect(info: sm.DiskEncryptionInfo | None) -> sm.ReplicationProtectedItem:
        disk = sm.A2AVmManagedDiskInputDetails(
            disk_id=vm.storage_profile.os_disk.managed_disk.id,
            primary_staging_azure_storage_account_id=cache,
            recovery_resource_group_id=recovery_group,
            disk_encryption_info=info,
        )
        details = sm.A2AEnableProtectionInput(
            fabric_object_id=vm.id,
            recovery_container_id=recovery_container_id,
            recovery_resource_group_id=recovery_group,
            vm_managed_disks=[disk],
        )
        body = sm.EnableProtectionInput(
            properties=sm.EnableProtectionInputProperties(policy_id=policy_id, provider_specific_details=details)
        )
        return items.begin_create(rg, vault, fabric, container, "pay-01", body).result()

    with pytest.raises(HttpResponseError, match="DiskEncryptionInfoMissing"):
        protect(None)
    in_primary = sm.DiskEncryptionKeyInfo(
        secret_identifier=key, key_vault_resource_arm_id=emu.connection["key_vault_id"]
    )
    with pytest.raises(HttpResponseError, match="InvalidDiskEncryptionInfo"):
        protect(sm.DiskEncryptionInfo(disk_encryption_key_info=in_primary))

    view = compute.virtual_machines.instance_view(target_rg, "pay-01")
    copied = replicated_disk_keys(emu.target, view)
    assert replicated_disk_keys(emu.target, view) == copied, "a key copied once is reused"
    dr_vault = emu.target.key_vault_client().vaults.get("rg-security-asr", "kv-wavelift-asr")
    assert dr_vault.location == "northeurope" and dr_vault.properties.enabled_for_disk_encryption
    (info,) = copied.values()
    assert info.disk_encryption_key_info.key_vault_resource_arm_id == dr_vault.id
    copy = emu.target.secret_client(dr_vault.properties.vault_uri).get_secret(key.split("/")[-2])
    source = emu.target.secret_client(emu.connection["key_vault_url"]).get_secret(key.split("/")[-2])
    assert (copy.value, copy.properties.content_type, copy.properties.tags) == (
        source.value,
        "BEK",
        source.properties.tags,
    )
    assert protect(info).properties.protection_state == "Protected"
