"""On-prem adapters: the backup catalog a server leaves, the datastore its disks sit on (the clean-up), and
the hypervisor that powers a source server on again (a roll back).

A site plugs in its own by subclassing `BackupCatalog`, `DiskDatastore` or `SourcePower` (a Veeam or
Commvault API, a vSphere datastore browser, vCenter's VM power API) and naming the saved block as
`<block-type-slug>/<block-name>` in the `CleanupPolicy` or the roll-back request. wavelift ships HTTP
adapters and a mounted datastore folder; the emulator serves all of them.
"""

from __future__ import annotations

import fnmatch
import os
import ssl
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import quote

import httpx
from prefect.blocks.core import Block
from pydantic import BaseModel, Field, SecretStr, field_validator

from wavelift.tasks.names import segment_problem

DECOMMISSION_DOCS = (
    "https://learn.microsoft.com/azure/migrate/migrate-best-practices-costs"
    "#best-practice-decommission-on-premises-resources"
)


class ConfinementError(ValueError):
    """An adapter was asked to touch something outside the one server it acts for (DESIGN rule 8).

    Nothing was changed: the refusal comes before any deletion or removal."""


def server_segment(server: str) -> str:
    """The server's name if it can stand as one path or URL segment, else a `ConfinementError` saying why."""
    if reason := segment_problem(server):
        raise ConfinementError(f"server name {server!r} {reason}; an adapter acts only on one server's own entry")
    return server


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
    def delete(self, server: str, disk: DiskFile) -> None:
        """Delete one of the server's disk files; a file already gone is not an error, a file that is not
        the server's own is refused (`ConfinementError`) before anything is deleted."""


class SourcePower(Block, ABC):
    """A source server's power, as the hypervisor that runs it reports and changes it. A roll back loads the block
    once and calls it from several threads at once (one a machine): a subclass keeps no per-call state on itself."""

    @abstractmethod
    def power_state(self, server: str) -> str:
        """`ON` or `OFF` (anything else is the hypervisor's own word)."""

    @abstractmethod
    def power_on(self, server: str) -> None:
        """Power the server on; doing it twice is harmless."""


class HttpEndpoint(BaseModel):
    """An on-prem API over HTTPS: its base URL, the CA to trust, an optional bearer token. Names travel as
    single quoted path segments (`a/../b` is `a%2F..%2Fb`, one segment), so a name never reaches another
    server's entry."""

    url: str = Field(description="Base URL of the API, e.g. https://backup.corp.example/api.")
    ca_bundle: str | None = Field(default=None, description="Path of a CA bundle to trust for a private certificate.")
    api_token: SecretStr | None = Field(default=None, description="Bearer token, if the API needs one.")
    timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for an answer.")

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_token.get_secret_value()}"} if self.api_token else {}
        return httpx.Client(
            base_url=self.url.rstrip("/"),
            verify=ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else True,
            headers=headers,
            timeout=self.timeout_seconds,
        )

    @staticmethod
    def _path(*segments: str) -> str:
        return "".join(f"/{quote(server_segment(s), safe='')}" for s in segments)


class HttpSourcePower(HttpEndpoint, SourcePower):
    """Source servers' power over HTTPS: `GET {url}/{server}` answers its `power_state`, `POST
    {url}/{server}/powerOn` powers it on (the emulator serves it at `<base_url>/_onprem/machines`; a site
    puts the same two calls in front of vCenter).

    Example:
        ```python
        from wavelift.blocks.onprem import HttpSourcePower
        power = HttpSourcePower.load("BLOCK_NAME")
        print(power.power_state("web-01"))
        ```
    """

    _block_type_name = "wavelift HTTP Source Power"
    _block_type_slug = "wavelift-http-source-power"
    _documentation_url = "https://learn.microsoft.com/azure/migrate/tutorial-migrate-vmware"

    def _answer(self, response: httpx.Response, server: str) -> str:
        response.raise_for_status()
        body = response.json()
        if body.get("display_name", server) != server:
            raise ConfinementError(f"the hypervisor answered for {body['display_name']!r} when asked about {server!r}")
        return str(body["power_state"])

    def power_state(self, server: str) -> str:
        with self._client() as client:
            return self._answer(client.get(self._path(server)), server)

    def power_on(self, server: str) -> None:
        with self._client() as client:
            self._answer(client.post(self._path(server) + "/powerOn"), server)


class HttpBackupCatalog(HttpEndpoint, BackupCatalog):
    """A backup catalog served over HTTPS: `GET {url}/servers/{server}` lists a server's jobs,
    `DELETE {url}/jobs/{job}/servers/{server}` takes it out of one.

    Example:
        ```python
        from wavelift.blocks.onprem import HttpBackupCatalog
        catalog = HttpBackupCatalog.load("BLOCK_NAME")
        print(catalog.jobs_of("web-01"))
        ```
    """

    _block_type_name = "wavelift HTTP Backup Catalog"
    _block_type_slug = "wavelift-http-backup-catalog"
    _documentation_url = DECOMMISSION_DOCS

    def jobs_of(self, server: str) -> list[str]:
        with self._client() as client:
            response = client.get(self._path("servers", server))
        if response.status_code == 404:
            return []
        response.raise_for_status()
        body = response.json()
        if body.get("server", server) != server:
            raise ConfinementError(f"the catalog answered for {body['server']!r} when asked about {server!r}")
        return sorted(server_segment(job) for job in body["jobs"])

    def remove_from_job(self, job: str, server: str) -> None:
        with self._client() as client:
            response = client.delete(self._path("jobs", job, "servers", server))
        if response.status_code not in (200, 204, 404):
            response.raise_for_status()


class LocalDatastore(DiskDatastore):
    """A datastore mounted as a folder (NFS, or a VMFS export), one folder per server as VMware lays it out.

    Everything it touches is a regular file directly in the folder named exactly as the server: a name
    with a separator, a folder or file that is a symbolic link, or a pattern that leaves the folder is
    refused before anything is deleted.

    Example:
        ```python
        from wavelift.blocks.onprem import LocalDatastore
        store = LocalDatastore.load("BLOCK_NAME")
        print(store.disk_files("web-01"))
        ```
    """

    _block_type_name = "wavelift Local Datastore"
    _block_type_slug = "wavelift-local-datastore"
    _documentation_url = DECOMMISSION_DOCS

    root: str = Field(description="Folder where the datastore is mounted (an absolute path).")
    pattern: str = Field(
        default="*-flat.vmdk",
        description="Which file names in a server's folder are its raw disks (a glob of one file name).",
    )

    @field_validator("root")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not Path(value).is_absolute():
            raise ValueError(f"root {value!r} must be an absolute path")
        return value

    @field_validator("pattern")
    @classmethod
    def _one_file_name(cls, value: str) -> str:
        if reason := segment_problem(value) or ("contains '**'" if "**" in value else None):
            raise ValueError(
                f"pattern {value!r} {reason}: it matches file names inside one server's folder, never a path"
            )
        return value

    def _folder(self, server: str) -> Path | None:
        """The server's own folder (None when it has none); refused when the name or the folder could lead elsewhere."""
        root = Path(self.root).resolve()
        folder = root / server_segment(server)
        if not os.path.lexists(folder):
            return None
        if folder.is_symlink() or not folder.is_dir():
            raise ConfinementError(
                f"{folder} is not a folder of the datastore (a symbolic link or a file); nothing there is touched"
            )
        if server not in os.listdir(root):  # a case-insensitive mount finds WEB-01 for web-01: not this server's folder
            raise ConfinementError(f"the datastore has no folder named exactly {server!r}")
        return folder

    def _own_file(self, folder: Path, path: Path) -> Path:
        """`path` if it is a regular file directly in `folder` whose name matches the pattern; refused otherwise."""
        if path.parent != folder or not fnmatch.fnmatchcase(path.name, self.pattern):
            raise ConfinementError(f"{path} is not one of the disk files ({self.pattern}) in {folder}")
        if path.is_symlink() or path.resolve().parent != folder.resolve():
            raise ConfinementError(f"{path} is a symbolic link out of {folder}; nothing there is touched")
        return path

    def disk_files(self, server: str) -> list[DiskFile]:
        folder = self._folder(server)
        if folder is None:
            return []
        files = [
            self._own_file(folder, p) for p in sorted(folder.iterdir()) if fnmatch.fnmatchcase(p.name, self.pattern)
        ]
        return [DiskFile(path=str(p), size_bytes=p.stat().st_size) for p in files if p.is_file()]

    def delete(self, server: str, disk: DiskFile) -> None:
        path = Path(os.path.normpath(disk.path))
        if path.parent != Path(self.root).resolve() / server_segment(server):
            raise ConfinementError(f"{disk.path} is not in the datastore folder of {server}; nothing was deleted")
        folder = self._folder(server)
        if folder is not None:
            self._own_file(folder, path).unlink(missing_ok=True)
