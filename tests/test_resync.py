"""Resync as a real action: after a failed cutover, resync-wave repairs the replication where Azure allows it,
a dry run first, and only the machines that need it (or that the operator names)."""

from __future__ import annotations

from tests.conftest import StartEmulator
from tests.test_lifecycle import _events, _replicated_plan
from wavelift.flows.cutover import CutoverRequest, cutover
from wavelift.flows.resync import ResyncRequest, resync_wave
from wavelift.flows.signoff import SignOffRequest, sign_off
from wavelift.flows.test_wave import test_wave as run_test_wave


def test_a_failed_cutover_is_resynced_after_a_dry_run(start_emulator: StartEmulator, prefect_server: None) -> None:
    emu, machines = _replicated_plan(start_emulator, "resync-a", 3, seed=37)
    run_test_wave("resync-a", "wave-1")
    sign_off(SignOffRequest(plan_name="resync-a", wave="wave-1", decision="approve", approver="olga", comment="ok"))
    emu.admin.add_fault(
        method="POST", path="/migrate$", lro_error={"code": "SourceVmShutdownFailed", "message": "no tools"}, count=1
    )
    (failed,) = [r.machine for r in cutover(CutoverRequest(plan_name="resync-a")) if r.outcome == "failed"]

    dry = {r.machine: r for r in resync_wave(ResyncRequest(plan_name="resync-a", wave="wave-1"))}
    assert (dry[failed].outcome, dry[failed].detail) == ("would resync", "MigrationFailed")
    assert {r.outcome for name, r in dry.items() if name != failed} == {
        "refused"
    }  # the others migrated: nothing to resync
    assert _events(emu, "resync_started") == []

    done = {r.machine: r for r in resync_wave(ResyncRequest(plan_name="resync-a", wave="wave-1", execute=True))}
    assert done[failed].outcome == "resynced"
    assert [e["machine"] for e in _events(emu, "resync_started")] == [failed]
