"""Write the files an operator would export from Azure Migrate for the seeded estate: the
assessment workbook (the sheets and columns of Microsoft's sample export) and the input CSV of
Microsoft's migrate-at-scale scripts (the header of Microsoft's agentless VMware `Input.csv`)."""

from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import Workbook

from wavelift.emulator.estate import SourceMachine

MACHINE_COLUMNS = [
    "Machine",
    "VM host",
    "Azure VM readiness",
    "Azure readiness issues",
    "Data collection issues",
    "Recommended size",
    "Compute monthly cost USD",
    "Storage monthly cost USD",
    "Operating system",
    "Boot type",
    "Cores",
    "Memory(MB)",
    "CPU usage(%)",
    "Memory usage(%)",
    "Storage(GB)",
    "Standard HDD disks",
    "Standard SSD disks",
    "Premium disks",
    "Disk read(ops/sec)",
    "Disk write(ops/sec)",
    "Disk read(MBPS)",
    "Disk write(MBPS)",
    "Network adapters",
    "IP address",
    "MAC address",
    "Network in(MBPS)",
    "Network out(MBPS)",
    "Group name",
]
DISK_COLUMNS = [
    "Machine",
    "Disk name",
    "Azure disk readiness",
    "Recommended disk size SKU",
    "Recommended disk type",
    "Azure readiness issues",
    "Data collection issues",
    "Monthly cost estimate",
    "Source disk size(GB)",
    "Target disk size(GB)",
    "Disk read(MBPS)",
    "Disk write(MBPS)",
    "Disk read(ops/sec)",
    "Disk write(ops/sec)",
]
CSV_COLUMNS = (
    "AZMIGRATEPROJECT_SUBSCRIPTION_ID,AZMIGRATEPROJECT_RESOURCE_GROUP_NAME,AZMIGRATEPROJECT_NAME,AZMIGRATE_APPLIANCE_NAME,SOURCE_MACHINE_NAME,"
    "OS_UPGRADE_VERSION,AZMIGRATEASSESSMENT_NAME,AZMIGRATEGROUP_NAME,SQL_SERVER_LICENSE_TYPE,TAG_KEY,TAG_VALUE,VM_TAG_KEY,VM_TAG_VALUE,"
    "DISK_TAG_KEY,DISK_TAG_VALUE,NIC_TAG_KEY,NIC_TAG_VALUE,TEST_VNET_NAME,TEST_SUBNET_NAME,TARGET_SUBSCRIPTION_ID,TARGET_RESOURCE_GROUP_NAME,"
    "TARGET_VNET_NAME,TARGET_SUBNET_NAME,TARGET_MACHINE_NAME,TARGET_MACHINE_SIZE,LICENSE_TYPE,OS_DISK_ID,DATA_DISK1_ID,DATA_DISK2_ID,"
    "TARGET_DISKTYPE,AVAILABILITYZONE_NUMBER,AVAILABILITYSET_NAME,TURNOFF_SOURCESERVER,TESTMIGRATE_VNET_NAME,UPDATED_TEST_VNET_NAME,"
    "UPDATED_TAG_KEY,UPDATED_TAG_VALUE,UPDATED_TAG_OPERATION,UPDATED_VMTAG_KEY,UPDATED_VMTAG_VALUE,UPDATED_VMTAG_OPERATION,"
    "UPDATED_DISKTAG_KEY,UPDATED_DISKTAG_VALUE,UPDATED_DISKTAG_OPERATION,UPDATED_NICTAG_KEY,UPDATED_NICTAG_VALUE,UPDATED_NICTAG_OPERATION,"
    "UPDATED_TARGET_RESOURCE_GROUP_NAME,UPDATED_TARGET_VNET_NAME,UPDATED_TARGET_MACHINE_NAME,UPDATED_TARGET_DISK_NAME,"
    "UPDATED_TARGET_OS_DISK_NAME,UPDATED_TARGET_DATA_DISK1_NAME,UPDATED_TARGET_DATA_DISK2_NAME,UPDATED_TARGET_MACHINE_SIZE,"
    "UPDATED_AVAILABILITYZONE_NUMBER,UPDATED_AVAILABILITYSET_NAME,UPDATED_NIC1_ID,TFO_NIC1_ID,UPDATED_TARGET_NIC1_NAME,"
    "UPDATED_TARGET_NIC1_SELECTIONTYPE,UPDATED_TARGET_NIC1_SUBNET_NAME,UPDATED_TARGET_NIC1_IP,UPDATED_TARGET_NIC1_TEST_IP,"
    "UPDATED_TARGET_NIC1_TEST_SUBNET_NAME,TFO_NIC1_TEST_SUBNET_NAME,UPDATED_NIC2_ID,TFO_NIC2_ID,UPDATED_TARGET_NIC2_NAME,"
    "UPDATED_TARGET_NIC2_SELECTIONTYPE,UPDATED_TARGET_NIC2_SUBNET_NAME,UPDATED_TARGET_NIC2_IP,UPDATED_TARGET_NIC2_TEST_IP,"
    "UPDATED_TARGET_NIC2_TEST_SUBNET_NAME,TFO_NIC2_TEST_SUBNET_NAME,OK_TO_UPDATE,OK_TO_MIGRATE,OK_TO_USE_ASSESSMENT,OK_TO_TESTMIGRATE,"
    "OK_TO_RETRIEVE_REPLICATIONSTATUS,OK_TO_CLEANUP,OK_TO_TESTMIGRATE_CLEANUP"
).split(",")
STANDARD_SKUS = [
    (32, "S4"),
    (64, "S6"),
    (128, "S10"),
    (256, "S15"),
    (512, "S20"),
    (1024, "S30"),
    (2048, "S40"),
    (4096, "S50"),
]


def disk_sku(size_gb: int, premium: bool) -> tuple[str, int]:
    """The managed-disk SKU and size an assessment recommends for a source disk."""
    for target, sku in STANDARD_SKUS:
        if size_gb <= target:
            return (f"Premium_P{sku[1:]}" if premium else f"Standard_{sku}"), target
    return ("Premium_P50" if premium else "Standard_S50"), 4096


def _premium(machine: SourceMachine) -> bool:
    return "-db-" in machine.display_name


def write_assessment(
    machines: list[SourceMachine],
    path: Path,
    *,
    project: str,
    group: str = "AllMachines_Appliance",
    location: str = "West Europe",
) -> Path:
    """An assessment export with the sheets and columns of Microsoft's sample (performance-based, PAYG)."""
    book = Workbook()
    summary = book.active
    summary.title = "Assessment_Summary"
    counts = {
        r: sum(1 for m in machines if m.readiness == r)
        for r in ("Not Ready For Azure", "Ready For Azure With Conditions", "Ready For Azure", "Unknown Readiness")
    }
    for row in [
        ("Azure Migrate", None),
        (None, None),
        ("Subscription ID", "XXXXX"),
        ("Resource group", "XXXXX"),
        ("Project name", project),
        ("Group name", group),
        ("Assessment name", "wavelift-assessment"),
        ("Assessment Type", "Azure Server Assessment"),
        ("Total machines assessed", len(machines)),
        ("Machines not ready for Azure", counts["Not Ready For Azure"]),
        ("Machines ready with conditions", counts["Ready For Azure With Conditions"]),
        ("Machines ready for Azure", counts["Ready For Azure"]),
        ("Machines readiness unknown", counts["Unknown Readiness"]),
        ("Confidence rating", "4-Star"),
    ]:
        summary.append(row)
    sheet = book.create_sheet("All_Assessed_Machines")
    sheet.append(MACHINE_COLUMNS)
    disks = book.create_sheet("All_Assessed_Disks")
    disks.append(DISK_COLUMNS)
    for m in machines:
        premium = _premium(m)
        sheet.append(
            [
                m.display_name,
                "",
                m.readiness,
                m.readiness_issue,
                "",
                m.recommended_size if m.readiness != "Not Ready For Azure" else "Unknown",
                round(35.04 * m.cores, 2),
                round(0.05 * m.total_gb, 2),
                m.os_name,
                m.firmware,
                m.cores,
                m.memory_mb,
                12.5,
                40.0,
                m.total_gb,
                "0" if premium else str(len(m.disks)),
                "0",
                str(len(m.disks)) if premium else "0",
                25,
                40,
                1.2,
                2.5,
                1,
                f"[{m.ip}];",
                f"[{m.mac}];",
                0.4,
                0.3,
                group,
            ]
        )
        for index, d in enumerate(m.disks):
            sku, target = disk_sku(d.size_gb, premium)
            disks.append(
                [
                    m.display_name,
                    f"Hard disk {index + 1}",
                    "Ready For Azure" if d.size_gb <= 4096 else "Not Ready For Azure",
                    sku,
                    "Premium managed disks" if premium else "Standard HDD managed disks",
                    "Not Applicable",
                    "",
                    f"{0.046 * target:.2f}",
                    str(d.size_gb),
                    str(target),
                    "0.5",
                    "0.8",
                    "10",
                    "15",
                ]
            )
    properties = book.create_sheet("Assessment_Properties")
    for row in [
        ("Property", "Selected value"),
        ("Target location", location),
        ("Comfort factor", "1.3x"),
        ("Offer", "PAY AS YOU GO"),
        ("Currency", "USD"),
        ("Hybrid use benefit", "No"),
        ("Sizing criterion", "VM performance data"),
        ("Storage type", "Automatic"),
        ("Percentile utilization", "Percentile95"),
    ]:
        properties.append(row)
    book.save(path)
    return path


def write_migrate_csv(machines: list[SourceMachine], path: Path, connection: dict) -> Path:
    """Microsoft's migrate-at-scale input for the estate: one row per server, OK_TO_MIGRATE=N where not ready."""
    vnet = connection["target_network_id"].rsplit("/", 1)[1]
    test_vnet = connection["test_network_id"].rsplit("/", 1)[1]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for m in machines:
            ready = "N" if m.readiness == "Not Ready For Azure" else "Y"
            data_disks = [d.uuid for d in m.disks if not d.is_os]
            writer.writerow(
                {
                    "AZMIGRATEPROJECT_SUBSCRIPTION_ID": connection["subscription_id"],
                    "AZMIGRATEPROJECT_RESOURCE_GROUP_NAME": connection["resource_group"],
                    "AZMIGRATEPROJECT_NAME": connection["migrate_project"],
                    "AZMIGRATE_APPLIANCE_NAME": connection["appliance"],
                    "SOURCE_MACHINE_NAME": m.display_name,
                    "AZMIGRATEGROUP_NAME": "AllMachines_Appliance",
                    "SQL_SERVER_LICENSE_TYPE": "NoLicenseType",
                    "VM_TAG_KEY": "app,role",
                    "VM_TAG_VALUE": f"{m.tags['app']},{m.tags['role']}",
                    "TEST_VNET_NAME": test_vnet,
                    "TEST_SUBNET_NAME": connection["test_subnet"],
                    "TARGET_SUBSCRIPTION_ID": connection["subscription_id"],
                    "TARGET_RESOURCE_GROUP_NAME": connection["target_resource_group"],
                    "TARGET_VNET_NAME": vnet,
                    "TARGET_SUBNET_NAME": connection["target_subnet"],
                    "TARGET_MACHINE_NAME": m.display_name,
                    "TARGET_MACHINE_SIZE": m.recommended_size,
                    "LICENSE_TYPE": "WindowsServer" if m.os_type == "Windows" else "NoLicenseType",
                    "OS_DISK_ID": next(d.uuid for d in m.disks if d.is_os),
                    "DATA_DISK1_ID": data_disks[0] if data_disks else "",
                    "DATA_DISK2_ID": data_disks[1] if len(data_disks) > 1 else "",
                    "TARGET_DISKTYPE": "Premium_LRS" if _premium(m) else "Standard_LRS",
                    "TURNOFF_SOURCESERVER": "Y",
                    "TESTMIGRATE_VNET_NAME": test_vnet,
                    "OK_TO_UPDATE": "N",
                    "OK_TO_MIGRATE": ready,
                    "OK_TO_USE_ASSESSMENT": "N",
                    "OK_TO_TESTMIGRATE": ready,
                    "OK_TO_RETRIEVE_REPLICATIONSTATUS": "Y",
                    "OK_TO_CLEANUP": "N",
                    "OK_TO_TESTMIGRATE_CLEANUP": ready,
                }
            )
    return path
