"""Reading Microsoft's files: the assessment export and the migrate-at-scale CSV, as published and
as operators break them. Every refusal names the row, the field and the reason."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pytest

from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.migrate_csv import read_migrate_csv
from wavelift.tasks.plan_models import PlannedDisk, disk_limit_problem
from wavelift.tasks.problems import InputRefused

FIXTURES = Path(__file__).parent / "fixtures" / "azure-migrate"
SAMPLE_CSV = FIXTURES / "migrate-at-scale-input.csv"


@pytest.mark.parametrize("name", ["assessment-perf-payg.xlsx", "assessment-asis-payg-ahub.xlsx"])
def test_microsofts_sample_workbooks_import(name: str) -> None:
    machines = read_assessment(FIXTURES / name)
    assert len(machines) == 547
    assert sum(m.ready for m in machines) == 545
    assert {m.readiness for m in machines if not m.ready} == {"Unknown Readiness"}
    first = machines[0]
    assert (first.machine, first.recommended_size, first.ip_addresses[0]) == (
        "VM020.WORKGROUP",
        "Standard_D2s_v3",
        "172.21.12.27",
    )
    assert [d.recommended_type for d in first.disks] == ["Standard_LRS", "Standard_LRS"]
    twins = [m for m in machines if m.machine == "MicrosoftAzureMigration"]
    assert len(twins) == 2 and twins[0].ip_addresses != twins[1].ip_addresses


def test_microsofts_sample_csv_imports() -> None:
    (row,) = read_migrate_csv(SAMPLE_CSV)
    assert (row.row, row.source_machine_name, row.target_machine_name) == (2, "rthapliyal-cs-01", "testvm-xx")
    assert row.ok_to_migrate and row.ok_to_use_assessment and row.turn_off_source
    assert row.vm_tags == {"vm-tag-1": "vm-tag-val-1", "vm-tag-2": "vm-tag-val-2"}
    assert (row.sql_server_license_type, row.test_subnet) == ("PAYG", "testing")


def _csv_with(tmp_path: Path, changes: list[dict[str, str]], drop: str | None = None) -> Path:
    with SAMPLE_CSV.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, template = list(reader.fieldnames or []), next(reader)
    if drop:
        header.remove(drop)
    path = tmp_path / "input.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for change in changes:
            writer.writerow(template | change)
    return path


@pytest.mark.parametrize(
    ("rows", "row", "field", "words"),
    [
        ([{"OK_TO_MIGRATE": "maybe"}], 2, "OK_TO_MIGRATE", "must be Y or N"),
        ([{"TARGET_MACHINE_NAME": "web server"}], 2, "TARGET_MACHINE_NAME", "letters, digits and hyphens"),
        ([{"TARGET_MACHINE_NAME": "x" * 65}], 2, "TARGET_MACHINE_NAME", "1 to 64"),
        ([{"TARGET_MACHINE_NAME": "a"}, {"TARGET_MACHINE_NAME": "b"}], 3, "SOURCE_MACHINE_NAME", "also at row 2"),
        (
            [{"SOURCE_MACHINE_NAME": "a"}, {"SOURCE_MACHINE_NAME": "b"}],
            3,
            "TARGET_MACHINE_NAME",
            "also the target of row 2",
        ),
        ([{"LICENSE_TYPE": "Enterprise"}], 2, "LICENSE_TYPE", "must be one of"),
        ([{"TARGET_DISKTYPE": "SuperFast_LRS"}], 2, "TARGET_DISKTYPE", "must be one of"),
        ([{"TARGET_MACHINE_SIZE": "D2s_v3"}], 2, "TARGET_MACHINE_SIZE", "not an Azure VM size"),
        ([{"VM_TAG_VALUE": "only-one"}], 2, "VM_TAG_VALUE", "2 tag key(s) but 1 value(s)"),
        ([{"TURNOFF_SOURCESERVER": "N"}], 2, "TURNOFF_SOURCESERVER", "SHUTDOWN_OPT_OUT_REASON"),
        ([{"SOURCE_MACHINE_NAME": ""}], 2, "SOURCE_MACHINE_NAME", "empty"),
    ],
)
def test_a_bad_csv_row_is_named(tmp_path: Path, rows: list[dict], row: int, field: str, words: str) -> None:
    with pytest.raises(InputRefused) as excinfo:
        read_migrate_csv(_csv_with(tmp_path, rows))
    problem = next(p for p in excinfo.value.problems if p.field == field)
    assert problem.row == row and words in problem.reason
    assert f"row {row}, field {field}" in str(excinfo.value) and "nothing was changed" in str(excinfo.value)


def test_a_csv_without_a_required_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputRefused) as excinfo:
        read_migrate_csv(_csv_with(tmp_path, [{}], drop="OK_TO_MIGRATE"))
    assert [(p.row, p.field) for p in excinfo.value.problems] == [(1, "OK_TO_MIGRATE")]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(InputRefused) as excinfo:
        read_migrate_csv(
            _csv_with(
                tmp_path,
                [
                    {"SOURCE_MACHINE_NAME": "a", "TARGET_MACHINE_NAME": "bad name", "OK_TO_MIGRATE": "?"},
                    {"SOURCE_MACHINE_NAME": "b", "TARGET_MACHINE_NAME": "b", "LICENSE_TYPE": "x"},
                ],
            )
        )
    assert {(p.row, p.field) for p in excinfo.value.problems} == {
        (2, "TARGET_MACHINE_NAME"),
        (2, "OK_TO_MIGRATE"),
        (3, "LICENSE_TYPE"),
    }


def _workbook_with(tmp_path: Path, sheet: str, row: int, column: str, value: object) -> Path:
    path = tmp_path / "assessment.xlsx"
    shutil.copy(FIXTURES / "assessment-perf-payg.xlsx", path)
    book = openpyxl.load_workbook(path)
    ws = book[sheet]
    col = [c.value for c in ws[1]].index(column) + 1
    ws.cell(row=row, column=col).value = value
    book.save(path)
    return path


@pytest.mark.parametrize(
    ("sheet", "row", "column", "value", "words"),
    [
        ("All_Assessed_Machines", 5, "Azure VM readiness", "Probably Fine", "is not one of"),
        ("All_Assessed_Machines", 6, "Recommended size", "Huge", "not an Azure VM size"),
        ("All_Assessed_Machines", 7, "Machine", None, "empty"),
        ("All_Assessed_Disks", 9, "Recommended disk type", "Floppy", "not a managed disk type"),
        ("All_Assessed_Disks", 10, "Source disk size(GB)", "big", "not a number"),
    ],
)
def test_a_bad_workbook_cell_is_named(
    tmp_path: Path, sheet: str, row: int, column: str, value: object, words: str
) -> None:
    with pytest.raises(InputRefused) as excinfo:
        read_assessment(_workbook_with(tmp_path, sheet, row, column, value))
    problem = excinfo.value.problems[0]
    assert (problem.source.endswith(sheet), problem.row, problem.field) == (True, row, column)
    assert words in problem.reason


def test_a_workbook_without_the_disk_sheet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    book = openpyxl.load_workbook(FIXTURES / "assessment-perf-payg.xlsx")
    del book["All_Assessed_Disks"]
    book.save(path)
    with pytest.raises(InputRefused, match="sheet All_Assessed_Disks: the sheet is missing"):
        read_assessment(path)


def test_a_file_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputRefused, match="not a readable .xlsx workbook"):
        read_assessment(SAMPLE_CSV)


@pytest.mark.parametrize(
    ("firmware", "os_gb", "data", "words"),
    [
        (None, 3000, [], "the OS disk of a generation 1 (BIOS) VM may be at most 2048 GB"),
        ("efi", 5000, [], "the OS disk of a generation 2 (EFI) VM may be at most 4096 GB"),
        ("bios", 100, [(40000, "Standard_LRS")], "a data disk may be at most 32768 GB"),
        ("bios", 100, [(100, "PremiumV2_LRS")], "Premium SSD V2 needs a zonal VM"),
        ("bios", 100, [(10, "Standard_LRS")] * 63, "at most 63 disks"),
    ],
)
def test_a_plan_refuses_what_azure_migrate_cannot_migrate(
    firmware: str | None, os_gb: int, data: list[tuple[int, str]], words: str
) -> None:
    disks = [PlannedDisk(uuid="os", size_gb=os_gb, is_os=True)] + [
        PlannedDisk(uuid=f"d{i}", size_gb=gb, is_os=False, disk_type=kind) for i, (gb, kind) in enumerate(data)
    ]
    assert words in (disk_limit_problem(disks, firmware) or "")
    assert disk_limit_problem([PlannedDisk(uuid="os", size_gb=2048, is_os=True)], firmware) is None
