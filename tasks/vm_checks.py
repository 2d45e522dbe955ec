"""Read back an Azure VM the way a migration team checks it: power state, size, NIC, subnet, IP."""

from __future__ import annotations

from pydantic import BaseModel

from blocks.azure import AzureMigrationTarget


class VmFacts(BaseModel):
    """What Azure says about a VM and its primary NIC."""

    name: str
    id: str
    size: str
    power_state: str
    nic_id: str
    subnet_id: str | None
    private_ip: str | None


def read_vm(target: AzureMigrationTarget, name: str) -> VmFacts:
    """The VM in the target resource group, with its instance view and primary NIC."""
    vm = target.compute_client().virtual_machines.get(target.target_resource_group, name, expand="instanceView")
    power = next((s.code.split("/", 1)[1] for s in vm.instance_view.statuses or [] if s.code and s.code.startswith("PowerState/")), "unknown")
    nic_ref = next((n for n in vm.network_profile.network_interfaces if n.primary is not False), vm.network_profile.network_interfaces[0])
    nic_rg, nic_name = nic_ref.id.split("/")[4], nic_ref.id.rsplit("/", 1)[1]
    nic = target.network_client().network_interfaces.get(nic_rg, nic_name)
    config = nic.ip_configurations[0]
    return VmFacts(name=vm.name, id=vm.id, size=str(getattr(vm.hardware_profile.vm_size, "value", vm.hardware_profile.vm_size)), power_state=power,
                   nic_id=nic.id, subnet_id=config.subnet.id if config.subnet else None, private_ip=config.private_ip_address)
