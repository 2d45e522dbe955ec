"""Azure Disk Encryption keys for disaster recovery: Site Recovery replicates an ADE-encrypted VM to another
region only with the VM's disk encryption key (a BEK secret) copied to a Key Vault of that region and named
for each disk (`diskEncryptionInfo`; Microsoft Learn, "Replicate Azure Disk Encryption-enabled virtual
machines to another Azure region").

The copy is the one Microsoft's CopyKeys.ps1 makes (AsrOneSdk/published-scripts, the script that article
links): read each disk's encryption settings from the VM's instance view, create or reuse the vault
`<source vault>-asr` in the resource group `<source group>-asr` of the secondary region, with the source
vault's SKU, tenant, access policies and disk-encryption setting, and set the secret there under its own
name, value, content type and tags. A secret already copied (same name, same value) is reused, so hardening
a VM again copies nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget

if TYPE_CHECKING:
    from azure.mgmt.compute.models import VirtualMachineInstanceView
    from azure.mgmt.keyvault.models import Vault
    from azure.mgmt.recoveryservicessiterecovery.models import DiskEncryptionInfo

ASR_SUFFIX = "-asr"  # CopyKeys.ps1: `$asrSuffix`, on the vault's and the resource group's names
VAULT_NAME_LIMIT = 24


def dr_vault_name(source_vault: str) -> str:
    """The secondary region's vault for a source vault's keys: its name plus `-asr`, within Key Vault's 24
    characters and without a double hyphen."""
    return source_vault[: VAULT_NAME_LIMIT - len(ASR_SUFFIX)].rstrip("-") + ASR_SUFFIX


def disk_keys(view: VirtualMachineInstanceView) -> dict[str, tuple[str, str]]:
    """Each encrypted disk's key in a VM's instance view, by lower-cased disk name: (secret URL, source vault id).
    Empty when the VM is not encrypted with Azure Disk Encryption."""
    keys = {}
    for disk in view.disks or []:
        settings = next((s for s in disk.encryption_settings or [] if s.enabled and s.disk_encryption_key), None)
        if settings is not None and disk.name:
            key = settings.disk_encryption_key
            keys[disk.name.lower()] = (key.secret_url, key.source_vault.id)
    return keys


class DrKeyVault(BaseModel):
    """The `-asr` Key Vault of the secondary region that holds copies of a source vault's disk keys."""

    id: str
    uri: str

    @classmethod
    def of(cls, vault: Vault) -> DrKeyVault:
        return cls(id=vault.id, uri=vault.properties.vault_uri)


def dr_key_vault(target: AzureMigrationTarget, source_vault_id: str) -> DrKeyVault:
    """The `-asr` vault of the secondary region for a source vault, created like it if missing."""
    from azure.mgmt.keyvault import models as kv

    parts = source_vault_id.split("/")
    subscription, group, name = parts[2], parts[4], parts[-1]
    vaults = target.key_vault_client(subscription).vaults
    dr_group, dr_name = group + ASR_SUFFIX, dr_vault_name(name)
    try:
        return DrKeyVault.of(vaults.get(dr_group, dr_name))
    except ResourceNotFoundError:
        pass
    source = vaults.get(group, name)
    target.resource_client().resource_groups.create_or_update(dr_group, {"location": target.secondary_region})
    created = vaults.begin_create_or_update(
        dr_group,
        dr_name,
        kv.VaultCreateOrUpdateParameters(
            location=target.secondary_region,
            tags=source.tags,
            properties=kv.VaultProperties(
                tenant_id=source.properties.tenant_id,
                sku=source.properties.sku,
                access_policies=source.properties.access_policies or [],
                enabled_for_disk_encryption=source.properties.enabled_for_disk_encryption,
            ),
        ),
    ).result()
    return DrKeyVault.of(created)


def _copy_secret(target: AzureMigrationTarget, secret_url: str, dr_vault: DrKeyVault) -> str:
    """The URL of the secret's copy in `dr_vault` (made unless an equal copy is there)."""
    source_vault_url, _, rest = secret_url.partition("/secrets/")
    name, _, version = rest.strip("/").partition("/")
    secret = target.secret_client(source_vault_url).get_secret(name, version or None)
    copies = target.secret_client(dr_vault.uri)
    try:
        existing = copies.get_secret(name)
        if existing.value == secret.value:
            return existing.id
    except ResourceNotFoundError:
        pass
    return copies.set_secret(
        name, secret.value, content_type=secret.properties.content_type, tags=secret.properties.tags
    ).id


def replicated_disk_keys(
    target: AzureMigrationTarget, view: VirtualMachineInstanceView, known: dict[str, DrKeyVault] | None = None
) -> dict[str, DiskEncryptionInfo]:
    """For an ADE-encrypted VM (its instance view), each disk's `diskEncryptionInfo` for A2A protection (by
    lower-cased disk name), its key copied to the secondary region first; empty for a VM without Azure Disk
    Encryption. `known`: `-asr` vaults a run has already made sure of, by lower-cased source vault id."""
    from azure.mgmt.recoveryservicessiterecovery import models as m

    infos: dict[str, DiskEncryptionInfo] = {}
    copied: dict[str, m.DiskEncryptionKeyInfo] = {}
    for disk, (secret_url, vault_id) in disk_keys(view).items():
        if secret_url not in copied:
            dr_vault = (known or {}).get(vault_id.lower()) or dr_key_vault(target, vault_id)
            copied[secret_url] = m.DiskEncryptionKeyInfo(
                secret_identifier=_copy_secret(target, secret_url, dr_vault), key_vault_resource_arm_id=dr_vault.id
            )
        infos[disk] = m.DiskEncryptionInfo(disk_encryption_key_info=copied[secret_url])
    return infos
