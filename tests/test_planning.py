"""Building wave plans from discovery plus Microsoft's files, and saving them for operators."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from tests.azure_inputs import discovered
from tests.conftest import Emulated
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.plan import PlanImport, import_plan
from wavelift.tasks.assessment import read_assessment
from wavelift.tasks.discovery import parse_machine
from wavelift.tasks.migrate_csv import read_migrate_csv
from wavelift.tasks.names import azure_vm_name, vm_name_problem
from wavelift.tasks.plan_models import MaintenanceWindow
from wavelift.tasks.planning import PlanSettings, plan_from_assessment, plan_from_csv
from wavelift.tasks.problems import InputRefused

FIXTURES = Path(__file__).parent / "fixtures" / "azure-migrate"


def _settings(**changes) -> PlanSettings:
    return PlanSettings(plan_name="p1", target_block="t", **changes)


def test_a_plan_from_the_assessment_takes_every_ready_machine(start_emulator) -> None:
    emu: Emulated = start_emulator(machines=250, seed=11)
    machines = [parse_machine(m) for m in discovered(emu)]
    plan = plan_from_assessment(machines, read_assessment(emu.connection["assessment_workbook"]), _settings())
    state = {m["display_name"]: m for m in emu.admin.state()["machines"]}
    ready = {name for name, m in state.items() if m["readiness"] != "Not Ready For Azure"}
    (wave,) = plan.waves
    assert {m.display_name for m in wave.machines} == ready
    assert {e.machine for e in plan.excluded} == set(state) - ready
    assert all(e.reason.startswith("Not Ready For Azure: ") for e in plan.excluded)
    db = next(m for m in wave.machines if "-db-" in m.display_name)
    assert {d.disk_type for d in db.disks} == {"Premium_LRS"}
    batches = wave.batches()
    assert [len(b) for b in batches] == [100, 100, len(ready) - 200]
    sizes = [m.total_gb for b in batches for m in b]
    assert sizes == sorted(sizes, reverse=True)


def test_a_plan_from_the_csv_honours_ok_to_migrate_and_waves(emu: Emulated, tmp_path: Path) -> None:
    machines = [parse_machine(m) for m in discovered(emu)]
    with open(emu.connection["migrate_csv"], newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = [*(reader.fieldnames or []), "WAVE"]
    for index, row in enumerate(rows):
        row["WAVE"] = "wave-b" if index % 2 else ""
    path = tmp_path / "with-waves.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    plan = plan_from_csv(machines, read_migrate_csv(path), _settings(wave="wave-a"))
    included = {r["SOURCE_MACHINE_NAME"] for r in rows if r["OK_TO_MIGRATE"] == "Y"}
    assert {m.display_name for w in plan.waves for m in w.machines} == included
    assert {w.name for w in plan.waves} == {"wave-a", "wave-b"}
    assert all(e.reason == "OK_TO_MIGRATE is N" for e in plan.excluded)
    one = plan.waves[0].machines[0]
    assert one.tags == {"app": one.display_name.split("-")[0], "role": one.display_name.split("-")[1]}
    assert one.perform_shutdown


def test_microsofts_files_name_machines_this_project_never_discovered(emu: Emulated) -> None:
    machines = [parse_machine(m) for m in discovered(emu)]
    with pytest.raises(InputRefused) as excinfo:
        plan_from_csv(machines, read_migrate_csv(FIXTURES / "migrate-at-scale-input.csv"), _settings())
    (problem,) = excinfo.value.problems
    assert (problem.row, problem.field, problem.reason) == (
        2,
        "SOURCE_MACHINE_NAME",
        "no discovered machine is named 'rthapliyal-cs-01'",
    )
    with pytest.raises(InputRefused) as excinfo:
        plan_from_assessment(machines, read_assessment(FIXTURES / "assessment-perf-payg.xlsx"), _settings())
    assert excinfo.value.problems[0].row == 2 and "VM020.WORKGROUP" in excinfo.value.problems[0].reason


def test_the_import_flow_saves_a_plan_only_when_every_row_is_valid(
    start_emulator, prefect_server: None, tmp_path: Path
) -> None:
    emu: Emulated = start_emulator(machines=30, seed=4)
    emu.target.save("plan-target", overwrite=True)
    settings = PlanSettings(
        plan_name="estate-a",
        target_block="plan-target",
        window=MaintenanceWindow(timezone="Europe/Berlin", days=["Sat"], start=time(1), end=time(6)),
    )
    plan = import_plan(PlanImport(source="assessment", path=emu.connection["assessment_workbook"]), settings)
    saved = WavePlanBlock.load("estate-a").plan
    assert saved == plan and saved.waves[0].window.timezone == "Europe/Berlin"
    state = import_plan(
        PlanImport(source="assessment", path=emu.connection["assessment_workbook"]), settings, return_state=True
    )
    assert state.is_failed() and "exists; set overwrite" in str(state.result(raise_on_failure=False))

    bad = tmp_path / "bad.csv"
    rows = list(csv.DictReader(open(emu.connection["migrate_csv"], newline="")))
    rows[3]["TARGET_MACHINE_NAME"] = "bad name"
    with bad.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    refused = import_plan(
        PlanImport(source="csv", path=str(bad)),
        settings.model_copy(update={"plan_name": "estate-b"}),
        return_state=True,
    )
    assert refused.is_failed() and "row 5, field TARGET_MACHINE_NAME" in str(refused.result(raise_on_failure=False))
    with pytest.raises(ValueError):
        WavePlanBlock.load("estate-b")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_window_crossing_midnight_belongs_to_the_day_it_opened() -> None:
    window = MaintenanceWindow(timezone="Europe/London", days=["Fri"], start=time(22), end=time(4))
    opens, closes = window.open_at(_utc("2026-11-28T02:00:00"))  # Saturday 02:00 London (UTC in winter)
    assert (opens.isoformat(), closes.isoformat()) == ("2026-11-27T22:00:00+00:00", "2026-11-28T04:00:00+00:00")
    assert window.open_at(_utc("2026-06-27T02:30:00")) is not None  # Saturday 03:30 BST in summer: still inside
    assert window.open_at(_utc("2026-11-28T22:30:00")) is None  # Saturday night: not a window day
    assert window.open_at(_utc("2026-11-27T21:59:59")) is None


def test_a_window_keeps_its_local_hours_across_daylight_saving() -> None:
    window = MaintenanceWindow(timezone="Europe/Berlin", days=["Sat", "Sun"], start=time(1), end=time(5))
    assert window.open_at(_utc("2026-03-28T00:30:00")) is not None  # 01:30 CET, before the change
    opens, closes = window.open_at(_utc("2026-03-29T02:30:00"))  # 04:30 CEST, the night clocks go forward
    assert (opens.isoformat(), closes.isoformat()) == ("2026-03-29T00:00:00+00:00", "2026-03-29T03:00:00+00:00")
    assert (closes - opens).total_seconds() == 3 * 3600  # 01:00 CET to 05:00 CEST is three real hours
    assert window.open_at(_utc("2026-03-29T03:00:00")) is None  # 05:00 CEST: closed


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("timezone", "Mars/Olympus", "not an IANA time zone"),
        ("days", [], "at least 1"),
        ("end", time(22), "must differ"),
    ],
)
def test_a_bad_window_is_refused(field: str, value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        MaintenanceWindow(**{"start": time(22), field: value})


@pytest.mark.parametrize(
    ("server", "vm"),
    [
        ("SQL_PROD.01", "SQL-PROD-01"),
        ("web-db-0001", "web-db-0001"),
        ("__a__", "a"),
        ("2024", "vm-2024"),
        ("x" * 70, "x" * 64),
    ],
)
def test_a_server_name_az_migrate_would_refuse_becomes_a_valid_target_vm_name(server: str, vm: str) -> None:
    """Az.Migrate takes letters, digits and hyphens only; the plan proposes such a name, the operator may change it."""
    assert azure_vm_name(server) == vm and vm_name_problem(vm) is None
    assert (vm_name_problem(server) is None) == (server == vm)
