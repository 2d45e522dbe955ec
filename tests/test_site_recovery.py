"""Site Recovery migration items through the real SDK against the emulator: the lifecycle a
migration team drives, the refusals Azure gives, failures with Azure error bodies, and paging."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.recoveryservicessiterecovery import models as m

from tests.azure_inputs import (
    build_cleanup_input,
    build_enable_input,
    build_migrate_input,
    build_test_migrate_input,
    discovered,
)
from tests.conftest import Emulated, StartEmulator

RG = "/subscriptions/s/resourceGroups/r"
ITEM_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationMigrationItems"
)


def _items(emu: Emulated):
    return emu.target.site_recovery_client().replication_migration_items


def _enable(emu: Emulated, machine: dict, **overrides) -> m.MigrationItem:
    c = emu.connection
    return (
        _items(emu)
        .begin_create(
            emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], build_enable_input(c, machine, **overrides)
        )
        .result()
    )


def _wait_until(emu: Emulated, condition, step: float = 300.0) -> None:
    """Skip emulated time in steps until `condition()` holds."""
    for _ in range(200):
        if condition():
            return
        emu.admin.skip(step)
    raise AssertionError("condition never became true")


def _wait_replicating(emu: Emulated, name: str) -> m.MigrationItem:
    c = emu.connection

    def item() -> m.MigrationItem:
        return _items(emu).get(emu.rg, emu.vault, c["fabric"], c["container"], name)

    _wait_until(emu, lambda: item().properties.migration_state == m.MigrationState.REPLICATING, step=600)
    return item()


def _replicating_machine(emu: Emulated, index: int = 0) -> dict:
    """A discovered machine, enabled and past its initial seeding."""
    machine = discovered(emu)[index]
    _enable(emu, machine)
    _wait_replicating(emu, machine["name"])
    return machine


def _azure_error(excinfo: pytest.ExceptionInfo[HttpResponseError]) -> tuple[int, str]:
    return excinfo.value.status_code, excinfo.value.error.code


def test_one_machine_from_replication_to_migrated(emu: Emulated) -> None:
    c = emu.connection
    machine = discovered(emu)[0]
    name, fabric, container = machine["name"], c["fabric"], c["container"]
    items = _items(emu)

    item = _enable(emu, machine, target_vm_name="erp-app-azure")
    assert item.properties.migration_state == m.MigrationState.INITIAL_SEEDING_IN_PROGRESS
    assert item.properties.allowed_operations == [m.MigrationItemOperation.DISABLE_MIGRATION]
    assert item.properties.provider_specific_details.instance_type == "VMwareCbt"

    item = _wait_replicating(emu, name)
    details = item.properties.provider_specific_details
    assert item.properties.migration_state_description == "Ready to migrate"
    assert details.initial_seeding_progress_percentage == 100
    assert {"TestMigrate", "Migrate", "DisableMigration"} <= set(item.properties.allowed_operations)
    assert details.last_recovery_point_id.startswith(item.id + "/migrationRecoveryPoints/")

    item = items.begin_test_migrate(
        emu.rg,
        emu.vault,
        fabric,
        container,
        name,
        build_test_migrate_input(c["test_network_id"], details.last_recovery_point_id),
    ).result()
    assert item.properties.test_migrate_state == m.TestMigrationState.TEST_MIGRATION_SUCCEEDED
    assert item.properties.test_migrate_state_description == "Test migration cleanup pending"
    compute, network = emu.target.compute_client(), emu.target.network_client()
    test_vm = compute.virtual_machines.get(c["target_resource_group"], "erp-app-azure-test", expand="instanceView")
    assert "PowerState/running" in [s.code for s in test_vm.instance_view.statuses]
    test_nic = network.network_interfaces.get(c["target_resource_group"], "erp-app-azure-test-nic")
    assert (
        test_nic.ip_configurations[0].subnet.id.lower() == f"{c['test_network_id']}/subnets/{c['test_subnet']}".lower()
    )

    item = items.begin_test_migrate_cleanup(emu.rg, emu.vault, fabric, container, name, build_cleanup_input()).result()
    assert item.properties.test_migrate_state == m.TestMigrationState.NONE
    assert item.properties.last_test_migration_status == "Succeeded"
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(c["target_resource_group"], "erp-app-azure-test")

    item = items.begin_migrate(emu.rg, emu.vault, fabric, container, name, build_migrate_input("true")).result()
    assert item.properties.migration_state == m.MigrationState.MIGRATION_SUCCEEDED
    assert item.properties.allowed_operations == [m.MigrationItemOperation.DISABLE_MIGRATION]
    vm = compute.virtual_machines.get(c["target_resource_group"], "erp-app-azure", expand="instanceView")
    assert vm.hardware_profile.vm_size == "Standard_D2s_v3"
    assert "PowerState/running" in [s.code for s in vm.instance_view.statuses]
    nic = network.network_interfaces.get(c["target_resource_group"], "erp-app-azure-nic")
    assert nic.ip_configurations[0].private_ip_address.startswith("10.20.")
    source = next(x for x in discovered(emu) if x["name"] == name)
    assert source["properties"]["powerStatus"] == "OFF"

    jobs = {
        j.properties.scenario_name: j.properties.state
        for j in emu.target.site_recovery_client().replication_jobs.list(emu.rg, emu.vault)
    }
    assert jobs == {
        "EnableMigration": "Succeeded",
        "TestMigration": "Succeeded",
        "TestMigrationCleanup": "Succeeded",
        "Migration": "Succeeded",
    }

    items.begin_delete(emu.rg, emu.vault, fabric, container, name).result()
    with pytest.raises(ResourceNotFoundError):
        items.get(emu.rg, emu.vault, fabric, container, name)
    assert compute.virtual_machines.get(c["target_resource_group"], "erp-app-azure").name == "erp-app-azure"

    events = [e["event"] for e in emu.admin.history()[machine["properties"]["displayName"]]]
    assert events == [
        "enable_replication",
        "seeded",
        "test_migrate_started",
        "test_migrated",
        "test_cleaned_up",
        "migrate_started",
        "source_shutdown",
        "migrated",
        "replication_removed",
    ]
    migrated = next(e for e in emu.admin.history()[machine["properties"]["displayName"]] if e["event"] == "migrated")
    assert (
        migrated["perform_shutdown"] == "true" and migrated["private_ip"] == nic.ip_configurations[0].private_ip_address
    )


def test_migrate_without_shutdown_leaves_the_source_running(emu: Emulated) -> None:
    c = emu.connection
    machine = _replicating_machine(emu, 1)
    _items(emu).begin_migrate(
        emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], build_migrate_input("false")
    ).result()
    assert next(x for x in discovered(emu) if x["name"] == machine["name"])["properties"]["powerStatus"] == "ON"
    assert [e for e in emu.admin.history()[machine["properties"]["displayName"]] if e["event"] == "migrate_started"][0][
        "perform_shutdown"
    ] == "false"


@pytest.mark.parametrize(
    ("overrides", "code", "words"),
    [
        (
            {"vmware_machine_id": f"{RG}/providers/Microsoft.OffAzure/VMwareSites/s/machines/nope"},
            "DiscoveredMachineNotFound",
            "nope",
        ),
        ({"target_vm_name": "bad name!"}, "InvalidTargetVmName", "bad name!"),
        ({"target_vm_name": "x" * 65}, "InvalidTargetVmName", "64"),
        ({"target_vm_name": "sql_prod.01"}, "InvalidTargetVmName", "letters, digits or hyphens"),  # Az.Migrate's rule
        (
            {"target_network_id": f"{RG}/providers/Microsoft.Network/virtualNetworks/missing"},
            "TargetNetworkNotFound",
            "missing",
        ),
        ({"target_subnet_name": "nosuchsubnet"}, "TargetSubnetNotFound", "nosuchsubnet"),
        ({"license_type": "Enterprise"}, "InvalidProviderSpecificInput", "licenseType"),
        ({"disks_to_include": []}, "InvalidProviderSpecificInput", "disksToInclude"),
    ],
)
def test_enable_refuses_bad_input_and_creates_nothing(emu: Emulated, overrides: dict, code: str, words: str) -> None:
    machine = discovered(emu)[0]
    with pytest.raises(HttpResponseError) as excinfo:
        _enable(emu, machine, **overrides)
    assert _azure_error(excinfo) == (400, code)
    assert words in excinfo.value.error.message
    assert list(_items(emu).list(emu.rg, emu.vault)) == []


def test_enable_refuses_an_unknown_disk_and_two_os_disks(emu: Emulated) -> None:
    c = emu.connection
    machine = next(x for x in discovered(emu) if len(x["properties"]["disks"]) >= 2)
    body = build_enable_input(c, machine)
    body.properties.provider_specific_details.disks_to_include[0].disk_id = "not-a-disk"
    with pytest.raises(HttpResponseError) as excinfo:
        _items(emu).begin_create(emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], body).result()
    assert _azure_error(excinfo) == (400, "DiskNotFound")
    body = build_enable_input(c, machine)
    for disk in body.properties.provider_specific_details.disks_to_include:
        disk.is_os_disk = "true"
    with pytest.raises(HttpResponseError) as excinfo:
        _items(emu).begin_create(emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], body).result()
    assert _azure_error(excinfo) == (400, "InvalidOsDiskSelection")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("duplicate", "is already taken"),
        ("log storage", "must be the replication log storage account"),
        ("premium v2", "Premium SSD V2 disk can only be attached to a zonal VM"),
    ],
)
def test_enable_refuses_what_az_migrate_refuses_before_sending(emu: Emulated, change: str, words: str) -> None:
    """New-AzMigrateServerReplication.ps1 refuses a disk uuid given twice and a Premium SSD V2 disk on a VM
    without a zone, and sends every disk with the log storage account replication initialisation made."""
    c = emu.connection
    machine = next(x for x in discovered(emu) if len(x["properties"]["disks"]) >= 2)
    body = build_enable_input(c, machine)
    disks = body.properties.provider_specific_details.disks_to_include
    if change == "duplicate":
        disks[1].disk_id = disks[0].disk_id
    elif change == "log storage":
        disks[0].log_storage_account_id = c["log_storage_account_id"] + "x"
    else:
        disks[0].disk_type = "PremiumV2_LRS"
    with pytest.raises(HttpResponseError, match=words) as excinfo:
        _items(emu).begin_create(emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], body).result()
    assert _azure_error(excinfo) == (400, "InvalidProviderSpecificInput")


def test_the_log_storage_account_is_named_as_azure_migrate_names_it(emu: Emulated) -> None:
    """`migratelsa` + Az.Migrate's hashForArtifact(site name + target region), a 32-bit Java-style string hash."""
    from wavelift.emulator.bootstrap import artifact_hash

    assert artifact_hash("") == 0 and artifact_hash("ab") == 97 * 31 + 98
    assert artifact_hash("z" * 40) == abs(int.from_bytes((_java_hash("z" * 40)).to_bytes(4, "big"), signed=True))
    name = emu.connection["log_storage_account_id"].rsplit("/", 1)[1]
    assert name == f"migratelsa{artifact_hash(emu.connection['site'] + emu.connection['region'])}"


def _java_hash(text: str) -> int:
    """Java's String.hashCode as an unsigned 32-bit value: s[0]*31^(n-1) + ... + s[n-1]."""
    return sum(ord(ch) * pow(31, len(text) - 1 - i, 1 << 32) for i, ch in enumerate(text)) % (1 << 32)


def test_enabling_a_machine_twice_is_a_conflict(emu: Emulated) -> None:
    machine = discovered(emu)[0]
    _enable(emu, machine)
    with pytest.raises(HttpResponseError) as excinfo:
        _enable(emu, machine)
    assert _azure_error(excinfo) == (409, "ReplicationAlreadyEnabled")


def test_actions_are_refused_until_seeding_is_done(emu: Emulated) -> None:
    c = emu.connection
    machine = discovered(emu)[0]
    _enable(emu, machine)
    with pytest.raises(HttpResponseError) as excinfo:
        _items(emu).begin_migrate(
            emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], build_migrate_input()
        ).result()
    assert _azure_error(excinfo) == (400, "OperationNotAllowed")
    assert "InitialSeedingInProgress" in excinfo.value.error.message
    assert [e["event"] for e in emu.admin.history()[machine["properties"]["displayName"]]] == ["enable_replication"]


def test_a_failed_migration_ends_the_lro_with_the_azure_error(emu: Emulated) -> None:
    c = emu.connection
    machine = _replicating_machine(emu)
    emu.admin.add_fault(
        method="POST",
        path="/migrate$",
        lro_error={"code": "MigrationFailedDueToTargetQuota", "message": "Quota exceeded for Standard_D2s_v3."},
        count=1,
    )
    with pytest.raises(HttpResponseError) as excinfo:
        _items(emu).begin_migrate(
            emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], build_migrate_input()
        ).result()
    assert excinfo.value.error.code == "MigrationFailedDueToTargetQuota"
    item = _items(emu).get(emu.rg, emu.vault, c["fabric"], c["container"], machine["name"])
    assert item.properties.migration_state == m.MigrationState.MIGRATION_FAILED
    assert m.MigrationItemOperation.MIGRATE in item.properties.allowed_operations
    failed = next(
        j
        for j in emu.target.site_recovery_client().replication_jobs.list(emu.rg, emu.vault)
        if j.properties.scenario_name == "Migration"
    )
    assert failed.properties.state == "Failed"
    assert failed.properties.errors[0].service_error_details.code == "MigrationFailedDueToTargetQuota"
    # the retry the operator chooses succeeds
    item = (
        _items(emu)
        .begin_migrate(emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], build_migrate_input())
        .result()
    )
    assert item.properties.migration_state == m.MigrationState.MIGRATION_SUCCEEDED


def test_resync_pause_and_resume(emu: Emulated) -> None:
    c = emu.connection
    machine = discovered(emu)[0]
    items = _items(emu)
    args = (emu.rg, emu.vault, c["fabric"], c["container"], machine["name"])
    _enable(emu, machine)
    _wait_replicating(emu, machine["name"])
    item = items.begin_resync(
        *args,
        m.ResyncInput(
            properties=m.ResyncInputProperties(provider_specific_details=m.VMwareCbtResyncInput(skip_cbt_reset="true"))
        ),
    ).result()
    assert item.properties.provider_specific_details.resync_state == "StartedResynchronization"
    assert item.properties.allowed_operations == []
    _wait_until(emu, lambda: items.get(*args).properties.provider_specific_details.resync_state == "None")
    item = items.begin_pause_replication(
        *args, m.PauseReplicationInput(properties=m.PauseReplicationInputProperties(instance_type="VMwareCbt"))
    ).result()
    assert item.properties.migration_state == m.MigrationState.PROTECTION_SUSPENDED
    assert item.properties.allowed_operations == ["ResumeReplication", "DisableMigration"]
    item = items.begin_resume_replication(
        *args,
        m.ResumeReplicationInput(
            properties=m.ResumeReplicationInputProperties(
                provider_specific_details=m.VMwareCbtResumeReplicationInput(delete_migration_resources="false")
            )
        ),
    ).result()
    assert item.properties.migration_state == m.MigrationState.REPLICATING


def test_recovery_points_grow_with_delta_sync_cycles(emu: Emulated) -> None:
    c = emu.connection
    machine = _replicating_machine(emu)
    client = emu.target.site_recovery_client()
    before = list(
        client.migration_recovery_points.list_by_replication_migration_items(
            emu.rg, emu.vault, c["fabric"], c["container"], machine["name"]
        )
    )
    emu.admin.skip(3 * 3600)
    after = list(
        client.migration_recovery_points.list_by_replication_migration_items(
            emu.rg, emu.vault, c["fabric"], c["container"], machine["name"]
        )
    )
    assert len(after) == len(before) + 3
    assert all(p.properties.recovery_point_type == "CrashConsistent" for p in after)
    latest = _items(emu).get(emu.rg, emu.vault, c["fabric"], c["container"], machine["name"])
    assert latest.properties.provider_specific_details.last_recovery_point_id == after[-1].id


def test_a_poller_resumes_from_its_continuation_token(emu: Emulated) -> None:
    c = emu.connection
    machine = discovered(emu)[0]
    args = (emu.rg, emu.vault, c["fabric"], c["container"], machine["name"])
    poller = _items(emu).begin_create(*args, build_enable_input(c, machine))
    token = poller.continuation_token()
    resumed = emu.target.site_recovery_client().replication_migration_items.begin_create(
        *args, None, continuation_token=token
    )
    assert resumed.result().properties.migration_state == m.MigrationState.INITIAL_SEEDING_IN_PROGRESS


def test_vault_and_container_lists_page_through_every_item(start_emulator) -> None:
    emu = start_emulator(machines=12, page_size=5, speed=1.0)  # slow clock: all twelve stay in their enable job
    c = emu.connection
    for machine in discovered(emu):
        _items(emu).begin_create(
            emu.rg, emu.vault, c["fabric"], c["container"], machine["name"], build_enable_input(c, machine)
        )
    emu.admin.reset_stats()
    client = emu.target.site_recovery_client()
    assert len(list(client.replication_migration_items.list(emu.rg, emu.vault))) == 12
    container_items = client.replication_migration_items.list_by_replication_protection_containers(
        emu.rg, emu.vault, emu.connection["fabric"], emu.connection["container"]
    )
    assert len(list(container_items)) == 12
    requests = emu.admin.stats()["requests"]
    assert requests["LIST Microsoft.RecoveryServices/vaults/replicationMigrationItems"] == 1
    assert requests["LIST Microsoft.RecoveryServices/vaults/replicationMigrationItems (next page)"] == 2
    assert requests[f"LIST {ITEM_TYPE}"] == 1 and requests[f"LIST {ITEM_TYPE} (next page)"] == 2
    assert emu.admin.stats()["peak_concurrent_initial_replications"] == 12


def test_migration_item_has_the_shape_of_microsofts_example(emu: Emulated) -> None:
    """Field names and enum values of `ReplicationMigrationItems_Get.json` (api-version 2025-08-01)."""
    c = emu.connection
    machine = _replicating_machine(emu)
    client = emu.target.site_recovery_client()
    path = (
        f"/subscriptions/{c['subscription_id']}/resourceGroups/{emu.rg}"
        f"/providers/Microsoft.RecoveryServices/vaults/{emu.vault}/replicationFabrics/{c['fabric']}"
        f"/replicationProtectionContainers/{c['container']}/replicationMigrationItems/{machine['name']}"
    )
    raw = client.send_request(HttpRequest("GET", path, params={"api-version": "2025-08-01"})).json()
    assert raw["type"] == ITEM_TYPE
    assert raw["id"].lower() == path.lower() and raw["name"] == machine["name"]
    props = raw["properties"]
    for field in (
        "machineName",
        "migrationState",
        "migrationStateDescription",
        "testMigrateState",
        "testMigrateStateDescription",
        "policyFriendlyName",
        "policyId",
        "allowedOperations",
        "currentJob",
        "providerSpecificDetails",
    ):
        assert field in props, field
    assert (
        props["migrationState"],
        props["migrationStateDescription"],
        props["testMigrateState"],
        props["testMigrateStateDescription"],
    ) == ("Replicating", "Ready to migrate", "None", "None")
    assert set(props["allowedOperations"]) >= {"Migrate", "DisableMigration", "TestMigrate"}
    assert all(op in {e.value for e in m.MigrationItemOperation} for op in props["allowedOperations"])
    assert props["providerSpecificDetails"]["instanceType"] == "VMwareCbt"
    assert props["policyId"] == c["policy_id"]


def test_unsupported_api_version_is_refused(emu: Emulated) -> None:
    client = emu.target.site_recovery_client()
    c = emu.connection
    response = client.send_request(
        HttpRequest(
            "GET",
            f"/subscriptions/{c['subscription_id']}/resourceGroups/{emu.rg}"
            f"/providers/Microsoft.RecoveryServices/vaults/{emu.vault}/replicationFabrics",
            params={"api-version": "2016-08-10"},
        )
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert "2025-08-01" in response.json()["error"]["message"]


def test_an_accepted_action_names_its_job_where_az_migrate_reads_it(emu: Emulated) -> None:
    """Az.Migrate takes the job's name from the operation URL (`$output.Target.Split("/")[12]` in
    New-AzMigrateServerReplication.ps1 and the other cmdlets) and returns that job: the URL must end in it."""
    c = emu.connection
    machine = discovered(emu)[0]
    answers = []
    _items(emu).begin_create(
        emu.rg,
        emu.vault,
        c["fabric"],
        c["container"],
        machine["name"],
        build_enable_input(c, machine),
        polling=False,
        raw_response_hook=answers.append,
    )
    accepted = answers[-1].http_response
    assert accepted.status_code == 202
    job_name = accepted.headers["Azure-AsyncOperation"].split("/")[12].split("?")[0]
    job = emu.target.site_recovery_client().replication_jobs.get(emu.rg, emu.vault, job_name)
    assert job.properties.scenario_name == "EnableMigration"
    assert job.properties.target_object_id.endswith(f"/replicationMigrationItems/{machine['name']}")
    assert accepted.headers["Location"].split("/")[12].split("?")[0] == job_name


def test_enable_refuses_a_disk_beyond_azure_migrates_limits(emu: Emulated) -> None:
    """Learn, "Support matrix for VMware vSphere migration": an OS disk of a BIOS (generation 1) VM up to 2 TB."""
    machine = discovered(emu)[0]
    source = emu.thread.emulator.world.machine(machine["name"])
    source.firmware, source.disks[0].size_gb = "BIOS", 3000
    with pytest.raises(HttpResponseError, match="may be at most 2048 GB") as excinfo:
        _enable(emu, machine)
    assert _azure_error(excinfo) == (400, "InvalidProviderSpecificInput")


def test_machines_beyond_the_appliances_limit_show_queued(start_emulator: StartEmulator) -> None:
    emu: Emulated = start_emulator(capacity={"vms_per_vcenter": 1})
    first, second = discovered(emu)[:2]
    for machine in (first, second):
        _enable(emu, machine)
    c = emu.connection
    items = {
        i.name: i.properties
        for i in _items(emu).list_by_replication_protection_containers(emu.rg, emu.vault, c["fabric"], c["container"])
    }
    assert items[first["name"]].migration_state_description != "Queued"
    assert (items[second["name"]].migration_state_description, items[second["name"]].migration_state) == (
        "Queued",
        "InitialSeedingInProgress",
    )
