"""Drive one machine from discovery to migrated against `wavelift emulator`, with nothing but the
Azure SDKs: no wavelift code. It reads only the emulator's connection.json, as any Azure client would
read its settings.

    python migrate_one_machine.py STATE_DIR/connection.json
"""

from __future__ import annotations

import json
import sys
import time

from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
from azure.mgmt.recoveryservicessiterecovery import models as m


def main(connection_file: str) -> None:
    c = json.load(open(connection_file))
    credential = ClientSecretCredential(
        c["tenant_id"],
        c["client_id"],
        c["client_secret"],
        authority=c["authority_host"],
        disable_instance_discovery=True,
        connection_verify=c["ca_cert"],
    )
    options = {"base_url": c["base_url"], "connection_verify": c["ca_cert"], "polling_interval": 1}
    asr = SiteRecoveryManagementClient(credential, c["subscription_id"], **options)
    compute = ComputeManagementClient(credential, c["subscription_id"], **options)
    network = NetworkManagementClient(credential, c["subscription_id"], **options)
    rg, vault, sub = c["resource_group"], c["vault"], c["subscription_id"]

    # 1. discovery: the first ready machine of the VMware site (OffAzure has no SDK: raw ARM GET)
    site = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OffAzure/VMwareSites/{c['site']}"
    machine = asr.send_request(HttpRequest("GET", f"{site}/machines", params={"api-version": "2020-01-01"})).json()[
        "value"
    ][0]
    print("discovered", machine["properties"]["displayName"])

    # 2. replication infrastructure, resolved as Az.Migrate does
    fabric = next(
        f for f in asr.replication_fabrics.list(rg, vault) if f.properties.custom_details.instance_type == "VMwareV2"
    )
    container = next(iter(asr.replication_protection_containers.list_by_replication_fabrics(rg, vault, fabric.name)))
    mapping = next(
        iter(
            asr.replication_protection_container_mappings.list_by_replication_protection_containers(
                rg, vault, fabric.name, container.name
            )
        )
    )
    policy = asr.replication_policies.get(rg, vault, f"migrate{c['site']}policy")
    vcenter = asr.send_request(
        HttpRequest("GET", machine["properties"]["vCenterId"], params={"api-version": "2020-01-01"})
    ).json()
    run_as = vcenter["properties"]["runAsAccountId"]
    log_storage = mapping.properties.provider_specific_details.storage_account_id

    # 3. enable replication
    disks = [
        m.VMwareCbtDiskInput(
            disk_id=d["uuid"],
            is_os_disk="true" if i == 0 else "false",
            log_storage_account_id=log_storage,
            log_storage_account_sas_secret_name="lsa-cacheSas",
            disk_type="Standard_LRS",
        )
        for i, d in enumerate(machine["properties"]["disks"])
    ]
    details = m.VMwareCbtEnableMigrationInput(
        vmware_machine_id=machine["id"],
        disks_to_include=disks,
        data_mover_run_as_account_id=run_as,
        snapshot_run_as_account_id=run_as,
        target_resource_group_id=f"/subscriptions/{sub}/resourceGroups/{c['target_resource_group']}",
        target_network_id=c["target_network_id"],
        target_subnet_name=c["target_subnet"],
        test_network_id=c["test_network_id"],
        test_subnet_name=c["test_subnet"],
        target_vm_name="independent-vm",
        license_type="NoLicenseType",
    )
    args = (rg, vault, fabric.name, container.name, machine["name"])
    asr.replication_migration_items.begin_create(
        *args,
        m.EnableMigrationInput(
            properties=m.EnableMigrationInputProperties(policy_id=policy.id, provider_specific_details=details)
        ),
    ).result()

    # 4. wait for initial seeding, polling the item
    while (item := asr.replication_migration_items.get(*args)).properties.migration_state != "Replicating":
        print("seeding", item.properties.provider_specific_details.initial_seeding_progress_percentage, "%")
        time.sleep(1)

    # 5. test migration and its clean-up
    rp = item.properties.provider_specific_details.last_recovery_point_id
    asr.replication_migration_items.begin_test_migrate(
        *args,
        m.TestMigrateInput(
            properties=m.TestMigrateInputProperties(
                provider_specific_details=m.VMwareCbtTestMigrateInput(
                    recovery_point_id=rp, network_id=c["test_network_id"]
                )
            )
        ),
    ).result()
    asr.replication_migration_items.begin_test_migrate_cleanup(
        *args, m.TestMigrateCleanupInput(properties=m.TestMigrateCleanupInputProperties(comments="ok"))
    ).result()

    # 6. migrate with the source shut down, then check the VM
    item = asr.replication_migration_items.begin_migrate(
        *args,
        m.MigrateInput(
            properties=m.MigrateInputProperties(
                provider_specific_details=m.VMwareCbtMigrateInput(perform_shutdown="true")
            )
        ),
    ).result()
    assert item.properties.migration_state == "MigrationSucceeded", item.properties.migration_state
    vm = compute.virtual_machines.get(c["target_resource_group"], "independent-vm", expand="instanceView")
    nic = network.network_interfaces.get(
        c["target_resource_group"], vm.network_profile.network_interfaces[0].id.rsplit("/", 1)[1]
    )
    power = [s.code for s in vm.instance_view.statuses if s.code.startswith("PowerState/")][0]
    print("migrated", vm.name, power, nic.ip_configurations[0].private_ip_address)


if __name__ == "__main__":
    main(sys.argv[1])
