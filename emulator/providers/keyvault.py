"""Microsoft.KeyVault: the vaults Azure Disk Encryption keeps its keys in, and their secrets.

Azure Disk Encryption needs the Key Vault in the VM's region and subscription, and the vault's access
policy "enabled for disk encryption" (Microsoft Learn, "Create and configure a key vault for Azure Disk
Encryption": "Azure Disk Encryption requires the Key Vault and the VMs to be co-located in the same
region"; `az keyvault update --enabled-for-disk-encryption true`). Compute asks `disk_encryption_problem`
before it accepts the ADE extension, then keeps the VM's BitLocker/dm-crypt key (BEK) as a secret here.

A vault's data plane (the secrets, at its `vaultUri`) is served by the emulator itself, each vault at an
address of its own on 127.0.0.1 (the Key Vault SDK takes a vault's URL to be a bare host): Site Recovery
needs the BEK copied to a vault of the secondary region, and the copy reads and writes secret values,
which ARM never shows.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from wavelift.emulator.providers.common import check_name, fail_unless, get_item, list_children, put_provisioned, shell
from wavelift.emulator.routing import COLLECTION, ITEM, Call, Reply, Router
from wavelift.emulator.world import World

API = {"2026-05-15", "2024-11-01", "2023-07-01"}
TYPE = "Microsoft.KeyVault/vaults"
VAULT_NAME = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$")


def _vault_name_problem(name: str) -> str | None:
    """Key Vault names: 3–24 letters, digits and single hyphens, starting with a letter, not ending in a hyphen."""
    return None if VAULT_NAME.match(name) else "must be 3-24 letters, digits and single hyphens, starting with a letter"


class KeyVaults:
    """Vaults with their location and whether Azure Disk Encryption may use them, and their secrets."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.endpoints: list[str] = []  # the data-plane addresses the server listens on, one per vault
        self.assigned: dict[str, str] = {}  # vault name (lower-cased) -> its address
        self.secrets: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (vault, secret) -> versions, oldest first

    def vault_uri(self, name: str) -> str:
        """The vault's data-plane URL: the next free address the first time it is asked for."""
        key = name.lower()
        if key not in self.assigned:
            free = [e for e in self.endpoints if e not in self.assigned.values()]
            fail_unless(
                bool(free), 400, "EmulatorLimit", f"The emulator serves at most {len(self.endpoints)} key vaults."
            )
            self.assigned[key] = free[0]
        return self.assigned[key] + "/"

    def vault_at(self, address: str) -> str | None:
        """The name of the vault served at `address` (scheme, host and port), if any."""
        return next((name for name, served in self.assigned.items() if served == address.rstrip("/")), None)

    def render(self, vault: dict) -> dict:
        """A vault as ARM answers it: with Key Vault's defaults and the `vaultUri` of its data plane."""
        shown = copy.deepcopy(vault)
        shown.setdefault("tags", {})
        props = shown["properties"]
        props["vaultUri"] = self.vault_uri(vault["name"])
        # what Key Vault fills in on a new vault (Microsoft's example getVault.json, 2024-11-01)
        props.setdefault("accessPolicies", [])
        props.setdefault("enabledForDeployment", False)
        props.setdefault("enabledForTemplateDeployment", False)
        props.setdefault("publicNetworkAccess", "Enabled")
        return shown

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
        return put_provisioned(self.world, call, resource, self.render)

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
                    "provisioningState": "Succeeded",
                },
            }
        )

    def disk_encryption_problem(self, vault_id: str, vault_url: str, vm_location: str) -> tuple[str, str] | None:
        """(error code, message) if Azure Disk Encryption cannot keep a VM's keys in this vault, else None."""
        vault = self.world.store.get(vault_id)
        if vault is None:
            return "KeyVaultNotFound", f"The key vault {vault_id} was not found."  # code not documented by Microsoft
        props, uri = vault["properties"], self.vault_uri(vault["name"])
        if not props.get("enabledForDiskEncryption"):
            return (
                "KeyVaultAccessForbidden",
                f"Key Vault {uri} either has not been enabled for disk encryption or the service "
                "principal does not have access to it.",
            )
        if vault.get("location", "").lower() != vm_location.lower():
            return (  # code not documented by Microsoft
                "KeyVaultAndVMInDifferentRegions",
                f"The key vault {vault['name']} is in {vault['location']}; Azure Disk Encryption needs it in the "
                f"VM's region {vm_location}.",
            )
        if vault_url.rstrip("/").lower() != uri.rstrip("/").lower():
            return "InvalidParameter", f"KeyVaultURL {vault_url} is not the URL of {vault_id} ({uri})."
        return None

    # -- the data plane: secrets ----------------------------------------------------------------
    def vault_named(self, name: str) -> dict | None:
        return next((v for v in self.world.store.of_type(TYPE) if v["name"].lower() == name.lower()), None)

    def set_secret(self, vault: str, name: str, value: str, content_type: str | None, tags: dict) -> dict:
        """A new version of a secret (Key Vault's SetSecret); returns its bundle."""
        version = uuid.uuid4().hex
        now = int(self.world.clock.now())
        bundle = {
            "value": value,
            "id": f"{self.vault_uri(vault)}secrets/{name}/{version}",
            "contentType": content_type,
            "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable+Purgeable"},
            "tags": dict(tags),
        }
        self.secrets.setdefault((vault.lower(), name.lower()), []).append(bundle)
        return bundle

    def secret(self, vault: str, name: str, version: str | None = None) -> dict | None:
        """A secret's version (the newest if `version` is None), or None."""
        versions = self.secrets.get((vault.lower(), name.lower()), [])
        if version is None:
            return versions[-1] if versions else None
        return next((b for b in versions if b["id"].rsplit("/", 1)[-1] == version.lower()), None)

    def secret_at(self, url: str) -> tuple[dict, dict] | None:
        """(vault, secret bundle) that a secret URL of this emulator names, or None."""
        parts = urlsplit(url)
        name = self.vault_at(f"{parts.scheme}://{parts.netloc}")
        path = parts.path.strip("/").split("/")
        if name is None or len(path) != 3 or path[0].lower() != "secrets":
            return None
        vault, bundle = self.vault_named(name), self.secret(name, path[1], path[2])
        return (vault, bundle) if vault is not None and bundle is not None else None

    def serve_secret(self, method: str, vault: str, name: str, version: str | None, body: Any) -> tuple[int, Any]:
        """Key Vault's GetSecret and SetSecret (`GET /secrets/{name}[/{version}]`, `PUT /secrets/{name}`)."""
        if self.vault_named(vault) is None:
            return 404, {"error": {"code": "VaultNotFound", "message": f"Vault {vault} was not found."}}
        if method == "PUT":
            if not isinstance(body, dict) or not isinstance(body.get("value"), str):
                return 400, {"error": {"code": "BadParameter", "message": "The request needs a string 'value'."}}
            return 200, self.set_secret(vault, name, body["value"], body.get("contentType"), body.get("tags") or {})
        bundle = self.secret(vault, name, version)
        if bundle is None:
            named = f"{name}/{version}" if version else name
            missing = f"A secret with (name/id) {named} was not found in this key vault."
            return 404, {"error": {"code": "SecretNotFound", "message": missing}}
        return 200, bundle


def register(router: Router, world: World) -> KeyVaults:
    vaults = KeyVaults(world)
    router.add("PUT", ITEM, TYPE, vaults.put, API)
    router.add("GET", ITEM, TYPE, lambda c: get_item(world, c, vaults.render), API)
    router.add("GET", COLLECTION, TYPE, lambda c: list_children(world, c, vaults.render), API)
    return vaults
