"""Assemble an emulator: the world, every provider's routes, and the resources a real Azure Migrate
project would already have (project, site, vault, VMware fabric, container, policy, mapping,
target and test networks), plus the on-prem datastore."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from wavelift.emulator.config import EmulatorConfig
from wavelift.emulator.identity import Tokens
from wavelift.emulator.onprem import OnPrem
from wavelift.emulator.providers import (
    a2a,
    asr,
    backup,
    compute,
    discovery,
    features,
    keyvault,
    migration_items,
    network,
    quotas,
    registrations,
    resources,
)
from wavelift.emulator.routing import Router
from wavelift.emulator.world import World


@dataclass
class Emulator:
    """Everything one running emulator holds."""

    config: EmulatorConfig
    world: World
    router: Router
    vms: compute.Compute
    discovery: discovery.Discovery
    migration_items: migration_items.MigrationItems
    protected_items: a2a.ProtectedItems
    onprem: OnPrem
    names: dict[str, str]
    registrations: registrations.Registrations
    key_vaults: keyvault.KeyVaults
    tokens: Tokens = field(default_factory=Tokens)


def build(config: EmulatorConfig) -> Emulator:
    world = World(config)
    router = Router()
    net = network.register(router, world)
    key_vaults = keyvault.register(router, world)
    vms = compute.register(router, world, features.register(router, world), quotas.register(router, world), key_vaults)
    infra, jobs = asr.register(router, world)
    disc = discovery.register(router, world)
    items = migration_items.register(router, world, jobs, vms, net, disc)
    places = resources.register(router, world)
    for group in (config.resource_group, config.target_resource_group, config.security_resource_group):
        places.seed_group(config.subscription_id, group, config.region)
    protected = a2a.register(router, world, jobs, vms, net, places)
    backup.register(router, world)
    names = _seed(config, world, infra, disc)
    names["key_vault_id"] = key_vaults.seed(
        f"/subscriptions/{config.subscription_id}/resourceGroups/{config.security_resource_group}/providers/"
        f"{keyvault.TYPE}/{config.key_vault}",
        config.region,
        config.tenant_id,
    )["id"]
    onprem = OnPrem(list(world.machines.values()), config.san_dir)
    onprem.create_datastore()
    providers = registrations.register(router, world)
    return Emulator(config, world, router, vms, disc, items, protected, onprem, names, providers, key_vaults)


def artifact_hash(text: str) -> int:
    """Azure Migrate's name hash (`hashForArtifact` in Az.Migrate's New-AzMigrateServerReplication.ps1: a 32-bit
    `hash * 31 + char` over the text, then its absolute value), which names the replication log storage account
    `migratelsa<hash of site name + target region>`."""
    value = 0
    for char in text:
        value = (value * 31 + ord(char)) & 0xFFFFFFFF
    return abs(value - (1 << 32) if value >= 1 << 31 else value)


def _seed(cfg: EmulatorConfig, world: World, infra: asr.Infrastructure, disc: discovery.Discovery) -> dict[str, str]:
    sub = f"/subscriptions/{cfg.subscription_id}"
    rg_id = f"{sub}/resourceGroups/{cfg.resource_group}"
    target_rg_id = f"{sub}/resourceGroups/{cfg.target_resource_group}"
    vault_id = f"{rg_id}/providers/Microsoft.RecoveryServices/vaults/{cfg.vault}"
    world.store.put(
        {
            "id": vault_id,
            "name": cfg.vault,
            "type": "Microsoft.RecoveryServices/vaults",
            "location": cfg.region,
            "sku": {"name": "RS0", "tier": "Standard"},
            "etag": backup.vault_etag(world.clock.now()),
            "properties": {"provisioningState": "Succeeded"},
        }
    )
    disc.seed(vault_id)
    fabric_id = f"{vault_id}/replicationFabrics/{cfg.site}-vmwarefabric"
    container_id = f"{fabric_id}/replicationProtectionContainers/{cfg.site}-vmwarecontainer"
    policy_id = f"{vault_id}/replicationPolicies/migrate{cfg.site}policy"
    log_storage_id = (
        f"{rg_id}/providers/Microsoft.Storage/storageAccounts/migratelsa{artifact_hash(cfg.site + cfg.region)}"
    )
    infra.seed(
        fabric_id,
        {  # the properties of Microsoft's example ReplicationFabrics_Get.json (2025-08-01)
            "friendlyName": f"{cfg.site}-vmwarefabric",
            "encryptionDetails": {"kekState": "None"},
            "rolloverEncryptionDetails": {"kekState": "None"},
            "internalIdentifier": str(uuid.uuid5(uuid.NAMESPACE_URL, fabric_id)),
            "bcdrState": "Valid",
            "health": "Normal",
            "healthErrorDetails": [],
            "customDetails": {
                "instanceType": "VMwareV2",
                "vmwareSiteId": disc.site_id,
                "migrationSolutionId": f"{disc.project_id}/solutions/Servers-Migration-ServerMigration",
            },
        },
    )
    infra.seed(
        container_id,
        {
            "friendlyName": f"{cfg.site}-vmwarecontainer",
            "fabricFriendlyName": f"{cfg.site}-vmwarefabric",
            "fabricType": "VMwareV2",
            "pairingStatus": "Paired",
            "role": "Primary",
            "protectedItemCount": 0,
        },
    )
    infra.seed(
        policy_id,
        {
            "friendlyName": f"migrate{cfg.site}policy",
            "providerSpecificDetails": {
                "instanceType": "VMwareCbt",
                "recoveryPointHistoryInMinutes": 4320,
                "appConsistentFrequencyInMinutes": 240,
                "crashConsistentFrequencyInMinutes": 60,
            },
        },
    )
    infra.seed(
        f"{container_id}/replicationProtectionContainerMappings/containermapping",
        {  # the properties of Microsoft's example ReplicationProtectionContainerMappings_Get.json (2025-08-01)
            "policyId": policy_id,
            "policyFriendlyName": f"migrate{cfg.site}policy",
            "state": "Paired",
            "health": "Normal",
            "healthErrorDetails": [],
            "targetProtectionContainerId": "Microsoft Azure",
            "targetProtectionContainerFriendlyName": "Microsoft Azure",
            "sourceProtectionContainerFriendlyName": f"{cfg.site}-vmwarecontainer",
            "sourceFabricFriendlyName": f"{cfg.site}-vmwarefabric",
            "targetFabricFriendlyName": "Microsoft Azure",
            "providerSpecificDetails": {
                "instanceType": "VMwareCbt",
                "targetLocation": cfg.region,
                "storageAccountId": log_storage_id,
                "keyVaultUri": "",
            },
        },
    )
    networks = {}
    for key, vnet, subnet, prefix in (
        ("target", cfg.target_vnet, cfg.target_subnet, "10.20"),
        ("test", cfg.test_vnet, cfg.test_subnet, "10.30"),
    ):
        vnet_id = f"{target_rg_id}/providers/Microsoft.Network/virtualNetworks/{vnet}"
        world.store.put(
            {
                "id": vnet_id,
                "name": vnet,
                "type": "Microsoft.Network/virtualNetworks",
                "location": cfg.region,
                "tags": {},
                "properties": {
                    "addressSpace": {"addressPrefixes": [f"{prefix}.0.0/16"]},
                    "provisioningState": "Succeeded",
                },
            }
        )
        world.store.put(
            {
                "id": f"{vnet_id}/subnets/{subnet}",
                "name": subnet,
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "properties": {"addressPrefix": f"{prefix}.0.0/20", "provisioningState": "Succeeded"},
            }
        )
        networks[key] = vnet_id
    return {
        "vault_id": vault_id,
        "fabric": f"{cfg.site}-vmwarefabric",
        "container": f"{cfg.site}-vmwarecontainer",
        "policy_id": policy_id,
        "run_as_account_id": disc.run_as_id,
        "log_storage_account_id": log_storage_id,
        "site_id": disc.site_id,
        "target_network_id": networks["target"],
        "test_network_id": networks["test"],
        "target_resource_group_id": target_rg_id,
    }
