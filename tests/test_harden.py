"""Hardening migrated VMs against the emulator: NSG on the NIC with no Internet inbound, the right
disk-encryption extension, backup protection under a policy, A2A replication to the secondary
region; a second run changes nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
from azure.core.exceptions import ResourceNotFoundError
from pydantic import ValidationError

from tests.conftest import Emulated
from tests.test_inventory_flow import _latest_artifact
from tests.test_lifecycle import _replicated_plan
from wavelift.blocks.hardening import HardeningPolicy, InboundRule
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.backup_policy import update_backup_policy
from wavelift.flows.harden import harden_wave
from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave
from wavelift.tasks.harden import nsg_rules, nsg_specs

KEY_VAULT = "/subscriptions/s/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/kv-migration"


def _policy(emu: Emulated | None = None, **changes) -> HardeningPolicy:
    """A policy keeping Azure Disk Encryption keys in the emulator's Key Vault (or a made-up one, for pure rules)."""
    return HardeningPolicy(
        management_cidrs=["10.99.0.0/24"],
        key_vault_url=emu.connection["key_vault_url"] if emu else "https://kv-migration.vault.azure.net/",
        key_vault_resource_id=emu.connection["key_vault_id"] if emu else KEY_VAULT,
        **changes,
    )


def test_migrate_wave_hardens_the_migrated_vms_once(start_emulator, prefect_server: None) -> None:
    emu, machines = _replicated_plan(start_emulator, "hard-a", 4, seed=51)
    _policy(
        emu,
        extra_inbound=[InboundRule(name="https-from-vnet", port=443, sources=["VirtualNetwork"])],
        dr_drill=True,
        dr_drill_network_id=emu.connection["test_network_id"],
    ).save("hard-policy", overwrite=True)

    outcome = migrate_wave(
        MigrateWaveRequest(
            plan_name="hard-a", wave="wave-1", poll_interval=0.3, pre_approved_by="hank", hardening_policy="hard-policy"
        )
    )
    reports = outcome.hardening
    assert sorted(r.machine for r in reports) == sorted(machines) and all(r.ok for r in reports)
    rg = emu.connection["target_resource_group"]
    network, compute, backup, asr = (
        emu.target.network_client(),
        emu.target.compute_client(),
        emu.target.backup_client(),
        emu.target.site_recovery_client(),
    )
    for name in machines:
        vm = compute.virtual_machines.get(rg, name)
        nic = network.network_interfaces.get(rg, vm.network_profile.network_interfaces[0].id.rsplit("/", 1)[1])
        nsg = network.network_security_groups.get(rg, nic.network_security_group.id.rsplit("/", 1)[1])
        inbound_allows = [r for r in nsg.security_rules if r.direction == "Inbound" and r.access == "Allow"]
        os_type = vm.storage_profile.os_disk.os_type
        management = "allow-rdp" if os_type == "Windows" else "allow-ssh"
        assert nsg.name == f"{name}-nsg" and {r.name: r.destination_port_range for r in inbound_allows} == {
            management: "3389" if os_type == "Windows" else "22",
            "https-from-vnet": "443",
        }
        assert all(
            "*" not in (r.source_address_prefixes or []) and "Internet" not in (r.source_address_prefixes or [])
            for r in inbound_allows
        )
        assert next(r for r in inbound_allows if r.name == management).source_address_prefixes == ["10.99.0.0/24"]
        ade = compute.virtual_machine_extensions.get(rg, name, "AzureDiskEncryption")
        assert ade.properties.type == ("AzureDiskEncryption" if os_type == "Windows" else "AzureDiskEncryptionForLinux")
        item = backup.protected_items.get(
            emu.vault,
            emu.rg,
            "Azure",
            f"iaasvmcontainer;iaasvmcontainerv2;{rg};{name}",
            f"vm;iaasvmcontainerv2;{rg};{name}",
        )
        assert item.properties["policyId"].endswith("/backupPolicies/wavelift-daily")
        dr_item = asr.replication_protected_items.get(
            emu.rg, f"{emu.vault}-dr", "asr-a2a-default-westeurope", "asr-a2a-default-westeurope-container", name
        )
        assert (
            dr_item.properties.protection_state == "Protected"
            and dr_item.properties.provider_specific_details.recovery_fabric_location == "northeurope"
        )
        assert dr_item.properties.provider_specific_details.fabric_object_id.lower() == vm.id.lower()
        assert (
            dr_item.properties.last_successful_test_failover_time and dr_item.properties.test_failover_state == "None"
        )
        with pytest.raises(ResourceNotFoundError):
            compute.virtual_machines.get(rg, f"{name}-drtest")  # the drill cleaned up after itself
    assert all(next(s for s in r.steps if s.step == "dr_drill").changed for r in reports)
    assert emu.target.recovery_services_client().vaults.get(emu.rg, f"{emu.vault}-dr").location == "northeurope"

    again = harden_wave("hard-a", "wave-1", "hard-policy")
    assert all(r.ok for r in again) and not any(s.changed for r in again for s in r.steps)
    table = {
        row["machine"]: row for row in json.loads(asyncio.run(_latest_artifact("hardening-hard-a-wave-1")).data)
    }  # the second run's table
    key_vault = emu.connection["key_vault_id"].rsplit("/", 1)[-1]
    for name in machines:  # each cell names what hardening made, and says it was already in place this time
        assert table[name]["nsg"] == f"in place: NSG {name}-nsg"
        assert (
            table[name]["encryption"].startswith("in place: AzureDiskEncryption")
            and key_vault in table[name]["encryption"]
        )
        assert table[name]["backup"] == f"in place: backup policy wavelift-daily in vault {emu.vault}"
        assert table[name]["disaster_recovery"] == f"in place: DR vault {emu.vault}-dr in northeurope"

    # the hardening policy now keeps 60 days: hardening says so and leaves Azure's shared policy alone
    HardeningPolicy.load("hard-policy").model_copy(update={"retention_days": 60}).save("hard-policy", overwrite=True)
    policies = emu.target.backup_client().protection_policies

    def days_kept() -> int:
        return policies.get(
            emu.vault, emu.rg, "wavelift-daily"
        ).properties.retention_policy.daily_schedule.retention_duration.count

    third = harden_wave("hard-a", "wave-1", "hard-policy")
    assert all("kept 30 -> 60 days" in next(s.detail for s in r.steps if s.step == "backup") for r in third)
    assert days_kept() == 30
    dry = update_backup_policy("hard-a", "wave-1", "hard-policy", "hank", return_state=True)
    assert dry.name == "Dry run" and "kept 30 -> 60 days" in (dry.message or "") and days_kept() == 30
    done = update_backup_policy("hard-a", "wave-1", "hard-policy", "hank", execute=True, return_state=True)
    assert done.name == "Changed" and done.result().protected_items == len(machines) and days_kept() == 60


def test_the_policy_never_opens_management_or_extra_ports_to_the_internet() -> None:
    with pytest.raises(ValidationError, match="whole Internet"):
        HardeningPolicy(management_cidrs=["0.0.0.0/0"])
    with pytest.raises(ValidationError, match="a DR drill needs"):
        HardeningPolicy(management_cidrs=["10.0.0.0/8"], dr_drill=True)
    open_web = _policy(extra_inbound=[InboundRule(name="https", port=443, sources=["*"])])
    with pytest.raises(ValueError, match="opens port 443 to the Internet"):
        nsg_rules(["Linux"], open_web)
    allowed = nsg_rules(["Linux"], open_web.model_copy(update={"allow_internet_inbound": True}))
    assert [r["name"] for r in allowed] == ["allow-ssh", "https"]


SITE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OffAzure/VMwareSites/site"


def test_machines_of_a_tier_share_one_nsg_that_serves_every_os_of_the_tier() -> None:
    from wavelift.tasks.plan_models import MachinePlan, PlannedDisk

    def machine(name: str, os_type: str, tier: str | None) -> MachinePlan:
        return MachinePlan(
            source_name=f"src-{name}",
            machine_id=f"{SITE}/machines/src-{name}",
            display_name=name,
            os_type=os_type,
            target_vm_name=name,
            target_vm_size="Standard_D2s_v3",
            disks=[PlannedDisk(uuid=name, size_gb=10, is_os=True)],
            tags={"tier": tier} if tier else {},
        )

    plan = [
        machine("web-1", "Linux", "web"),
        machine("web-2", "Windows", "web"),
        machine("db-1", "Linux", "db"),
        machine("lone-1", "Windows", None),
    ]
    specs = nsg_specs(plan, _policy(nsg_scope="tier"))
    assert {k: (v.name, v.os_types) for k, v in specs.items()} == {
        "src-web-1": ("nsg-web", ["Linux", "Windows"]),
        "src-web-2": ("nsg-web", ["Linux", "Windows"]),
        "src-db-1": ("nsg-db", ["Linux"]),
        "src-lone-1": ("lone-1-nsg", ["Windows"]),
    }
    assert [r["name"] for r in nsg_rules(specs["src-web-1"].os_types, _policy())] == ["allow-ssh", "allow-rdp"]
    assert {v.name for v in nsg_specs(plan, _policy()).values()} == {"web-1-nsg", "web-2-nsg", "db-1-nsg", "lone-1-nsg"}


def test_encryption_at_host_and_a_tier_nsg(start_emulator, prefect_server: None) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.compute import models as cm

    emu, machines = _replicated_plan(start_emulator, "hard-host", 3, seed=57)
    assert len(machines) >= 2
    stored = WavePlanBlock.load("hard-host")
    for machine in stored.plan.waves[0].machines:
        machine.tags["tier"] = "app"
    stored.save("hard-host", overwrite=True)
    _policy(emu, encryption="encryption_at_host", disaster_recovery=False, nsg_scope="tier").save(
        "host-policy", overwrite=True
    )
    rg = emu.connection["target_resource_group"]
    compute = emu.target.compute_client()
    outcome = migrate_wave(
        MigrateWaveRequest(plan_name="hard-host", wave="wave-1", poll_interval=0.3, pre_approved_by="hank")
    )
    running = next(c.vm.name for c in outcome.cutovers if c.vm)
    with pytest.raises(HttpResponseError, match="only be changed while the VM is deallocated") as refused:
        compute.virtual_machines.begin_update(
            rg, running, cm.VirtualMachineUpdate(security_profile=cm.SecurityProfile(encryption_at_host=True))
        ).result()
    assert refused.value.error.code == "OperationNotAllowed"

    unregistered = {r.machine: r for r in harden_wave("hard-host", "wave-1", "host-policy")}
    for name in machines:  # checked while running: a change Azure would refuse never deallocates the VM
        step = next(s for s in unregistered[name].steps if s.step == "encryption")
        assert not step.ok and not step.changed and "Microsoft.Compute/EncryptionAtHost is NotRegistered" in step.detail
    assert not [label for label in emu.admin.stats()["requests"] if "deallocate" in label.lower()]
    assert "PowerState/running" in [
        s.code for s in compute.virtual_machines.get(rg, machines[0], expand="instanceView").instance_view.statuses
    ]
    emu.target.feature_client().features.register("Microsoft.Compute", "EncryptionAtHost")
    emu.admin.skip(3600)

    emu.admin.add_fault(
        method="PATCH",
        path=f"/virtualMachines/{machines[0]}$",
        status=409,
        code="OperationNotAllowed",
        message="The VM size does not support encryption at host.",
        count=1,
    )
    refused_once = {r.machine: r for r in harden_wave("hard-host", "wave-1", "host-policy")}
    step = next(s for s in refused_once[machines[0]].steps if s.step == "encryption")
    assert not step.ok and "does not support encryption at host" in step.detail and "started again" in step.detail
    assert "PowerState/running" in [
        s.code for s in compute.virtual_machines.get(rg, machines[0], expand="instanceView").instance_view.statuses
    ]

    reports = harden_wave("hard-host", "wave-1", "host-policy")
    assert sorted(r.machine for r in reports) == sorted(machines) and all(r.ok for r in reports)
    for name in machines:
        vm = compute.virtual_machines.get(rg, name, expand="instanceView")
        assert vm.security_profile.encryption_at_host is True
        assert "PowerState/running" in [s.code for s in vm.instance_view.statuses]
        assert not [e for e in vm.resources or [] if e.id.endswith("/AzureDiskEncryption")]
    nsg = emu.target.network_client().network_security_groups.get(
        rg, "nsg-app"
    )  # the tier's one NSG, on every NIC of the tier
    assert sorted(n.id.rsplit("/", 1)[1] for n in nsg.network_interfaces) == sorted(f"{name}-nic" for name in machines)

    compute.virtual_machines.begin_deallocate(
        rg, machines[0]
    ).result()  # as a run that died after the update would leave it
    again = {r.machine: r for r in harden_wave("hard-host", "wave-1", "host-policy")}
    assert all(r.ok for r in again.values())
    assert next(s for s in again[machines[0]].steps if s.step == "encryption").changed
    assert not any(s.changed for s in again[machines[1]].steps)


def test_service_tags_go_alone_in_source_address_prefix() -> None:
    rules = nsg_rules(
        ["Linux"],
        _policy(
            extra_inbound=[
                InboundRule(name="app", port=8443, sources=["10.1.0.0/16", "VirtualNetwork", "AzureLoadBalancer"])
            ]
        ),
    )
    by_name = {r["name"]: r["properties"] for r in rules}
    assert by_name["allow-ssh"]["sourceAddressPrefixes"] == ["10.99.0.0/24"]
    assert by_name["app"]["sourceAddressPrefixes"] == ["10.1.0.0/16"] and "sourceAddressPrefix" not in by_name["app"]
    assert by_name["app-virtualnetwork"]["sourceAddressPrefix"] == "VirtualNetwork"
    assert by_name["app-azureloadbalancer"]["sourceAddressPrefix"] == "AzureLoadBalancer"
    assert len({r["priority"] for r in by_name.values()}) == len(by_name) == 4


def test_the_emulator_refuses_a_service_tag_among_address_prefixes(emu) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.network import models as nm

    rule = nm.SecurityRule(
        name="vnet",
        protocol="Tcp",
        source_port_range="*",
        destination_port_range="443",
        destination_address_prefix="*",
        source_address_prefixes=["10.0.0.0/8", "VirtualNetwork"],
        access="Allow",
        priority=200,
        direction="Inbound",
    )
    with pytest.raises(HttpResponseError) as refused:
        emu.target.network_client().network_security_groups.begin_create_or_update(
            emu.connection["target_resource_group"],
            "tags",
            nm.NetworkSecurityGroup(location="westeurope", security_rules=[rule]),
        ).result()
    assert (
        refused.value.error.code == "SecurityRuleParameterContainsUnsupportedValue"
        and "VirtualNetwork" in refused.value.error.message
    )
