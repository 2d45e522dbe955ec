"""The on-prem datacenter the servers leave: power state, a backup catalog, and a SAN datastore.

The backup catalog is an HTTP service (which servers are in which backup jobs); the SAN datastore is a
real directory with one sparse file per virtual disk, as a site's VMFS/NFS export would show them.
"""

from __future__ import annotations

from pathlib import Path

from wavelift.emulator.errors import ArmError
from wavelift.emulator.estate import SourceMachine


def disk_file(root: Path, machine: SourceMachine, disk_name: str) -> Path:
    """Where a disk's flat file lives on the datastore: one folder per server, as VMware lays it out."""
    return root / machine.display_name / f"{machine.display_name}_{disk_name.replace(':', '_')}-flat.vmdk"


class OnPrem:
    """Backup jobs and datastore files of the seeded estate."""

    def __init__(self, machines: list[SourceMachine], san_root: Path) -> None:
        self.machines = machines
        self.san_root = san_root
        self.jobs: dict[str, list[str]] = {"weekly-full": [m.display_name for m in machines]}
        for machine in machines:
            self.jobs.setdefault(f"daily-{machine.os_type.lower()}", []).append(machine.display_name)
            if "-db-" in machine.display_name:
                self.jobs.setdefault("sql-log-shipping", []).append(machine.display_name)

    def create_datastore(self) -> None:
        """Write each disk as a sparse file of its real size (no space used), unless already there."""
        for machine in self.machines:
            for disk in machine.disks:
                path = disk_file(self.san_root, machine, disk.name)
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with path.open("wb") as handle:
                        handle.truncate(disk.size_gb * 1024**3)

    def datastore_files(self) -> dict[str, list[str]]:
        """Disk files still on the datastore, by server."""
        return {
            m.display_name: [str(p) for p in sorted((self.san_root / m.display_name).glob("*.vmdk"))]
            for m in self.machines
            if (self.san_root / m.display_name).is_dir()
        }

    def catalog(self) -> list[dict]:
        return [{"name": name, "servers": servers} for name, servers in sorted(self.jobs.items())]

    def jobs_of(self, server: str) -> list[str]:
        return sorted(name for name, servers in self.jobs.items() if server in servers)

    def remove_from_job(self, job: str, server: str) -> bool:
        """Take a server out of a backup job; False if it was not in it."""
        if job not in self.jobs:
            raise ArmError(404, "BackupJobNotFound", f"Backup job '{job}' does not exist.")
        if server not in self.jobs[job]:
            return False
        self.jobs[job].remove(server)
        return True
