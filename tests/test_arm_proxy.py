"""A site's HTTPS proxy: the ARM clients take HTTPS_PROXY and NO_PROXY from the environment when they are built
(requests would read the whole environment again for every request), through a real proxy on 127.0.0.1."""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import Emulated


class _Tunnel(socketserver.BaseRequestHandler):
    """An HTTP CONNECT proxy's handler: note the target, then pass bytes both ways until either side closes."""

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head and (chunk := self.request.recv(4096)):
            head += chunk
        _, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        self.server.connects.append(target)  # type: ignore[attr-defined]
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            ends = [self.request, upstream]
            while True:
                for ready in select.select(ends, [], [], 5)[0]:
                    data = ready.recv(65536)
                    if not data:
                        return
                    (upstream if ready is self.request else self.request).sendall(data)


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    """A CONNECT proxy on 127.0.0.1: its URL and the targets it was asked to reach."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Tunnel)
    server.daemon_threads = True
    server.connects = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.connects  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_arm_calls_go_through_the_environments_proxy(
    emu: Emulated, proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, connects = proxy
    endpoint = emu.connection["base_url"].split("://", 1)[1].rstrip("/")
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    monkeypatch.setenv("HTTPS_PROXY", url)
    proxied = emu.target.model_copy(update={"polling_interval": 2.0}).recovery_services_client()  # a client of its own
    monkeypatch.delenv("HTTPS_PROXY")  # taken when the client was built: the token request now goes direct
    assert [v.name for v in proxied.vaults.list_by_resource_group(emu.rg)] == [emu.vault]
    assert connects and set(connects) == {endpoint}

    built_before = emu.target.model_copy(update={"polling_interval": 4.0}).recovery_services_client()
    assert [v.name for v in built_before.vaults.list_by_resource_group(emu.rg)] == [emu.vault]  # its token, direct
    connects.clear()
    monkeypatch.setenv("HTTPS_PROXY", url)  # set after the client was built: its requests do not read it
    assert [v.name for v in built_before.vaults.list_by_resource_group(emu.rg)] == [emu.vault]
    assert connects == []

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = emu.target.model_copy(update={"polling_interval": 3.0}).recovery_services_client()
    assert [v.name for v in direct.vaults.list_by_resource_group(emu.rg)] == [emu.vault]
    assert connects == []
