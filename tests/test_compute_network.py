"""Compute and Network through the real SDK against the emulator: what hardening will rely on."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import models as cm
from azure.mgmt.network import models as nm

from tests.conftest import Emulated, StartEmulator


def _subnet_id(emu: Emulated) -> str:
    return f"{emu.connection['target_network_id']}/subnets/{emu.connection['target_subnet']}"


def _nic(emu: Emulated, name: str, nsg_id: str | None = None) -> nm.NetworkInterface:
    network = emu.target.network_client()
    body = nm.NetworkInterface(
        location="westeurope",
        ip_configurations=[nm.NetworkInterfaceIPConfiguration(name="ipconfig1", subnet=nm.Subnet(id=_subnet_id(emu)))],
        network_security_group=nm.NetworkSecurityGroup(id=nsg_id) if nsg_id else None,
    )
    return network.network_interfaces.begin_create_or_update(
        emu.connection["target_resource_group"], name, body
    ).result()


def _vm(emu: Emulated, name: str, os_type: str = "Linux", size: str = "Standard_D2s_v3") -> cm.VirtualMachine:
    nic = _nic(emu, f"{name}-nic")
    body = cm.VirtualMachine(
        location="westeurope",
        properties=cm.VirtualMachineProperties(
            hardware_profile=cm.HardwareProfile(vm_size=size),
            storage_profile=cm.StorageProfile(
                os_disk=cm.OSDisk(
                    create_option="Attach",
                    os_type=os_type,
                    name=f"{name}-os",
                    managed_disk=cm.ManagedDiskParameters(id=_disk_id(nic, f"{name}-os")),
                )
            ),
            network_profile=cm.NetworkProfile(network_interfaces=[cm.NetworkInterfaceReference(id=nic.id)]),
        ),
    )
    return (
        emu.target.compute_client()
        .virtual_machines.begin_create_or_update(emu.connection["target_resource_group"], name, body)
        .result()
    )


def _disk_id(nic: nm.NetworkInterface, name: str) -> str:
    """A managed disk's id in the NIC's resource group (the emulator keeps no disk resources)."""
    return f"{nic.id.split('/providers/')[0]}/providers/Microsoft.Compute/disks/{name}"


def _ade(ext_type: str, settings: dict, version: str = "1.1") -> cm.VirtualMachineExtension:
    """An Azure Disk Encryption extension body (`AzureDiskEncryption` on Windows, `...ForLinux` on Linux)."""
    return cm.VirtualMachineExtension(
        location="westeurope",
        properties=cm.VirtualMachineExtensionProperties(
            publisher="Microsoft.Azure.Security", type=ext_type, type_handler_version=version, settings=settings
        ),
    )


def _power(vm: cm.VirtualMachine) -> str:
    return next(s.code for s in vm.instance_view.statuses if s.code.startswith("PowerState/"))


def test_vm_create_read_power_and_delete(emu: Emulated) -> None:
    rg = emu.connection["target_resource_group"]
    compute, network = emu.target.compute_client(), emu.target.network_client()
    vm = _vm(emu, "web-01")
    assert vm.provisioning_state == "Succeeded"
    assert _power(compute.virtual_machines.get(rg, "web-01", expand="instanceView")) == "PowerState/running"
    compute.virtual_machines.begin_power_off(rg, "web-01").result()
    assert _power(compute.virtual_machines.get(rg, "web-01", expand="instanceView")) == "PowerState/stopped"
    compute.virtual_machines.begin_start(rg, "web-01").result()
    assert _power(compute.virtual_machines.get(rg, "web-01", expand="instanceView")) == "PowerState/running"
    assert [v.name for v in compute.virtual_machines.list(rg)] == ["web-01"]
    assert [v.name for v in compute.virtual_machines.list_all()] == ["web-01"]
    assert compute.virtual_machines.get(rg, "web-01", expand="resiliencyView").instance_view is None
    with pytest.raises(HttpResponseError) as refused:  # the Compute spec's InstanceViewTypes are the only values
        compute.virtual_machines.get(rg, "web-01", expand="instanceViews")
    assert refused.value.error.code == "InvalidParameter"
    nic = network.network_interfaces.get(rg, "web-01-nic")
    assert nic.virtual_machine.id.lower() == vm.id.lower()
    with pytest.raises(HttpResponseError) as excinfo:
        network.network_interfaces.begin_delete(rg, "web-01-nic").result()
    assert excinfo.value.error.code == "NicInUse"
    compute.virtual_machines.begin_delete(rg, "web-01").result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(rg, "web-01")
    network.network_interfaces.begin_delete(rg, "web-01-nic").result()
    assert list(network.network_interfaces.list(rg)) == []


@pytest.mark.parametrize(
    ("os_disk", "data_disk_attached", "code", "field"),
    [
        ({"create_option": "Attach"}, False, "InvalidParameter", "osDisk.managedDisk.id"),  # attaches no disk
        ({"create_option": "FromImage"}, False, "InvalidParameter", "imageReference"),
        ({"create_option": "Empty"}, False, "InvalidParameter", "osDisk.createOption"),  # Attach or FromImage
        ({"create_option": "Attach", "managed_disk": "/x/disks/w"}, False, "LinkedInvalidPropertyId", "osDisk.managed"),
        ({"create_option": "Attach", "managed_disk": "nic"}, False, "InvalidParameter", "osDisk.managedDisk.id"),
        ({"create_option": "Attach", "managed_disk": "disk"}, True, "InvalidParameter", "dataDisks[0].managedDisk.id"),
    ],
)
def test_a_vm_must_name_the_disks_it_attaches(
    emu: Emulated, os_disk: dict, data_disk_attached: bool, code: str, field: str
) -> None:
    """A VM made from a specialized disk (what a migration makes) names each disk it attaches by a managed disk's
    id; the emulator refuses what Azure refuses, names the property at fault, and makes nothing."""
    rg = emu.connection["target_resource_group"]
    nic = _nic(emu, "web-nic")
    ids = {"disk": _disk_id(nic, "web-os"), "nic": nic.id}
    managed = os_disk.get("managed_disk")
    storage = cm.StorageProfile(
        os_disk=cm.OSDisk(
            name="web-os",
            create_option=os_disk["create_option"],
            os_type="Linux",
            managed_disk=cm.ManagedDiskParameters(id=ids.get(managed, managed)) if managed else None,
        ),
        data_disks=[cm.DataDisk(lun=0, create_option="Attach")] if data_disk_attached else None,
    )
    body = cm.VirtualMachine(
        location="westeurope",
        hardware_profile=cm.HardwareProfile(vm_size="Standard_D2s_v3"),
        storage_profile=storage,
        network_profile=cm.NetworkProfile(network_interfaces=[cm.NetworkInterfaceReference(id=nic.id)]),
    )
    compute = emu.target.compute_client()
    with pytest.raises(HttpResponseError) as refused:
        compute.virtual_machines.begin_create_or_update(rg, "web", body).result()
    assert (refused.value.status_code, refused.value.error.code) == (400, code), refused.value.message
    assert field in refused.value.error.message
    assert list(compute.virtual_machines.list(rg)) == []
    assert emu.target.network_client().network_interfaces.get(rg, "web-nic").virtual_machine is None


def test_private_ips_are_allocated_from_the_subnet_without_reuse(emu: Emulated) -> None:
    ips = [_nic(emu, f"nic-{i}").ip_configurations[0].private_ip_address for i in range(3)]
    assert ips == ["10.20.0.4", "10.20.0.5", "10.20.0.6"]


def test_azure_disk_encryption_matches_the_os(emu: Emulated) -> None:
    rg = emu.connection["target_resource_group"]
    compute = emu.target.compute_client()
    _vm(emu, "db-01", os_type="Linux")
    settings = {
        "EncryptionOperation": "EnableEncryption",
        "KeyVaultURL": emu.connection["key_vault_url"],
        "KeyVaultResourceId": emu.connection["key_vault_id"],
        "VolumeType": "All",
    }

    with pytest.raises(HttpResponseError) as excinfo:
        compute.virtual_machine_extensions.begin_create_or_update(
            rg, "db-01", "ade", _ade("AzureDiskEncryption", settings)
        ).result()
    assert excinfo.value.error.code == "VMExtensionProvisioningError"
    assert "AzureDiskEncryptionForLinux" in excinfo.value.error.message
    done = compute.virtual_machine_extensions.begin_create_or_update(
        rg, "db-01", "ade", _ade("AzureDiskEncryptionForLinux", settings)
    ).result()
    assert done.properties.provisioning_state == "Succeeded"
    view = compute.virtual_machines.get(rg, "db-01", expand="instanceView").instance_view
    assert view.disks[0].statuses[0].code == "EncryptionState/encrypted"
    assert "Microsoft.Azure.Security.AzureDiskEncryptionForLinux" in [e.type for e in view.extensions]


def test_encryption_at_host_needs_the_feature_a_capable_size_and_no_disk_encryption(emu: Emulated) -> None:
    rg = emu.connection["target_resource_group"]
    compute, features = emu.target.compute_client(), emu.target.feature_client().features
    at_host = cm.VirtualMachineUpdate(security_profile=cm.SecurityProfile(encryption_at_host=True))
    for name, size in (("app-01", "Standard_D2s_v3"), ("old-01", "Standard_A2_v2")):
        _vm(emu, name, size=size)
        compute.virtual_machines.begin_deallocate(rg, name).result()
    assert (
        features.get("Microsoft.Compute", "EncryptionAtHost").properties.state == "NotRegistered"
    )  # a new subscription
    with pytest.raises(HttpResponseError) as refused:
        compute.virtual_machines.begin_update(rg, "app-01", at_host).result()
    assert (refused.value.error.code, refused.value.error.target) == (
        "InvalidParameter",
        "securityProfile.encryptionAtHost",
    )
    assert "'Microsoft.Compute/EncryptionAtHost' feature is not enabled for this subscription" in str(refused.value)

    assert features.register("Microsoft.Compute", "EncryptionAtHost").properties.state == "Registering"
    emu.admin.skip(3600)
    assert features.get("Microsoft.Compute", "EncryptionAtHost").properties.state == "Registered"
    assert compute.virtual_machines.begin_update(rg, "app-01", at_host).result().security_profile.encryption_at_host
    with pytest.raises(HttpResponseError, match="not supported for the VM size 'Standard_A2_v2'"):
        compute.virtual_machines.begin_update(rg, "old-01", at_host).result()
    skus = {s.name: s for s in compute.resource_skus.list(filter="location eq 'westeurope'")}
    assert {c.name: c.value for c in skus["Standard_A2_v2"].capabilities}["EncryptionAtHostSupported"] == "False"
    assert {c.name: c.value for c in skus["Standard_D2s_v3"].capabilities}["EncryptionAtHostSupported"] == "True"
    with pytest.raises(HttpResponseError) as no_such:
        features.get("Microsoft.Compute", "NoSuchFeature")
    assert no_such.value.status_code == 404

    _vm(emu, "ade-01")  # running: Azure Disk Encryption first, then encryption at host is refused
    settings = {
        "EncryptionOperation": "EnableEncryption",
        "KeyVaultURL": emu.connection["key_vault_url"],
        "KeyVaultResourceId": emu.connection["key_vault_id"],
    }
    compute.virtual_machine_extensions.begin_create_or_update(
        rg,
        "ade-01",
        "AzureDiskEncryption",
        _ade("AzureDiskEncryptionForLinux", settings),
    ).result()
    assert [e.publisher for e in compute.virtual_machine_extensions.list(rg, "ade-01").value] == [
        "Microsoft.Azure.Security"
    ]
    compute.virtual_machines.begin_deallocate(rg, "ade-01").result()
    with pytest.raises(HttpResponseError, match="has had Azure Disk Encryption"):
        compute.virtual_machines.begin_update(rg, "ade-01", at_host).result()


def test_encryption_needs_a_running_vm_and_key_vault_settings(emu: Emulated) -> None:
    rg = emu.connection["target_resource_group"]
    compute = emu.target.compute_client()
    _vm(emu, "app-01", os_type="Windows")
    body = _ade("AzureDiskEncryption", {"EncryptionOperation": "EnableEncryption"}, "2.2")
    with pytest.raises(HttpResponseError) as excinfo:
        compute.virtual_machine_extensions.begin_create_or_update(rg, "app-01", "ade", body).result()
    assert excinfo.value.status_code == 400 and "KeyVaultURL" in excinfo.value.error.message
    compute.virtual_machines.begin_power_off(rg, "app-01").result()
    with pytest.raises(HttpResponseError) as excinfo:
        compute.virtual_machine_extensions.begin_create_or_update(rg, "app-01", "ade", body).result()
    assert excinfo.value.status_code == 409


def _nsg(emu: Emulated, name: str, rule: str, port: str, source: str, priority: int) -> nm.NetworkSecurityGroup:
    """An NSG in the target resource group with one inbound TCP allow rule."""
    allow = nm.SecurityRule(
        name=rule,
        protocol="Tcp",
        source_port_range="*",
        destination_port_range=port,
        source_address_prefix=source,
        destination_address_prefix="*",
        access="Allow",
        priority=priority,
        direction="Inbound",
    )
    return (
        emu.target.network_client()
        .network_security_groups.begin_create_or_update(
            emu.connection["target_resource_group"],
            name,
            nm.NetworkSecurityGroup(location="westeurope", security_rules=[allow]),
        )
        .result()
    )


def test_nsg_with_rules_attached_to_a_nic(emu: Emulated) -> None:
    rg = emu.connection["target_resource_group"]
    network = emu.target.network_client()
    nsg = _nsg(emu, "app-01-nsg", "allow-rdp-mgmt", "3389", "10.99.0.0/24", 200)
    assert [r.name for r in nsg.security_rules] == ["allow-rdp-mgmt"]
    assert {r.name for r in nsg.default_security_rules} >= {"DenyAllInBound", "AllowVnetInBound"}
    extra = nm.SecurityRule(
        protocol="Tcp",
        source_port_range="*",
        destination_port_range="22",
        source_address_prefix="10.99.0.0/24",
        destination_address_prefix="*",
        access="Allow",
        priority=210,
        direction="Inbound",
    )
    network.security_rules.begin_create_or_update(rg, "app-01-nsg", "allow-ssh-mgmt", extra).result()
    _nic(emu, "app-01-nic", nsg_id=nsg.id)
    nsg = network.network_security_groups.get(rg, "app-01-nsg")
    assert sorted(r.name for r in nsg.security_rules) == ["allow-rdp-mgmt", "allow-ssh-mgmt"]
    assert [n.id.rsplit("/", 1)[1] for n in nsg.network_interfaces] == ["app-01-nic"]
    with pytest.raises(HttpResponseError) as excinfo:
        network.network_security_groups.begin_delete(rg, "app-01-nsg").result()
    assert excinfo.value.error.code == "InUseNetworkSecurityGroupCannotBeDeleted"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"priority": 50}, "SecurityRuleInvalidPriority"),
        ({"access": "Maybe"}, "SecurityRuleParameterContainsUnsupportedValue"),
        ({"direction": "Sideways"}, "SecurityRuleParameterContainsUnsupportedValue"),
        ({"source_address_prefix": None}, "SecurityRuleInvalidAddressPrefix"),
        ({"priority": 200}, "SecurityRuleConflict"),
    ],
)
def test_invalid_security_rules_are_refused(emu: Emulated, changes: dict, code: str) -> None:
    rg = emu.connection["target_resource_group"]
    network = emu.target.network_client()
    network.network_security_groups.begin_create_or_update(
        rg,
        "nsg",
        nm.NetworkSecurityGroup(
            location="westeurope",
            security_rules=[
                nm.SecurityRule(
                    name="first",
                    protocol="Tcp",
                    source_port_range="*",
                    destination_port_range="443",
                    source_address_prefix="*",
                    destination_address_prefix="*",
                    access="Allow",
                    priority=200,
                    direction="Inbound",
                )
            ],
        ),
    ).result()
    fields = dict(
        protocol="Tcp",
        source_port_range="*",
        destination_port_range="22",
        source_address_prefix="10.0.0.0/8",
        destination_address_prefix="*",
        access="Allow",
        priority=300,
        direction="Inbound",
    )
    fields.update(changes)
    with pytest.raises(HttpResponseError) as excinfo:
        network.security_rules.begin_create_or_update(rg, "nsg", "second", nm.SecurityRule(**fields)).result()
    assert (excinfo.value.status_code, excinfo.value.error.code) == (400, code)
    assert [r.name for r in network.security_rules.list(rg, "nsg")] == ["first"]


def test_vnets_and_subnets(emu: Emulated) -> None:
    rg = emu.connection["target_resource_group"]
    network = emu.target.network_client()
    vnet = network.virtual_networks.begin_create_or_update(
        rg,
        "vnet-dr",
        nm.VirtualNetwork(
            location="northeurope",
            address_space=nm.AddressSpace(address_prefixes=["10.40.0.0/16"]),
            subnets=[nm.Subnet(name="default", address_prefix="10.40.0.0/24")],
        ),
    ).result()
    assert [s.name for s in vnet.subnets] == ["default"]
    network.subnets.begin_create_or_update(rg, "vnet-dr", "apps", nm.Subnet(address_prefix="10.40.1.0/24")).result()
    assert sorted(s.name for s in network.subnets.list(rg, "vnet-dr")) == ["apps", "default"]
    assert {v.name for v in network.virtual_networks.list(rg)} == {"vnet-target", "vnet-test", "vnet-dr"}
    with pytest.raises(HttpResponseError) as excinfo:
        network.subnets.begin_create_or_update(
            rg, "vnet-dr", "bad", nm.Subnet(address_prefix="10.40.300.0/24")
        ).result()
    assert excinfo.value.error.code == "InvalidAddressPrefix"


def test_disk_encryption_needs_a_key_vault_of_the_vms_region_enabled_for_it(emu: Emulated) -> None:
    from azure.mgmt.keyvault import models as kv

    rg, tenant = emu.connection["target_resource_group"], emu.connection["tenant_id"]
    vaults = emu.target.key_vault_client().vaults
    for name, region, enabled in (("kv-closed", "westeurope", False), ("kv-far", "northeurope", True)):
        properties = kv.VaultProperties(
            tenant_id=tenant, sku=kv.Sku(family="A", name="standard"), enabled_for_disk_encryption=enabled
        )
        vaults.begin_create_or_update(
            "rg-security", name, kv.VaultCreateOrUpdateParameters(location=region, properties=properties)
        ).result()
    uris = {name: vaults.get("rg-security", name).properties.vault_uri for name in ("kv-closed", "kv-far")}
    assert len(set(uris.values())) == 2 and all(urlsplit(u).path == "/" for u in uris.values()), (
        "each vault's data plane has a host of its own, as Key Vault's SDK expects"
    )
    _vm(emu, "db-01")
    compute = emu.target.compute_client()
    for vault, code in (
        ("kv-closed", "KeyVaultAccessForbidden"),
        ("kv-far", "KeyVaultAndVMInDifferentRegions"),
        ("kv-gone", "KeyVaultNotFound"),
    ):
        vault_id = emu.connection["key_vault_id"].rsplit("/", 1)[0] + f"/{vault}"
        settings = {
            "EncryptionOperation": "EnableEncryption",
            "KeyVaultURL": uris.get(vault, f"https://{vault}.vault.azure.net/"),
            "KeyVaultResourceId": vault_id,
        }
        body = _ade("AzureDiskEncryptionForLinux", settings)
        with pytest.raises(HttpResponseError) as refused:
            compute.virtual_machine_extensions.begin_create_or_update(rg, "db-01", "ade", body).result()
        error = refused.value.error
        assert refused.value.status_code == 400 and error is not None and error.code == code


def test_a_vm_beyond_the_quota_is_refused_and_the_usage_list_counts_what_runs(start_emulator: StartEmulator) -> None:
    emu: Emulated = start_emulator(vcpu_quota={"standardDSv3Family": 6})
    _vm(emu, "vm-1", size="Standard_D4s_v3")
    usage = {u.name.value: (u.current_value, u.limit) for u in emu.target.compute_client().usage.list("westeurope")}
    assert usage["standardDSv3Family"] == (4, 6) and usage["cores"][0] == 4
    with pytest.raises(HttpResponseError) as refused:
        _vm(emu, "vm-2", size="Standard_D4s_v3")
    error = refused.value.error
    assert refused.value.status_code == 409 and error is not None and error.code == "OperationNotAllowed"
    assert "Maximum allowed: 6, Current in use: 4, Additional requested: 4" in (error.message or "")
    _nic(emu, "spare")  # the refused VM's NIC was made before it; an address in use either way
    subnets = {u.id.rsplit("/", 1)[-1]: (u.current_value, u.limit) for u in _vnet_usage(emu)}
    assert subnets == {"default": (3, 4091)}  # vm-1's, vm-2's and the spare NIC in a /20 (4096 less 5 reserved)


def _vnet_usage(emu: Emulated) -> list:
    """Each subnet's addresses in use and its limit, as `Get-AzVirtualNetworkUsageList` reads them."""
    parts = emu.target.target_network_id.split("/")
    return list(emu.target.network_client().virtual_networks.list_usage(parts[4], parts[-1]))


def test_a_network_resource_takes_one_operation_at_a_time(start_emulator: StartEmulator) -> None:
    from wavelift.tasks.transient import is_transient

    emu: Emulated = start_emulator(speed=1)  # an ARM operation takes 20 s: the second PUT comes while it runs
    rg, network = emu.connection["target_resource_group"], emu.target.network_client()
    body = nm.NetworkSecurityGroup(location="westeurope")
    first = network.network_security_groups.begin_create_or_update(rg, "nsg-app", body)
    with pytest.raises(HttpResponseError) as busy:
        network.network_security_groups.begin_create_or_update(rg, "nsg-app", body)
    error = busy.value.error
    assert busy.value.status_code == 409 and error is not None and error.code == "AnotherOperationInProgress"
    assert is_transient(busy.value)  # a task retry waits for the operation under way
    emu.admin.skip(60)
    assert first.result().provisioning_state == "Succeeded"
    network.network_security_groups.begin_create_or_update(rg, "nsg-app", body).result()
