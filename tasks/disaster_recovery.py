"""Disaster recovery: replicate a migrated VM to the secondary region with Site Recovery (A2A), and
optionally prove it with a drill (test failover into an isolated network, then its clean-up).

Azure-to-Azure replication needs a Recovery Services vault in the secondary region, Azure fabrics and
protection containers for both regions, an A2A replication policy and a container mapping, a resource
group in the secondary region for the replica disks and failover VMs, and a cache storage account in the
VM's region that stages its changes; wavelift creates what is missing once per wave, then protects each
VM with the list of its managed disks, as `New-AzRecoveryServicesAsrReplicationProtectedItem` sends it.
Every step reads before it acts.
"""

from __future__ import annotations

import hashlib
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.hardening import HardeningPolicy
from wavelift.tasks.disk_encryption_keys import DrKeyVault, dr_key_vault, replicated_disk_keys
from wavelift.tasks.harden import StepResult
from wavelift.tasks.plan_models import MachinePlan

A2A_POLICY = "wavelift-a2a-24h"


class DrInfrastructure(BaseModel):
    """Where a wave's VMs are protected: the DR vault and the primary → secondary container pair."""

    resource_group: str
    vault: str
    primary_fabric: str
    primary_container: str
    recovery_container_id: str
    policy_id: str
    recovery_resource_group_id: str
    cache_storage_account_id: str
    # The `-asr` Key Vault for the policy's Azure Disk Encryption vault, by lower-cased source vault id: made sure
    # of once for the run, not once per VM.
    key_vaults: dict[str, DrKeyVault] = {}


def _fabric_names(region: str) -> tuple[str, str]:
    return f"asr-a2a-default-{region}", f"asr-a2a-default-{region}-container"


def dr_vault_name(target: AzureMigrationTarget, policy: HardeningPolicy) -> str:
    """The Recovery Services vault in the secondary region that holds the A2A protected items."""
    return policy.dr_vault or f"{target.vault}-dr"


def read_dr(target: AzureMigrationTarget, policy: HardeningPolicy, vm_name: str) -> tuple[str, str] | None:
    """(protected item id, recovery region) of the VM's A2A replication, or None if it has none."""
    fabric, container = _fabric_names(target.target_region)
    try:
        item = target.site_recovery_client().replication_protected_items.get(
            target.resource_group, dr_vault_name(target, policy), fabric, container, vm_name
        )
    except ResourceNotFoundError:
        return None
    return item.id, item.properties.provider_specific_details.recovery_fabric_location


def recovery_group_name(target: AzureMigrationTarget, policy: HardeningPolicy) -> str:
    return policy.dr_resource_group or f"{target.target_resource_group}-asr"


def cache_account_name(target: AzureMigrationTarget, policy: HardeningPolicy) -> str:
    """The policy's cache account, or one named from the subscription and region (names are global)."""
    digest = hashlib.sha256(f"{target.subscription_id}/{target.target_region}".encode()).hexdigest()[:12]
    return policy.dr_cache_storage_account or f"wlcache{digest}"


def _recovery_resource_group(target: AzureMigrationTarget, policy: HardeningPolicy) -> str:
    """The resource group of the secondary region for replicas (Azure's portal names it '<source group>-asr')."""
    from azure.mgmt.resource.resources import models as rm

    name = recovery_group_name(target, policy)
    groups = target.resource_client().resource_groups
    try:
        group = groups.get(name)
    except ResourceNotFoundError:
        group = groups.create_or_update(name, rm.ResourceGroup(location=target.secondary_region))
    if group.location.lower() != (target.secondary_region or "").lower():
        raise ValueError(f"resource group {name} is in {group.location}: DR replicas need one in the secondary region")
    return group.id


def _cache_storage_account(target: AzureMigrationTarget, policy: HardeningPolicy) -> str:
    """The cache storage account in the target region (the A2A source) that stages the VMs' changes."""
    from azure.mgmt.storage import models as sm

    name = cache_account_name(target, policy)
    accounts = target.storage_client().storage_accounts
    rg = target.target_resource_group
    try:
        account = accounts.get_properties(rg, name)
    except ResourceNotFoundError:
        account = accounts.begin_create(
            rg,
            name,
            sm.StorageAccountCreateParameters(
                sku=sm.Sku(name="Standard_LRS"), kind="StorageV2", location=target.target_region
            ),
        ).result()
    if account.location.lower() != target.target_region.lower():
        raise ValueError(f"cache storage account {name} is in {account.location}, not the VMs' {target.target_region}")
    return account.id


def ensure_dr_infrastructure(target: AzureMigrationTarget, policy: HardeningPolicy) -> DrInfrastructure:
    """The DR vault in the secondary region, both regions' fabrics and containers, policy and mapping."""
    from azure.mgmt.recoveryservices import models as vm
    from azure.mgmt.recoveryservicessiterecovery import models as m

    if not target.secondary_region:
        raise ValueError("the target block names no secondary region for disaster recovery")
    rg, vault = target.resource_group, dr_vault_name(target, policy)
    vaults = target.recovery_services_client().vaults
    try:
        vaults.get(rg, vault)
    except ResourceNotFoundError:
        vaults.begin_create_or_update(
            rg, vault, vm.Vault(location=target.secondary_region, sku=vm.Sku(name="RS0", tier="Standard"))
        ).result()
    asr = target.site_recovery_client()
    containers = {}
    for region in (target.target_region, target.secondary_region):
        fabric, container = _fabric_names(region)
        try:
            asr.replication_fabrics.get(rg, vault, fabric)
        except ResourceNotFoundError:
            asr.replication_fabrics.begin_create(
                rg,
                vault,
                fabric,
                m.FabricCreationInput(
                    properties=m.FabricCreationInputProperties(
                        custom_details=m.AzureFabricCreationInput(location=region)
                    )
                ),
            ).result()
        try:
            containers[region] = asr.replication_protection_containers.get(rg, vault, fabric, container)
        except ResourceNotFoundError:
            containers[region] = asr.replication_protection_containers.begin_create(
                rg,
                vault,
                fabric,
                container,
                m.CreateProtectionContainerInput(
                    properties=m.CreateProtectionContainerInputProperties(
                        provider_specific_input=[m.A2AContainerCreationInput()]
                    )
                ),
            ).result()
    try:
        replication_policy = asr.replication_policies.get(rg, vault, A2A_POLICY)
    except ResourceNotFoundError:
        replication_policy = asr.replication_policies.begin_create(
            rg,
            vault,
            A2A_POLICY,
            m.CreatePolicyInput(
                properties=m.CreatePolicyInputProperties(
                    provider_specific_input=m.A2APolicyCreationInput(
                        recovery_point_history=1440,
                        app_consistent_frequency_in_minutes=240,
                        multi_vm_sync_status="Enable",
                    )
                )
            ),
        ).result()
    primary_fabric, primary_container = _fabric_names(target.target_region)
    mapping = f"{primary_container}-to-{target.secondary_region}"
    try:
        asr.replication_protection_container_mappings.get(rg, vault, primary_fabric, primary_container, mapping)
    except ResourceNotFoundError:
        asr.replication_protection_container_mappings.begin_create(
            rg,
            vault,
            primary_fabric,
            primary_container,
            mapping,
            m.CreateProtectionContainerMappingInput(
                properties=m.CreateProtectionContainerMappingInputProperties(
                    target_protection_container_id=containers[target.secondary_region].id,
                    policy_id=replication_policy.id,
                    provider_specific_input=m.A2AContainerMappingInput(),
                )
            ),
        ).result()
    return DrInfrastructure(
        resource_group=rg,
        vault=vault,
        primary_fabric=primary_fabric,
        primary_container=primary_container,
        recovery_container_id=containers[target.secondary_region].id,
        policy_id=replication_policy.id,
        recovery_resource_group_id=_recovery_resource_group(target, policy),
        cache_storage_account_id=_cache_storage_account(target, policy),
        key_vaults=(
            {policy.key_vault_resource_id.lower(): dr_key_vault(target, policy.key_vault_resource_id)}
            if policy.encryption == "azure_disk_encryption" and policy.key_vault_resource_id
            else {}
        ),
    )


def ensure_dr(target: AzureMigrationTarget, machine: MachinePlan, dr: DrInfrastructure, vm: Any) -> StepResult:
    """Protect the VM with A2A replication to the secondary region, unless it already is; `vm` is the SDK
    VirtualMachine with its instance view as hardening last read it (its disks and their encryption keys)."""
    from azure.mgmt.recoveryservicessiterecovery import models as m

    items = target.site_recovery_client().replication_protected_items
    args = (dr.resource_group, dr.vault, dr.primary_fabric, dr.primary_container, machine.target_vm_name)
    changed = False
    try:
        item = items.get(*args)
    except ResourceNotFoundError:
        storage = vm.storage_profile
        keys = replicated_disk_keys(target, vm.instance_view, dr.key_vaults)  # an ADE VM's key, copied to the DR region
        disks = [
            m.A2AVmManagedDiskInputDetails(
                disk_id=disk.managed_disk.id,
                primary_staging_azure_storage_account_id=dr.cache_storage_account_id,
                recovery_resource_group_id=dr.recovery_resource_group_id,
                recovery_replica_disk_account_type=str(disk.managed_disk.storage_account_type or "Standard_LRS"),
                recovery_target_disk_account_type=str(disk.managed_disk.storage_account_type or "Standard_LRS"),
                disk_encryption_info=keys.get((disk.name or "").lower()),
            )
            for disk in [storage.os_disk, *(storage.data_disks or [])]
            if disk.managed_disk is not None
        ]
        item = items.begin_create(
            *args,
            m.EnableProtectionInput(
                properties=m.EnableProtectionInputProperties(
                    policy_id=dr.policy_id,
                    provider_specific_details=m.A2AEnableProtectionInput(
                        fabric_object_id=vm.id,
                        recovery_container_id=dr.recovery_container_id,
                        recovery_resource_group_id=dr.recovery_resource_group_id,
                        vm_managed_disks=disks,
                    ),
                )
            ),
        ).result()
        changed = True
    state = item.properties.protection_state
    return StepResult(
        step="disaster_recovery",
        ok=state == "Protected",
        changed=changed,
        resource=f"DR vault {dr.vault} in {target.secondary_region}",
        detail=f"A2A to {target.secondary_region} in vault {dr.vault}: {state}",
    )


def _drill_vm(target: AzureMigrationTarget, item: Any) -> Any | None:
    """The test-failover VM Site Recovery reports (`tfoAzureVMName`, in the recovery resource group), or None."""
    details = getattr(getattr(item, "properties", None), "provider_specific_details", None)
    name, group = (
        getattr(details, "tfo_azure_vm_name", None),
        getattr(details, "recovery_azure_resource_group_id", None),
    )
    if not name:
        return None
    try:
        resource_group = group.rsplit("/", 1)[1] if group else target.target_resource_group
        return target.compute_client().virtual_machines.get(resource_group, name, expand="instanceView")
    except ResourceNotFoundError:
        return None


def run_dr_drill(
    target: AzureMigrationTarget, machine: MachinePlan, dr: DrInfrastructure, network_id: str
) -> StepResult:
    """A DR test failover once per VM: the drill VM must run in the secondary region; then it is cleaned up.

    Site Recovery remembers the last successful test failover, so a VM drilled before is not drilled
    again, and a drill whose clean-up a dead run left pending is cleaned up now.
    """
    from azure.mgmt.recoveryservicessiterecovery import models as m

    items = target.site_recovery_client().replication_protected_items
    args = (dr.resource_group, dr.vault, dr.primary_fabric, dr.primary_container, machine.target_vm_name)
    item = items.get(*args)
    changed, detail = False, f"drilled earlier ({item.properties.last_successful_test_failover_time})"
    proven = True  # a drill succeeded before, or the one run now found its VM running
    if item.properties.test_failover_state == "None" and not item.properties.last_successful_test_failover_time:
        item = items.begin_test_failover(
            *args,
            m.TestFailoverInput(
                properties=m.TestFailoverInputProperties(
                    failover_direction="PrimaryToRecovery",
                    network_type="VmNetworkAsInput",
                    network_id=network_id,
                    provider_specific_details=m.A2ATestFailoverInput(),
                )
            ),
        ).result()
        drill_vm = _drill_vm(target, item)
        running = drill_vm is not None and any(
            s.code == "PowerState/running" for s in drill_vm.instance_view.statuses or []
        )
        changed, detail = (
            True,
            (
                f"test failover: {drill_vm.name} {'running' if running else 'NOT running'} in {drill_vm.location}"
                if drill_vm is not None
                else "test failover: Site Recovery names no drill VM (tfoAzureVMName) that can be found"
            ),
        )
        proven = running
        if drill_vm is not None and not running:
            return StepResult(
                step="dr_drill", ok=False, changed=True, detail=detail + "; left for inspection, not cleaned up"
            )
    if "TestFailoverCleanup" in (item.properties.allowed_operations or []):
        item = items.begin_test_failover_cleanup(
            *args,
            m.TestFailoverCleanupInput(properties=m.TestFailoverCleanupInputProperties(comments="wavelift DR drill")),
        ).result()
        changed, detail = True, detail + "; cleaned up"
    ok = (
        proven
        and item.properties.test_failover_state == "None"
        and bool(item.properties.last_successful_test_failover_time)
    )
    return StepResult(step="dr_drill", ok=ok, changed=changed, detail=detail)
