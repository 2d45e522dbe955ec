"""Whether a VM can take encryption at host, read before anything is changed.

Turning it on deallocates the VM first, so everything Azure would refuse is checked while the VM still
runs (Microsoft Learn, "Use the Azure CLI to enable end-to-end encryption using encryption at host"):
the subscription has registered the feature `Microsoft.Compute/EncryptionAtHost`, the VM's size reports
the capability `EncryptionAtHostSupported` (Resource SKUs API), and the VM has never had Azure Disk
Encryption, which cannot be combined with it.
"""

from __future__ import annotations

import threading
from typing import Any

from blocks.azure import AzureMigrationTarget

FEATURE = ("Microsoft.Compute", "EncryptionAtHost")
ADE_PUBLISHER = "Microsoft.Azure.Security"

_SIZES: dict[tuple[str, str], dict[str, bool]] = {}  # (subscription, region) -> size -> supported
_SIZES_LOCK = threading.Lock()


def _supported_sizes(target: AzureMigrationTarget) -> dict[str, bool]:
    """Each VM size of the target region and whether it supports encryption at host; read once per process
    (the Resource SKUs list is long, and the same for every machine of a wave)."""
    key = (target.subscription_id, target.target_region.lower())
    with _SIZES_LOCK:
        if key not in _SIZES:
            skus = target.compute_client().resource_skus.list(filter=f"location eq '{target.target_region}'")
            _SIZES[key] = {
                s.name.lower(): any(
                    c.name == "EncryptionAtHostSupported" and c.value.lower() == "true" for c in s.capabilities or []
                )
                for s in skus
                if s.resource_type == "virtualMachines"
            }
        return _SIZES[key]


def host_encryption_problem(target: AzureMigrationTarget, vm: Any) -> str | None:
    """Why Azure would refuse encryption at host on `vm` (an SDK VirtualMachine), or None if it would not."""
    state = target.feature_client().features.get(*FEATURE).properties.state
    if state != "Registered":
        return (
            f"the subscription's feature {'/'.join(FEATURE)} is {state}: register it first "
            "(az feature register --namespace Microsoft.Compute --name EncryptionAtHost)"
        )
    size = str(getattr(vm.hardware_profile.vm_size, "value", vm.hardware_profile.vm_size))  # an SDK enum, or a string
    if not _supported_sizes(target).get(size.lower(), False):
        return f"size {size} does not support encryption at host in {target.target_region}"
    extensions = target.compute_client().virtual_machine_extensions.list(target.target_resource_group, vm.name)
    if any(e.publisher == ADE_PUBLISHER for e in extensions.value or []):
        return "the VM has Azure Disk Encryption, which encryption at host cannot be combined with"
    return None
