"""The seeded sample estate: the on-prem servers the emulator pretends to have discovered.

Reproducible from a seed: an OS mix, 1–3 disks with heavy-tailed sizes (or, for benchmarks, a flat
estate of 100–800 GB servers), IPs in a few datacenter subnets, application groups, and a share of
servers that Azure Migrate would not call ready.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Literal

DiskProfile = Literal["heavy-tailed", "flat"]

OS_MIX: list[tuple[str, str, float]] = [
    ("Windows", "Microsoft Windows Server 2019 (64-bit)", 0.30),
    ("Windows", "Microsoft Windows Server 2016 (64-bit)", 0.20),
    ("Windows", "Microsoft Windows Server 2022 (64-bit)", 0.10),
    ("Linux", "Red Hat Enterprise Linux 8 (64-bit)", 0.15),
    ("Linux", "Ubuntu Linux (64-bit)", 0.15),
    ("Linux", "CentOS 7 (64-bit)", 0.05),
    ("Windows", "Microsoft Windows Server 2008 R2 (64-bit)", 0.05),
]
APP_GROUPS = ["crm", "erp", "web", "payroll", "intranet", "reporting", "mail", "files"]
ROLES = ["app", "db", "web", "svc"]
SIZES_BY_CORES = {
    1: "Standard_B2s",
    2: "Standard_D2s_v3",
    4: "Standard_D4s_v3",
    8: "Standard_D8s_v3",
    16: "Standard_E16s_v3",
}
NOT_READY_REASONS = [
    "The disk size is greater than the maximum supported size (32 TB).",
    "The operating system is not supported in Azure.",
    "The boot type UEFI with secure boot is not supported for this operating system.",
]


@dataclass
class SourceDisk:
    """One VMware virtual disk of a source server."""

    uuid: str
    name: str  # VMware's controller position, e.g. scsi0:0
    size_gb: int
    is_os: bool


@dataclass
class SourceMachine:
    """One discovered on-prem server and what Azure Migrate's assessment says about it."""

    name: str  # the OffAzure machine name, which is also the migration item's name
    display_name: str
    os_type: str
    os_name: str
    cores: int
    memory_mb: int
    firmware: str
    disks: list[SourceDisk]
    ip: str
    mac: str
    app_group: str
    readiness: str
    readiness_issue: str
    recommended_size: str
    power_state: str = "ON"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def total_gb(self) -> int:
        return sum(d.size_gb for d in self.disks)


def _disk_size(rng: random.Random, is_os: bool) -> int:
    """OS disks are small; data disks follow a log-normal (heavy-tailed) size, capped at 4 TiB."""
    if is_os:
        return rng.choice([40, 60, 80, 100, 128])
    return int(min(4095, max(16, rng.lognormvariate(5.0, 1.0))))


def _flat_disks(rng: random.Random, count: int) -> list[int]:
    """A server of 100–800 GB in all, its data disks of equal size: no single disk dominates a wave, so the
    total seeding divided by the slots is the bound a scheduler can reach."""
    total = rng.randint(100, 800)
    if count == 1:
        return [total]
    os_disk = rng.choice([40, 60, 80])
    return [os_disk] + [(total - os_disk) // (count - 1)] * (count - 1)


def generate(count: int, seed: int, profile: DiskProfile = "heavy-tailed") -> list[SourceMachine]:
    """Build `count` servers deterministically from `seed`."""
    rng = random.Random(seed)
    weights = [w for _, _, w in OS_MIX]
    machines: list[SourceMachine] = []
    for index in range(count):
        os_type, os_name, _ = rng.choices(OS_MIX, weights)[0]
        group = rng.choice(APP_GROUPS)
        role = rng.choice(ROLES)
        display = f"{group}-{role}-{index + 1:04d}"
        disk_count = rng.choices([1, 2, 3], [0.4, 0.4, 0.2])[0]
        flat = iter(_flat_disks(rng, disk_count)) if profile == "flat" else None
        disks = [
            SourceDisk(
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                f"scsi0:{d}",
                next(flat) if flat else _disk_size(rng, d == 0),  # heavy-tailed draws stay where they always were
                d == 0,
            )
            for d in range(disk_count)
        ]
        cores = rng.choice(list(SIZES_BY_CORES))
        roll = rng.random()
        if "2008" in os_name or roll < 0.05:
            readiness, issue = (
                "Not Ready For Azure",
                rng.choice(NOT_READY_REASONS) if "2008" not in os_name else NOT_READY_REASONS[1],
            )
        elif roll < 0.15:
            readiness, issue = "Ready For Azure With Conditions", "Conditionally endorsed operating system."
        else:
            readiness, issue = "Ready For Azure", "Not applicable"
        subnet = 10 + index // 250
        machines.append(
            SourceMachine(
                name=f"{uuid.UUID(int=rng.getrandbits(128), version=4)}_{display}",
                display_name=display,
                os_type=os_type,
                os_name=os_name,
                cores=cores,
                memory_mb=cores * 4096,
                firmware=rng.choice(["BIOS", "BIOS", "UEFI"]),
                disks=disks,
                ip=f"172.21.{subnet}.{index % 250 + 4}",
                mac=":".join(f"{rng.randrange(256):02x}" for _ in range(6)),
                app_group=group,
                readiness=readiness,
                readiness_issue=issue,
                recommended_size=SIZES_BY_CORES[cores],
                tags={"app": group, "role": role},
            )
        )
    return machines
