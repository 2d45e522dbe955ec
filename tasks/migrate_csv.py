"""Read the input CSV of Microsoft's migrate-at-scale scripts (agentless VMware `Input.csv`).

Columns are matched by name and extra ones are tolerated: Microsoft's copies of the file differ, and
wavelift reads two optional columns of its own, `WAVE` and `SHUTDOWN_OPT_OUT_REASON`. Flags are
`Y`/`N` as in Microsoft's scripts (empty means `N`, except `TURNOFF_SOURCESERVER`, where empty
means shut down: DESIGN rule 1). `OK_TO_TESTMIGRATE` and the clean-up flags are checked but not
obeyed: wavelift test-migrates every machine unless its plan waives the test with a reason.
Every problem is collected with its row and column.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from wavelift.tasks.names import vm_name_problem
from wavelift.tasks.plan_files import csv_rows, decode_text, kind_of, read_bytes
from wavelift.tasks.problems import InputRefused, Problem

REQUIRED = ["SOURCE_MACHINE_NAME", "TARGET_MACHINE_NAME", "OK_TO_MIGRATE", "TURNOFF_SOURCESERVER"]
FLAGS = ["OK_TO_MIGRATE", "OK_TO_TESTMIGRATE", "OK_TO_USE_ASSESSMENT", "OK_TO_TESTMIGRATE_CLEANUP"]
CHOICES = {
    "LICENSE_TYPE": {"NoLicenseType", "WindowsServer"},
    "SQL_SERVER_LICENSE_TYPE": {"NoLicenseType", "PAYG", "AHUB"},
    "TARGET_DISKTYPE": {
        "Standard_LRS",
        "Premium_LRS",
        "StandardSSD_LRS",
        "PremiumV2_LRS",
        "UltraSSD_LRS",
        "StandardSSD_ZRS",
        "Premium_ZRS",
    },
}


class CsvMachine(BaseModel):
    """One row of the migrate-at-scale CSV, as wavelift uses it."""

    row: int
    source_machine_name: str
    target_machine_name: str
    target_machine_size: str | None
    license_type: str | None
    sql_server_license_type: str | None
    target_disk_type: str | None
    os_disk_id: str | None
    turn_off_source: bool
    shutdown_opt_out_reason: str | None
    ok_to_migrate: bool
    ok_to_use_assessment: bool
    vm_tags: dict[str, str]
    target_subnet: str | None
    test_subnet: str | None
    wave: str | None


def _flag(row: dict, column: str, number: int, problems: list[Problem], source: str, empty: bool = False) -> bool:
    value = (row.get(column) or "").strip().upper()
    if value in ("Y", "N"):
        return value == "Y"
    if value:
        problems.append(Problem(source=source, row=number, field=column, reason=f"'{row[column]}' must be Y or N"))
    return empty


def _tags(row: dict, number: int, problems: list[Problem], source: str) -> dict[str, str]:
    keys = [k.strip() for k in (row.get("VM_TAG_KEY") or "").split(",") if k.strip()]
    values = [v.strip() for v in (row.get("VM_TAG_VALUE") or "").split(",") if v.strip()]
    if len(keys) != len(values):
        problems.append(
            Problem(
                source=source,
                row=number,
                field="VM_TAG_VALUE",
                reason=f"{len(keys)} tag key(s) but {len(values)} value(s)",
            )
        )
        return {}
    return dict(zip(keys, values, strict=True))


def _optional(row: dict, column: str) -> str | None:
    return (row.get(column) or "").strip() or None


def read_migrate_csv(path: Path | str) -> list[CsvMachine]:
    """Parse the CSV, or raise `InputRefused` naming every bad row and column (and refusing any file that
    is not a CSV, whatever its name, within bounds: see `tasks.plan_files`)."""
    path = Path(path)
    source = path.name
    data = read_bytes(path)
    if kind_of(data, source) != "csv":
        raise InputRefused(
            [
                Problem(
                    source=source,
                    field="file",
                    reason="is an Excel workbook, not a CSV: import it as an assessment export",
                )
            ]
        )
    _, rows = csv_rows(decode_text(data, source), source, REQUIRED)
    problems: list[Problem] = []
    machines: list[CsvMachine] = []
    first_row: dict[str, int] = {}
    first_target: dict[str, int] = {}
    for number, row in rows:
        count = len(problems)
        name, target = (row.get("SOURCE_MACHINE_NAME") or "").strip(), (row.get("TARGET_MACHINE_NAME") or "").strip()
        if not name:
            problems.append(
                Problem(
                    source=source, row=number, field="SOURCE_MACHINE_NAME", reason="the source machine name is empty"
                )
            )
        elif name.lower() in first_row:
            problems.append(
                Problem(
                    source=source,
                    row=number,
                    field="SOURCE_MACHINE_NAME",
                    reason=f"'{name}' is also at row {first_row[name.lower()]}",
                )
            )
        reason = vm_name_problem(target)
        if reason:
            problems.append(
                Problem(source=source, row=number, field="TARGET_MACHINE_NAME", reason=f"'{target}' {reason}")
            )
        elif target.lower() in first_target:
            problems.append(
                Problem(
                    source=source,
                    row=number,
                    field="TARGET_MACHINE_NAME",
                    reason=f"'{target}' is also the target of row {first_target[target.lower()]}",
                )
            )
        for column, allowed in CHOICES.items():
            value = _optional(row, column)
            if value is not None and value not in allowed:
                problems.append(
                    Problem(
                        source=source, row=number, field=column, reason=f"'{value}' must be one of {sorted(allowed)}"
                    )
                )
        size = _optional(row, "TARGET_MACHINE_SIZE")
        if size is not None and not size.startswith(("Standard_", "Basic_")):
            problems.append(
                Problem(
                    source=source, row=number, field="TARGET_MACHINE_SIZE", reason=f"'{size}' is not an Azure VM size"
                )
            )
        flags = {c: _flag(row, c, number, problems, source) for c in FLAGS}
        turn_off = _flag(row, "TURNOFF_SOURCESERVER", number, problems, source, empty=True)
        opt_out = _optional(row, "SHUTDOWN_OPT_OUT_REASON")
        if not turn_off and not opt_out:
            problems.append(
                Problem(
                    source=source,
                    row=number,
                    field="TURNOFF_SOURCESERVER",
                    reason="N needs a reason in SHUTDOWN_OPT_OUT_REASON: migrating without shutting the source down "
                    "risks losing writes",
                )
            )
        tags = _tags(row, number, problems, source)
        first_row.setdefault(name.lower(), number)
        first_target.setdefault(target.lower(), number)
        if len(problems) > count:
            continue
        machines.append(
            CsvMachine(
                row=number,
                source_machine_name=name,
                target_machine_name=target,
                target_machine_size=size,
                license_type=_optional(row, "LICENSE_TYPE"),
                sql_server_license_type=_optional(row, "SQL_SERVER_LICENSE_TYPE"),
                target_disk_type=_optional(row, "TARGET_DISKTYPE"),
                os_disk_id=_optional(row, "OS_DISK_ID"),
                turn_off_source=turn_off,
                shutdown_opt_out_reason=opt_out,
                ok_to_migrate=flags["OK_TO_MIGRATE"],
                ok_to_use_assessment=flags["OK_TO_USE_ASSESSMENT"],
                vm_tags=tags,
                target_subnet=_optional(row, "TARGET_SUBNET_NAME"),
                test_subnet=_optional(row, "TEST_SUBNET_NAME"),
                wave=_optional(row, "WAVE"),
            )
        )
    if problems:
        raise InputRefused(problems)
    return machines
