"""Disaster recovery: replicate a migrated VM to the secondary region with Site Recovery (A2A).

Azure-to-Azure replication needs a Recovery Services vault in the secondary region, Azure fabrics and
protection containers for both regions, an A2A replication policy and a container mapping; wavelift
creates what is missing once per wave, then protects each VM. Every step reads before it acts.
"""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel

from blocks.azure import AzureMigrationTarget
from blocks.hardening import HardeningPolicy
from tasks.harden import StepResult
from tasks.plan_models import MachinePlan

A2A_POLICY = "wavelift-a2a-24h"


class DrInfrastructure(BaseModel):
    """Where a wave's VMs are protected: the DR vault and the primary → secondary container pair."""

    resource_group: str
    vault: str
    primary_fabric: str
    primary_container: str
    recovery_container_id: str
    policy_id: str


def _fabric_names(region: str) -> tuple[str, str]:
    return f"asr-a2a-default-{region}", f"asr-a2a-default-{region}-container"


def ensure_dr_infrastructure(target: AzureMigrationTarget, policy: HardeningPolicy) -> DrInfrastructure:
    """The DR vault in the secondary region, both regions' fabrics and containers, policy and mapping."""
    from azure.mgmt.recoveryservices import models as vm
    from azure.mgmt.recoveryservicessiterecovery import models as m

    if not target.secondary_region:
        raise ValueError("the target block names no secondary region for disaster recovery")
    rg, vault = target.resource_group, policy.dr_vault or f"{target.vault}-dr"
    vaults = target.recovery_services_client().vaults
    try:
        vaults.get(rg, vault)
    except ResourceNotFoundError:
        vaults.begin_create_or_update(rg, vault, vm.Vault(location=target.secondary_region, sku=vm.Sku(name="RS0", tier="Standard"))).result()
    asr = target.site_recovery_client()
    containers = {}
    for region in (target.target_region, target.secondary_region):
        fabric, container = _fabric_names(region)
        try:
            asr.replication_fabrics.get(rg, vault, fabric)
        except ResourceNotFoundError:
            asr.replication_fabrics.begin_create(rg, vault, fabric, m.FabricCreationInput(properties=m.FabricCreationInputProperties(
                custom_details=m.AzureFabricCreationInput(location=region)))).result()
        try:
            containers[region] = asr.replication_protection_containers.get(rg, vault, fabric, container)
        except ResourceNotFoundError:
            containers[region] = asr.replication_protection_containers.begin_create(rg, vault, fabric, container, m.CreateProtectionContainerInput(
                properties=m.CreateProtectionContainerInputProperties(provider_specific_input=[m.A2AContainerCreationInput()]))).result()
    try:
        replication_policy = asr.replication_policies.get(rg, vault, A2A_POLICY)
    except ResourceNotFoundError:
        replication_policy = asr.replication_policies.begin_create(rg, vault, A2A_POLICY, m.CreatePolicyInput(properties=m.CreatePolicyInputProperties(
            provider_specific_input=m.A2APolicyCreationInput(recovery_point_history=1440, app_consistent_frequency_in_minutes=240, multi_vm_sync_status="Enable")))).result()
    primary_fabric, primary_container = _fabric_names(target.target_region)
    mapping = f"{primary_container}-to-{target.secondary_region}"
    try:
        asr.replication_protection_container_mappings.get(rg, vault, primary_fabric, primary_container, mapping)
    except ResourceNotFoundError:
        asr.replication_protection_container_mappings.begin_create(rg, vault, primary_fabric, primary_container, mapping, m.CreateProtectionContainerMappingInput(
            properties=m.CreateProtectionContainerMappingInputProperties(target_protection_container_id=containers[target.secondary_region].id,
                                                                         policy_id=replication_policy.id, provider_specific_input=m.A2AContainerMappingInput()))).result()
    return DrInfrastructure(resource_group=rg, vault=vault, primary_fabric=primary_fabric, primary_container=primary_container,
                            recovery_container_id=containers[target.secondary_region].id, policy_id=replication_policy.id)


def ensure_dr(target: AzureMigrationTarget, machine: MachinePlan, dr: DrInfrastructure) -> StepResult:
    """Protect the VM with A2A replication to the secondary region, unless it already is."""
    from azure.mgmt.recoveryservicessiterecovery import models as m

    items = target.site_recovery_client().replication_protected_items
    args = (dr.resource_group, dr.vault, dr.primary_fabric, dr.primary_container, machine.target_vm_name)
    changed = False
    try:
        item = items.get(*args)
    except ResourceNotFoundError:
        vm_id = f"{target.target_resource_group_id}/providers/Microsoft.Compute/virtualMachines/{machine.target_vm_name}"
        item = items.begin_create(*args, m.EnableProtectionInput(properties=m.EnableProtectionInputProperties(policy_id=dr.policy_id, provider_specific_details=m.A2AEnableProtectionInput(
            fabric_object_id=vm_id, recovery_container_id=dr.recovery_container_id, recovery_resource_group_id=target.target_resource_group_id)))).result()
        changed = True
    state = item.properties.protection_state
    return StepResult(step="disaster_recovery", ok=state == "Protected", changed=changed, detail=f"A2A to {target.secondary_region} in vault {dr.vault}: {state}")
