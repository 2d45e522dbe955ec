"""Run the emulator over HTTPS on 127.0.0.1 and publish how to reach it in `connection.json`.

`serve()` is the CLI's blocking entry point (SIGINT/SIGTERM stop it and write the final state
export); `EmulatorThread` runs the same server in a background thread for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from wavelift.emulator.app import create_app
from wavelift.emulator.bootstrap import Emulator, build
from wavelift.emulator.certs import ensure_certificates
from wavelift.emulator.config import EmulatorConfig
from wavelift.emulator.files import PRIVATE, PUBLIC, write_atomic
from wavelift.emulator.inspection import export_state
from wavelift.emulator.workbook import write_assessment, write_migrate_csv


def connection_info(emu: Emulator, base_url: str, ca_cert: Path) -> dict[str, Any]:
    """What a client needs to reach the emulator; a superset of the documented contract."""
    cfg = emu.config
    return {
        "base_url": base_url,
        "ca_cert": str(ca_cert),
        "speed": cfg.speed,
        "tenant_id": cfg.tenant_id,
        "authority_host": base_url,
        "client_id": cfg.client_id,
        "client_secret": cfg.client_secret,
        "subscription_id": cfg.subscription_id,
        "resource_group": cfg.resource_group,
        "migrate_project": cfg.migrate_project,
        "vault": cfg.vault,
        "site": cfg.site,
        "appliance": cfg.appliance,
        "region": cfg.region,
        "secondary_region": cfg.secondary_region,
        "target_resource_group": cfg.target_resource_group,
        "target_network_id": emu.names["target_network_id"],
        "target_subnet": cfg.target_subnet,
        "test_network_id": emu.names["test_network_id"],
        "test_subnet": cfg.test_subnet,
        "fabric": emu.names["fabric"],
        "container": emu.names["container"],
        "policy_id": emu.names["policy_id"],
        "run_as_account_id": emu.names["run_as_account_id"],
        "vcenter_id": emu.discovery.vcenter_id,
        "log_storage_account_id": emu.names["log_storage_account_id"],
        "key_vault_id": emu.names["key_vault_id"],
        "key_vault_url": emu.key_vaults.vault_uri(cfg.key_vault),
        "san_path": str(cfg.san_dir),
        "backup_catalog_url": f"{base_url}/_onprem/backup",
        "onprem_url": f"{base_url}/_onprem",
    }


KEY_VAULT_ADDRESSES = 6  # Key Vaults one emulator serves: the migration's, its DR copy, and a few for tests


def _write_json(path: Path, data: Any, mode: int = PUBLIC) -> None:
    write_atomic(path, json.dumps(data, indent=2).encode(), mode)


def _loopback(port: int) -> socket.socket:
    """A listening-ready TCP socket on 127.0.0.1 (`port` 0: any free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited: no 40 ms Nagle/delayed-ACK stalls
    sock.bind(("127.0.0.1", port))
    return sock


class _Server:
    """One emulator bound to a loopback socket."""

    def __init__(self, config: EmulatorConfig, port: int = 0) -> None:
        config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.emulator = build(config)
        ca, cert, key = ensure_certificates(config.state_dir / "tls")
        self.socket = _loopback(port)
        self.base_url = f"https://127.0.0.1:{self.socket.getsockname()[1]}"
        # each Key Vault's data plane has an address of its own (the SDK takes a vault's URL to be a bare host)
        self.vault_sockets = [_loopback(0) for _ in range(KEY_VAULT_ADDRESSES)]
        self.emulator.key_vaults.endpoints = [f"https://127.0.0.1:{s.getsockname()[1]}" for s in self.vault_sockets]
        self.connection = connection_info(self.emulator, self.base_url, ca)
        machines = list(self.emulator.world.machines.values())
        self.connection["assessment_workbook"] = str(
            write_assessment(machines, config.state_dir / "assessment.xlsx", project=config.migrate_project)
        )
        self.connection["migrate_csv"] = str(
            write_migrate_csv(machines, config.state_dir / "migrate-at-scale.csv", self.connection)
        )
        self.uvicorn = uvicorn.Server(
            uvicorn.Config(
                create_app(self.emulator),
                ssl_certfile=str(cert),
                ssl_keyfile=str(key),
                log_level="warning",
                access_log=False,
                lifespan="off",
                date_header=False,
                timeout_keep_alive=30,
                timeout_graceful_shutdown=5,
            )
        )
        self.ready = threading.Event()

    async def run(self) -> None:
        serving = asyncio.create_task(self.uvicorn.serve(sockets=[self.socket, *self.vault_sockets]))
        while not self.uvicorn.started and not serving.done():
            await asyncio.sleep(0.02)
        if self.uvicorn.started:
            _write_json(self.emulator.config.state_dir / "connection.json", self.connection, PRIVATE)
            self.ready.set()
        await serving
        self.write_state()

    def write_state(self) -> Path:
        path = self.emulator.config.state_dir / "state.json"
        self.emulator.world.tick()
        _write_json(path, export_state(self.emulator))
        return path


def serve(config: EmulatorConfig, port: int = 0) -> None:
    """Serve until SIGINT or SIGTERM, then write `state.json` and return (exit status 0).

    The server runs in a thread so that the signals reach this handler rather than uvicorn's,
    which re-raises them after shutdown and would kill the process before the state is written.
    """
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with EmulatorThread(config, port):
        stop.wait()


class EmulatorThread:
    """The emulator in a daemon thread: `with EmulatorThread(config) as emu: emu.connection[...]`."""

    def __init__(self, config: EmulatorConfig, port: int = 0) -> None:
        self._server = _Server(config, port)
        self.emulator = self._server.emulator
        self.connection = self._server.connection
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.run()), name="wavelift-emulator", daemon=True
        )

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        while not self._server.ready.wait(0.02):
            if not self._thread.is_alive():
                raise RuntimeError("the emulator failed to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.uvicorn.should_exit = True
        self._server.uvicorn.force_exit = True  # tests and benchmarks do not wait for idle keep-alive connections
        self._thread.join(timeout=10)
