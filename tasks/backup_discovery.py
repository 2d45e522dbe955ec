"""Azure Backup's discovery of a VM, which must come before its protection.

A Recovery Services vault protects only the VMs it has discovered, and it discovers only those of its
own region ("Back up an Azure VM using Azure Backup via REST API", Microsoft Learn: POST
`backupFabrics/Azure/refreshContainers`, wait for the operation, then find the VM among
`backupProtectableItems`, whose name gives the protection container and protected item names).
"""

from __future__ import annotations

import time
from typing import Any

from wavelift.blocks.azure import AzureMigrationTarget

VM_FILTER = "backupManagementType eq 'AzureIaasVM'"
FABRIC = "Azure"


def _protectable_name(backup: Any, vault: str, rg: str, vm_id: str) -> str | None:
    for item in backup.backup_protectable_items.list(vault, rg, filter=VM_FILTER):
        if (item.properties.get("virtualMachineId") or "").lower() == vm_id.lower():
            return item.name
    return None


def _refresh(backup: Any, vault: str, rg: str, wait: float, deadline: float) -> None:
    """Start the vault's discovery and wait for its operation (202 until done, then 204)."""
    response = backup.protection_containers.refresh(vault, rg, FABRIC, filter=VM_FILTER, cls=lambda r, *_: r)
    operation = response.http_response.headers["Location"].split("?", 1)[0].rsplit("/", 1)[1]
    results = backup.protection_container_refresh_operation_results
    while results.get(vault, rg, FABRIC, operation, cls=lambda r, *_: r.http_response.status_code) == 202:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the discovery of vault {vault} did not end in time")
        time.sleep(wait)


def protectable_vm(target: AzureMigrationTarget, vault: str, vm_id: str, timeout: float = 1800) -> str | None:
    """The vault's name for the VM (`iaasvmcontainerv2;<rg>;<vm>`), discovering it first when needed; None when
    the vault cannot see it (another region, or the VM is gone)."""
    backup, rg = target.backup_client(), target.resource_group
    name = _protectable_name(backup, vault, rg, vm_id)
    if name is None:
        _refresh(backup, vault, rg, max(target.polling_interval, 0.01), time.monotonic() + timeout)
        name = _protectable_name(backup, vault, rg, vm_id)
    return name
