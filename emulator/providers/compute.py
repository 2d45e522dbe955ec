"""Microsoft.Compute: virtual machines (create, read with instance view, list, update, power, delete)
and their extensions, including Azure Disk Encryption's rules for Windows and Linux and the rule that
encryption at host changes only on a deallocated VM."""

from __future__ import annotations

import base64
import copy
import re
import secrets
import uuid
from typing import Any

from wavelift.emulator.clock import iso
from wavelift.emulator.errors import ArmError, bad_request, conflict
from wavelift.emulator.guest import COMMAND_FOR_OS, listening_ports, run_script
from wavelift.emulator.providers.common import (
    check_name,
    delete_with_lro,
    fail_unless,
    filtered,
    get_item,
    list_children,
    list_items,
    put_provisioned,
    reference,
    require_parent,
    shell,
    vm_name_problem,
)
from wavelift.emulator.providers.features import Features
from wavelift.emulator.providers.keyvault import KeyVaults
from wavelift.emulator.providers.quotas import Quotas
from wavelift.emulator.routing import ACTION, COLLECTION, ITEM, Call, Reply, Router
from wavelift.emulator.skus import VM_SIZES, sku
from wavelift.emulator.world import World

API = {"2026-04-01", "2025-04-01", "2024-11-01", "2024-07-01"}
SKUS_API = {"2021-07-01"}
NS = "Microsoft.Compute"
VM_TYPE = f"{NS}/virtualMachines"
ADE_PUBLISHER = "Microsoft.Azure.Security"
ADE_TYPE = {"Windows": "AzureDiskEncryption", "Linux": "AzureDiskEncryptionForLinux"}
POWER_DISPLAY = {
    "running": "VM running",
    "stopped": "VM stopped",
    "deallocated": "VM deallocated",
    "starting": "VM starting",
}


class Compute:
    """Virtual machines and their power state."""

    def __init__(self, world: World, features: Features, quotas: Quotas, key_vaults: KeyVaults) -> None:
        self.world = world
        self.features = features
        self.quotas = quotas
        self.key_vaults = key_vaults
        self.power: dict[str, str] = {}
        self.had_disk_encryption: set[str] = set()  # VM ids that ever had the ADE extension
        self.guest_ports: dict[str, set[int]] = {}  # VM id -> ports its services listen on (a migrated server's)
        self.disk_keys: dict[str, dict] = {}  # VM id -> the BEK its disks are encrypted with (a secret reference)

    # -- reads ----------------------------------------------------------------------------------
    def render(self, vm: dict, expand: bool = False) -> dict:
        out = copy.deepcopy(vm)
        # its extensions, whole, as Microsoft's example VirtualMachine_Get.json shows them (`Get-AzVM`'s Extensions)
        out["resources"] = copy.deepcopy(self.world.store.children(vm["id"], "extensions"))
        if expand:
            out["properties"]["instanceView"] = self.instance_view(vm)
        return out

    def instance_view(self, vm: dict) -> dict:
        power = self.power.get(vm["id"].lower(), "stopped")
        state = vm["properties"].get("provisioningState", "Succeeded").lower()
        encrypted = any(
            e["properties"].get("type") in ADE_TYPE.values() and e["properties"].get("provisioningState") == "Succeeded"
            for e in self.world.store.children(vm["id"], "extensions")
        )
        disks = [
            vm["properties"]["storageProfile"].get("osDisk", {}),
            *vm["properties"]["storageProfile"].get("dataDisks", []),
        ]
        key = self.disk_keys.get(vm["id"].lower()) if encrypted else None
        return {
            "computerName": vm["name"][:15],
            "osName": vm["properties"].get("storageProfile", {}).get("osDisk", {}).get("osType"),
            "statuses": [
                {"code": f"ProvisioningState/{state}", "level": "Info", "displayStatus": f"Provisioning {state}"},
                {"code": f"PowerState/{power}", "level": "Info", "displayStatus": POWER_DISPLAY.get(power, power)},
            ],
            "disks": [
                {
                    "name": d.get("name"),
                    "statuses": [
                        {"code": f"EncryptionState/{'encrypted' if encrypted else 'notEncrypted'}", "level": "Info"}
                    ],
                    **({"encryptionSettings": [{"diskEncryptionKey": key, "enabled": True}]} if key else {}),
                }
                for d in disks
            ],
            "extensions": [
                {
                    "name": e["name"],
                    "type": f"{e['properties'].get('publisher')}.{e['properties'].get('type')}",
                    "statuses": [
                        {
                            "code": f"ProvisioningState/{e['properties'].get('provisioningState', '').lower()}",
                            "level": "Info",
                        }
                    ],
                }
                for e in self.world.store.children(vm["id"], "extensions")
            ],
        }

    def get_vm(self, call: Call) -> Reply:
        expand = call.query.get("$expand", "")
        if expand and expand.lower() not in ("instanceview", "userdata", "resiliencyview"):  # InstanceViewTypes
            raise bad_request("InvalidParameter", f"The value '{expand}' of $expand is not valid.")
        return Reply(200, self.render(self.world.store.require(call.path.item_id), expand.lower() == "instanceview"))

    # -- writes ---------------------------------------------------------------------------------
    def put_vm(self, call: Call) -> Reply:
        check_name(call.path.names[-1], "virtual machine", vm_name_problem)
        existing = self.world.store.get(call.path.item_id)
        resource = shell(call, VM_TYPE)
        if existing is not None:
            merged = copy.deepcopy(existing)
            merged["properties"].update(resource["properties"])
            merged["tags"] = resource.get("tags", existing.get("tags", {}))
            self._check_update(existing, merged)
            return put_provisioned(self.world, call, merged, self.render)
        props = resource["properties"]
        fail_unless(
            bool((props.get("hardwareProfile") or {}).get("vmSize")),
            400,
            "InvalidParameter",
            "The value of parameter hardwareProfile.vmSize is required.",
        )
        fail_unless(
            "storageProfile" in props, 400, "InvalidParameter", "The value of parameter storageProfile is required."
        )
        _check_disks(props["storageProfile"] or {})
        nic_ids = [n.get("id", "") for n in (props.get("networkProfile") or {}).get("networkInterfaces", [])]
        fail_unless(
            bool(nic_ids),
            400,
            "InvalidParameter",
            "A virtual machine needs at least one network interface in networkProfile.networkInterfaces.",
        )
        for nic_id in nic_ids:
            nic = self.world.store.require(nic_id)
            owner = reference(nic["properties"], "virtualMachine")
            if owner and owner.lower() != resource["id"].lower():
                raise conflict("NicInUse", f"Network interface {nic_id} is attached to virtual machine {owner}.")
        self.quotas.check(resource.get("location", ""), props["hardwareProfile"]["vmSize"])
        props["vmId"] = str(uuid.uuid4())
        props["timeCreated"] = iso(self.world.clock.now())
        _azure_defaults(props)
        self._attach(resource)
        reply = put_provisioned(self.world, call, resource, self.render)
        self.power[resource["id"].lower()] = "starting"
        self.world.scheduler.at(
            self.world.clock.now() + self.world.config.capacity.arm_seconds,
            lambda t: self._set_power(resource["id"], "running"),
        )
        return reply

    def patch_vm(self, call: Call) -> Reply:
        """Update a VM: the given properties replace the stored ones section by section, as ARM's PATCH does."""
        existing = self.world.store.require(call.path.item_id)
        body = call.require_body()
        merged = copy.deepcopy(existing)
        for section, value in (body.get("properties") or {}).items():
            current = merged["properties"].get(section)
            merged["properties"][section] = (
                {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
            )
        if "tags" in body:
            merged["tags"] = body["tags"]
        self._check_update(existing, merged)
        return put_provisioned(self.world, call, merged, self.render)

    def _check_update(self, existing: dict, updated: dict) -> None:
        """Azure changes encryption at host only while the VM is deallocated."""

        def at_host(vm: dict) -> bool:
            return bool((vm["properties"].get("securityProfile") or {}).get("encryptionAtHost"))

        if at_host(existing) != at_host(updated) and self.power.get(existing["id"].lower()) != "deallocated":
            raise conflict(
                "OperationNotAllowed",
                f"Encryption at host of virtual machine {existing['name']} can only be changed while the VM is "
                "deallocated.",
            )
        if at_host(updated) and not at_host(existing):
            self._check_host_encryption(updated)

    def _check_host_encryption(self, vm: dict) -> None:
        """Microsoft Learn, "Encryption at host": the subscription feature registered (the message is Azure's own),
        a size that supports it, and never Azure Disk Encryption on the same VM (codes not documented)."""
        if self.features.state("Microsoft.Compute/EncryptionAtHost") != "Registered":
            raise ArmError(
                400,
                "InvalidParameter",
                "The property 'securityProfile.encryptionAtHost' is not valid because the "
                "'Microsoft.Compute/EncryptionAtHost' feature is not enabled for this subscription.",
                target="securityProfile.encryptionAtHost",
            )
        size = (vm["properties"].get("hardwareProfile") or {}).get("vmSize", "")
        known = VM_SIZES.get(size)
        fail_unless(
            known is None or known.encryption_at_host,
            400,
            "InvalidParameter",
            f"Encryption at host is not supported for the VM size '{size}'.",
        )
        fail_unless(
            vm["id"].lower() not in self.had_disk_encryption,
            400,
            "InvalidParameter",
            f"Encryption at host cannot be enabled on virtual machine {vm['name']}: it has had Azure Disk Encryption.",
        )

    def list_skus(self, call: Call) -> Reply:
        """The Resource SKUs API's VM sizes, in the regions asked for (`$filter=location eq '<region>'`)."""
        wanted = call.query.get("$filter")
        regions = [self.world.config.region, self.world.config.secondary_region]
        if wanted:
            match = re.fullmatch(r"\s*location\s+eq\s+'([^']+)'\s*", wanted)
            fail_unless(match is not None, 400, "InvalidFilter", "Only $filter=location eq '<region>' is supported.")
            regions = [r for r in regions if r.lower() == match.group(1).lower()]
        items = [sku(name, size, region) for region in regions for name, size in VM_SIZES.items()]
        return list_items(self.world, filtered(call), items)

    def _attach(self, vm: dict) -> None:
        for ref in vm["properties"]["networkProfile"]["networkInterfaces"]:
            nic = self.world.store.require(ref["id"])
            nic["properties"]["virtualMachine"] = {"id": vm["id"]}

    def _set_power(self, vm_id: str, state: str) -> None:
        if self.world.store.get(vm_id) is not None:
            self.power[vm_id.lower()] = state

    def create(
        self,
        *,
        resource_group_id: str,
        name: str,
        location: str,
        size: str,
        os_type: str,
        disks: list[dict],
        nic_id: str,
        tags: dict,
    ) -> dict:
        """Create a running VM directly (the end of a migration or a test migration), within the region's quota."""
        self.quotas.check(location, size)
        vm_id = f"{resource_group_id}/providers/{VM_TYPE}/{name}"
        os_disk, *data = disks
        vm = {
            "id": vm_id,
            "name": name,
            "type": VM_TYPE,
            "location": location,
            "tags": tags,
            "properties": {
                "vmId": str(uuid.uuid4()),
                "hardwareProfile": {"vmSize": size},
                "storageProfile": {
                    "osDisk": {
                        "osType": os_type,
                        "name": f"{name}-osdisk",
                        "createOption": "Attach",
                        "diskSizeGB": os_disk["size_gb"],
                        "managedDisk": {
                            "id": f"{resource_group_id}/providers/{NS}/disks/{name}-osdisk",
                            "storageAccountType": os_disk["type"],
                        },
                    },
                    "dataDisks": [
                        {
                            "lun": lun,
                            "name": f"{name}-datadisk{lun}",
                            "createOption": "Attach",
                            "diskSizeGB": d["size_gb"],
                            "managedDisk": {
                                "id": f"{resource_group_id}/providers/{NS}/disks/{name}-datadisk{lun}",
                                "storageAccountType": d["type"],
                            },
                        }
                        for lun, d in enumerate(data)
                    ],
                },
                "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"primary": True}}]},
                "provisioningState": "Succeeded",
                "timeCreated": iso(self.world.clock.now()),
            },
        }
        _azure_defaults(vm["properties"])
        self.world.store.put(vm)
        self._attach(vm)
        self.power[vm_id.lower()] = "running"
        return vm

    def remove(self, vm_id: str) -> None:
        """Delete a VM with its NICs (test-migration clean-up removes both)."""
        vm = self.world.store.delete(vm_id)
        if vm is None:
            return
        self.power.pop(vm_id.lower(), None)
        for ext in self.world.store.children(vm_id, "extensions"):
            self.world.store.delete(ext["id"])
        for ref in vm["properties"]["networkProfile"]["networkInterfaces"]:
            self.world.store.delete(ref["id"])

    def power_action(self, call: Call, target: str, transitional: str) -> Reply:
        vm = self.world.store.require(call.path.item_id)
        self.power[vm["id"].lower()] = transitional
        return self.world.lro(
            call,
            duration=self.world.config.capacity.arm_seconds,
            complete=lambda t: self._set_power(vm["id"], target),
            result=lambda: (200, None),
        )

    def run_command(self, call: Call) -> Reply:
        """Run Command (`POST .../runCommand`): a script in the running VM through its agent, with the command id
        of its OS (Microsoft Learn, "Run scripts in your Linux VM by using action Run Commands": `RunShellScript`;
        "... Windows VM ...": `RunPowerShellScript`). Linux answers one status whose message holds both streams;
        Windows one status per stream. Codes for a stopped VM or a wrong command id are not documented."""
        vm = self.world.store.require(call.path.item_id)
        body = call.require_body()
        os_type = vm["properties"]["storageProfile"].get("osDisk", {}).get("osType", "Windows")
        command, script = body.get("commandId"), body.get("script") or []
        fail_unless(
            command == COMMAND_FOR_OS.get(os_type),
            400,
            "InvalidParameter",
            f"commandId {command!r} does not run on a {os_type} VM: use {COMMAND_FOR_OS.get(os_type)}.",
        )
        fail_unless(
            isinstance(script, list) and all(isinstance(line, str) for line in script),
            400,
            "InvalidParameter",
            "script must be a list of lines.",
        )
        if self.power.get(vm["id"].lower()) != "running":
            raise conflict("OperationNotAllowed", f"Run Command needs virtual machine {vm['name']} to be running.")
        out = run_script(command, script, self.guest_ports.get(vm["id"].lower(), listening_ports(os_type, None)))
        ok = {"level": "Info", "displayStatus": "Provisioning succeeded"}
        statuses = (
            [
                {
                    "code": "ProvisioningState/succeeded",
                    **ok,
                    "message": f"Enable succeeded: \n[stdout]\n{out}\n[stderr]\n",
                }
            ]
            if os_type == "Linux"
            else [
                {"code": "ComponentStatus/StdOut/succeeded", **ok, "message": out},
                {"code": "ComponentStatus/StdErr/succeeded", **ok, "message": ""},
            ]
        )
        return self.world.lro(
            call,
            duration=self.world.config.capacity.arm_seconds,
            complete=lambda t: None,
            result=lambda: (200, {"value": statuses}),
        )

    def delete_vm(self, call: Call) -> Reply:
        def detach(vm: dict) -> None:
            self.power.pop(vm["id"].lower(), None)
            for ext in self.world.store.children(vm["id"], "extensions"):
                self.world.store.delete(ext["id"])
            for ref in vm["properties"]["networkProfile"]["networkInterfaces"]:
                nic = self.world.store.get(ref["id"])
                if nic is not None:
                    nic["properties"].pop("virtualMachine", None)

        return delete_with_lro(self.world, call, detach)

    # -- extensions -----------------------------------------------------------------------------
    def put_extension(self, call: Call) -> Reply:
        require_parent(self.world, call)
        vm_id = call.path.item_id.rsplit("/", 2)[0]
        vm = self.world.store.require(vm_id)
        resource = shell(call, f"{VM_TYPE}/extensions")
        props = resource["properties"]
        for field in ("publisher", "type", "typeHandlerVersion"):
            fail_unless(
                bool(props.get(field)),
                400,
                "InvalidParameter",
                f"The value of parameter properties.{field} is required.",
            )
        if props["publisher"] == ADE_PUBLISHER:
            self._check_ade(vm, props, call)
            self.had_disk_encryption.add(vm["id"].lower())
            self._keep_disk_key(vm, props["settings"]["KeyVaultResourceId"])
        return put_provisioned(self.world, call, resource)

    def _keep_disk_key(self, vm: dict, vault_id: str) -> None:
        """The BitLocker/dm-crypt key ADE makes for the VM, kept as a secret (a BEK) in its vault; the VM's disks
        then name it in their encryption settings (as `Get-AzVM -Status` shows, which Microsoft's CopyKeys.ps1
        reads). Encrypting again keeps the key."""
        if vm["id"].lower() in self.disk_keys:
            return
        name = str(uuid.uuid4())
        bundle = self.key_vaults.set_secret(
            vault_id.rsplit("/", 1)[-1],
            name,
            base64.b64encode(secrets.token_bytes(32)).decode(),
            "BEK",
            {"DiskEncryptionKeyFileName": f"{name}.BEK", "MachineName": vm["name"]},
        )
        self.disk_keys[vm["id"].lower()] = {"secretUrl": bundle["id"], "sourceVault": {"id": vault_id}}

    def _check_ade(self, vm: dict, props: dict, call: Call) -> None:
        """Azure Disk Encryption: the VM must run, the type must match its OS, and the Key Vault be one ADE may use
        (in the VM's region, enabled for disk encryption)."""
        if self.power.get(vm["id"].lower()) != "running":
            raise conflict("OperationNotAllowed", f"Disk encryption needs virtual machine {vm['name']} to be running.")
        os_type = vm["properties"]["storageProfile"].get("osDisk", {}).get("osType", "Windows")
        settings = props.get("settings") or {}
        missing = [k for k in ("EncryptionOperation", "KeyVaultURL", "KeyVaultResourceId") if not settings.get(k)]
        if missing:
            raise bad_request("InvalidParameter", f"Azure Disk Encryption settings are missing {', '.join(missing)}.")
        vault = self.key_vaults.disk_encryption_problem(
            settings["KeyVaultResourceId"], settings["KeyVaultURL"], vm.get("location", "")
        )
        if vault is not None:
            raise bad_request(*vault)
        if props["type"] != ADE_TYPE[os_type] and call.injected_error is None:
            call.injected_error = {
                "code": "VMExtensionProvisioningError",
                "message": f"VM has reported a failure when processing extension '{call.path.names[-1]}': "
                f"{props['type']} is not supported on a {os_type} VM; use {ADE_TYPE[os_type]}.",
            }


DISK_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/disks/[^/]+$", re.I)


def _check_disks(storage: dict) -> None:
    """A disk the VM attaches must name it. The Compute spec's `DiskCreateOptionTypes`: `Attach` is "used when you
    are using a specialized disk to create the virtual machine", `FromImage` "when you are using an image" (and then
    `imageReference`); an OS disk is one or the other. Microsoft's "Create a VM by attaching a managed disk as OS
    disk" sample attaches the disk by its id (`az vm create --attach-os-disk`, `Set-AzVMOSDisk -ManagedDiskId
    -CreateOption Attach`); a VHD (`vhd.uri`) is the unmanaged alternative. The messages follow Azure's own
    ("Required parameter 'dataDisk.createOption' is missing (null).", Azure/azure-sdk-for-go#369) and ARM's for an
    id that is not a resource id (`LinkedInvalidPropertyId`; Learn's "Troubleshooting shared image galleries in Azure"
    quotes it, and for an id of another type "The source id: <resourceID> must be a managed disk or snapshot.")."""
    os_disk = storage.get("osDisk")
    if os_disk is None:
        fail_unless(bool(storage.get("imageReference")), 400, "InvalidParameter", _missing("storageProfile.osDisk"))
        return
    option = str(os_disk.get("createOption") or "")
    fail_unless(
        option.lower() in ("attach", "fromimage"),
        400,
        "InvalidParameter",
        f"The value '{option}' of parameter 'osDisk.createOption' is not allowed: an OS disk is Attach or FromImage.",
    )
    if option.lower() == "fromimage":
        fail_unless(bool(storage.get("imageReference")), 400, "InvalidParameter", _missing("imageReference"))
    disks = [("osDisk", os_disk)] if option.lower() == "attach" else []
    disks += [(f"dataDisks[{n}]", d) for n, d in enumerate(storage.get("dataDisks") or []) if _attached(d)]
    for path, disk in disks:
        disk_id, vhd = reference(disk, "managedDisk"), (disk.get("vhd") or {}).get("uri")
        fail_unless(bool(disk_id or vhd), 400, "InvalidParameter", _missing(f"{path}.managedDisk.id"))
        if disk_id and not disk_id.lower().startswith("/subscriptions/"):
            raise ArmError(
                400,
                "LinkedInvalidPropertyId",
                f"Property id '{disk_id}' at path 'properties.storageProfile.{path}.managedDisk.id' is invalid. "
                "Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' or "
                "'/providers/{resourceProviderNamespace}/'.",
            )
        fail_unless(
            not disk_id or DISK_ID.match(disk_id) is not None,
            400,
            "InvalidParameter",
            f"The id: {disk_id} at {path}.managedDisk.id must be a managed disk.",
        )


def _attached(disk: dict) -> bool:
    return str(disk.get("createOption") or "").lower() == "attach"


def _missing(parameter: str) -> str:
    return f"Required parameter '{parameter}' is missing (null)."


def _azure_defaults(props: dict) -> None:
    """What Compute fills in on a new VM (Microsoft's example VirtualMachine_Get.json, 2024-07-01; the spec's
    default extensions time budget of 90 minutes). The emulator keeps no disk resources, so an attached disk
    reports 128 GB and Standard_LRS unless the request says otherwise."""
    props.setdefault("extensionsTimeBudget", "PT1H30M")
    storage = props["storageProfile"]
    storage.setdefault("dataDisks", [])
    for disk in [storage.get("osDisk") or {}, *storage["dataDisks"]]:
        disk.setdefault("caching", "ReadWrite" if disk is storage.get("osDisk") else "None")
        disk.setdefault("diskSizeGB", 128)
        if isinstance(disk.get("managedDisk"), dict):
            disk["managedDisk"].setdefault("storageAccountType", "Standard_LRS")


def register(router: Router, world: World, features: Features, quotas: Quotas, key_vaults: KeyVaults) -> Compute:
    vms = Compute(world, features, quotas, key_vaults)
    w = world
    routes: list[tuple[str, str, str, Any, str]] = [
        (ITEM, "virtualMachines", "PUT", vms.put_vm, ""),
        (ITEM, "virtualMachines", "GET", vms.get_vm, ""),
        (ITEM, "virtualMachines", "PATCH", vms.patch_vm, ""),
        (ITEM, "virtualMachines", "DELETE", vms.delete_vm, ""),
        (
            COLLECTION,
            "virtualMachines",
            "GET",
            lambda c: (
                list_children(w, c, vms.render)
                if c.path.resource_group
                else list_items(w, c, list(w.store.of_type(VM_TYPE)), vms.render)
            ),
            "",
        ),
        (ACTION, "virtualMachines", "POST", lambda c: vms.power_action(c, "running", "starting"), "start"),
        (ACTION, "virtualMachines", "POST", lambda c: vms.power_action(c, "stopped", "stopping"), "powerOff"),
        (ACTION, "virtualMachines", "POST", lambda c: vms.power_action(c, "deallocated", "deallocating"), "deallocate"),
        (ACTION, "virtualMachines", "POST", lambda c: vms.power_action(c, "running", "starting"), "restart"),
        (ACTION, "virtualMachines", "POST", vms.run_command, "runCommand"),
        (
            ACTION,
            "virtualMachines",
            "GET",
            lambda c: Reply(200, vms.instance_view(w.store.require(c.path.item_id))),
            "instanceView",
        ),
        (ITEM, "virtualMachines/extensions", "PUT", vms.put_extension, ""),
        (ITEM, "virtualMachines/extensions", "GET", lambda c: get_item(w, c), ""),
        (  # not paged: a VirtualMachineExtensionsListResult is one {"value": [...]}
            COLLECTION,
            "virtualMachines/extensions",
            "GET",
            lambda c: Reply(200, {"value": w.store.children(w.store.require(c.path.item_id)["id"], "extensions")}),
            "",
        ),
        (ITEM, "virtualMachines/extensions", "DELETE", lambda c: delete_with_lro(w, c), ""),
        (
            COLLECTION,
            "virtualMachines/extensions",
            "GET",
            lambda c: Reply(200, {"value": w.store.children(w.store.require(c.path.item_id)["id"], "extensions")}),
            "",
        ),
    ]
    for kind, path, method, handler, action in routes:
        router.add(method, kind, f"{NS}/{path}", handler, API, action)
    router.add("GET", COLLECTION, f"{NS}/skus", vms.list_skus, SKUS_API)
    return vms
