"""The preflight's reads: what Azure says about the target before a wave starts, read once and only read.

Nothing here creates or changes anything; each read is the one Microsoft's tools make for the same
question (`az vm list-usage` for quotas, `Get-AzVirtualNetworkUsageList` for subnet addresses, the
Resource SKUs list for sizes, `az feature show` for the encryption-at-host feature,
`az provider show` for each resource provider the wave calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from prefect import task

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.loading import load_for_run
from wavelift.tasks.discovery import resolve_infrastructure
from wavelift.tasks.host_encryption import FEATURE
from wavelift.tasks.lifecycle import observe, seeding_over, target_vms
from wavelift.tasks.plan_models import Wave
from wavelift.tasks.preflight import PolicyNeeds, TargetReading, Usage, needed_providers
from wavelift.tasks.transient import retry_transient
from wavelift.tasks.vault_status import VaultStatusBoard
from wavelift.tasks.vm_sizes import size_catalog


def _subnet_usage(target: AzureMigrationTarget, vnet_id: str) -> dict[str, Usage | None]:
    """Each subnet of a virtual network with its addresses in use and its limit (none if the network is gone)."""
    parts = vnet_id.split("/")
    subscription, resource_group, name = parts[2], parts[4], parts[-1]
    try:
        usages = list(target.network_client(subscription).virtual_networks.list_usage(resource_group, name))
    except ResourceNotFoundError:
        return {}
    return {(u.id or "").lower(): Usage(current=int(u.current_value or 0), limit=int(u.limit or 0)) for u in usages}


def _region(read: Callable[[], Any]) -> str | None:
    """The region of what `read` returns, or None when it does not exist (yet)."""
    try:
        return read().location
    except ResourceNotFoundError:
        return None


def _key_vault(target: AzureMigrationTarget, vault_id: str) -> Any:
    """The Key Vault (an SDK Vault), or None when it does not exist."""
    parts = vault_id.split("/")
    try:
        return target.key_vault_client(parts[2]).vaults.get(parts[4], parts[-1])
    except ResourceNotFoundError:
        return None


@task(
    task_run_name="preflight-providers-{target_block}",
    retries=3,
    retry_delay_seconds=[5, 20, 60],
    retry_condition_fn=retry_transient,
)
def read_providers(target_block: str, needs: PolicyNeeds) -> dict[str, str]:
    """The registration state of each resource provider the wave calls (`az provider show`): read first, as
    Azure refuses every other read from a namespace the subscription has not registered."""
    resources = load_for_run(AzureMigrationTarget, target_block).resource_client()
    return {namespace: resources.providers.get(namespace).registration_state for namespace in needed_providers(needs)}


@task(
    task_run_name="preflight-read-{target_block}",
    retries=3,
    retry_delay_seconds=[5, 20, 60],
    retry_condition_fn=retry_transient,
)
def read_target(target_block: str, wave: Wave, needs: PolicyNeeds) -> TargetReading:
    """Read, once each: the vault (its infrastructure and every item), the target VMs, the region's sizes and
    vCPU usage, the target and test networks' subnets, and what the hardening policy will need."""
    target = load_for_run(AzureMigrationTarget, target_block)
    infra = resolve_infrastructure(target_block)
    items = VaultStatusBoard.for_vault(target, infra.vault_id, 0).refresh()
    vms = target_vms(target)
    subnets: dict[str, Usage | None] = {}
    for vnet in {target.target_network_id, target.test_network_id}:
        subnets.update(_subnet_usage(target, vnet))
    usage = target.compute_client().usage.list(target.target_region)
    key_vault = _key_vault(target, needs.key_vault_id) if needs.key_vault_id else None
    group, cache = needs.dr_places or (None, None)
    return TargetReading(
        region=target.target_region,
        sizes=size_catalog(target),
        vcpu_usage={u.name.value: Usage(current=u.current_value, limit=u.limit) for u in usage},
        subnets=subnets,
        states=observe(wave.machines, items, vms),
        taken_names=set(vms),
        run_as_by_vcenter=infra.run_as_by_vcenter,
        mapping_region=infra.target_location,
        in_initial_replication=sum(not seeding_over(item) for item in items.values()),
        backup_vault_region=(
            _region(lambda: target.recovery_services_client().vaults.get(target.resource_group, needs.backup_vault))
            if needs.backup and needs.backup_vault
            else None
        ),
        host_encryption_feature=(
            target.feature_client().features.get(*FEATURE).properties.state if needs.encryption_at_host else None
        ),
        secondary_region=target.secondary_region,
        key_vault_region=key_vault.location if key_vault else None,
        key_vault_for_disk_encryption=bool(key_vault and key_vault.properties.enabled_for_disk_encryption),
        dr_group_region=_region(lambda: target.resource_client().resource_groups.get(group)) if group else None,
        dr_cache_region=(
            _region(
                lambda: target.storage_client().storage_accounts.get_properties(target.target_resource_group, cache)
            )
            if cache
            else None
        ),
    )
