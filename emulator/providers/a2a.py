"""Site Recovery Azure-to-Azure protected items: a migrated VM replicated to the secondary region,
with a DR drill (test failover and its clean-up) and removal."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from wavelift.emulator.clock import iso
from wavelift.emulator.errors import conflict
from wavelift.emulator.providers.asr import API, NS, Jobs, ReplicatedItems, register_item_routes, vault_of
from wavelift.emulator.providers.common import fail_unless
from wavelift.emulator.providers.compute import Compute
from wavelift.emulator.providers.network import Network
from wavelift.emulator.providers.resources import STORAGE_TYPE, Places
from wavelift.emulator.routing import ACTION, ITEM, Call, Reply, Router
from wavelift.emulator.world import World

ITEM_TYPE = f"{NS}/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems"


@dataclass
class ProtectedItem:
    """One VM's disaster-recovery replication."""

    id: str
    name: str
    vm: dict
    policy: dict
    details: dict
    protection: str = "EnablingProtection"
    test_failover: str = "None"
    test_vm_id: str | None = None
    last_test_failover: str | None = None
    job: dict | None = None

    def allowed(self) -> list[str]:
        if self.job is not None and self.job["properties"]["state"] == "InProgress":
            return []
        if self.protection != "Protected":
            return ["DisableProtection"]
        if self.test_failover == "None":
            return ["TestFailover", "PlannedFailover", "UnplannedFailover", "DisableProtection"]
        return ["TestFailoverCleanup", "DisableProtection"]


class ProtectedItems(ReplicatedItems[ProtectedItem]):
    """A2A replication over the world's VMs."""

    def __init__(self, world: World, jobs: Jobs, compute: Compute, network: Network, places: Places) -> None:
        super().__init__(world, jobs, compute, network)
        self.places = places

    def _check_managed_disks(self, vm: dict, d: dict) -> None:
        """What `New-AzRecoveryServicesAsrReplicationProtectedItem` sends for a VM with managed disks
        (Az.RecoveryServices; Learn, "Azure to Azure disaster recovery architecture"): a recovery resource
        group of the secondary region, and every managed disk of the VM with a cache storage account of the
        VM's region and that recovery resource group. Codes not documented by Microsoft."""
        secondary = self.world.config.secondary_region.lower()

        def in_secondary(group_id: str | None, field: str) -> None:
            group = self.places.group(group_id or "")
            fail_unless(
                group is not None and group["location"].lower() == secondary,
                400,
                "InvalidRecoveryResourceGroup",
                f"{field} {group_id or '(none)'} must be a resource group in the recovery region {secondary}"
                + (f", not {group['location']}" if group else ""),
            )

        in_secondary(d.get("recoveryResourceGroupId"), "providerSpecificDetails.recoveryResourceGroupId")
        storage = vm["properties"]["storageProfile"]
        wanted = {
            x["managedDisk"]["id"].lower()
            for x in [storage.get("osDisk") or {}, *storage.get("dataDisks", [])]
            if (x.get("managedDisk") or {}).get("id")
        }
        given = {(x.get("diskId") or "").lower(): x for x in d.get("vmManagedDisks") or []}
        fail_unless(
            set(given) == wanted,
            400,
            "InvalidManagedDiskInput",
            f"vmManagedDisks must list the VM's managed disks {sorted(wanted)}; it lists {sorted(given)}.",
        )
        for disk_id, disk in given.items():
            cache = self.world.store.get(disk.get("primaryStagingAzureStorageAccountId") or "")
            fail_unless(
                cache is not None
                and cache["type"] == STORAGE_TYPE
                and cache["location"].lower() == vm["location"].lower(),
                400,
                "InvalidCacheStorageAccount",
                f"vmManagedDisks[{disk_id}].primaryStagingAzureStorageAccountId must be a storage account in the VM's "
                f"region {vm['location']}.",
            )
            in_secondary(disk.get("recoveryResourceGroupId"), f"vmManagedDisks[{disk_id}].recoveryResourceGroupId")

    def _check_disk_encryption(self, vm: dict, d: dict) -> None:
        """A VM encrypted with Azure Disk Encryption replicates only with its key (BEK) copied to a Key Vault of
        the secondary region and named for every disk (`diskEncryptionInfo`: Microsoft Learn, "Replicate Azure
        Disk Encryption-enabled virtual machines to another Azure region"; `New-AzRecoveryServicesAsrAzureToAzure
        DiskReplicationConfig -DiskEncryptionVaultId -DiskEncryptionSecretUrl`). Codes not documented."""
        if vm["id"].lower() not in self.compute.disk_keys:
            return
        secondary = self.world.config.secondary_region.lower()
        for disk in d.get("vmManagedDisks") or []:
            field = f"vmManagedDisks[{disk.get('diskId')}].diskEncryptionInfo.diskEncryptionKeyInfo"
            info = (disk.get("diskEncryptionInfo") or d.get("diskEncryptionInfo") or {}).get("diskEncryptionKeyInfo")
            fail_unless(
                isinstance(info, dict),
                400,
                "DiskEncryptionInfoMissing",
                f"Virtual machine {vm['name']} is encrypted with Azure Disk Encryption: {field} must name its disk "
                "encryption key, copied to a Key Vault of the recovery region.",
            )
            keys = self.compute.key_vaults
            found = keys.secret_at(info.get("secretIdentifier") or "")
            vault = self.world.store.get(info.get("keyVaultResourceArmId") or "")
            own = keys.secret_at(self.compute.disk_keys[vm["id"].lower()]["secretUrl"])
            fail_unless(
                found is not None
                and vault is not None
                and found[0]["id"].lower() == vault["id"].lower()
                and vault["location"].lower() == secondary
                and own is not None
                and found[1]["value"] == own[1]["value"],
                400,
                "InvalidDiskEncryptionInfo",
                f"{field}: secretIdentifier {info.get('secretIdentifier')!r} must be a copy of the VM's disk "
                f"encryption key in Key Vault {info.get('keyVaultResourceArmId')!r} of the recovery region "
                f"{secondary}.",
            )

    @staticmethod
    def _scenario(item: ProtectedItem) -> dict:
        """The item's current scenario: its job in progress, or "None" (as in Microsoft's example)."""
        job = item.job
        if job is not None and Jobs.in_progress(job):
            props = job["properties"]
            return {"scenarioName": props["scenarioName"], "jobId": job["id"], "startTime": props["startTime"]}
        vault_jobs = f"{vault_of(item.id)}/replicationJobs"
        started = job["properties"]["startTime"] if job else "1753-01-01T01:01:01Z"
        return {"scenarioName": "None", "jobId": f"{vault_jobs}/None", "startTime": started}

    def render(self, item: ProtectedItem) -> dict:
        d = item.details
        container = item.id.rsplit("/replicationProtectedItems/", 1)[0]
        recovery_container = d.get("recoveryContainerId") or ""
        return {
            "id": item.id,
            "name": item.name,
            "type": ITEM_TYPE,
            "location": self.world.config.region,
            "properties": {
                "friendlyName": item.vm["name"],
                "protectedItemType": "A2A",
                "policyId": item.policy["id"],
                "policyFriendlyName": item.policy["name"],
                "primaryFabricProvider": "Azure",
                "primaryFabricFriendlyName": self.world.config.region,
                "recoveryFabricFriendlyName": self.world.config.secondary_region,
                "activeLocation": "Primary",
                "protectionState": item.protection,
                "protectionStateDescription": item.protection,
                "replicationHealth": "Normal" if item.protection == "Protected" else "None",
                "failoverHealth": "Normal",
                "healthErrors": [],
                "testFailoverState": item.test_failover,
                "lastSuccessfulTestFailoverTime": item.last_test_failover,
                "testFailoverStateDescription": {
                    "None": "None",
                    "TestFailoverInProgress": "Test failover in progress",
                    "WaitingForCompletion": "Test failover cleanup pending",
                }.get(item.test_failover, item.test_failover),
                "allowedOperations": item.allowed(),
                "currentScenario": self._scenario(item),
                # Microsoft's example (ReplicationProtectedItems_Get.json) names the containers and fabrics;
                # an Azure VM has no Recovery Services provider or protectable item: empty strings here.
                "protectableItemId": "",
                "recoveryServicesProviderId": "",
                "primaryProtectionContainerFriendlyName": container.rsplit("/", 1)[-1],
                "recoveryProtectionContainerFriendlyName": recovery_container.rsplit("/", 1)[-1],
                "recoveryFabricId": recovery_container.split("/replicationProtectionContainers/", 1)[0],
                "recoveryContainerId": recovery_container,
                "providerSpecificDetails": {
                    "instanceType": "A2A",
                    "fabricObjectId": d["fabricObjectId"],
                    "primaryFabricLocation": self.world.config.region,
                    "recoveryFabricLocation": self.world.config.secondary_region,
                    "recoveryAzureResourceGroupId": d.get("recoveryResourceGroupId"),
                    "recoveryContainerId": d.get("recoveryContainerId"),
                    "recoveryAzureVMName": item.vm["name"],
                    "osType": item.vm["properties"]["storageProfile"]["osDisk"].get("osType"),
                    "monitoringPercentageCompletion": 100 if item.protection == "Protected" else 0,
                    "vmProtectionState": item.protection,
                    "vmProtectionStateDescription": item.protection,
                    "protectedManagedDisks": copy.deepcopy(d.get("vmManagedDisks", [])),
                    # the test-failover VM, as A2AReplicationDetails.tfoAzureVMName reports it; its name is
                    # Site Recovery's to choose, so a client reads it here rather than guessing it
                    "tfoAzureVMName": item.test_vm_id.rsplit("/", 1)[1] if item.test_vm_id else None,
                },
            },
        }

    def create(self, call: Call) -> Reply:
        container_id = call.path.item_id.rsplit("/", 2)[0]
        self.world.store.require(container_id)
        props = call.properties()
        policy = self.world.store.require(props.get("policyId") or "(missing policyId)")
        d = copy.deepcopy(props.get("providerSpecificDetails") or {})
        fail_unless(
            d.get("instanceType") == "A2A",
            400,
            "InvalidProviderSpecificInput",
            "providerSpecificDetails.instanceType must be 'A2A'.",
        )
        fail_unless(
            bool(d.get("fabricObjectId")),
            400,
            "InvalidProviderSpecificInput",
            "providerSpecificDetails.fabricObjectId (the VM id) is required.",
        )
        vm = self.world.store.require(d["fabricObjectId"])
        if d.get("recoveryContainerId"):
            self.world.store.require(d["recoveryContainerId"])
        self._check_managed_disks(vm, d)
        self._check_disk_encryption(vm, d)
        for other in self.items.values():
            if other.vm["id"].lower() == vm["id"].lower() or other.id.lower() == call.path.item_id.lower():
                raise conflict(
                    "ProtectionAlreadyEnabled", f"Virtual machine {vm['name']} is already protected as {other.name}."
                )
        item = ProtectedItem(call.path.item_id, call.path.names[-1], vm, policy, d)
        self.items[item.id.lower()] = item
        item.job = self.jobs.start(vault_of(item.id), "EnableDr", "Enable replication", item.id, vm["name"])

        def complete(t: float) -> None:
            item.protection = "Protected"
            self.jobs.finish(item.job, t)

        def fail(t: float, error: dict) -> None:
            item.protection = "EnableProtectionFailed"
            self.jobs.finish(item.job, t, error)

        return self.lro(call, item, self.world.config.capacity.enable_seconds, complete, fail)

    def test_failover(self, call: Call) -> Reply:
        item = self.get(call)
        fail_unless(
            "TestFailover" in item.allowed(),
            400,
            "OperationNotAllowed",
            f"TestFailover is not allowed for {item.name}; allowed operations: {', '.join(item.allowed()) or 'none'}.",
        )
        props = call.properties()
        network_id = props.get("networkId") or ""
        fail_unless(
            self.world.store.get(network_id) is not None,
            400,
            "NetworkNotFound",
            f"The test failover network '{network_id}' was not found.",
        )
        subnet = self.world.store.children(network_id, "subnets")[0]
        item.test_failover = "TestFailoverInProgress"
        item.job = self.jobs.start(vault_of(item.id), "TestFailover", "Test failover", item.id, item.vm["name"])
        rg = item.details.get("recoveryResourceGroupId") or item.vm["id"].split("/providers/")[0]

        def complete(t: float) -> None:
            os_disk = item.vm["properties"]["storageProfile"]["osDisk"]
            nic = self.network.create_nic(
                rg, f"{item.vm['name']}-drtest-nic", self.world.config.secondary_region, subnet["id"]
            )
            vm = self.compute.create(
                resource_group_id=rg,
                name=f"{item.vm['name']}-drtest",
                location=self.world.config.secondary_region,
                size=item.vm["properties"]["hardwareProfile"]["vmSize"],
                os_type=os_disk.get("osType", "Windows"),
                disks=[{"size_gb": os_disk.get("diskSizeGB", 128), "type": "Standard_LRS"}],
                nic_id=nic["id"],
                tags={},
            )
            item.test_vm_id, item.test_failover, item.last_test_failover = vm["id"], "WaitingForCompletion", iso(t)
            self.jobs.finish(item.job, t)

        def fail(t: float, error: dict) -> None:
            item.test_failover = "None"
            self.jobs.finish(item.job, t, error)

        return self.lro(call, item, self.world.config.capacity.test_migrate_seconds, complete, fail)

    def test_failover_cleanup(self, call: Call) -> Reply:
        item = self.get(call)
        fail_unless(
            "TestFailoverCleanup" in item.allowed(),
            400,
            "OperationNotAllowed",
            f"TestFailoverCleanup is not allowed for {item.name}.",
        )
        item.job = self.jobs.start(
            vault_of(item.id), "TestFailoverCleanup", "Test failover cleanup", item.id, item.vm["name"]
        )

        def complete(t: float) -> None:
            if item.test_vm_id:
                self.compute.remove(item.test_vm_id)
            item.test_vm_id, item.test_failover = None, "None"
            self.jobs.finish(item.job, t)

        return self.lro(
            call,
            item,
            self.world.config.capacity.cleanup_seconds,
            complete,
            lambda t, e: self.jobs.finish(item.job, t, e),
        )

    def remove(self, call: Call) -> Reply:
        """Disable protection (POST .../remove, the SDK's begin_delete) or purge (DELETE)."""
        item = self.items.get(call.path.item_id.lower())
        if item is None:
            return (
                Reply(204)
                if call.method == "DELETE"
                else Reply(
                    404,
                    {
                        "error": {
                            "code": "ResourceNotFound",
                            "message": f"The Resource '{call.path.item_id}' was not found.",
                        }
                    },
                )
            )
        item.job = self.jobs.start(vault_of(item.id), "DisableDr", "Disable replication", item.id, item.vm["name"])

        def complete(t: float) -> None:
            if item.test_vm_id:
                self.compute.remove(item.test_vm_id)
            self.items.pop(item.id.lower(), None)
            self.jobs.finish(item.job, t)

        return self.lro(
            call,
            item,
            self.world.config.capacity.cleanup_seconds,
            complete,
            lambda t, e: self.jobs.finish(item.job, t, e),
        )


def register(
    router: Router, world: World, jobs: Jobs, compute: Compute, network: Network, places: Places
) -> ProtectedItems:
    items = ProtectedItems(world, jobs, compute, network, places)
    base = register_item_routes(router, items, "replicationProtectedItems")
    router.add("DELETE", ITEM, base, items.remove, API)
    router.add("POST", ACTION, base, items.test_failover, API, "testFailover")
    router.add("POST", ACTION, base, items.test_failover_cleanup, API, "testFailoverCleanup")
    router.add("POST", ACTION, base, items.remove, API, "remove")
    return items
