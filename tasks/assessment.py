"""Read Azure Migrate's exported assessment workbook (sheets `All_Assessed_Machines` and
`All_Assessed_Disks`): readiness, recommended size and disk types per machine.

Columns are matched by header name and extra columns are ignored, since newer exports add some.
Every problem is collected with its sheet, row and column before anything is refused. A name may
appear twice (Microsoft's own sample has two VMs called `MicrosoftAzureMigration`): both rows are
kept with their IP addresses, and the planner tells them apart or refuses the ambiguity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from wavelift.tasks.plan_files import kind_of, open_workbook, read_bytes, sheet_rows
from wavelift.tasks.problems import InputRefused, Problem

MACHINES, DISKS = "All_Assessed_Machines", "All_Assessed_Disks"
READY = {"Ready For Azure", "Ready For Azure With Conditions"}
READINESS = READY | {"Not Ready For Azure", "Unknown Readiness"}
DISK_TYPES = {
    "standard hdd managed disks": "Standard_LRS",
    "standard ssd managed disks": "StandardSSD_LRS",
    "premium managed disks": "Premium_LRS",
    "premium ssd managed disks": "Premium_LRS",
    "premium ssd v2 managed disks": "PremiumV2_LRS",
    "ultra disk": "UltraSSD_LRS",
    "ultra managed disks": "UltraSSD_LRS",
}
NOT_APPLICABLE = {"", "not applicable", "unknown", "none"}
MACHINE_COLUMNS = ["Machine", "Azure VM readiness", "Azure readiness issues", "Recommended size", "Operating system"]
DISK_COLUMNS = ["Machine", "Disk name", "Recommended disk type", "Source disk size(GB)"]


class AssessedDisk(BaseModel):
    name: str
    recommended_type: str | None
    source_gb: float | None


class AssessedMachine(BaseModel):
    """One row of `All_Assessed_Machines` with its disks from `All_Assessed_Disks`."""

    row: int
    machine: str
    readiness: str
    readiness_issues: str
    recommended_size: str | None
    operating_system: str
    group: str | None
    ip_addresses: list[str] = []
    disks: list[AssessedDisk] = []

    @property
    def ready(self) -> bool:
        return self.readiness in READY


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _columns(
    sheet: Any, required: list[str], source: str, problems: list[Problem]
) -> tuple[dict[str, int], list[tuple[int, tuple]]]:
    """Column positions by header name, and the numbered non-empty rows below the header (bounded reads)."""
    rows = list(sheet_rows(sheet, source))
    header = [_text(h) for h in (rows[0][1] if rows else [])]
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        if name in index:
            problems.append(
                Problem(
                    source=source,
                    row=1,
                    field=name,
                    reason=f"the column appears twice (columns {index[name] + 1} and {position + 1})",
                )
            )
        elif name:
            index[name] = position
    for name in required:
        if name not in index:
            problems.append(Problem(source=source, row=1, field=name, reason="the column is missing from the header"))
    body = [(number, row) for number, row in rows[1:] if any(_text(v) for v in row)]
    if not body and not problems:
        problems.append(Problem(source=source, row=2, field=required[0], reason="the sheet has a header but no rows"))
    return index, body


def _cell(row: tuple, index: dict[str, int], name: str) -> str:
    position = index.get(name)
    return _text(row[position]) if position is not None and position < len(row) else ""


def read_assessment(path: Path | str) -> list[AssessedMachine]:
    """Parse the workbook, or raise `InputRefused` naming every bad sheet, row and column."""
    path = Path(path)
    problems: list[Problem] = []
    data = read_bytes(path)
    if kind_of(data, path.name) != "xlsx":
        raise InputRefused(
            [Problem(source=path.name, field="file", reason="not a readable .xlsx workbook (it is text: a CSV?)")]
        )
    book = open_workbook(data, path.name)
    for sheet in (MACHINES, DISKS):
        if sheet not in book.sheetnames:
            problems.append(
                Problem(
                    source=path.name,
                    field=f"sheet {sheet}",
                    reason=f"the sheet is missing (found: {', '.join(book.sheetnames)})",
                )
            )
    if problems:
        raise InputRefused(problems)
    refused: set[str] = set()
    machines = _read_machines(book[MACHINES], f"{path.name}:{MACHINES}", problems, refused)
    _read_disks(book[DISKS], f"{path.name}:{DISKS}", machines, problems, refused)
    if problems:
        raise InputRefused(problems)
    return sorted((m for same_name in machines.values() for m in same_name), key=lambda m: m.row)


def parse_ip_list(text: str) -> list[str]:
    """`[172.21.12.27,fe80::5146:a6ac:161:c023];` (one bracket per adapter) to a list of addresses."""
    return [ip for adapter in text.split(";") for ip in adapter.strip().strip("[]").split(",") if ip.strip()]


def _read_machines(
    sheet: Any, source: str, problems: list[Problem], refused: set[str]
) -> dict[str, list[AssessedMachine]]:
    """Machine rows by lower-cased name; names of refused rows go to `refused`."""
    index, rows = _columns(sheet, MACHINE_COLUMNS, source, problems)
    machines: dict[str, list[AssessedMachine]] = {}
    if problems:
        return machines
    for number, row in rows:
        name, readiness, size = (
            _cell(row, index, "Machine"),
            _cell(row, index, "Azure VM readiness"),
            _cell(row, index, "Recommended size"),
        )
        if not name:
            problems.append(Problem(source=source, row=number, field="Machine", reason="the machine name is empty"))
            continue
        if readiness not in READINESS:
            problems.append(
                Problem(
                    source=source,
                    row=number,
                    field="Azure VM readiness",
                    reason=f"'{readiness}' is not one of {sorted(READINESS)}",
                )
            )
            refused.add(name.lower())
            continue
        if size.lower() in NOT_APPLICABLE:
            size = ""
        elif not size.startswith(("Standard_", "Basic_")):
            problems.append(
                Problem(source=source, row=number, field="Recommended size", reason=f"'{size}' is not an Azure VM size")
            )
            refused.add(name.lower())
            continue
        ips = parse_ip_list(_cell(row, index, "IP address"))
        twin = next((m for m in machines.get(name.lower(), []) if set(ips) == set(m.ip_addresses)), None)
        if twin is not None:  # a repeated name is two machines only when their addresses tell them apart
            problems.append(
                Problem(
                    source=source,
                    row=number,
                    field="Machine",
                    reason=f"'{name}' is also at row {twin.row} with the same IP addresses: the same machine twice",
                )
            )
            refused.add(name.lower())
            continue
        machines.setdefault(name.lower(), []).append(
            AssessedMachine(
                row=number,
                machine=name,
                readiness=readiness,
                readiness_issues=_cell(row, index, "Azure readiness issues"),
                recommended_size=size or None,
                operating_system=_cell(row, index, "Operating system"),
                group=_cell(row, index, "Group name") or None,
                ip_addresses=ips,
            )
        )
    return machines


def _read_disks(
    sheet: Any, source: str, machines: dict[str, list[AssessedMachine]], problems: list[Problem], refused: set[str]
) -> None:
    """Disks belong to a machine by name; every row of a repeated name gets them all. Disks of a
    refused machine row are skipped, so one bad cell is reported once."""
    index, rows = _columns(sheet, DISK_COLUMNS, source, problems)
    if any(p.source == source for p in problems):
        return
    for number, row in rows:
        name = _cell(row, index, "Machine")
        if name.lower() in refused:
            continue
        same_name = machines.get(name.lower())
        if same_name is None:
            problems.append(
                Problem(source=source, row=number, field="Machine", reason=f"'{name}' is not in {MACHINES}")
            )
            continue
        kind = _cell(row, index, "Recommended disk type")
        disk_type = DISK_TYPES.get(kind.lower())
        if disk_type is None and kind.lower() not in NOT_APPLICABLE:
            problems.append(
                Problem(
                    source=source,
                    row=number,
                    field="Recommended disk type",
                    reason=f"'{kind}' is not a managed disk type wavelift knows",
                )
            )
            continue
        size_text = _cell(row, index, "Source disk size(GB)")
        try:
            size = None if size_text.lower() in NOT_APPLICABLE else float(size_text)
        except ValueError:
            problems.append(
                Problem(
                    source=source, row=number, field="Source disk size(GB)", reason=f"'{size_text}' is not a number"
                )
            )
            continue
        for machine in same_name:
            machine.disks.append(
                AssessedDisk(name=_cell(row, index, "Disk name"), recommended_type=disk_type, source_gb=size)
            )
