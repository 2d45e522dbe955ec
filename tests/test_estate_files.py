"""The seeded estate and the Azure Migrate files the emulator writes for it, checked against the
sheets and columns of Microsoft's own sample exports."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import openpyxl

from tests.conftest import Emulated
from wavelift.emulator.estate import generate

FIXTURES = Path(__file__).parent / "fixtures" / "azure-migrate"


def _headers(path: Path) -> dict[str, list]:
    book = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: list(next(ws.iter_rows(values_only=True))) for ws in book.worksheets}


def test_the_estate_is_reproducible_and_varied() -> None:
    first, again, other = generate(300, 5), generate(300, 5), generate(300, 6)
    assert [m.name for m in first] == [m.name for m in again]
    assert [m.name for m in first] != [m.name for m in other]
    assert len({m.name for m in first}) == 300 and len({m.display_name for m in first}) == 300
    assert Counter(m.os_type for m in first).keys() == {"Windows", "Linux"}
    assert {len(m.disks) for m in first} == {1, 2, 3}
    assert all(sum(d.is_os for d in m.disks) == 1 for m in first)
    not_ready = sum(m.readiness == "Not Ready For Azure" for m in first)
    assert 0.03 * 300 < not_ready < 0.25 * 300
    sizes = sorted(d.size_gb for m in first for d in m.disks if not d.is_os)
    assert sizes[-1] > 5 * sizes[len(sizes) // 2]  # heavy tail: the largest dwarfs the median
    assert len({m.ip for m in first}) == 300


def test_the_assessment_workbook_has_microsofts_sheets_and_columns(emu: Emulated) -> None:
    ours = _headers(Path(emu.connection["assessment_workbook"]))
    microsoft = _headers(FIXTURES / "assessment-perf-payg.xlsx")
    assert list(ours) == list(microsoft)
    assert ours["All_Assessed_Machines"] == microsoft["All_Assessed_Machines"]
    assert ours["All_Assessed_Disks"] == microsoft["All_Assessed_Disks"]
    rows = list(
        openpyxl.load_workbook(emu.connection["assessment_workbook"], read_only=True)[
            "All_Assessed_Machines"
        ].iter_rows(values_only=True)
    )[1:]
    names = {m["display_name"] for m in emu.admin.state()["machines"]}
    assert {r[0] for r in rows} == names


def test_the_migrate_at_scale_csv_has_microsofts_header(emu: Emulated) -> None:
    with open(emu.connection["migrate_csv"], newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    with open(FIXTURES / "migrate-at-scale-input.csv", newline="") as handle:
        assert reader.fieldnames == next(csv.reader(handle))
    state = {m["display_name"]: m for m in emu.admin.state()["machines"]}
    assert len(rows) == len(state)
    for row in rows:
        machine = state[row["SOURCE_MACHINE_NAME"]]
        assert row["OK_TO_MIGRATE"] == ("N" if machine["readiness"] == "Not Ready For Azure" else "Y")
        assert row["AZMIGRATEPROJECT_NAME"] == emu.connection["migrate_project"]
        assert row["TURNOFF_SOURCESERVER"] == "Y"


def test_the_datastore_and_backup_catalog_cover_every_server(emu: Emulated) -> None:
    state = emu.admin.state()
    for machine in state["machines"]:
        files = state["datastore"][machine["display_name"]]
        assert len(files) == len(machine["disks_gb"])
        assert sorted(Path(f).stat().st_size for f in files) == sorted(gb * 1024**3 for gb in machine["disks_gb"])
        assert "weekly-full" in machine["backup_jobs"]
    name = state["machines"][0]["display_name"]
    assert emu.admin.onprem("DELETE", f"/backup/jobs/weekly-full/servers/{name}").status_code == 204
    assert emu.admin.onprem("DELETE", f"/backup/jobs/weekly-full/servers/{name}").status_code == 404
    assert "weekly-full" not in emu.admin.onprem("GET", f"/backup/servers/{name}").json()["jobs"]
