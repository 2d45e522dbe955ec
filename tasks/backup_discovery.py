"""Azure Backup's discovery of a VM, which must come before its protection.

A Recovery Services vault protects only the VMs it has discovered, and it discovers only those of its
own region ("Back up an Azure VM using Azure Backup via REST API", Microsoft Learn: POST
`backupFabrics/Azure/refreshContainers`, wait for the operation, then find the VM among
`backupProtectableItems`, whose name gives the protection container and protected item names).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from wavelift.blocks.azure import AzureMigrationTarget

VM_FILTER = "backupManagementType eq 'AzureIaasVM'"
FABRIC = "Azure"


def _protectable_names(backup: Any, vault: str, rg: str) -> dict[str, str]:
    """The vault's protectable VMs: the name protection uses, by VM resource id (lower case)."""
    return {
        (item.properties.get("virtualMachineId") or "").lower(): item.name
        for item in backup.backup_protectable_items.list(vault, rg, filter=VM_FILTER)
    }


def _refresh(backup: Any, vault: str, rg: str, wait: float, deadline: float) -> None:
    """Start the vault's discovery and wait for its operation (202 until done, then 204)."""
    response = backup.protection_containers.refresh(vault, rg, FABRIC, filter=VM_FILTER, cls=lambda r, *_: r)
    operation = response.http_response.headers["Location"].split("?", 1)[0].rsplit("/", 1)[1]
    results = backup.protection_container_refresh_operation_results
    while results.get(vault, rg, FABRIC, operation, cls=lambda r, *_: r.http_response.status_code) == 202:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the discovery of vault {vault} did not end in time")
        time.sleep(wait)


class ProtectableVms:
    """The VMs a vault can protect, as a run last listed them, for all of the run's machines.

    Azure CLI's `az backup protection enable-for-vm` lists the vault's protectable items for every VM it
    protects, and discovers when the VM is not among them; a run hardening a wave lists them once and again
    only for a VM not in its last list (the list holds every unprotected VM the vault discovered: listing it for
    each VM of an 890-VM wave read several hundred items a machine). A VM's protectable name does not change while
    it exists, so a name from an earlier list stands; protection itself is checked on the protected item first.
    """

    def __init__(self, target: AzureMigrationTarget, vault: str, timeout: float = 1800) -> None:
        self._target, self._vault, self._timeout = target, vault, timeout
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()  # one list or discovery at a time; the VMs it finds serve the others

    def name(self, vm_id: str) -> str | None:
        """The vault's name for the VM (`iaasvmcontainerv2;<rg>;<vm>`), listing and then discovering when it is
        not known yet; None when the vault cannot see it (another region, or the VM is gone)."""
        key = vm_id.lower()
        if key in self._names:
            return self._names[key]
        with self._lock:
            if key not in self._names:
                self._list()
            if key not in self._names:
                backup = self._target.backup_client()
                deadline = time.monotonic() + self._timeout
                _refresh(
                    backup, self._vault, self._target.resource_group, max(self._target.polling_interval, 0.01), deadline
                )
                self._list()
        return self._names.get(key)

    def _list(self) -> None:
        backup = self._target.backup_client()
        self._names.update(_protectable_names(backup, self._vault, self._target.resource_group))


def protectable_vm(target: AzureMigrationTarget, vault: str, vm_id: str, timeout: float = 1800) -> str | None:
    """One VM's protectable name, listed (and discovered) for it alone (`ProtectableVms.name`)."""
    return ProtectableVms(target, vault, timeout).name(vm_id)
