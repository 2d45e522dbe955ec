"""Microsoft.Migrate projects and Microsoft.OffAzure discovery: the VMware site, its vCenters (an appliance
discovers up to ten, each with its own run-as account) and the discovered machines (with disks, NICs, OS,
power state and the vCenter that runs them)."""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from wavelift.emulator.estate import SourceMachine
from wavelift.emulator.providers.common import get_item, list_items
from wavelift.emulator.routing import COLLECTION, ITEM, Call, Reply, Router
from wavelift.emulator.world import World

OFFAZURE_API = {"2020-01-01", "2023-06-06", "2020-07-07"}
MIGRATE_API = {"2018-09-01-preview", "2020-05-01", "2023-01-01"}
OFF = "Microsoft.OffAzure"
MIG = "Microsoft.Migrate"


class VCenter(NamedTuple):
    id: str
    run_as_id: str
    fqdn: str


class Discovery:
    """Discovered machines rendered from the estate, so power state and deletion stay live."""

    def __init__(self, world: World) -> None:
        self.world = world
        cfg = world.config
        rg_id = f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}"
        self.site_id = f"{rg_id}/providers/{OFF}/VMwareSites/{cfg.site}"
        self.vcenters = [
            VCenter(
                id=f"{self.site_id}/vCenters/{cfg.site}-vcenter{suffix}",
                run_as_id=f"{self.site_id}/runasaccounts/{cfg.site}-vcenter{suffix}-account",
                fqdn=f"vcenter{suffix.lstrip('-')}.onprem.local",
            )
            for suffix in ["", *(f"-{n}" for n in range(2, cfg.vcenters + 1))]
        ]
        self.vcenter_id, self.run_as_id = self.vcenters[0].id, self.vcenters[0].run_as_id
        self.project_id = f"{rg_id}/providers/{MIG}/migrateProjects/{cfg.migrate_project}"

    def seed(self, vault_id: str) -> None:
        """The resources Azure Migrate's appliance registration leaves behind."""
        cfg = self.world.config
        put = self.world.store.put
        put(
            {
                "id": self.project_id,
                "name": cfg.migrate_project,
                "type": f"{MIG}/migrateProjects",
                "location": cfg.region,
                "properties": {
                    "registeredTools": ["ServerDiscovery", "ServerMigration"],
                    "provisioningState": "Succeeded",
                },
            }
        )
        put(
            {
                "id": f"{self.project_id}/solutions/Servers-Migration-ServerMigration",
                "name": "Servers-Migration-ServerMigration",
                "type": f"{MIG}/migrateProjects/solutions",
                "properties": {
                    "tool": "ServerMigration",
                    "purpose": "Migration",
                    "goal": "Servers",
                    "status": "Active",
                    "details": {"extendedDetails": {"vaultId": vault_id}},
                },
            }
        )
        put(
            {
                "id": f"{self.project_id}/solutions/Servers-Discovery-ServerDiscovery",
                "name": "Servers-Discovery-ServerDiscovery",
                "type": f"{MIG}/migrateProjects/solutions",
                "properties": {
                    "tool": "ServerDiscovery",
                    "purpose": "Discovery",
                    "goal": "Servers",
                    "status": "Active",
                    "details": {
                        "extendedDetails": {
                            "applianceNameToSiteIdMapV2": json.dumps(
                                [{"ApplianceName": cfg.appliance, "SiteId": self.site_id}]
                            )
                        }
                    },
                },
            }
        )
        put(
            {
                "id": self.site_id,
                "name": cfg.site,
                "type": f"{OFF}/VMwareSites",
                "location": cfg.region,
                "properties": {
                    "applianceName": cfg.appliance,
                    "discoverySolutionId": f"{self.project_id}/solutions/Servers-Discovery-ServerDiscovery",
                    "servicePrincipalIdentityDetails": {"tenantId": cfg.tenant_id},
                },
            }
        )
        for vcenter in self.vcenters:
            put(
                {
                    "id": vcenter.id,
                    "name": vcenter.id.rsplit("/", 1)[1],
                    "type": f"{OFF}/VMwareSites/vCenters",
                    "properties": {
                        "fqdn": vcenter.fqdn,
                        "port": "443",
                        "runAsAccountId": vcenter.run_as_id,
                        "version": "7.0.3",
                        "perfStatisticsLevel": "Level 1",
                    },
                }
            )
            put(
                {
                    "id": vcenter.run_as_id,
                    "name": vcenter.run_as_id.rsplit("/", 1)[1],
                    "type": f"{OFF}/VMwareSites/runasaccounts",
                    "properties": {
                        "displayName": f"{vcenter.fqdn}-readonly",
                        "credentialType": "VMwareFabric",
                        "createdTimestamp": "2026-01-05T10:00:00Z",
                    },
                }
            )

    def vcenter_of(self, machine: SourceMachine) -> VCenter:
        """The vCenter that runs (and discovered) the machine: machines are spread over the site's vCenters."""
        return self.vcenters[int(hashlib.sha256(machine.name.encode()).hexdigest(), 16) % len(self.vcenters)]

    def machine_id(self, machine: SourceMachine) -> str:
        return f"{self.site_id}/machines/{machine.name}"

    def render(self, m: SourceMachine) -> dict:
        """A VMware machine as `VMwareMachine_Get.json` (2020-01-01) shows one."""
        datastore = "[datastore1]"
        return {
            "id": self.machine_id(m),
            "name": m.name,
            "type": f"{OFF}/VMwareSites/machines",
            "properties": {
                "displayName": m.display_name,
                "instanceUuid": m.name.split("_")[0],
                "vCenterId": self.vcenter_of(m).id,
                "vCenterFQDN": self.vcenter_of(m).fqdn,
                "dataCenterScope": "datacenter-1",
                "firmware": "efi" if m.firmware == "UEFI" else "bios",
                "description": "",
                "numberOfProcessorCore": m.cores,
                "allocatedMemoryInMB": float(m.memory_mb),
                "powerStatus": m.power_state,
                "isDeleted": False,
                "changeTrackingSupported": True,
                "changeTrackingEnabled": True,
                "vMwareToolsStatus": "Running",
                "hostInMaintenanceMode": False,
                "hostName": "esx01.onprem.local",
                "hostPowerState": "poweredOn",
                "hostVersion": "7.0.3",
                "operatingSystemDetails": {
                    "osType": "windowsguest" if m.os_type == "Windows" else "linuxguest",
                    "osName": m.os_name,
                    "osVersion": None,
                },
                "vmConfigurationFileLocation": f"{datastore} {m.display_name}/{m.display_name}.vmx",
                "disks": [
                    {
                        "uuid": d.uuid,
                        "name": d.name,
                        "label": f"Hard disk {i + 1}",
                        "maxSizeInBytes": d.size_gb * 1024**3,
                        "lun": i,
                        "diskType": "Static",
                        "diskMode": "persistent",
                        "diskProvisioningPolicy": "ThinProvisioned",
                        "diskScrubbingPolicy": "LazilyScrubbed",
                        "path": f"{datastore} {m.display_name}/{m.display_name}_{i}.vmdk",
                    }
                    for i, d in enumerate(m.disks)
                ],
                "networkAdapters": [
                    {
                        "label": "Network adapter 1",
                        "nicId": "4000",
                        "macAddress": m.mac,
                        "ipAddressList": [m.ip],
                        "ipAddressType": "Static",
                        "networkName": "VM Network",
                    }
                ],
                "tags": m.tags,
                "errors": [],
                "createdTimestamp": "2026-01-05T10:00:00Z",
                "updatedTimestamp": "2026-01-05T10:00:00Z",
            },
        }

    def get_machine(self, call: Call) -> Reply:
        machine = self.world.machine(call.path.names[-1])
        if machine is None or call.path.item_id.rsplit("/", 2)[0].lower() != self.site_id.lower():
            return get_item(self.world, call)  # answers ARM's 404
        return Reply(200, self.render(machine))

    def list_machines(self, call: Call) -> Reply:
        self.world.store.require(call.path.item_id)
        return list_items(self.world, call, list(self.world.machines.values()), self.render)


def register(router: Router, world: World) -> Discovery:
    disc = Discovery(world)
    w = world
    router.add("GET", ITEM, f"{MIG}/migrateProjects", lambda c: get_item(w, c), MIGRATE_API)
    router.add("GET", ITEM, f"{MIG}/migrateProjects/solutions", lambda c: get_item(w, c), MIGRATE_API)
    router.add("GET", ITEM, f"{OFF}/VMwareSites", lambda c: get_item(w, c), OFFAZURE_API)
    router.add("GET", ITEM, f"{OFF}/VMwareSites/machines", disc.get_machine, OFFAZURE_API)
    router.add("GET", COLLECTION, f"{OFF}/VMwareSites/machines", disc.list_machines, OFFAZURE_API)
    for kind in ("vCenters", "runasaccounts"):
        router.add("GET", ITEM, f"{OFF}/VMwareSites/{kind}", lambda c: get_item(w, c), OFFAZURE_API)
        router.add(
            "GET",
            COLLECTION,
            f"{OFF}/VMwareSites/{kind}",
            lambda c: list_items(w, c, w.store.children(w.store.require(c.path.item_id)["id"], c.path.tail or "")),
            OFFAZURE_API,
        )
    return disc
