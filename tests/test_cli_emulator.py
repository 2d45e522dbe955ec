"""`wavelift emulator` as users run it: a process that serves HTTPS on 127.0.0.1, publishes
connection.json, serves an SDK-only script, and stops cleanly on SIGTERM with a state export."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WAVELIFT = str(Path(sys.executable).with_name("wavelift"))
CONTRACT = {
    "base_url",
    "ca_cert",
    "subscription_id",
    "resource_group",
    "migrate_project",
    "vault",
    "site",
    "target_resource_group",
    "target_network_id",
    "target_subnet",
    "test_network_id",
    "test_subnet",
    "secondary_region",
}


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        assert process.poll() is None, process.stderr.read() if process.stderr else "emulator exited"
        time.sleep(0.1)
    raise AssertionError("connection.json never appeared")


def test_an_sdk_only_script_migrates_a_machine_then_sigterm_stops_cleanly(tmp_path: Path) -> None:
    state_dir = tmp_path / "emu"
    process = subprocess.Popen(
        [WAVELIFT, "emulator", "--machines", "5", "--seed", "3", "--speed", "2000", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        connection = _wait_for(state_dir / "connection.json", process)
        assert CONTRACT <= set(connection)
        assert connection["base_url"].startswith("https://127.0.0.1:")
        script = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).parent / "scripts" / "migrate_one_machine.py"),
                str(state_dir / "connection.json"),
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert script.returncode == 0, script.stderr
        assert "migrated independent-vm PowerState/running 10.20.0.4" in script.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    state = json.loads((state_dir / "state.json").read_text())
    migrated = [
        m for m in state["machines"] if m["migration_item"] and m["migration_item"]["state"] == "MigrationSucceeded"
    ]
    assert len(migrated) == 1 and migrated[0]["power_state"] == "OFF"


@pytest.mark.parametrize(("args", "message"), [(["--speed", "0"], "speed"), (["--machines", "-1"], "machines")])
def test_bad_arguments_are_refused_with_the_field_named(tmp_path: Path, args: list[str], message: str) -> None:
    result = subprocess.run(
        [WAVELIFT, "emulator", "--state-dir", str(tmp_path), *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "connection.json").exists()
