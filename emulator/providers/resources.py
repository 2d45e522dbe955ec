"""Resource groups and storage accounts: where things are, by region.

A resource group has a region of its own, and Site Recovery's Azure-to-Azure replication puts the
replica disks and the failover VM in a resource group of the *secondary* region (`recoveryResourceGroupId`),
while it stages changes in a cache storage account of the *source* region (Microsoft Learn, "Azure to
Azure disaster recovery architecture": "cache storage account in the source region").
"""

from __future__ import annotations

import re

from wavelift.emulator.errors import ArmError
from wavelift.emulator.providers.common import check_name, fail_unless, get_item, shell
from wavelift.emulator.routing import ITEM, RESOURCES, Call, Reply, Router
from wavelift.emulator.world import World

RG_API = {"2025-04-01", "2024-11-01", "2022-09-01", "2021-04-01"}
STORAGE_API = {"2026-09-01", "2025-06-01", "2024-01-01", "2023-05-01"}
RG_TYPE = "Microsoft.Resources/resourceGroups"
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
STORAGE_NAME = re.compile(r"^[a-z0-9]{3,24}$")


def group_id(call: Call) -> str:
    return f"/subscriptions/{call.path.subscription}/resourceGroups/{call.path.names[0]}"


class Places:
    """Resource groups (with their region) and storage accounts."""

    def __init__(self, world: World) -> None:
        self.world = world

    def seed_group(self, subscription: str, name: str, location: str) -> None:
        self.world.store.put(
            {
                "id": f"/subscriptions/{subscription}/resourceGroups/{name}",
                "name": name,
                "type": RG_TYPE,
                "location": location,
                "properties": {"provisioningState": "Succeeded"},
            }
        )

    def group(self, resource_group_id: str) -> dict | None:
        return self.world.store.get(resource_group_id)

    def put_group(self, call: Call) -> Reply:
        body = call.require_body()
        fail_unless(bool(body.get("location")), 400, "LocationRequired", "The location property is required.")
        resource_id = group_id(call)
        existing = self.world.store.get(resource_id)
        if existing is not None:
            fail_unless(
                existing["location"].lower() == body["location"].lower(),
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{body['location']}'. The Resource group already exists in "
                f"location '{existing['location']}'.",
            )
        group = {
            "id": resource_id,
            "name": call.path.names[0],
            "type": RG_TYPE,
            "location": body["location"],
            "tags": body.get("tags") or {},
            "properties": {"provisioningState": "Succeeded"},
        }
        self.world.store.put(group)
        return Reply(200 if existing else 201, group)

    def get_group(self, call: Call) -> Reply:
        group = self.world.store.get(group_id(call))
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{call.path.names[0]}' could not be found.")
        return Reply(200, group)

    def put_storage(self, call: Call) -> Reply:
        check_name(
            call.path.names[-1],
            "storage account",
            lambda n: None if STORAGE_NAME.match(n) else "must be 3-24 lower-case letters and digits",
        )
        resource = shell(call, STORAGE_TYPE)
        fail_unless(bool(resource.get("location")), 400, "LocationRequired", "The location property is required.")
        body = call.require_body()
        fail_unless(bool((body.get("sku") or {}).get("name")), 400, "MissingRequiredProperty", "sku.name is required.")
        resource["sku"], resource["kind"] = body["sku"], body.get("kind", "StorageV2")
        resource["properties"]["provisioningState"] = "Creating"
        self.world.store.put(resource)

        def complete(_: float) -> None:
            resource["properties"]["provisioningState"] = "Succeeded"

        # Storage answers a create with 202 and a Location to poll (StorageAccounts_Create: 200 or 202)
        return self.world.lro(
            call,
            duration=self.world.config.capacity.arm_seconds,
            complete=complete,
            result=lambda: (200, self.world.store.require(resource["id"])),
        )


def register(router: Router, world: World) -> Places:
    places = Places(world)
    router.add("PUT", ITEM, f"{RESOURCES}/resourceGroups", places.put_group, RG_API)
    router.add("GET", ITEM, f"{RESOURCES}/resourceGroups", places.get_group, RG_API)
    router.add("PUT", ITEM, STORAGE_TYPE, places.put_storage, STORAGE_API)
    router.add("GET", ITEM, STORAGE_TYPE, lambda c: get_item(world, c), STORAGE_API)
    return places
