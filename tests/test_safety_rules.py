"""The safety rules against careless and hostile input (DESIGN rules 2, 5, 7 and 8): a name never reaches
another server's data, a waiver needs a real reason and a name, the test network is never production,
parameters have bounds, and files holding secrets are private from their first byte."""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network.models import AddressSpace, SubResource, VirtualNetwork, VirtualNetworkPeering
from prefect.exceptions import ParameterTypeError
from pydantic import ValidationError

from tests.conftest import Emulated, StartEmulator
from tests.test_lifecycle import _replicated_plan
from wavelift.blocks.azure import AzureMigrationTarget
from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.onprem import ConfinementError, DiskFile, HttpBackupCatalog, LocalDatastore
from wavelift.blocks.parameters import reference
from wavelift.blocks.plan import WavePlanBlock
from wavelift.emulator.config import EmulatorConfig
from wavelift.emulator.server import EmulatorThread
from wavelift.flows.cutover import CutoverRequest, cutover
from wavelift.flows.migrate_wave import MigrateWaveRequest
from wavelift.flows.replicate import replicate_wave
from wavelift.flows.test_wave import test_wave as run_test_wave
from wavelift.tasks.cleanup import Gate, _clean_up_onprem
from wavelift.tasks.discovery import DiscoveredMachine, OnPremIdentity, onprem_identity
from wavelift.tasks.plan_models import MachinePlan, PlannedDisk
from wavelift.tasks.test_network import isolation_problem

SITE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OffAzure/VMwareSites/site/machines"
PASSED = [Gate(name="vm-running", passed=True, detail="running")]
HOSTILE_NAMES = ["a/../b", "../web-02", "/etc", "..", ".", "a%2F..%2Fb", "web-02%2f", "a\\b", "web-01\n", " web-01", ""]


def _machine(name: str = "web-01", item: str = "item-1", **fields: object) -> MachinePlan:
    return MachinePlan(
        source_name=item,
        machine_id=f"{SITE}/{item}",
        display_name=name,
        os_type="Linux",
        target_vm_name="vm-1",
        target_vm_size="Standard_D2s_v3",
        disks=[PlannedDisk(uuid="d", size_gb=10, is_os=True)],
        **fields,
    )


def _discovered(name: str, item: str) -> DiscoveredMachine:
    return DiscoveredMachine(
        id=f"{SITE}/{item}",
        name=item,
        display_name=name,
        os_type="Linux",
        os_name="",
        cores=1,
        memory_mb=1,
        disks=[],
        ip_addresses=[],
        power_status="ON",
    )


def _datastore(tmp_path: Path) -> tuple[LocalDatastore, Path]:
    root = tmp_path / "san"
    for server in ("web-01", "web-02", "WEB-03"):
        (root / server).mkdir(parents=True)
        (root / server / f"{server}_scsi0_0-flat.vmdk").write_bytes(b"disk")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "other-flat.vmdk").write_bytes(b"disk")
    return LocalDatastore(root=str(root)), root


def _all_files(tmp_path: Path) -> set[Path]:
    return {p for p in tmp_path.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("pattern", ["../*/*-flat.vmdk", "/etc/*", "*/*-flat.vmdk", "**", "..", "web-02\\*"])
def test_a_datastore_pattern_that_leaves_the_folder_is_refused_when_saved(pattern: str) -> None:
    with pytest.raises(ValidationError, match="never a path"):
        LocalDatastore(root="/san", pattern=pattern)
    with pytest.raises(ValidationError, match="absolute path"):
        LocalDatastore(root="san")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_that_is_a_path_reaches_no_file(tmp_path: Path, name: str) -> None:
    store, root = _datastore(tmp_path)
    before = _all_files(tmp_path)
    with pytest.raises(ConfinementError):
        store.disk_files(name)
    with pytest.raises(ConfinementError):
        store.delete(name, DiskFile(path=str(root / "web-02" / "web-02_scsi0_0-flat.vmdk"), size_bytes=4))
    assert _all_files(tmp_path) == before


def test_the_datastore_deletes_only_the_named_servers_own_regular_files(tmp_path: Path) -> None:
    store, root = _datastore(tmp_path)
    other = DiskFile(path=str(root / "web-02" / "web-02_scsi0_0-flat.vmdk"), size_bytes=4)
    for attempt in (
        other,
        DiskFile(path=str(root / "web-01" / ".." / "web-02" / "web-02_scsi0_0-flat.vmdk"), size_bytes=4),
        DiskFile(path=str(tmp_path / "outside" / "other-flat.vmdk"), size_bytes=4),
        DiskFile(path=str(root / "web-01" / "notes.txt"), size_bytes=1),
    ):
        with pytest.raises(ConfinementError):
            store.delete("web-01", attempt)
    assert (
        store.disk_files("web-03") == [] and (root / "WEB-03").is_dir()
    )  # a name that differs only in case is another server
    with pytest.raises(ConfinementError):
        store.delete("web-03", DiskFile(path=str(root / "WEB-03" / "WEB-03_scsi0_0-flat.vmdk"), size_bytes=4))

    (root / "web-01" / "escape-flat.vmdk").symlink_to(tmp_path / "outside" / "other-flat.vmdk")
    (root / "linked").symlink_to(tmp_path / "outside")
    before = _all_files(tmp_path)
    with pytest.raises(ConfinementError, match="symbolic link"):
        store.disk_files("web-01")
    with pytest.raises(ConfinementError, match="symbolic link"):
        store.disk_files("linked")
    with pytest.raises(ConfinementError, match="symbolic link"):
        store.delete("web-01", DiskFile(path=str(root / "web-01" / "escape-flat.vmdk"), size_bytes=4))
    assert _all_files(tmp_path) == before
    (root / "web-01" / "escape-flat.vmdk").unlink()
    (own,) = store.disk_files("web-01")
    store.delete("web-01", own)
    assert not Path(own.path).exists() and (root / "web-02" / "web-02_scsi0_0-flat.vmdk").exists()


def test_the_backup_catalog_sends_a_name_as_one_quoted_segment(emu: Emulated) -> None:
    catalog = HttpBackupCatalog(url=emu.connection["backup_catalog_url"], ca_bundle=emu.connection["ca_cert"])
    first = _first_server(emu)
    jobs = catalog.jobs_of(first)
    assert jobs and catalog.jobs_of(f"{first}?x=1") == [] and catalog.jobs_of(f"{first}#x") == []
    for name in HOSTILE_NAMES:
        with pytest.raises(ConfinementError):
            catalog.jobs_of(name)
        with pytest.raises(ConfinementError):
            catalog.remove_from_job(jobs[0], name)
    catalog.remove_from_job(jobs[0], f"{first}#fragment")
    catalog.remove_from_job(jobs[0], f"{first}?server={first}")
    assert catalog.jobs_of(first) == jobs  # neither reached the server whose name they start with


def _first_server(emu: Emulated) -> str:
    import httpx

    with httpx.Client(verify=ssl.create_default_context(cafile=emu.connection["ca_cert"])) as client:
        return client.get(f"{emu.connection['onprem_url']}/machines").json()["machines"][0]["display_name"]


def test_on_prem_identity_comes_from_discovery_alone() -> None:
    discovered = [
        _discovered("web-01", "item-1"),
        _discovered("web-02", "item-2"),
        _discovered("db-01", "item-3"),
        _discovered("DB-01", "item-4"),
    ]
    assert onprem_identity(_machine("web-01", "item-1"), discovered) == "web-01"
    for machine, words in [
        (_machine("web-02", "item-1"), "discovery calls it 'web-01'"),  # the plan's name for item-1 is another server's
        (_machine("WEB-01", "item-1"), "discovery calls it 'web-01'"),
        (_machine("web-09", "item-9"), "not a machine the appliance discovered"),
        (_machine("db-01", "item-3"), "same name up to case"),
    ]:
        with pytest.raises(LookupError, match=words):
            onprem_identity(machine, discovered)


def test_the_clean_up_acts_on_the_confirmed_identity_only(tmp_path: Path) -> None:
    store, root = _datastore(tmp_path)
    held = _clean_up_onprem(
        OnPremIdentity(server=None, problem="the plan calls the machine 'web-02' but discovery calls it 'web-01'"),
        None,
        store,
        PASSED,
        execute=True,
    )
    assert [(a.outcome, a.detail) for a in held] == [
        ("held", "on-prem copies kept: the plan calls the machine 'web-02' but discovery calls it 'web-01'")
    ]
    refused = _clean_up_onprem(OnPremIdentity(server="../web-02"), None, store, PASSED, execute=True)
    assert refused[0].outcome == "held" and "path separator" in refused[0].detail
    done = _clean_up_onprem(OnPremIdentity(server="web-01"), None, store, PASSED, execute=True)
    assert [a.outcome for a in done] == ["done"]
    assert (
        not (root / "web-01" / "web-01_scsi0_0-flat.vmdk").exists()
        and (root / "web-02" / "web-02_scsi0_0-flat.vmdk").exists()
    )


@pytest.mark.parametrize("name", ["a/../b", "..", "a%2Fb", "x\x00y", "web-01 "])
def test_a_plan_refuses_a_machine_name_that_is_a_path(name: str) -> None:
    with pytest.raises(ValidationError, match="never a path"):
        _machine(name)
    with pytest.raises(ValidationError, match="never a path"):
        _machine("web-01", item=name)
    with pytest.raises(ValidationError, match="machine_id"):
        MachinePlan.model_validate(
            _machine().model_dump()
            | {"machine_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x"}
        )
    with pytest.raises(ValidationError, match="test_subnet"):
        _machine(test_subnet="../default")


def test_a_test_waiver_needs_a_real_reason_and_who_gave_it() -> None:
    for reason in ("", "   ", "\t\n"):
        with pytest.raises(ValidationError, match="needs a written reason"):
            _machine(test_waiver_reason=reason, test_waived_by="alice")
    with pytest.raises(ValidationError, match="test_waived_by"):
        _machine(test_waiver_reason="vendor appliance, tested by the vendor")
    with pytest.raises(ValidationError, match="test_waived_by"):
        _machine(test_waiver_reason="vendor appliance, tested by the vendor", test_waived_by="  ")
    waived = _machine(test_waiver_reason="vendor appliance, tested by the vendor", test_waived_by="alice@example.com")
    assert (
        waived.test_waived
        and waived.waiver_note == "test migration waived by alice@example.com: vendor appliance, tested by the vendor"
    )
    assert not _machine().test_waived and _machine().waiver_note is None


def test_the_production_network_is_refused_as_the_test_network(emu: Emulated) -> None:
    fields = emu.target.model_dump(exclude={"credentials"}) | {"credentials": emu.target.credentials}
    production = emu.connection["target_network_id"]
    for test_network in (
        production,
        production.upper(),
        f"{production}/subnets/{emu.connection['target_subnet']}",
        f"{production}/",
    ):
        with pytest.raises(ValidationError, match="production network"):
            AzureMigrationTarget(**fields | {"test_network_id": test_network})
    with pytest.raises(ValidationError, match="virtual network's resource id"):
        AzureMigrationTarget(
            **fields
            | {"test_network_id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/networkInterfaces/n"}
        )

    assert isolation_problem(emu.target) is None
    network = emu.target.network_client()
    test_rg, test_vnet = (
        emu.connection["test_network_id"].split("/")[4],
        emu.connection["test_network_id"].rsplit("/", 1)[1],
    )
    network.virtual_network_peerings.begin_create_or_update(
        test_rg,
        test_vnet,
        "to-prod",
        VirtualNetworkPeering(remote_virtual_network=SubResource(id=production), allow_virtual_network_access=True),
    ).result()
    problem = isolation_problem(emu.target)
    assert problem is not None and "peered with the production network (to-prod, Initiated)" in problem


def test_the_emulator_refuses_a_peering_of_overlapping_networks(emu: Emulated) -> None:
    network = emu.target.network_client()
    rg = emu.connection["target_network_id"].split("/")[4]
    network.virtual_networks.begin_create_or_update(
        rg,
        "copy-of-prod",
        VirtualNetwork(
            location=emu.connection["region"], address_space=AddressSpace(address_prefixes=["10.20.0.0/16"])
        ),
    ).result()
    with pytest.raises(HttpResponseError) as refused:
        network.virtual_network_peerings.begin_create_or_update(
            rg,
            "copy-of-prod",
            "to-prod",
            VirtualNetworkPeering(remote_virtual_network=SubResource(id=emu.connection["target_network_id"])),
        ).result()
    assert refused.value.error.code == "VnetAddressSpacesOverlap"


def test_flow_parameters_are_bounded_before_a_run_starts() -> None:
    for bad in (
        {"poll_interval": -1},
        {"poll_interval": 0},
        {"poll_interval": 86400},
        {"batch": 0},
        {"wave": "../x"},
        {"plan_name": "Plan A"},
    ):
        with pytest.raises(ParameterTypeError):
            replicate_wave.validate_parameters({"plan_name": "plan", "wave": "wave-1"} | bad)
    schema = replicate_wave.parameters.model_dump()["properties"]["poll_interval"]["anyOf"][0]  # a number, or empty
    assert (schema["minimum"], schema["maximum"]) == (0.1, 3600)
    with pytest.raises(ValidationError, match="prediction_reason"):
        CutoverRequest(plan_name="plan", fixed_minutes=1)
    with pytest.raises(ValidationError, match="greater than 0"):
        CutoverRequest(plan_name="plan", fixed_minutes=0, prediction_reason="we measured it")
    assert (
        CutoverRequest(
            plan_name="plan", fixed_minutes=5, prediction_reason="measured at 4 min in the rehearsal"
        ).fixed_minutes
        == 5
    )
    with pytest.raises(ValidationError):
        MigrateWaveRequest(plan_name="plan", wave="wave-1", poll_interval=-5)
    with pytest.raises(ValidationError):
        MigrateWaveRequest(plan_name="plan", wave="wave-1", pre_approved_by="  ")


def test_files_holding_secrets_are_private_from_their_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "chmod", lambda *a, **k: None)  # narrowing afterwards does not count
    monkeypatch.setattr(Path, "chmod", lambda *a, **k: None)
    old = os.umask(0o022)
    try:
        with EmulatorThread(EmulatorConfig(machines=2, seed=1, state_dir=tmp_path / "emu")):
            for secret in (tmp_path / "emu" / "connection.json", tmp_path / "emu" / "tls" / "server.key"):
                assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
            assert stat.S_IMODE((tmp_path / "emu").stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_a_waived_machine_cuts_over_with_who_waived_it_on_record(
    start_emulator: StartEmulator, prefect_server: None
) -> None:
    emu, machines = _replicated_plan(start_emulator, "safe-w", 2, seed=41)
    plan = WavePlanBlock.load("safe-w").plan
    with pytest.raises(ValidationError, match="needs a written reason"):
        MachinePlan.model_validate(
            plan.waves[0].machines[0].model_dump() | {"test_waiver_reason": "  ", "test_waived_by": "ivy"}
        )
    waived = (
        plan.waves[0]
        .machines[0]
        .model_copy(update={"test_waiver_reason": "appliance image, tested by its vendor", "test_waived_by": "ivy"})
    )
    plan.waves[0].machines[0] = waived
    WavePlanBlock.of(plan).save("safe-w", overwrite=True)
    results = {r.machine: r for r in cutover(CutoverRequest(plan_name="safe-w"))}
    assert results[waived.display_name].outcome == "migrated"
    assert (
        results[waived.display_name].test_waiver
        == "test migration waived by ivy: appliance image, tested by its vendor"
    )
    other = next(m for m in machines if m != waived.display_name)
    assert (results[other].outcome, results[other].detail, results[other].test_waiver) == (
        "skipped",
        "no succeeded test migration",
        None,
    )


def test_no_test_vm_goes_to_a_test_network_peered_with_production(
    start_emulator: StartEmulator, prefect_server: None
) -> None:
    emu, machines = _replicated_plan(start_emulator, "safe-t", 2, seed=42)
    test_rg, test_vnet = (
        emu.connection["test_network_id"].split("/")[4],
        emu.connection["test_network_id"].rsplit("/", 1)[1],
    )
    emu.target.network_client().virtual_network_peerings.begin_create_or_update(
        test_rg,
        test_vnet,
        "shortcut",
        VirtualNetworkPeering(remote_virtual_network=SubResource(id=emu.connection["target_network_id"])),
    ).result()
    reports = run_test_wave("safe-t", "wave-1", poll_interval=0.3)
    assert sorted(r.machine for r in reports) == sorted(machines) and not any(r.passed for r in reports)
    assert all("peered with the production network (shortcut, Initiated)" in r.detail for r in reports)
    assert [e for events in emu.admin.history().values() for e in events if e["event"].startswith("test")] == []


def test_the_api_refuses_out_of_range_parameters_before_a_run_starts(prefect_server: None) -> None:
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError

    from wavelift.deployments.definitions import NightlyCutover
    from wavelift.deployments.setup import setup

    setup(NightlyCutover())
    plan, policy = reference(WavePlanBlock, "p"), reference(CleanupPolicy, "c")
    for name, parameters in [
        ("replicate-wave/replicate-wave", {"plan_name": plan, "wave": "wave-1", "poll_interval": -1}),
        ("cutover/cutover-now", {"request": {"plan_name": plan, "fixed_minutes": 0}}),
        ("cleanup-wave/cleanup-wave", {"request": {"plan_name": plan, "wave": "../w", "policy_block": policy}}),
        ("harden-wave/harden-wave", {"plan_name": "p", "wave": "wave-1", "policy_block": policy}),  # a name, no pick
    ]:
        with pytest.raises(PrefectHTTPStatusError, match="Validation failed"):
            run_deployment(name, parameters=parameters, timeout=0)
