"""The preflight: the rules on their own (fast), then against the emulator — a red quota finding stops
migrate-wave before anything starts, an override needs a reason and is recorded, and raising the quota
through the Quota API turns the finding green."""

from __future__ import annotations

from collections import Counter

import pytest
from azure.core.exceptions import HttpResponseError
from pydantic import ValidationError

from tests.conftest import Emulated, StartEmulator
from tests.test_lifecycle import _events, _saved_plan
from wavelift.emulator.skus import VM_SIZES
from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave
from wavelift.flows.preflight import preflight_wave
from wavelift.tasks.lifecycle import MachineState
from wavelift.tasks.plan_models import MachinePlan, PlannedDisk, Wave, WavePlan
from wavelift.tasks.preflight import (
    PolicyNeeds,
    Severity,
    TargetReading,
    Usage,
    needed_providers,
    preflight,
    subnet_key,
)
from wavelift.tasks.quota import raise_vcpu_quota
from wavelift.tasks.vault_status import ItemStatus
from wavelift.tasks.vm_sizes import SizeInfo

SITE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OffAzure/VMwareSites/site"
VCENTER = f"{SITE}/vCenters/vc-1"
TARGET_NET = "/subscriptions/s/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-target"
TEST_NET = "/subscriptions/s/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-test"


def _machine(name: str, size: str = "Standard_D4s_v3", vcenter: str | None = VCENTER) -> MachinePlan:
    return MachinePlan(
        source_name=name,
        machine_id=f"{SITE}/machines/{name}",
        display_name=name,
        os_type="Linux",
        target_vm_name=name,
        target_vm_size=size,
        disks=[PlannedDisk(uuid=f"{name}-d0", size_gb=64, is_os=True)],
        vcenter_id=vcenter,
    )


def _item(name: str, state: str) -> ItemStatus:
    return ItemStatus(name=name, id=name, migration_state=state, test_state="None", allowed_operations=[])


def _reading(machines: list[MachinePlan], **changes: object) -> TargetReading:
    """A target with room for everything: each test changes what it is about."""
    reading = TargetReading(
        region="westeurope",
        sizes={
            "standard_d4s_v3": SizeInfo(family="standardDSv3Family", vcpus=4, encryption_at_host=True),
            "standard_a2_v2": SizeInfo(family="standardAv2Family", vcpus=2, encryption_at_host=False),
        },
        vcpu_usage={
            "cores": Usage(current=10, limit=100),
            "standardDSv3Family": Usage(current=0, limit=100),
            "standardAv2Family": Usage(current=0, limit=100),
        },
        subnets={
            subnet_key(TARGET_NET, "default"): Usage(current=0, limit=251),
            subnet_key(TEST_NET, "default"): Usage(current=0, limit=251),
        },
        states={m.source_name: MachineState(machine=m.display_name, item=None, vm_exists=False) for m in machines},
        taken_names=set(),
        run_as_by_vcenter={VCENTER.lower(): "run-as-1"},
        mapping_region="westeurope",
        in_initial_replication=0,
        backup_vault_region="westeurope",
        host_encryption_feature="Registered",
        secondary_region="northeurope",
        key_vault_region="westeurope",
        key_vault_for_disk_encryption=True,
    )
    return reading.model_copy(update=changes)


NO_POLICY = PolicyNeeds()
REGISTERED = dict.fromkeys(needed_providers(PolicyNeeds(key_vault_id="kv", disaster_recovery=True)), "Registered")


def _check(machines: list[MachinePlan], reading: TargetReading, needs: PolicyNeeds = NO_POLICY) -> list:
    wave = Wave(name="wave-1", machines=machines)
    report = preflight("plan", wave, REGISTERED, reading, needs, (TARGET_NET, "default"), (TEST_NET, "default"))
    return report.red


def test_a_target_with_room_for_the_wave_has_no_red_finding() -> None:
    machines = [_machine(f"vm-{i}") for i in range(5)]
    needs = PolicyNeeds(backup=True, encryption_at_host=True, disaster_recovery=True)
    assert _check(machines, _reading(machines), needs) == []


def test_the_quota_counts_the_pending_machines_of_each_family_and_in_all() -> None:
    machines = [_machine(f"vm-{i}") for i in range(5)]  # 20 vCPUs of DSv3
    short = _reading(
        machines, vcpu_usage={"cores": Usage(current=90, limit=100), "standardDSv3Family": Usage(current=0, limit=16)}
    )
    red = _check(machines, short)
    assert {(f.check, f.quota, f.required) for f in red} == {
        ("vCPU quota", "cores", 110),
        ("vCPU quota", "standardDSv3Family", 20),
    }
    assert "needs 20 vCPUs; 10 of 100 are free" in next(f.detail for f in red if f.quota == "cores")
    assert "at least 20" in next(f.fix for f in red if f.quota != "cores")
    # a migrated machine needs nothing more: two of five migrated leave 12 vCPUs to find
    migrated = {
        m.source_name: MachineState(
            machine=m.display_name, item=_item(m.source_name, "MigrationSucceeded"), vm_exists=True
        )
        for m in machines[:2]
    }
    fits = short.model_copy(
        update={
            "states": short.states | migrated,
            "vcpu_usage": {"cores": Usage(current=80, limit=100), "standardDSv3Family": Usage(current=8, limit=20)},
        }
    )
    assert _check(machines, fits) == []


def test_subnets_need_an_address_per_pending_machine_and_a_test_address_per_untested_one() -> None:
    machines = [_machine(f"vm-{i}") for i in range(4)]
    tight = _reading(machines, subnets={subnet_key(TARGET_NET, "default"): Usage(current=248, limit=251)})
    red = {f.check: f.detail for f in _check(machines, tight)}
    assert red == {
        "target subnet vnet-target/default": "4 machines need an address; 3 of 251 are free",
        "test subnet vnet-test/default": "the subnet does not exist",
    }


def test_sizes_must_be_offered_and_take_encryption_at_host_when_the_policy_wants_it() -> None:
    machines = [_machine("vm-a", "Standard_A2_v2"), _machine("vm-b", "Standard_M416ms_v2")]
    red = _check(machines, _reading(machines), PolicyNeeds(encryption_at_host=True))
    assert {(f.scope, f.detail) for f in red} == {
        ("vm-a", "Standard_A2_v2 does not support encryption at host"),
        ("vm-b", "Standard_M416ms_v2 is not offered in westeurope"),
    }


def test_a_taken_name_is_red_and_a_completed_migration_is_named_for_the_operator() -> None:
    machines = [_machine("vm-a"), _machine("vm-b"), _machine("vm-c"), _machine("vm-d")]
    states = {
        "vm-a": MachineState(machine="vm-a", item=_item("vm-a", "Replicating"), vm_exists=True),
        "vm-b": MachineState(machine="vm-b", item=None, vm_exists=True),  # completed: item gone, VM in place
        # a run killed during these cutovers: the VM is the migration's own, and the next run carries on
        "vm-c": MachineState(machine="vm-c", item=_item("vm-c", "MigrationInProgress"), vm_exists=True),
        "vm-d": MachineState(machine="vm-d", item=_item("vm-d", "MigrationFailed"), vm_exists=True),
    }
    reading = _reading(machines, states=states, taken_names={"vm-a", "vm-b", "vm-c", "vm-d"})
    wave = Wave(name="wave-1", machines=machines)
    report = preflight("plan", wave, REGISTERED, reading, PolicyNeeds(), (TARGET_NET, "default"), (TEST_NET, "default"))
    names = [(f.scope, f.severity) for f in report.findings if f.check == "target VM name"]
    assert names == [("vm-a", Severity.RED), ("vm-b", Severity.AMBER)]


def test_each_machine_needs_its_own_vcenters_run_as_account() -> None:
    machines = [_machine("vm-a", vcenter=f"{SITE}/vCenters/vc-gone"), _machine("vm-b", vcenter=None)]
    wave = Wave(name="wave-1", machines=machines)
    report = preflight(
        "plan", wave, REGISTERED, _reading(machines), PolicyNeeds(), (TARGET_NET, "default"), (TEST_NET, "default")
    )
    found = {(f.scope, f.severity) for f in report.findings if f.check == "run-as account"}
    assert found == {("vm-a", Severity.RED), ("vm-b", Severity.AMBER)}


def test_regions_and_the_feature_the_policy_needs() -> None:
    machines = [_machine("vm-a")]
    reading = _reading(
        machines,
        mapping_region="northeurope",
        backup_vault_region="eastus",
        host_encryption_feature="NotRegistered",
        secondary_region="westeurope",
    )
    red = {
        f.check
        for f in _check(machines, reading, PolicyNeeds(backup=True, encryption_at_host=True, disaster_recovery=True))
    }
    assert red == {"replication region", "backup vault region", "secondary region", "EncryptionAtHost feature"}
    assert {f.check for f in _check(machines, reading)} == {"replication region"}  # no policy, no policy needs


def test_disk_encryption_needs_its_key_vault_in_the_region_and_enabled_for_it() -> None:
    machines = [_machine("vm-a")]
    ade = PolicyNeeds(key_vault_id="/subscriptions/s/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/kv-1")
    assert _check(machines, _reading(machines), ade) == []
    gone = {
        f.check: f.detail
        for f in _check(machines, _reading(machines, key_vault_region=None, key_vault_for_disk_encryption=False), ade)
    }
    assert gone == {
        "Key Vault region": "Key Vault kv-1 is not found; Azure Disk Encryption needs it in westeurope",
        "Key Vault for disk encryption": "Key Vault kv-1 is not enabled for disk encryption",
    }
    far = _check(machines, _reading(machines, key_vault_region="northeurope"), ade)
    assert [f.check for f in far] == ["Key Vault region"]


# -- against the emulator -----------------------------------------------------------------------------------------
def _busiest_family(plan: WavePlan) -> tuple[str, int]:
    """The VM family most of the wave's vCPUs are in, and how many that is."""
    vcpus: Counter[str] = Counter()
    for m in plan.waves[0].machines:
        vcpus[VM_SIZES[m.target_vm_size].family] += VM_SIZES[m.target_vm_size].vcpus
    return vcpus.most_common(1)[0]


def _writes(emu: Emulated) -> dict[str, int]:
    """Every request that could change Azure, by method and resource type."""
    return {
        k: n for k, n in emu.admin.stats()["requests"].items() if k.split()[0] in {"PUT", "PATCH", "POST", "DELETE"}
    }


def test_a_red_preflight_stops_the_wave_until_the_quota_is_raised(
    start_emulator: StartEmulator, prefect_server: None
) -> None:
    family, vcpus = _busiest_family(_saved_plan(start_emulator(machines=8, seed=41), "pre-probe"))
    emu: Emulated = start_emulator(machines=8, seed=41, vcpu_quota={family: vcpus - 1})  # the same estate, short
    _saved_plan(emu, "pre-a")

    report = preflight_wave("pre-a", "wave-1")
    assert [(f.check, f.quota, f.required) for f in report.red] == [("vCPU quota", family, vcpus)]
    assert f"needs {vcpus} vCPUs; {vcpus - 1} of {vcpus - 1} are free" in report.red[0].detail

    state = migrate_wave(MigrateWaveRequest(plan_name="pre-a", wave="wave-1"), return_state=True)
    assert state.is_failed() and state.name == "Stopped by preflight"
    assert f"vCPU quota: {family}" in (state.message or "")
    assert _writes(emu) == {} and _events(emu, "enable_replication") == [], (
        "a preflight changes nothing, and a wave it stops starts nothing"
    )
    with pytest.raises(ValidationError, match="preflight_override_by"):
        MigrateWaveRequest(plan_name="pre-a", wave="wave-1", preflight_override_reason="quota request approved")

    assert raise_vcpu_quota(emu.target, family, vcpus + 8) == vcpus + 8
    assert preflight_wave("pre-a", "wave-1").red == []


def test_dr_needs_its_resource_group_in_the_secondary_region_and_its_cache_in_the_vms() -> None:
    machines = [_machine("vm-a")]
    dr = PolicyNeeds(disaster_recovery=True, dr_places=("rg-target-asr", "wlcache1"))
    assert _check(machines, _reading(machines), dr) == []  # neither exists yet: hardening creates both
    placed = _reading(machines, dr_group_region="northeurope", dr_cache_region="westeurope")
    assert _check(machines, placed, dr) == []
    misplaced = _reading(machines, dr_group_region="westeurope", dr_cache_region="northeurope")
    assert {f.check for f in _check(machines, misplaced, dr)} == {"DR resource group", "DR cache storage account"}


def test_backup_needs_its_vault_in_the_target_region_unless_hardening_makes_it() -> None:
    machines = [_machine("vm-a")]
    migration_vault = PolicyNeeds(backup=True, backup_vault="wavelift-vault")
    own_vault = PolicyNeeds(backup=True, backup_vault="wavelift-backup", backup_vault_made=True)
    elsewhere = _reading(machines, backup_vault_region="northeurope")
    absent = _reading(machines, backup_vault_region=None)
    assert [f.check for f in _check(machines, elsewhere, migration_vault)] == ["backup vault region"]
    assert [f.check for f in _check(machines, absent, migration_vault)] == ["backup vault region"]
    assert _check(machines, absent, own_vault) == []  # hardening creates it in the target region
    assert [f.check for f in _check(machines, elsewhere, own_vault)] == ["backup vault region"]


def test_every_provider_the_wave_calls_must_be_registered() -> None:
    machines = [_machine("vm-a")]
    providers = {"Microsoft.Compute": "NotRegistered", "Microsoft.KeyVault": "Registering", "Microsoft.Network": "?"}
    wave = Wave(name="w", machines=machines)
    report = preflight("plan", wave, providers, None, PolicyNeeds(key_vault_id="kv"), ("n", "s"), ("n", "s"))
    red = {f.check: f.fix for f in report.red}
    assert red["provider Microsoft.Compute"] == (
        "az provider register --namespace Microsoft.Compute, then wait until it reads Registered"
    )
    assert set(red) == {
        f"provider {namespace}"
        for namespace in ("Microsoft.Compute", "Microsoft.KeyVault", "Microsoft.Migrate", "Microsoft.Network")
        + ("Microsoft.OffAzure", "Microsoft.RecoveryServices")
    }, "a namespace not read counts as not registered; one the policy does not need (Storage) is not asked for"
    assert [f.check for f in report.findings if f.severity == Severity.AMBER] == ["other checks"]


def test_an_unregistered_provider_is_red_in_the_preflight_and_refused_by_azure(
    start_emulator: StartEmulator, prefect_server: None
) -> None:
    emu: Emulated = start_emulator(machines=4, seed=43, unregistered_providers=["Microsoft.Compute"])
    _saved_plan(emu, "pre-rp")
    with pytest.raises(HttpResponseError) as refused:
        list(emu.target.compute_client().virtual_machines.list(emu.target.target_resource_group))
    assert refused.value.status_code == 409 and refused.value.error.code == "MissingSubscriptionRegistration"

    red = preflight_wave("pre-rp", "wave-1").red
    assert [(f.check, f.detail) for f in red] == [
        (
            "provider Microsoft.Compute",
            "Microsoft.Compute is NotRegistered in the subscription: Azure refuses its requests "
            "(MissingSubscriptionRegistration)",
        )
    ]

    providers = emu.target.resource_client().providers
    assert providers.register("Microsoft.Compute").registration_state == "Registering"
    emu.admin.skip(3600)
    compute = providers.get("microsoft.compute")
    assert compute.registration_state == "Registered"
    assert "virtualMachines" in {t.resource_type for t in compute.resource_types}
    with pytest.raises(HttpResponseError, match="InvalidResourceNamespace"):
        providers.get("Microsoft.Nowhere")
    listed = {p.namespace: p.registration_state for p in providers.list()}  # `az provider list`
    assert listed["Microsoft.Compute"] == "Registered" and "Microsoft.OffAzure" in listed
    assert preflight_wave("pre-rp", "wave-1").red == []
