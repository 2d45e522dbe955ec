"""Shared fixtures: an emulator per test (real HTTPS, real SDK clients) and a Prefect test server.

Prefect reads its settings at import, so its home and result storage are pointed at a temporary
folder before anything imports it: tests never touch the developer's ~/.prefect.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_PREFECT_HOME = tempfile.mkdtemp(prefix="wavelift-tests-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(Path(_PREFECT_HOME) / "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"

import pytest  # noqa: E402

from wavelift.blocks.azure import AzureMigrationTarget  # noqa: E402
from wavelift.emulator.admin import EmulatorAdmin  # noqa: E402
from wavelift.emulator.config import EmulatorConfig  # noqa: E402
from wavelift.emulator.server import EmulatorThread  # noqa: E402

StartEmulator = Callable[..., "Emulated"]  # the start_emulator fixture: start(**config overrides) -> Emulated
INTEGRATION_FIXTURES = {"prefect_server", "start_emulator", "emu", "replication_limit"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the emulator or a Prefect server are `integration`; the rest (pure rules, file readers,
    adapters on a temporary folder) are the fast layer: `make test-fast`, or `pytest -m "not integration"`."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


class Emulated:
    """A running emulator with an SDK-building target block and an admin client."""

    def __init__(self, thread: EmulatorThread, connection_file: Path) -> None:
        self.thread = thread
        self.connection = thread.connection
        self.connection_file = connection_file
        self.target = AzureMigrationTarget.from_emulator(connection_file)
        self.target.polling_interval = 0.01
        self.admin = EmulatorAdmin(self.connection)

    @property
    def rg(self) -> str:
        return self.connection["resource_group"]

    @property
    def vault(self) -> str:
        return self.connection["vault"]


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[Callable[..., Emulated]]:
    """Start an emulator with config overrides; all are stopped at the end of the test."""
    started: list[Emulated] = []

    def start(**overrides: Any) -> Emulated:
        options: dict[str, Any] = {
            "machines": 12,
            "seed": 7,
            "speed": 1000.0,
            "retry_after": 0,
            "state_dir": tmp_path / f"emu{len(started)}",
        }
        options.update(overrides)
        thread = EmulatorThread(EmulatorConfig(**options)).__enter__()
        emulated = Emulated(thread, Path(options["state_dir"]) / "connection.json")
        started.append(emulated)
        return emulated

    yield start
    for emulated in started:
        emulated.admin.close()
        emulated.thread.__exit__(None, None, None)


@pytest.fixture
def emu(start_emulator: Callable[..., Emulated]) -> Emulated:
    return start_emulator()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """A real Prefect API (SQLite) for the tests that save blocks or run flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def replication_limit(prefect_server: None) -> Callable[[int], None]:
    """Size the global initial-replication limit and zero its slots: the test server has no lease
    repossessor, so slots of runs that an earlier test killed would otherwise stay taken."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    from wavelift.tasks.limits import ensure_concurrency_limit
    from wavelift.tasks.replication import INITIAL_REPLICATION_LIMIT

    def set_limit(slots: int) -> None:
        ensure_concurrency_limit(INITIAL_REPLICATION_LIMIT, slots)
        with get_client(sync_client=True) as client:
            client.update_global_concurrency_limit(
                INITIAL_REPLICATION_LIMIT, GlobalConcurrencyLimitUpdate(active_slots=0)
            )

    return set_limit
