"""On-prem adapters for the clean-up: the backup catalog a server leaves and the datastore its disks sit on.

A site plugs in its own by subclassing `BackupCatalog` or `DiskDatastore` (a Veeam or Commvault API, a
vSphere datastore browser) and naming the saved block as `<block-type-slug>/<block-name>` in the
`CleanupPolicy`. wavelift ships an HTTP catalog and a mounted datastore folder; the emulator serves both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import httpx
from prefect.blocks.core import Block
from pydantic import BaseModel, Field, SecretStr

ONPREM_LOGO = "https://cdn.sanity.io/images/3ugk85nk/production/54e3fa7e00197a4fbd1d82ed62494cb58d08c96a-250x250.png"


class DiskFile(BaseModel):
    """One raw disk file of a server on the datastore."""

    path: str
    size_bytes: int


class BackupCatalog(Block, ABC):
    """Which local backup jobs protect a server, and taking it out of them."""

    @abstractmethod
    def jobs_of(self, server: str) -> list[str]:
        """Names of the backup jobs that include the server (empty when none or unknown)."""

    @abstractmethod
    def remove_from_job(self, job: str, server: str) -> None:
        """Take the server out of one job; doing it twice is harmless."""


class DiskDatastore(Block, ABC):
    """The raw disk files of a server on SAN storage, and deleting them."""

    @abstractmethod
    def disk_files(self, server: str) -> list[DiskFile]:
        """The server's disk files still on the datastore."""

    @abstractmethod
    def delete(self, disk: DiskFile) -> None:
        """Delete one disk file; a file already gone is not an error."""


class HttpBackupCatalog(BackupCatalog):
    """A backup catalog served over HTTPS: `GET {url}/servers/{server}` lists a server's jobs,
    `DELETE {url}/jobs/{job}/servers/{server}` takes it out of one.

    Example:
        ```python
        from blocks.onprem import HttpBackupCatalog
        catalog = HttpBackupCatalog.load("BLOCK_NAME")
        print(catalog.jobs_of("web-01"))
        ```
    """

    _block_type_name = "wavelift HTTP Backup Catalog"
    _block_type_slug = "wavelift-http-backup-catalog"
    _logo_url = ONPREM_LOGO
    _documentation_url = "https://learn.microsoft.com/azure/migrate/migrate-best-practices-costs#best-practice-decommission-on-premises-resources"

    url: str = Field(description="Base URL of the catalog API, e.g. https://backup.corp.example/api.")
    ca_bundle: str | None = Field(default=None, description="Path of a CA bundle to trust for a private certificate.")
    api_token: SecretStr | None = Field(default=None, description="Bearer token, if the catalog needs one.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Seconds to wait for an answer.")

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_token.get_secret_value()}"} if self.api_token else {}
        return httpx.Client(base_url=self.url.rstrip("/"), verify=self.ca_bundle or True, headers=headers, timeout=self.timeout_seconds)

    def jobs_of(self, server: str) -> list[str]:
        with self._client() as client:
            response = client.get(f"/servers/{server}")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json()["jobs"])

    def remove_from_job(self, job: str, server: str) -> None:
        with self._client() as client:
            response = client.delete(f"/jobs/{job}/servers/{server}")
        if response.status_code not in (200, 204, 404):
            response.raise_for_status()


class LocalDatastore(DiskDatastore):
    """A datastore mounted as a folder (NFS, or a VMFS export), one folder per server as VMware lays it out.

    Example:
        ```python
        from blocks.onprem import LocalDatastore
        store = LocalDatastore.load("BLOCK_NAME")
        print(store.disk_files("web-01"))
        ```
    """

    _block_type_name = "wavelift Local Datastore"
    _block_type_slug = "wavelift-local-datastore"
    _logo_url = ONPREM_LOGO
    _documentation_url = "https://learn.microsoft.com/azure/migrate/migrate-best-practices-costs#best-practice-decommission-on-premises-resources"

    root: str = Field(description="Folder where the datastore is mounted.")
    pattern: str = Field(default="*-flat.vmdk", description="Which files in a server's folder are its raw disks.")

    def _folder(self, server: str) -> Path:
        root = Path(self.root).resolve()
        folder = (root / server).resolve()
        if folder.parent != root:
            raise ValueError(f"server name {server!r} does not name a folder directly under the datastore {root}")
        return folder

    def disk_files(self, server: str) -> list[DiskFile]:
        folder = self._folder(server)
        return [DiskFile(path=str(p), size_bytes=p.stat().st_size) for p in sorted(folder.glob(self.pattern))] if folder.is_dir() else []

    def delete(self, disk: DiskFile) -> None:
        path = Path(disk.path).resolve()
        if path.parent.parent != Path(self.root).resolve():
            raise ValueError(f"{path} is not a server's disk file on the datastore {self.root}")
        path.unlink(missing_ok=True)
