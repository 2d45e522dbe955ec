"""Microsoft.RecoveryServices vaults and Azure Backup: policies, VM discovery, protected VMs and on-demand backups.

A vault protects only the VMs it has discovered ("Back up an Azure VM using Azure Backup via REST API",
Microsoft Learn: POST `backupFabrics/Azure/refreshContainers`, then `backupProtectableItems`), and it
discovers only the VMs of its own region ("Support matrix for Azure VM backup": the vault must be in the
VM's region). Protecting a VM it has not discovered names a protection container that does not exist:
404, as for any child of a missing resource (Microsoft documents the step, not the refusal's code)."""

from __future__ import annotations

import copy
import uuid
from typing import Any
from urllib.parse import quote

from wavelift.emulator.clock import iso
from wavelift.emulator.providers.asr import vault_of
from wavelift.emulator.providers.common import (
    delete_with_lro,
    fail_unless,
    filtered,
    get_item,
    list_children,
    list_items,
    put_provisioned,
    require_parent,
    shell,
)
from wavelift.emulator.routing import ACTION, COLLECTION, ITEM, Call, Reply, Router
from wavelift.emulator.world import World

VAULT_API = {"2026-11-01", "2025-02-01", "2024-04-01"}
BACKUP_API = {"2026-10-01", "2025-02-01", "2024-04-01"}
VAULT_DEFAULTS: dict[str, Any] = {
    "publicNetworkAccess": "Enabled",
    "monitoringSettings": {
        "azureMonitorAlertSettings": {
            "alertsForAllJobFailures": "Enabled",
            "alertsForAllReplicationIssues": "Enabled",
            "alertsForAllFailoverIssues": "Enabled",
        },
        "classicAlertSettings": {
            "alertsForCriticalOperations": "Disabled",
            "emailNotificationsForSiteRecovery": "Enabled",
        },
    },
    "privateEndpointStateForBackup": "None",
    "privateEndpointStateForSiteRecovery": "None",
    "securitySettings": {
        "immutabilitySettings": {"state": "Disabled"},
        "softDeleteSettings": {
            "softDeleteRetentionPeriodInDays": 14,
            "softDeleteState": "Enabled",
            "enhancedSecurityState": "Enabled",
        },
        "multiUserAuthorization": "Disabled",
    },
    "redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant", "crossRegionRestore": "Disabled"},
    "secureScore": "None",
    "bcdrSecurityLevel": "Poor",
}
DAILY_RETENTION = (7, 9999)  # days (Microsoft Learn, "Support matrix for Azure VM backup": retention limits)
NS = "Microsoft.RecoveryServices"
ITEM_PATH = f"{NS}/vaults/backupFabrics/protectionContainers/protectedItems"
CONTAINER_TYPE = f"{NS}/vaults/backupFabrics/protectionContainers"
VM_FILTER = "backupManagementType eq 'AzureIaasVM'"


def vault_etag(t: float) -> str:
    """A vault's etag: its last change's time, as Azure writes it (`W/"datetime'2017-12-15T12%3A36%3A51.68Z'"`)."""
    return f"W/\"datetime'{quote(iso(t), safe='-.TZ')}'\""


def render_vault(vault: dict) -> dict:
    """A Recovery Services vault with the settings Azure gives a new vault (as Microsoft's example GETVault.json,
    2025-02-01, shows them: soft delete on for 14 days, geo-redundant storage, public access, no private
    endpoints), unless the vault sets its own."""
    shown = copy.deepcopy(vault)
    shown.setdefault("tags", {})
    props = shown["properties"]
    for key, value in VAULT_DEFAULTS.items():
        props.setdefault(key, copy.deepcopy(value))
    return shown


class Backup:
    """Backup policies and protected items in a vault; a backup job per configure and trigger."""

    def __init__(self, world: World) -> None:
        self.world = world

    def put_vault(self, call: Call) -> Reply:
        resource = shell(call, f"{NS}/vaults")
        fail_unless(
            bool(resource.get("location")),
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )
        resource["sku"] = (call.body or {}).get("sku") or {"name": "RS0", "tier": "Standard"}
        resource["etag"] = vault_etag(self.world.clock.now())
        return put_provisioned(self.world, call, resource, render_vault)

    def put_policy(self, call: Call) -> Reply:
        """Create or update a policy. Microsoft's example (ProtectionPolicies_CreateOrUpdate_Simple.json) answers
        200 with the policy or 202 with monitor URLs; the emulator always answers 202 and applies the policy an
        ARM operation later (the SDK, which does not treat the PUT as an LRO, then returns None)."""
        self.world.store.require(vault_of(call.path.item_id))
        resource = shell(call, f"{NS}/vaults/backupPolicies")
        props = resource["properties"]
        fail_unless(
            props.get("backupManagementType") == "AzureIaasVM",
            400,
            "BMSUserErrorInvalidPolicyInput",
            "properties.backupManagementType must be 'AzureIaasVM' for a VM backup policy.",
        )
        for field in ("schedulePolicy", "retentionPolicy"):
            fail_unless(
                isinstance(props.get(field), dict),
                400,
                "BMSUserErrorInvalidPolicyInput",
                f"properties.{field} is required.",
            )
        daily = (props["retentionPolicy"].get("dailySchedule") or {}).get("retentionDuration") or {}
        days, least, most = daily.get("count"), *DAILY_RETENTION
        fail_unless(
            daily.get("durationType") != "Days" or (isinstance(days, int) and least <= days <= most),
            400,
            "BMSUserErrorInvalidPolicyInput",
            f"properties.retentionPolicy.dailySchedule.retentionDuration.count must be {least}-{most} days, "
            f"not {days!r}.",
        )
        props.setdefault("protectedItemsCount", 0)
        props["schedulePolicy"].setdefault("scheduleWeeklyFrequency", 0)  # as Microsoft's ProtectionPolicies_Get
        return self.world.lro(
            call,
            style="backup-policy",
            monitor_prefix=call.path.item_id,
            duration=self.world.config.capacity.arm_seconds,
            complete=lambda t: self.world.store.put(resource),
            result=lambda: (200, self.render_policy(self.world.store.require(resource["id"]))),
        )

    def render_policy(self, policy: dict) -> dict:
        out = copy.deepcopy(policy)
        out["properties"]["protectedItemsCount"] = sum(
            1 for i in self._items() if (i["properties"].get("policyId") or "").lower() == policy["id"].lower()
        )
        return out

    def _items(self) -> list[dict]:
        return [r for r in self.world.store.of_type(f"{NS}/vaults/backupFabrics/protectionContainers/protectedItems")]

    def refresh(self, call: Call) -> Reply:
        """Discover the vault region's VMs (202 with a Location answering 202, then 204 once done)."""
        vault = self.world.store.require(vault_of(call.path.item_id))
        fail_unless(call.path.names[-1].lower() == "azure", 400, "BMSUserErrorInvalidInput", "The fabric is 'Azure'.")
        fail_unless(
            call.query.get("$filter") in (None, VM_FILTER),
            400,
            "BMSUserErrorInvalidInput",
            f"The emulator discovers Azure VMs only ($filter={VM_FILTER}).",
        )
        started = self.world.lro(
            call,
            style="backup",
            monitor_prefix=call.path.item_id,
            duration=self.world.config.capacity.arm_seconds,
            complete=lambda t: self._discover(vault),
            result=lambda: (204, None),
        )
        return self._location_only(started)

    def _discover(self, vault: dict) -> None:
        subscription = vault["id"].split("/")[2].lower()
        for vm in list(self.world.store.of_type("Microsoft.Compute/virtualMachines")):  # puts below change the store
            if vm["id"].split("/")[2].lower() != subscription or vm["location"].lower() != vault["location"].lower():
                continue
            rg = vm["id"].split("/")[4]
            name = f"iaasvmcontainerv2;{rg};{vm['name']}".lower()
            self.world.store.put(
                {
                    "id": f"{vault['id']}/backupFabrics/Azure/protectionContainers/iaasvmcontainer;{name}",
                    "name": f"iaasvmcontainer;{name}",
                    "type": CONTAINER_TYPE,
                    "properties": {
                        "friendlyName": vm["name"],
                        "backupManagementType": "AzureIaasVM",
                        "registrationStatus": "Registered",
                        "containerType": "Microsoft.Compute/virtualMachines",
                        "virtualMachineId": vm["id"],
                        "virtualMachineVersion": "Compute",
                        "resourceGroup": rg,
                    },
                }
            )

    def list_protectable(self, call: Call) -> Reply:
        """The discovered VMs not yet protected, as Azure lists them (the names protection then uses)."""
        vault_id = self.world.store.require(call.path.item_id)["id"].lower()
        fail_unless(
            call.query.get("$filter") in (None, VM_FILTER),
            400,
            "BMSUserErrorInvalidInput",
            f"The emulator lists Azure VMs only ($filter={VM_FILTER}).",
        )
        protected = {i["id"].lower().rsplit("/protecteditems/", 1)[0] for i in self._items()}
        items = [
            {
                "id": f"{c['id']}/protectableItems/vm;{c['name'].split(';', 1)[1]}",
                "name": c["name"].split(";", 1)[1],
                "type": f"{CONTAINER_TYPE}/protectableItems",
                "properties": {
                    "virtualMachineId": c["properties"]["virtualMachineId"],
                    "virtualMachineVersion": "Compute",
                    "resourceGroup": c["properties"]["resourceGroup"],
                    "backupManagementType": "AzureIaasVM",
                    "protectableItemType": "Microsoft.Compute/virtualMachines",
                    "friendlyName": c["properties"]["friendlyName"],
                    "protectionState": "NotProtected",
                },
            }
            for c in self.world.store.of_type(CONTAINER_TYPE)
            if c["id"].lower().startswith(vault_id + "/") and c["id"].lower() not in protected
        ]
        return list_items(self.world, filtered(call), items)

    def put_item(self, call: Call) -> Reply:
        vault_id = vault_of(call.path.item_id)
        self.world.store.require(vault_id)
        require_parent(self.world, call)  # the VM's protection container: there once the vault discovered the VM
        props = copy.deepcopy(call.properties())
        fail_unless(
            props.get("protectedItemType") == "Microsoft.Compute/virtualMachines",
            400,
            "BMSUserErrorInvalidInput",
            "properties.protectedItemType must be 'Microsoft.Compute/virtualMachines'.",
        )
        vm = self.world.store.get(props.get("sourceResourceId") or "")
        fail_unless(
            vm is not None,
            400,
            "BMSUserErrorVmNotFound",
            f"The virtual machine '{props.get('sourceResourceId')}' was not found.",
        )
        policy = self.world.store.get(props.get("policyId") or "")
        fail_unless(
            policy is not None,
            400,
            "BMSUserErrorPolicyNotFound",
            f"The backup policy '{props.get('policyId')}' was not found.",
        )
        existing = self.world.store.get(call.path.item_id)
        props.update(
            {
                "friendlyName": vm["name"],
                "virtualMachineId": vm["id"],
                "workloadType": "VM",
                "backupManagementType": "AzureIaasVM",
                "protectionStatus": "Healthy",
                "healthStatus": "Passed",
                "policyName": policy["name"],
                "containerName": call.path.names[-2].split(";", 1)[-1],  # as Compute_ProtectedItem_Get.json shows
                "protectedItemDataId": str(uuid.uuid5(uuid.NAMESPACE_URL, call.path.item_id.lower()).int % 10**18),
                "policyType": "V2" if policy["properties"].get("policyType") == "V2" else "V1",
            }
        )
        props["protectionState"] = existing["properties"]["protectionState"] if existing else "IRPending"
        props.setdefault("lastBackupStatus", existing["properties"].get("lastBackupStatus", "") if existing else "")
        resource = {
            "id": call.path.item_id,
            "name": call.path.names[-1],
            "type": f"{NS}/vaults/backupFabrics/protectionContainers/protectedItems",
            "properties": props,
        }
        job = self._job(vault_id, "ConfigureBackup", vm["name"])
        return self.world.lro(
            call,
            style="backup",
            monitor_prefix=call.path.item_id,
            duration=self.world.config.capacity.arm_seconds,
            complete=lambda t: self._configured(resource, job, t),
            fail=lambda t, e: self._finish(job, t, e),
            result=lambda: (200, self.world.store.require(resource["id"])),
        )

    def _configured(self, resource: dict, job: dict, t: float) -> None:
        self.world.store.put(resource)
        self._finish(job, t)

    def trigger(self, call: Call) -> Reply:
        item = self.world.store.require(call.path.item_id)
        body = call.properties()
        fail_unless(
            body.get("objectType") == "IaasVMBackupRequest",
            400,
            "BMSUserErrorInvalidInput",
            "properties.objectType must be 'IaasVMBackupRequest'.",
        )
        job = self._job(vault_of(item["id"]), "Backup", item["properties"]["friendlyName"])

        def complete(t: float) -> None:
            if self.world.store.get(item["id"]) is not None:
                item["properties"].update(
                    {
                        "protectionState": "Protected",
                        "lastBackupStatus": "Completed",
                        "lastBackupTime": iso(t),
                        "lastRecoveryPoint": iso(t),
                    }
                )
            self._finish(job, t)

        started = self.world.lro(
            call,
            style="backup",
            monitor_prefix=item["id"],
            duration=self.world.config.capacity.test_migrate_seconds,
            complete=complete,
            fail=lambda t, e: self._finish(job, t, e),
            result=lambda: (204, None),
        )
        return self._location_only(started)

    @staticmethod
    def _location_only(reply: Reply) -> Reply:
        """Backup's non-LRO actions answer 202 with a Location to poll, not an Azure-AsyncOperation."""
        return Reply(202, None, {k: v for k, v in reply.headers.items() if k in ("Location", "Retry-After")})

    def delete_item(self, call: Call) -> Reply:
        """Stop protection and delete backup data (not an LRO in the SDK: 202 or 204)."""
        item = self.world.store.delete(call.path.item_id)
        if item is None:
            return Reply(204)
        return self._location_only(
            self.world.lro(
                call,
                style="backup",
                monitor_prefix=item["id"],
                duration=0,
                complete=lambda t: None,
                result=lambda: (204, None),
            )
        )

    def _job(self, vault_id: str, operation: str, entity: str) -> dict:
        name = str(uuid.uuid4())
        return self.world.store.put(
            {
                "id": f"{vault_id}/backupJobs/{name}",
                "name": name,
                "type": f"{NS}/vaults/backupJobs",
                "properties": {
                    "jobType": "AzureIaaSVMJob",
                    "entityFriendlyName": entity,
                    "backupManagementType": "AzureIaasVM",
                    "operation": operation,
                    "status": "InProgress",
                    "startTime": iso(self.world.clock.now()),
                    "activityId": str(uuid.uuid4()),
                },
            }
        )

    @staticmethod
    def _finish(job: dict, t: float, error: dict | None = None) -> None:
        job["properties"].update({"status": "Failed" if error else "Completed", "endTime": iso(t)})
        if error:
            job["properties"]["errorDetails"] = [{"errorCode": error["code"], "errorString": error["message"]}]

    def list_vault_items(self, call: Call) -> Reply:
        prefix = self.world.store.require(call.path.item_id)["id"].lower() + "/"
        return list_items(self.world, call, [i for i in self._items() if i["id"].lower().startswith(prefix)])


def register(router: Router, world: World) -> Backup:
    backup = Backup(world)
    w = world
    router.add("PUT", ITEM, f"{NS}/vaults", backup.put_vault, VAULT_API)
    router.add("GET", ITEM, f"{NS}/vaults", lambda c: get_item(w, c, render_vault), VAULT_API)
    router.add("DELETE", ITEM, f"{NS}/vaults", lambda c: delete_with_lro(w, c), VAULT_API)
    router.add(
        "GET",
        COLLECTION,
        f"{NS}/vaults",
        lambda c: (
            list_children(w, c) if c.path.resource_group else list_items(w, c, list(w.store.of_type(f"{NS}/vaults")))
        ),
        VAULT_API,
    )
    router.add("PUT", ITEM, f"{NS}/vaults/backupPolicies", backup.put_policy, BACKUP_API)
    router.add("GET", ITEM, f"{NS}/vaults/backupPolicies", lambda c: get_item(w, c, backup.render_policy), BACKUP_API)
    router.add(
        "GET",
        COLLECTION,
        f"{NS}/vaults/backupPolicies",
        lambda c: list_children(w, c, backup.render_policy),
        BACKUP_API,
    )
    router.add("POST", ACTION, f"{NS}/vaults/backupFabrics", backup.refresh, BACKUP_API, "refreshContainers")
    router.add("GET", ITEM, CONTAINER_TYPE, lambda c: get_item(w, c), BACKUP_API)
    router.add("GET", COLLECTION, f"{NS}/vaults/backupProtectableItems", backup.list_protectable, BACKUP_API)
    router.add("PUT", ITEM, ITEM_PATH, backup.put_item, BACKUP_API)
    router.add("GET", ITEM, ITEM_PATH, lambda c: get_item(w, c), BACKUP_API)
    router.add("DELETE", ITEM, ITEM_PATH, backup.delete_item, BACKUP_API)
    router.add("POST", ACTION, ITEM_PATH, backup.trigger, BACKUP_API, "backup")
    router.add("GET", COLLECTION, f"{NS}/vaults/backupProtectedItems", backup.list_vault_items, BACKUP_API)
    router.add("GET", COLLECTION, f"{NS}/vaults/backupJobs", lambda c: list_children(w, c), BACKUP_API)
    return backup
