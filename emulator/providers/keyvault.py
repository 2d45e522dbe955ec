"""Microsoft.KeyVault: the vaults Azure Disk Encryption keeps its keys in.

Azure Disk Encryption needs the Key Vault in the VM's region and subscription, and the vault's access
policy "enabled for disk encryption" (Microsoft Learn, "Create and configure a key vault for Azure Disk
Encryption": "Azure Disk Encryption requires the Key Vault and the VMs to be co-located in the same
region"; `az keyvault update --enabled-for-disk-encryption true`). Compute asks `disk_encryption_problem`
before it accepts the ADE extension.
"""

from __future__ import annotations

import re

from ..routing import COLLECTION, ITEM, Call, Reply, Router
from ..world import World
from .common import check_name, fail_unless, get_item, list_children, put_provisioned, shell

API = {"2026-05-15", "2024-11-01", "2023-07-01"}
TYPE = "Microsoft.KeyVault/vaults"
VAULT_NAME = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$")


def _vault_name_problem(name: str) -> str | None:
    """Key Vault names: 3–24 letters, digits and single hyphens, starting with a letter, not ending in a hyphen."""
    return None if VAULT_NAME.match(name) else "must be 3-24 letters, digits and single hyphens, starting with a letter"


def vault_uri(name: str) -> str:
    return f"https://{name.lower()}.vault.azure.net/"


class KeyVaults:
    """Vaults with their location and whether Azure Disk Encryption may use them."""

    def __init__(self, world: World) -> None:
        self.world = world

    def put(self, call: Call) -> Reply:
        check_name(call.path.names[-1], "key vault", _vault_name_problem)
        resource = shell(call, TYPE)
        fail_unless(bool(resource.get("location")), 400, "LocationRequired", "The location property is required.")
        props = resource["properties"]
        fail_unless(
            bool((props.get("sku") or {}).get("name")) and bool(props.get("tenantId")),
            400,
            "BadRequest",  # code not documented by Microsoft
            "The vault needs properties.sku and properties.tenantId.",
        )
        props.setdefault("enabledForDiskEncryption", False)
        props["vaultUri"] = vault_uri(resource["name"])
        return put_provisioned(self.world, call, resource)

    def seed(self, vault_id: str, location: str, tenant_id: str) -> dict:
        """A vault ready for Azure Disk Encryption (the emulated subscription's, named in `connection.json`)."""
        name = vault_id.rsplit("/", 1)[-1]
        return self.world.store.put(
            {
                "id": vault_id,
                "name": name,
                "type": TYPE,
                "location": location,
                "properties": {
                    "tenantId": tenant_id,
                    "sku": {"family": "A", "name": "standard"},
                    "enabledForDiskEncryption": True,
                    "vaultUri": vault_uri(name),
                    "provisioningState": "Succeeded",
                },
            }
        )

    def disk_encryption_problem(self, vault_id: str, vault_url: str, vm_location: str) -> tuple[str, str] | None:
        """(error code, message) if Azure Disk Encryption cannot keep a VM's keys in this vault, else None."""
        vault = self.world.store.get(vault_id)
        if vault is None:
            return "KeyVaultNotFound", f"The key vault {vault_id} was not found."  # code not documented by Microsoft
        props = vault["properties"]
        if not props.get("enabledForDiskEncryption"):
            return (
                "KeyVaultAccessForbidden",
                f"Key Vault {props['vaultUri']} either has not been enabled for disk encryption or the service "
                "principal does not have access to it.",
            )
        if vault.get("location", "").lower() != vm_location.lower():
            return (  # code not documented by Microsoft
                "KeyVaultAndVMInDifferentRegions",
                f"The key vault {vault['name']} is in {vault['location']}; Azure Disk Encryption needs it in the "
                f"VM's region {vm_location}.",
            )
        if vault_url.rstrip("/").lower() != props["vaultUri"].rstrip("/").lower():
            return "InvalidParameter", f"KeyVaultURL {vault_url} is not the URL of {vault_id} ({props['vaultUri']})."
        return None


def register(router: Router, world: World) -> KeyVaults:
    vaults = KeyVaults(world)
    router.add("PUT", ITEM, TYPE, vaults.put, API)
    router.add("GET", ITEM, TYPE, lambda c: get_item(world, c), API)
    router.add("GET", COLLECTION, TYPE, lambda c: list_children(world, c), API)
    return vaults
