"""The emulator answers as Microsoft's published examples do.

For each operation below, Microsoft's example in `Azure/azure-rest-api-specs` (for the api-version the
pinned SDK sends; copies under `tests/fixtures/azure-rest-api-specs/` keep their repository path) is
compared with the emulator's answer to the same request: every property the example has must be there,
with the same JSON type, at every depth. Polymorphic objects (`instanceType`) are compared only when they
are of the same type: a Hyper-V fabric says nothing about a VMware one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.azure_inputs import discovered
from tests.conftest import Emulated
from tests.test_arm_behaviour import _raw, _vault_path
from tests.test_site_recovery import _enable

EXAMPLES = Path(__file__).parent / "fixtures" / "azure-rest-api-specs"
SITE_RECOVERY = (
    "specification/recoveryservicessiterecovery/resource-manager/Microsoft.RecoveryServices/SiteRecovery/stable/"
    "2025-08-01/examples"
)


API = {"api-version": "2025-08-01"}  # what the pinned Site Recovery SDK sends
FREE_FORM = {"affectedObjectDetails", "tags"}  # maps in the specs (`additionalProperties`): their keys are data


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def shape_differences(example: Any, actual: Any, where: str = "", optional: frozenset[str] = frozenset()) -> list[str]:
    """What the actual answer lacks, or has with another JSON type, compared with the example. `optional` names
    properties the example shows only because its resource has a feature the compared one lacks (a public IP)."""
    if _json_type(example) != _json_type(actual):
        return [f"{where or '/'}: {_json_type(actual)}, the example has {_json_type(example)}"]
    if isinstance(example, dict) and where.rsplit("/", 1)[-1] in FREE_FORM:
        return [f"{where}/{key}: not a string" for key, value in actual.items() if not isinstance(value, str)]
    if isinstance(example, dict):
        if "instanceType" in example and example["instanceType"] != actual.get("instanceType"):
            return []  # another type of a polymorphic object: nothing to compare
        return [
            difference
            for key, value in example.items()
            if key in actual or key not in optional
            for difference in (
                shape_differences(value, actual[key], f"{where}/{key}", optional)
                if key in actual
                else [f"{where}/{key}: missing"]
            )
        ]
    if isinstance(example, list) and example and actual:
        return shape_differences(example[0], actual[0], f"{where}/0", optional)
    return []


def test_the_shape_comparison_finds_what_is_missing_or_of_another_type() -> None:
    example = {"a": 1, "b": {"c": "x", "d": [{"e": True}]}, "p": {"instanceType": "HyperVSite", "z": 1}}
    assert shape_differences(example, example) == []
    assert shape_differences({"tags": {"a": "b"}}, {"tags": {"c": "d"}}) == []  # a map's keys are its own
    actual = {"a": "1", "b": {"d": [{"e": 1}]}, "p": {"instanceType": "VMware"}}
    assert shape_differences(example, actual) == [
        "/a: string, the example has number",
        "/b/c: missing",
        "/b/d/0/e: number, the example has boolean",
    ]


BACKUP = "specification/recoveryservicesbackup/resource-manager/Microsoft.RecoveryServices/stable/2025-02-01/examples"


def example_body(folder: str, name: str) -> dict[str, Any]:
    """The 200 answer of one of Microsoft's examples kept under `tests/fixtures/azure-rest-api-specs/`."""
    return json.loads((EXAMPLES / folder / f"{name}.json").read_text())["responses"]["200"]["body"]


def _example(name: str) -> dict[str, Any]:
    return example_body(SITE_RECOVERY, name)


@pytest.fixture
def replicating(emu: Emulated) -> tuple[Emulated, dict[str, str]]:
    """A vault with one machine enabled for replication: the resources the examples describe exist."""
    item = _enable(emu, discovered(emu)[0])
    c = emu.connection
    jobs = _raw(emu, "GET", f"{_vault_path(emu)}/replicationJobs", params=API).json()
    job = jobs["value"][0]["id"] if jobs["value"] else None
    container = f"{_vault_path(emu)}/replicationFabrics/{c['fabric']}/replicationProtectionContainers/{c['container']}"
    mappings = _raw(emu, "GET", f"{container}/replicationProtectionContainerMappings", params=API).json()["value"]
    emu.admin.skip(2 * 24 * 3600)  # seeded, and delta cycles have made recovery points
    return emu, {
        "ReplicationFabrics_Get": f"{_vault_path(emu)}/replicationFabrics/{c['fabric']}",
        "ReplicationProtectionContainers_Get": container,
        "ReplicationProtectionContainerMappings_Get": mappings[0]["id"] if mappings else "",
        "ReplicationMigrationItems_Get": f"{container}/replicationMigrationItems/{item.name}",
        "MigrationRecoveryPoints_ListByReplicationMigrationItems": (
            f"{container}/replicationMigrationItems/{item.name}/migrationRecoveryPoints"
        ),
        "ReplicationJobs_Get": job or "",
    }


@pytest.mark.parametrize(
    "operation",
    [
        "ReplicationFabrics_Get",
        "ReplicationProtectionContainers_Get",
        "ReplicationProtectionContainerMappings_Get",
        "ReplicationMigrationItems_Get",
        "MigrationRecoveryPoints_ListByReplicationMigrationItems",
        "ReplicationJobs_Get",
    ],
)
def test_the_emulator_answers_like_microsofts_example(
    replicating: tuple[Emulated, dict[str, str]], operation: str
) -> None:
    emu, paths = replicating
    assert paths[operation], f"no {operation} resource to read"
    response = _raw(emu, "GET", paths[operation], params=API)
    assert response.status_code == 200, response.text
    assert response.json().get("value", [None]), "an empty list compares nothing"
    assert shape_differences(_example(operation), response.json()) == []


PREFLIGHT_EXAMPLES = {
    "Usage_List": (
        "specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-07-01/examples/"
        "computeRPCommonExamples/Usage_List_MaximumSet_Gen.json",
        "/providers/Microsoft.Compute/locations/{region}/usages",
        "2026-04-01",
    ),
    "Quota_Get": (
        "specification/quota/resource-manager/Microsoft.Quota/Quota/examples/2025-09-01/"
        "getComputeOneSkuQuotaLimit.json",
        "/providers/Microsoft.Compute/locations/{region}/providers/Microsoft.Quota/quotas/standardDSv3Family",
        "2025-09-01",
    ),
}


@pytest.mark.parametrize("operation", sorted(PREFLIGHT_EXAMPLES))
def test_the_preflights_reads_answer_like_microsofts_example(emu: Emulated, operation: str) -> None:
    example, path, api_version = PREFLIGHT_EXAMPLES[operation]
    body = json.loads((EXAMPLES / example).read_text())["responses"]["200"]["body"]
    scope = f"/subscriptions/{emu.connection['subscription_id']}" + path.format(region=emu.connection["region"])
    response = _raw(emu, "GET", scope, params={"api-version": api_version})
    assert response.status_code == 200, response.text
    assert shape_differences({k: v for k, v in body.items() if k != "nextLink"}, response.json()) == []


NETWORK = "specification/network/resource-manager/Microsoft.Network/Network/stable/2025-05-01/examples"
NETWORK_API = {
    "api-version": "2026-03-01"
}  # what the pinned Network SDK sends; the newest stored examples are 2025-05-01
# Shown by Microsoft's NIC example because its NIC has them; a migrated VM's NIC has no public IP, DSCP configuration
# or secondary IP prefix.
NIC_FEATURES = frozenset({"publicIPAddress", "dscpConfiguration", "privateIPAddressPrefixLength"})


def test_a_network_security_group_and_a_nic_answer_like_microsofts_examples(emu: Emulated) -> None:
    """The resources hardening writes (an NSG with a rule, on the VM's NIC) read as Microsoft's examples show."""
    from azure.mgmt.network import models as nm

    from tests.test_compute_network import _nsg, _vm

    network, rg = emu.target.network_client(), emu.connection["target_resource_group"]
    nsg = _nsg(emu, "ex-nsg", "allow-https", "443", "VirtualNetwork", 130)
    vm = _vm(emu, "ex-01")
    nic_id = vm.network_profile.network_interfaces[0].id
    nic = network.network_interfaces.get(rg, nic_id.rsplit("/", 1)[1])
    nic.network_security_group = nm.NetworkSecurityGroup(id=nsg.id)
    network.network_interfaces.begin_create_or_update(rg, nic.name, nic).result()
    for example, resource, optional in (
        ("NetworkSecurityGroupGet", nsg.id, frozenset()),
        ("NetworkInterfaceGet", nic_id, NIC_FEATURES),
    ):
        answer = _raw(emu, "GET", resource, params=NETWORK_API)
        assert answer.status_code == 200, answer.text
        assert shape_differences(example_body(NETWORK, example), answer.json(), optional=optional) == [], example


COMPUTE = (
    "specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-07-01/examples/"
    "virtualMachineExamples"
)
# Shown by Microsoft's VM example because its VM has them; a migrated VM boots from its replicated disks (no image,
# no OS profile), is in no availability set, placement group, scale set or gallery application, is read without
# `$expand=userData`, and has tags and boot diagnostics only when they are set.
VM_FEATURES = frozenset(
    {
        "tags",
        "diagnosticsProfile",
        "availabilitySet",
        "proximityPlacementGroup",
        "imageReference",
        "applicationProfile",
        "userData",
        "osProfile",
        "resources",
        "managedBy",
        "etag",
    }
)


def test_a_vm_answers_like_microsofts_example(emu: Emulated) -> None:
    from tests.test_compute_network import _vm

    vm = _vm(emu, "ex-02")
    answer = _raw(emu, "GET", vm.id, params={"api-version": "2026-04-01"})  # the pinned Compute SDK's
    assert answer.status_code == 200, answer.text
    differences = shape_differences(example_body(COMPUTE, "VirtualMachine_Get"), answer.json(), optional=VM_FEATURES)
    assert differences == [], "\n".join(differences)


def test_a_vm_lists_its_extensions_like_microsofts_example(emu: Emulated) -> None:
    """A VM's read lists its extensions, whole, in `resources` (hardening reads Azure Disk Encryption's there)."""
    from azure.mgmt.compute import models as cm

    from tests.test_compute_network import _vm

    vm = _vm(emu, "ex-03")
    script = cm.VirtualMachineExtensionProperties(
        publisher="Microsoft.Compute",
        type="CustomScriptExtension",
        type_handler_version="1.9",
        auto_upgrade_minor_version=True,
        settings={},
    )
    emu.target.compute_client().virtual_machine_extensions.begin_create_or_update(
        emu.connection["target_resource_group"],
        "ex-03",
        "CustomScriptExtension-DSC",
        cm.VirtualMachineExtension(location="westeurope", tags={"displayName": "DSC"}, properties=script),
    ).result()
    answer = _raw(emu, "GET", vm.id, params={"api-version": "2026-04-01"})
    assert answer.status_code == 200, answer.text
    example = example_body(COMPUTE, "VirtualMachine_Get")
    differences = shape_differences(example, answer.json(), optional=VM_FEATURES - {"resources"})
    assert differences == [], "\n".join(differences)
    assert [e["properties"]["provisioningState"] for e in answer.json()["resources"]] == ["Succeeded"]


KEY_VAULT = "specification/keyvault/resource-manager/Microsoft.KeyVault/stable/2024-11-01/examples"
RECOVERY_SERVICES = (
    "specification/recoveryservices/resource-manager/Microsoft.RecoveryServices/stable/2025-02-01/examples"
)
# Shown by Microsoft's examples for features these vaults do not use: a Key Vault backed by a managed HSM pool, with
# ARM's record of who changed it (which the emulator keeps for no resource); a Recovery Services vault with a
# managed identity, private endpoints and source scanning.
VAULT_FEATURES = frozenset(
    {"systemData", "hsmPoolResourceId", "identity", "privateEndpointConnections", "sourceScanConfiguration"}
)


@pytest.mark.parametrize(
    ("folder", "example", "connection_key", "api_version"),
    [
        (KEY_VAULT, "getVault", "key_vault_id", "2024-11-01"),
        (RECOVERY_SERVICES, "GETVault", "vault_id", "2025-02-01"),
    ],
)
def test_the_vaults_answer_like_microsofts_examples(
    emu: Emulated, folder: str, example: str, connection_key: str, api_version: str
) -> None:
    """The Key Vault of disk encryption and the Recovery Services vault of migration, backup and DR."""
    resource = emu.connection.get(connection_key) or _vault_path(emu)
    answer = _raw(emu, "GET", resource, params={"api-version": api_version})
    assert answer.status_code == 200, answer.text
    differences = shape_differences(example_body(folder, example), answer.json(), optional=VAULT_FEATURES)
    assert differences == [], "\n".join(differences)


def test_a_virtual_networks_usage_list_answers_like_microsofts_example(emu: Emulated) -> None:
    """The preflight's read of free addresses per subnet (`Get-AzVirtualNetworkUsageList`)."""
    answer = _raw(emu, "GET", emu.connection["target_network_id"] + "/usages", params=NETWORK_API)
    assert answer.status_code == 200, answer.text
    assert shape_differences(example_body(NETWORK, "VirtualNetworkListUsage"), answer.json()) == []
