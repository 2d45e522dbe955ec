"""A client for the emulator's own endpoints (inspection, faults, throttling, clock), for tests,
benchmarks and the demo. Azure itself is only ever reached through the SDK clients."""

from __future__ import annotations

import ssl
from typing import Any

import httpx


class EmulatorAdmin:
    """Talks to `/_emulator/*` and `/_onprem/*` of a running emulator, trusting its CA."""

    def __init__(self, connection: dict[str, Any]) -> None:
        self._http = httpx.Client(
            base_url=connection["base_url"], verify=ssl.create_default_context(cafile=connection["ca_cert"]), timeout=30
        )

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/stats")

    def reset_stats(self) -> None:
        self._call("DELETE", "/_emulator/stats")

    def history(self) -> dict[str, list[dict[str, Any]]]:
        return self._call("GET", "/_emulator/history")

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/state")

    def add_fault(self, **rule: Any) -> None:
        self._call("POST", "/_emulator/faults", rule)

    def faults(self) -> list[dict[str, Any]]:
        """The active fault rules, each with how often it fired."""
        return self._call("GET", "/_emulator/faults")["faults"]

    def set_throttle(self, **limits: Any) -> None:
        self._call("PUT", "/_emulator/throttle", limits)

    def skip(self, seconds: float) -> dict[str, Any]:
        """Move emulated time forward (seeding, delta cycles and LROs advance accordingly)."""
        return self._call("POST", "/_emulator/clock", {"skip_seconds": seconds})

    def onprem(self, method: str, path: str) -> httpx.Response:
        return self._http.request(method, f"/_onprem{path}")

    def close(self) -> None:
        self._http.close()
