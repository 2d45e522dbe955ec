"""The wave plan: which machines move, in which wave and maintenance window, to what in Azure.

Every field is validated where it is declared, so a plan that exists is a plan that can run: Azure
VM names follow Azure's rules, IANA time zones exist, opting out of the source shutdown or of the
test migration needs a written reason (DESIGN safety rules 1 and 2).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from wavelift.tasks.names import BLOCK_NAME_PATTERN, NAME_PATTERN, segment_problem, subnet_name_problem, vm_name_problem

MAX_BATCH = 100
OFFAZURE_MACHINE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.OffAzure/"
    r"(VMwareSites|HyperVSites|ServerSites)/[^/]+/machines/[^/]+$",
    re.IGNORECASE,
)
DiskType = Literal[
    "Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "PremiumV2_LRS", "UltraSSD_LRS", "StandardSSD_ZRS", "Premium_ZRS"
]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: list[str] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def iana_zone(value: str) -> str:
    """The value if it names an IANA time zone (tzdata), else a ValueError saying so."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London)") from None
    return value


def _local_time(value: object) -> object:
    """A wall-clock time of the window's own zone: 'HH:MM' or 'HH:MM:SS', never with an offset ('22:00Z' would
    look like UTC while meaning local time)."""
    if isinstance(value, str):
        if not LOCAL_TIME.match(value):
            raise ValueError(f"{value!r} must be a local time HH:MM (or HH:MM:SS), without a time zone offset")
        return time.fromisoformat(value)
    if isinstance(value, time) and value.tzinfo is not None:
        raise ValueError("a window's times are local to its time zone: give them without an offset")
    return value


LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
# The UI's form checks a JSON schema `format: time` as RFC 3339 (with an offset): a pattern is what a person types.
LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": LOCAL_TIME.pattern, "examples": ["22:00"]}),
]


class MaintenanceWindow(BaseModel):
    """When cutovers may run: days of the week and local start/end times in an IANA time zone.

    A window may cross midnight (22:00–04:00). Occurrences are computed in local time and then
    converted, so a window keeps its local hours across daylight-saving changes.
    """

    timezone: str = Field(default="Europe/London", description="IANA time zone, e.g. Europe/Berlin.")
    days: list[Weekday] = Field(
        default=WEEKDAYS,  # a default, not a factory: the UI's form then shows the days it means
        min_length=1,
        description="Days on which the window opens.",
    )
    start: LocalTime = Field(
        default=time(22, 0), description="Local time the window opens, HH:MM in the window's time zone."
    )
    end: LocalTime = Field(
        default=time(5, 0), description="Local time the window closes, HH:MM (earlier than start: the next day)."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return iana_zone(value)

    @model_validator(mode="after")
    def _not_empty(self) -> MaintenanceWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def _occurrence(self, day: date) -> tuple[datetime, datetime]:
        """The window opening on local `day`, in UTC (aware arithmetic in one zone ignores DST)."""
        zone = ZoneInfo(self.timezone)
        opens = datetime.combine(day, self.start, tzinfo=zone)
        closes = datetime.combine(day + timedelta(days=1) if self.end <= self.start else day, self.end, tzinfo=zone)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def next_opening(self, instant: datetime) -> datetime | None:
        """When the window next opens after `instant` (aware), in UTC; None when no day is allowed."""
        local = instant.astimezone(ZoneInfo(self.timezone)).date()
        openings = (
            self._occurrence(local + timedelta(days=n))[0]
            for n in range(8)
            if WEEKDAYS[(local + timedelta(days=n)).weekday()] in self.days
        )
        return next((o for o in openings if o > instant), None)

    def describe_closed(self, instant: datetime) -> str:
        """'closed until 22:00 Europe/London (Sat 2026-12-05)', for reports and run states."""
        opening = self.next_opening(instant)
        if opening is None:
            return "closed"
        local = opening.astimezone(ZoneInfo(self.timezone))
        return f"closed until {local:%H:%M} {self.timezone} ({local:%a %Y-%m-%d})"

    def open_at(self, instant: datetime) -> tuple[datetime, datetime] | None:
        """The window occurrence containing `instant` (aware), as (opens, closes) in UTC, or None."""
        local = instant.astimezone(ZoneInfo(self.timezone))
        for day in (local.date() - timedelta(days=1), local.date()):
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            opens, closes = self._occurrence(day)
            if opens <= instant < closes:
                return opens, closes
        return None


class PlannedDisk(BaseModel):
    """A source disk and the managed disk type it becomes."""

    uuid: str
    size_gb: int = Field(ge=0)
    is_os: bool
    disk_type: DiskType = "Standard_LRS"


MAX_DISKS = 63
MAX_DATA_DISK_GB = 32 * 1024
MAX_OS_DISK_GB = {"bios": 2 * 1024, "efi": 4 * 1024}


def disk_limit_problem(disks: list[PlannedDisk], firmware: str | None) -> str | None:
    """What Azure Migrate cannot migrate (Microsoft Learn, "Support matrix for VMware vSphere migration": up to
    2 TB OS disk for a gen 1 VM, 4 TB for gen 2, 32 TB data disks, 63 disks), and what Az.Migrate refuses: a
    Premium SSD V2 disk on a VM without an availability zone, which wavelift's plans do not set. None if fine."""
    if len(disks) > MAX_DISKS:
        return f"{len(disks)} disks: Azure Migrate migrates at most {MAX_DISKS} disks per machine"
    generation = "efi" if firmware == "efi" else "bios"
    for disk in disks:
        limit = MAX_OS_DISK_GB[generation] if disk.is_os else MAX_DATA_DISK_GB
        if disk.size_gb > limit:
            kind = f"the OS disk of a {'generation 2 (EFI)' if generation == 'efi' else 'generation 1 (BIOS)'} VM"
            what = kind if disk.is_os else "a data disk"
            return f"disk {disk.uuid} is {disk.size_gb} GB; {what} may be at most {limit} GB"
        if disk.disk_type == "PremiumV2_LRS":
            return f"disk {disk.uuid}: Premium SSD V2 needs a zonal VM (Az.Migrate); choose Premium_LRS"
    return None


class MachinePlan(BaseModel):
    """One server's migration: from which discovered machine to which Azure VM, and how."""

    source_type: Literal["vmware"] = Field(
        default="vmware", description="Source platform (its adapter in tasks/sources): VMware agentless."
    )
    source_name: str = Field(description="OffAzure machine name (also the Site Recovery migration item name).")
    machine_id: str = Field(description="ARM id of the discovered machine.")
    display_name: str
    os_type: Literal["Windows", "Linux"]
    target_vm_name: str
    target_vm_size: str
    disks: list[PlannedDisk] = Field(min_length=1)
    license_type: Literal["NoLicenseType", "WindowsServer"] = "NoLicenseType"
    sql_server_license_type: Literal["NoLicenseType", "PAYG", "AHUB"] = "NoLicenseType"
    target_subnet: str | None = Field(
        default=None, description="Subnet of the target network; empty means the target block's."
    )
    test_subnet: str | None = Field(
        default=None, description="Subnet of the test network; empty means the target block's."
    )
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)
    source_ip: str | None = None
    vcenter_id: str | None = Field(
        default=None, description="The vCenter that discovered the machine (its run-as account)."
    )
    app_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=list,
        max_length=20,
        description="TCP ports the server's application listens on: after cutover the smoke test probes them (and "
        "the OS's management port) from inside the Azure VM.",
    )
    firmware: Literal["bios", "efi"] | None = Field(
        default=None,
        description="The source's firmware as discovered: an EFI machine becomes a generation 2 VM, whose OS disk "
        "may be larger. Unknown is taken as BIOS.",
    )
    perform_shutdown: bool = Field(
        default=True, description="Shut the source down before the final sync (DESIGN rule 1)."
    )
    shutdown_opt_out_reason: str | None = Field(
        default=None, description="Why this machine migrates without a source shutdown."
    )
    test_waiver_reason: str | None = Field(
        default=None, description="Why this machine may cut over without a test migration and sign-off."
    )
    test_waived_by: str | None = Field(
        default=None, description="Who waived the test migration (name or e-mail); required with a waiver."
    )

    @model_validator(mode="after")
    def _consistent(self) -> MachinePlan:
        names = {"source_name": self.source_name, "display_name": self.display_name}
        for field, name in names.items():
            if reason := segment_problem(name):
                raise ValueError(
                    f"{field} {name!r} {reason}: a machine's name comes from discovery and is never a path"
                )
        if not OFFAZURE_MACHINE_ID.match(self.machine_id) or self.machine_id.rsplit("/", 1)[1] != self.source_name:
            raise ValueError(
                f"machine_id {self.machine_id!r} must be the discovered machine's ARM id, ending in "
                f"/machines/{self.source_name}"
            )
        for field, subnet in (("target_subnet", self.target_subnet), ("test_subnet", self.test_subnet)):
            if subnet is not None and (reason := subnet_name_problem(subnet)):
                raise ValueError(f"{field} {subnet!r} {reason}")
        reason = vm_name_problem(self.target_vm_name)
        if reason:
            raise ValueError(f"target_vm_name '{self.target_vm_name}' {reason}")
        if not self.target_vm_size.startswith(("Standard_", "Basic_")):
            raise ValueError(f"target_vm_size '{self.target_vm_size}' is not an Azure VM size")
        if sum(d.is_os for d in self.disks) != 1:
            raise ValueError("exactly one disk must be the OS disk")
        if reason := disk_limit_problem(self.disks, self.firmware):
            raise ValueError(reason)
        if not self.perform_shutdown and not (self.shutdown_opt_out_reason or "").strip():
            raise ValueError("opting out of the source shutdown needs shutdown_opt_out_reason")
        if self.test_waiver_reason is not None and not self.test_waiver_reason.strip():
            raise ValueError(
                "test_waiver_reason is blank: waiving the test migration needs a written reason (DESIGN rule 7)"
            )
        if self.test_waiver_reason and not (self.test_waived_by or "").strip():
            raise ValueError(
                "a test waiver needs test_waived_by: who waived the test is recorded with the reason (DESIGN rule 7)"
            )
        return self

    @property
    def test_waived(self) -> bool:
        """Whether the plan waives the test migration and sign-off, with a written reason (DESIGN rule 2)."""
        return bool((self.test_waiver_reason or "").strip())

    @property
    def waiver_note(self) -> str | None:
        """The test waiver as the cutover report and the as-built record show it: who waived it, and why."""
        return (
            f"test migration waived by {self.test_waived_by}: {self.test_waiver_reason}" if self.test_waived else None
        )

    @property
    def total_gb(self) -> int:
        return sum(d.size_gb for d in self.disks)


class Exclusion(BaseModel):
    """A machine left out of the plan, and why."""

    machine: str
    reason: str


class Wave(BaseModel):
    """Machines that replicate, test and cut over together, inside one maintenance window."""

    name: str = Field(pattern=NAME_PATTERN, description="Lower-case name used in run names and tags.")
    window: MaintenanceWindow = Field(default_factory=MaintenanceWindow)
    batch_size: int = Field(
        default=MAX_BATCH, ge=1, le=MAX_BATCH, description="Machines per replication batch (at most 100)."
    )
    cleanup_test: Literal["immediately", "after_signoff"] = Field(
        default="after_signoff", description="When test-migration VMs are removed."
    )
    machines: list[MachinePlan] = Field(default_factory=list)

    def batches(self) -> list[list[MachinePlan]]:
        """Largest machines first, cut into batches of at most `batch_size`: the unit of planning and reporting."""
        ordered = sorted(self.machines, key=lambda m: (-m.total_gb, m.source_name))
        return [ordered[i : i + self.batch_size] for i in range(0, len(ordered), self.batch_size)]


class WavePlan(BaseModel):
    """A whole migration plan: its waves and the machines left out with their reasons."""

    name: str = Field(pattern=NAME_PATTERN, description="The plan's name (the block document it is saved as).")
    target_block: str = Field(
        pattern=BLOCK_NAME_PATTERN, description="Name of the AzureMigrationTarget block the plan migrates to."
    )
    waves: list[Wave] = Field(
        min_length=1, description="The waves in order: each with its maintenance window, batches and machines."
    )
    excluded: list[Exclusion] = Field(
        default_factory=list, description="Discovered machines left out of every wave, each with the reason."
    )

    @model_validator(mode="after")
    def _unique(self) -> WavePlan:
        seen_sources: dict[str, str] = {}
        seen_targets: dict[str, str] = {}
        for wave in self.waves:
            for m in wave.machines:
                if m.source_name in seen_sources:
                    raise ValueError(
                        f"machine {m.display_name} is in waves {seen_sources[m.source_name]} and {wave.name}"
                    )
                if m.target_vm_name.lower() in seen_targets:
                    raise ValueError(
                        f"target VM name {m.target_vm_name} is used by {seen_targets[m.target_vm_name.lower()]} and "
                        f"{m.display_name}"
                    )
                seen_sources[m.source_name] = wave.name
                seen_targets[m.target_vm_name.lower()] = m.display_name
        if len({w.name for w in self.waves}) != len(self.waves):
            raise ValueError("wave names must be unique")
        return self

    def wave(self, name: str) -> Wave:
        for wave in self.waves:
            if wave.name == name:
                return wave
        raise LookupError(
            f"plan {self.name} has no wave {name!r}; choose one of {', '.join(w.name for w in self.waves)}"
        )
