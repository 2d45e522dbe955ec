"""The as-built record of a migrated machine: where it went and how it is protected, read from Azure.

Records describe state, never the run that wrote them, so writing them again after nothing changed
leaves the docs (and their git history) untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from wavelift.tasks.plan_models import MachinePlan
from wavelift.tasks.vm_checks import VmFacts


class AsBuiltRecord(BaseModel):
    """One machine after migration: old → new address, placement, protection, resource ids."""

    machine: str
    source_item: str
    old_ip: str | None
    new_ip: str | None
    vm_name: str
    vm_size: str
    region: str
    resource_group: str
    migrated_at: str | None
    vm_id: str
    nic_id: str
    nsg_id: str | None
    backup_policy: str | None
    dr_region: str | None
    dr_item_id: str | None
    replication_removed: bool
    onprem_backup_jobs: list[str]
    onprem_disk_files: int
    test_waiver: str | None = None
    disk_encryption: list[str] = []


def as_built(
    machine: MachinePlan,
    vm: VmFacts,
    backup: dict | None,
    dr: tuple[str, str] | None,
    replication_removed: bool,
    backup_jobs: list[str],
    disk_files: int,
) -> AsBuiltRecord:
    return AsBuiltRecord(
        machine=machine.display_name,
        source_item=machine.source_name,
        old_ip=machine.source_ip,
        new_ip=vm.private_ip,
        vm_name=vm.name,
        vm_size=vm.size,
        region=vm.location,
        resource_group=vm.id.split("/")[4],
        migrated_at=vm.created.isoformat(timespec="seconds") if vm.created else None,
        vm_id=vm.id,
        nic_id=vm.nic_id,
        nsg_id=vm.nsg_id,
        backup_policy=(backup or {}).get("policyName"),
        dr_region=dr[1] if dr else None,
        dr_item_id=dr[0] if dr else None,
        replication_removed=replication_removed,
        onprem_backup_jobs=backup_jobs,
        onprem_disk_files=disk_files,
        test_waiver=machine.waiver_note,
        disk_encryption=vm.encryption,
    )


def _name(resource_id: str | None) -> str:
    return resource_id.rsplit("/", 1)[1] if resource_id else "none"


def machine_markdown(record: AsBuiltRecord, level: int = 1) -> str:
    """The record as a page of the server documentation (its title a heading of `level`)."""
    rows = [
        ("Source server", f"{record.machine} (Azure Migrate item {record.source_item})"),
        ("Old IP", record.old_ip or "unknown"),
        ("New private IP", record.new_ip or "none"),
        ("Azure VM", f"{record.vm_name}, {record.vm_size}"),
        ("Region", record.region),
        ("Resource group", record.resource_group),
        ("Migrated at (VM created, by Azure's clock, UTC)", record.migrated_at or "unknown"),
        ("Disk encryption", ", ".join(record.disk_encryption) or "platform-managed keys only"),
        ("Network security group", _name(record.nsg_id)),
        ("Backup policy", record.backup_policy or "NOT PROTECTED"),
        ("Disaster recovery", f"replicated to {record.dr_region}" if record.dr_region else "none"),
        ("Test migration", record.test_waiver or "tested and signed off"),
        ("Migration replication", "removed (migration completed)" if record.replication_removed else "still in place"),
        ("On-prem backup jobs", ", ".join(record.onprem_backup_jobs) or "none"),
        ("On-prem disk files", str(record.onprem_disk_files) if record.onprem_disk_files else "none"),
        ("VM id", f"`{record.vm_id}`"),
        ("NIC id", f"`{record.nic_id}`"),
        ("NSG id", f"`{record.nsg_id}`" if record.nsg_id else "none"),
        ("DR protected item id", f"`{record.dr_item_id}`" if record.dr_item_id else "none"),
    ]
    return "\n".join(
        [
            f"{'#' * level} {record.machine} — as built",
            "",
            "| | |",
            "| --- | --- |",
            *(f"| {k} | {v} |" for k, v in rows),
            "",
        ]
    )


def wave_markdown(
    plan_name: str, wave: str, records: list[AsBuiltRecord], link: Callable[[AsBuiltRecord], str] | None = None
) -> str:
    """The wave's index page: every machine with its old and new IP, linked to its page (`link` of it, e.g. its
    page beside the index in the docs), or named only."""
    lines = [
        f"# {plan_name} / {wave} — as built",
        "",
        "| Server | Old IP | New IP | Azure VM | Size | Region | Backup | DR |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {f'[{r.machine}]({link(r)})' if link else r.machine} | {r.old_ip or ''} | {r.new_ip or ''} | "
        f"{r.vm_name} | {r.vm_size} | {r.region} | {r.backup_policy or 'none'} | {r.dr_region or 'none'} |"
        for r in sorted(records, key=lambda r: r.machine)
    ]
    return "\n".join([*lines, ""])


def file_name(record: AsBuiltRecord) -> str:
    return f"{record.vm_name}.md"


def wave_document(plan_name: str, wave: str, records: list[AsBuiltRecord]) -> str:
    """The wave's as-built document, as a run publishes it for reviewers: the index, then every machine's record.
    One document a run, not an artifact a machine: each keyed artifact cost Prefect's database two rows and two
    events (about 14 KB a machine, a fifth of a machine's lifecycle), and the docs target keeps a page a machine."""
    sections = [machine_markdown(r, level=2) for r in sorted(records, key=lambda r: r.machine)]
    return "\n".join([wave_markdown(plan_name, wave, records), *sections])


def index_key(plan_name: str, wave: str) -> str:
    """The wave's as-built document artifact, one place that reaches every machine's record."""
    return f"as-built-{plan_name}-{wave}"
