"""Whether a VM can take encryption at host, read before anything is changed.

Turning it on deallocates the VM first, so everything Azure would refuse is checked while the VM still
runs (Microsoft Learn, "Use the Azure CLI to enable end-to-end encryption using encryption at host"):
the subscription has registered the feature `Microsoft.Compute/EncryptionAtHost`, the VM's size reports
the capability `EncryptionAtHostSupported` (Resource SKUs API), and the VM has never had Azure Disk
Encryption, which cannot be combined with it.
"""

from __future__ import annotations

from typing import Any

from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.tasks.vm_sizes import size_catalog

FEATURE = ("Microsoft.Compute", "EncryptionAtHost")
ADE_PUBLISHER = "Microsoft.Azure.Security"


def host_encryption_problem(target: AzureMigrationTarget, vm: Any) -> str | None:
    """Why Azure would refuse encryption at host on `vm` (an SDK VirtualMachine), or None if it would not."""
    state = target.feature_client().features.get(*FEATURE).properties.state
    if state != "Registered":
        return (
            f"the subscription's feature {'/'.join(FEATURE)} is {state}: register it first "
            "(az feature register --namespace Microsoft.Compute --name EncryptionAtHost)"
        )
    size = str(getattr(vm.hardware_profile.vm_size, "value", vm.hardware_profile.vm_size))  # an SDK enum, or a string
    info = size_catalog(target).get(size.lower())
    if info is None or not info.encryption_at_host:
        return f"size {size} does not support encryption at host in {target.target_region}"
    extensions = target.compute_client().virtual_machine_extensions.list(target.target_resource_group, vm.name)
    if any(e.publisher == ADE_PUBLISHER for e in extensions.value or []):
        return "the VM has Azure Disk Encryption, which encryption at host cannot be combined with"
    return None
