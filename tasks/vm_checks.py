"""Read back an Azure VM the way a migration team checks it: power state, size, NIC, subnet, IP."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

from azure.core.exceptions import ResourceNotFoundError
from pydantic import BaseModel

from wavelift.blocks.azure import AzureMigrationTarget


class VmFacts(BaseModel):
    """What Azure says about a VM and its primary NIC, and when (by Azure's clock) it said so."""

    name: str
    id: str
    location: str
    size: str
    power_state: str
    nic_id: str
    subnet_id: str | None
    private_ip: str | None
    nsg_id: str | None = None
    created: datetime | None = None
    read_at: datetime | None = None
    encryption: list[str] = []
    tags: dict[str, str] = {}


def read_vm(target: AzureMigrationTarget, name: str) -> VmFacts:
    """The VM in the target resource group, with its instance view and primary NIC.

    `read_at` is the `Date` header of Azure's answer: ages such as the clean-up grace period are
    measured on the service's clock, not on a worker's.
    """
    vm, date = target.compute_client().virtual_machines.get(
        target.target_resource_group,
        name,
        expand="instanceView",
        cls=lambda response, model, headers: (model, response.http_response.headers.get("Date")),
    )
    power = next(
        (
            s.code.split("/", 1)[1]
            for s in vm.instance_view.statuses or []
            if s.code and s.code.startswith("PowerState/")
        ),
        "unknown",
    )
    nic_ref = next(
        (n for n in vm.network_profile.network_interfaces if n.primary is not False),
        vm.network_profile.network_interfaces[0],
    )
    nic_rg, nic_name = nic_ref.id.split("/")[4], nic_ref.id.rsplit("/", 1)[1]
    nic = target.network_client().network_interfaces.get(nic_rg, nic_name)
    config = nic.ip_configurations[0]
    return VmFacts(
        name=vm.name,
        id=vm.id,
        location=vm.location,
        size=str(getattr(vm.hardware_profile.vm_size, "value", vm.hardware_profile.vm_size)),
        power_state=power,
        nic_id=nic.id,
        subnet_id=config.subnet.id if config.subnet else None,
        private_ip=config.private_ip_address,
        nsg_id=nic.network_security_group.id if nic.network_security_group else None,
        created=vm.time_created,
        read_at=parsedate_to_datetime(date) if date else None,
        encryption=_encryption(vm),
        tags=dict(vm.tags or {}),
    )


def find_vm(target: AzureMigrationTarget, name: str) -> VmFacts | None:
    """The VM read back as `read_vm` does, or None when the target resource group has none of that name."""
    try:
        return read_vm(target, name)
    except ResourceNotFoundError:
        return None


def _encryption(vm: object) -> list[str]:
    """The disk encryption the VM has: encryption at host, and Azure Disk Encryption's extension if installed."""
    found = (
        ["encryption at host"] if getattr(getattr(vm, "security_profile", None), "encryption_at_host", False) else []
    )
    extensions = getattr(getattr(vm, "instance_view", None), "extensions", None) or []
    return found + [f"Azure Disk Encryption ({e.type})" for e in extensions if "AzureDiskEncryption" in (e.type or "")]
