"""A Prefect server and workers as child processes on 127.0.0.1: what the demo and the end-to-end tests
run, the way an operator would (`prefect server start`, `prefect worker start`).

The server keeps concurrency leases on disk (a restart does not leak the replication slots) and sends
no telemetry. Everything started here is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

import httpx

FILESYSTEM_LEASES = "prefect.server.concurrency.lease_storage.filesystem"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
PRIVATE_UMASK = 0o077
WORKER_QUERY_SECONDS = 2  # how often a worker asks for scheduled runs


def children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc): a process worker's flow runs."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prefect() -> list[str]:
    return [sys.executable, "-m", "prefect"]


class LocalPrefect:
    """`prefect server start` on 127.0.0.1 (SQLite under `home`, or `database_url`), plus workers on demand."""

    def __init__(self, home: Path, port: int = 0, database_url: str | None = None, log_dir: Path | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir or home / "logs"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": FILESYSTEM_LEASES,
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_WORKER_QUERY_SECONDS": str(WORKER_QUERY_SECONDS),
        }
        if database_url:
            self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
        self.processes: list[subprocess.Popen] = []

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_fd = os.open(self.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(log_fd, "ab") as log:
            # umask 077: the server's database holds the block secrets and the key that decrypts them
            process = subprocess.Popen(
                args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, umask=PRIVATE_UMASK
            )
        self.processes.append(process)
        return process

    def start(self, timeout: float = 120.0) -> LocalPrefect:
        """Start the server and wait until its API answers."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        server = self._start(
            "server",
            [*_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(self.port), "--analytics-off"],
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(
                    f"the Prefect server exited with {server.returncode}; see {self.log_dir / 'server.log'}"
                )
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"the Prefect server did not answer within {timeout:.0f} s; see {self.log_dir / 'server.log'}"
        )

    def start_worker(self, pool: str, name: str, limit: int | None = None) -> subprocess.Popen:
        """A process worker polling `pool` every two seconds (Prefect's default is ten: each run an operator or the
        demo starts would wait up to that long); its flow runs are child processes with the same settings."""
        args = [*_prefect(), "worker", "start", "--pool", pool, "--name", name, "--type", "process"]
        return self._start(f"worker-{name}", args + (["--limit", str(limit)] if limit else []))

    def stop(self) -> None:
        """Stop the flow runs the workers started (each in a session of its own), the workers, then the server."""
        runs = [pid for process in self.processes for pid in children(process.pid)]
        for pid in runs:
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in runs) and time.monotonic() < deadline:
            time.sleep(0.2)
        self._end_interrupted_runs()
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in runs:
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.processes.clear()

    def _end_interrupted_runs(self) -> None:
        """Flow runs stopped with the server would show Running for good (no process is left to end them):
        end them Crashed, saying why, so the run history tells what happened."""
        try:
            found = httpx.post(
                f"{self.api_url}/flow_runs/filter",
                timeout=10,
                json={"flow_runs": {"state": {"type": {"any_": ["RUNNING", "PENDING", "CANCELLING"]}}}},
            )
            for run in found.json() if found.status_code == 200 else []:
                httpx.post(
                    f"{self.api_url}/flow_runs/{run['id']}/set_state",
                    timeout=10,
                    json={
                        "force": True,
                        "state": {
                            "type": "CRASHED",
                            "name": "Crashed",
                            "message": "Interrupted: wavelift stopped the worker and the server",
                        },
                    },
                )
        except httpx.TransportError:  # the server is gone already: there is nothing left to record it in
            pass

    def __enter__(self) -> LocalPrefect:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


async def _database(action: str, name: str) -> None:
    """Drop the database `name` on the machine's PostgreSQL (127.0.0.1:5432, user postgres), and create it anew."""
    import asyncpg  # Prefect's own PostgreSQL driver

    connection = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@contextmanager
def postgres_prefect(home: Path | None = None, database: str | None = None) -> Iterator[LocalPrefect]:
    """A Prefect server on a PostgreSQL database made for it (dropped afterwards), with PREFECT_API_URL
    pointed at it: how a team runs Prefect for waves of hundreds of machines (the scale-out test, the
    benchmarks). `home` defaults to a new temporary folder; `database`, letters, digits and underscores,
    to one named after this process."""
    import tempfile

    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = home or Path(tempfile.mkdtemp(prefix="wavelift-prefect-"))
    database = database or f"wavelift_{os.getpid()}"
    if not database.replace("_", "").isalnum():
        raise ValueError(f"database name {database!r}: use letters, digits and underscores")
    asyncio.run(_database("create", database))
    try:
        with (
            LocalPrefect(home, database_url=POSTGRES + database) as server,
            temporary_settings(updates={PREFECT_API_URL: server.api_url}),
        ):
            yield server
    finally:
        asyncio.run(_database("drop", database))
