"""Build a wave plan by joining what the appliance discovered with an assessment export or a
migrate-at-scale CSV. Pure functions: every problem is collected, and a plan comes out only when
there is none, so a refused import changes nothing."""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from wavelift.blocks.parameters import TargetName
from wavelift.tasks.assessment import AssessedMachine
from wavelift.tasks.discovery import DiscoveredMachine
from wavelift.tasks.migrate_csv import CsvMachine
from wavelift.tasks.names import NAME_PATTERN, azure_vm_name
from wavelift.tasks.plan_models import MAX_BATCH, Exclusion, MachinePlan, MaintenanceWindow, PlannedDisk, Wave, WavePlan
from wavelift.tasks.problems import InputRefused, Problem

WAVE_NAME = re.compile(NAME_PATTERN)


class PlanSettings(BaseModel):
    """What an operator chooses when importing a plan (the import flow's form)."""

    plan_name: str = Field(pattern=NAME_PATTERN, description="Name of the plan (the block document it is saved as).")
    target_block: TargetName = Field(description="AzureMigrationTarget block the plan migrates to.")
    wave: str = Field(default="wave-1", pattern=NAME_PATTERN, description="Wave for rows that name none.")
    window: MaintenanceWindow = Field(
        default_factory=MaintenanceWindow, description="Maintenance window of every wave of this import."
    )
    batch_size: int = Field(default=MAX_BATCH, ge=1, le=MAX_BATCH, description="Machines per replication batch.")
    cleanup_test: Literal["immediately", "after_signoff"] = Field(
        default="after_signoff", description="When test-migration VMs are removed."
    )


class _Discovered:
    """Discovered machines by display name, as Az.Migrate finds them (`-DisplayName`)."""

    def __init__(self, machines: list[DiscoveredMachine]) -> None:
        self.by_name: dict[str, list[DiscoveredMachine]] = {}
        for machine in machines:
            self.by_name.setdefault(machine.display_name.lower(), []).append(machine)

    def find(self, name: str, source: str, row: int, field: str, problems: list[Problem]) -> DiscoveredMachine | None:
        found = self.by_name.get(name.lower(), [])
        if len(found) == 1:
            return found[0]
        reason = (
            f"no discovered machine is named '{name}'"
            if not found
            else f"{len(found)} discovered machines are named '{name}'"
        )
        problems.append(Problem(source=source, row=row, field=field, reason=reason))
        return None


def _assessed_for(machine: DiscoveredMachine, by_name: dict[str, list[AssessedMachine]]) -> list[AssessedMachine]:
    """Assessment rows of a discovered machine: by name, then by shared IP when the name repeats."""
    rows = by_name.get(machine.display_name.lower(), [])
    if len(rows) > 1:
        rows = [r for r in rows if set(r.ip_addresses) & set(machine.ip_addresses)]
    return rows


def _disk_types(machine: DiscoveredMachine, assessed: AssessedMachine | None, fallback: str) -> list[str] | str:
    """Per-disk types from the assessment (disks in order), or the reason they cannot be used."""
    if assessed is None or not assessed.disks:
        return [fallback] * len(machine.disks)
    if len(assessed.disks) != len(machine.disks):
        return f"the assessment lists {len(assessed.disks)} disk(s) but the appliance discovered {len(machine.disks)}"
    return [d.recommended_type or fallback for d in assessed.disks]


def _machine_plan(
    machine: DiscoveredMachine, *, name: str, size: str, types: list[str], os_disk: str | None, **options: object
) -> MachinePlan:
    os_uuid = os_disk or machine.disks[0].uuid
    disks = [
        PlannedDisk(uuid=d.uuid, size_gb=d.size_gb, is_os=d.uuid == os_uuid, disk_type=t)
        for d, t in zip(machine.disks, types, strict=True)
    ]
    return MachinePlan(
        source_name=machine.name,
        machine_id=machine.id,
        display_name=machine.display_name,
        os_type=machine.os_type or "Linux",
        target_vm_name=name,
        target_vm_size=size,
        disks=disks,
        source_ip=next(iter(machine.ip_addresses), None),
        vcenter_id=machine.vcenter_id,
        firmware=machine.firmware if machine.firmware in ("bios", "efi") else None,
        **options,
    )


def _finish(
    settings: PlanSettings,
    waves: dict[str, list[MachinePlan]],
    excluded: list[Exclusion],
    problems: list[Problem],
    source: str,
) -> WavePlan:
    if not waves and not problems:
        problems.append(Problem(source=source, field="machines", reason="no machine is ready to migrate"))
    if problems:
        raise InputRefused(problems)
    try:
        return WavePlan(
            name=settings.plan_name,
            target_block=settings.target_block,
            excluded=excluded,
            waves=[
                Wave(
                    name=name,
                    window=settings.window,
                    batch_size=settings.batch_size,
                    cleanup_test=settings.cleanup_test,
                    machines=machines,
                )
                for name, machines in sorted(waves.items())
            ],
        )
    except ValidationError as exc:
        raise InputRefused(
            [
                Problem(source=source, field=".".join(map(str, e["loc"])) or "plan", reason=e["msg"])
                for e in exc.errors()
            ]
        ) from None


def _plan_problem(exc: ValidationError, source: str, row: int, field: str) -> Problem:
    return Problem(
        source=source,
        row=row,
        field=field,
        reason="; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()),
    )


def plan_from_assessment(
    discovered: list[DiscoveredMachine],
    assessed: list[AssessedMachine],
    settings: PlanSettings,
    source: str = "assessment",
) -> WavePlan:
    """Every assessed machine that is ready for Azure, at its recommended size and disk types."""
    found = _Discovered(discovered)
    problems: list[Problem] = []
    excluded: list[Exclusion] = []
    machines: list[MachinePlan] = []
    names = Counter(a.machine.lower() for a in assessed)
    for row in assessed:
        machine = found.find(row.machine, source, row.row, "Machine", problems)
        if machine is None:
            continue
        if names[row.machine.lower()] > 1 and not set(row.ip_addresses) & set(machine.ip_addresses):
            continue  # the other row of a repeated name is this machine's
        if not row.ready:
            excluded.append(Exclusion(machine=row.machine, reason=f"{row.readiness}: {row.readiness_issues}"))
            continue
        types = _disk_types(machine, row, "Standard_LRS")
        if isinstance(types, str) or row.recommended_size is None:
            problems.append(
                Problem(
                    source=source,
                    row=row.row,
                    field="Recommended size" if row.recommended_size is None else "All_Assessed_Disks",
                    reason="a ready machine has no recommended size" if row.recommended_size is None else str(types),
                )
            )
            continue
        try:
            machines.append(
                _machine_plan(
                    machine,
                    name=azure_vm_name(machine.display_name),
                    size=row.recommended_size,
                    types=types,
                    os_disk=None,
                )
            )
        except ValidationError as exc:
            problems.append(_plan_problem(exc, source, row.row, "Machine"))
    assessed_names = set(names)
    excluded += [
        Exclusion(machine=m.display_name, reason="not in the assessment")
        for m in discovered
        if m.display_name.lower() not in assessed_names
    ]
    return _finish(settings, {settings.wave: machines} if machines else {}, excluded, problems, source)


def plan_from_csv(
    discovered: list[DiscoveredMachine],
    rows: list[CsvMachine],
    settings: PlanSettings,
    assessed: list[AssessedMachine] | None = None,
    source: str = "csv",
) -> WavePlan:
    """The rows marked OK_TO_MIGRATE=Y; with OK_TO_USE_ASSESSMENT=Y the assessment's size and disk
    types win over the CSV's, as in Microsoft's scripts."""
    found = _Discovered(discovered)
    by_name: dict[str, list[AssessedMachine]] = {}
    for a in assessed or []:
        by_name.setdefault(a.machine.lower(), []).append(a)
    problems: list[Problem] = []
    excluded: list[Exclusion] = []
    waves: dict[str, list[MachinePlan]] = {}
    for row in rows:
        machine = found.find(row.source_machine_name, source, row.row, "SOURCE_MACHINE_NAME", problems)
        if machine is None:
            continue
        if not row.ok_to_migrate:
            excluded.append(Exclusion(machine=row.source_machine_name, reason="OK_TO_MIGRATE is N"))
            continue
        matches = _assessed_for(machine, by_name) if row.ok_to_use_assessment and assessed is not None else []
        if len(matches) > 1:
            problems.append(
                Problem(
                    source=source,
                    row=row.row,
                    field="SOURCE_MACHINE_NAME",
                    reason=f"the assessment has {len(matches)} rows for '{row.source_machine_name}'",
                )
            )
            continue
        match = matches[0] if matches else None
        if match is not None and not match.ready:
            excluded.append(
                Exclusion(machine=row.source_machine_name, reason=f"{match.readiness}: {match.readiness_issues}")
            )
            continue
        size = (match.recommended_size if match else None) or row.target_machine_size
        types = _disk_types(machine, match, row.target_disk_type or "Standard_LRS")
        if size is None:
            problems.append(
                Problem(
                    source=source,
                    row=row.row,
                    field="TARGET_MACHINE_SIZE",
                    reason="empty, and no assessment gives a size (OK_TO_USE_ASSESSMENT with an assessment file)",
                )
            )
            continue
        if isinstance(types, str):
            problems.append(Problem(source=source, row=row.row, field="OK_TO_USE_ASSESSMENT", reason=types))
            continue
        if row.os_disk_id and row.os_disk_id not in {d.uuid for d in machine.disks}:
            problems.append(
                Problem(
                    source=source,
                    row=row.row,
                    field="OS_DISK_ID",
                    reason=f"'{row.os_disk_id}' is not a disk of {machine.display_name}",
                )
            )
            continue
        wave = row.wave or settings.wave
        if not WAVE_NAME.match(wave):
            problems.append(
                Problem(
                    source=source,
                    row=row.row,
                    field="WAVE",
                    reason=f"'{wave}' must be lower-case letters, digits and '-', at most 63",
                )
            )
            continue
        try:
            plan = _machine_plan(
                machine,
                name=row.target_machine_name,
                size=size,
                types=types,
                os_disk=row.os_disk_id,
                license_type=row.license_type or "NoLicenseType",
                sql_server_license_type=row.sql_server_license_type or "NoLicenseType",
                tags=row.vm_tags,
                target_subnet=row.target_subnet,
                test_subnet=row.test_subnet,
                perform_shutdown=row.turn_off_source,
                shutdown_opt_out_reason=row.shutdown_opt_out_reason,
            )
        except ValidationError as exc:
            problems.append(_plan_problem(exc, source, row.row, "TARGET_MACHINE_NAME"))
            continue
        waves.setdefault(wave, []).append(plan)
    return _finish(settings, waves, excluded, problems, source)
