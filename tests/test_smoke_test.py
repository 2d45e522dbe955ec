"""The post-migration smoke test: Run Command on the migrated VMs (served by the emulator, refused as Azure
refuses it), and a wave whose application does not listen where the plan says fails that machine."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as cm

from tests.conftest import Emulated, StartEmulator
from tests.test_compute_network import _vm
from tests.test_lifecycle import _events, _saved_plan
from wavelift.blocks.plan import WavePlanBlock
from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave
from wavelift.flows.smoke_test import smoke_test_wave
from wavelift.tasks.smoke_test import probe_script


def test_run_command_runs_the_probe_only_on_a_running_vm_with_its_oss_command(emu: Emulated) -> None:
    """Learn, "Run scripts in your Linux VM by using action Run Commands": `RunShellScript` on Linux."""
    rg, compute = emu.connection["target_resource_group"], emu.target.compute_client()
    _vm(emu, "probe-01", os_type="Linux")
    emu.admin.skip(60)  # started
    run = compute.virtual_machines.begin_run_command
    with pytest.raises(HttpResponseError, match="RunShellScript"):
        run(rg, "probe-01", cm.RunCommandInput(command_id="RunPowerShellScript", script=["Get-Date"])).result()
    result = run(
        rg, "probe-01", cm.RunCommandInput(command_id="RunShellScript", script=probe_script("Linux", [22, 80]))
    )
    (status,) = result.result().value
    assert status.code == "ProvisioningState/succeeded" and "22 open\n80 closed" in status.message
    compute.virtual_machines.begin_power_off(rg, "probe-01").result()
    with pytest.raises(HttpResponseError, match="to be running"):
        run(rg, "probe-01", cm.RunCommandInput(command_id="RunShellScript", script=["true"])).result()


def test_a_migrated_vm_whose_application_does_not_listen_fails_the_smoke_test(
    start_emulator: StartEmulator, replication_limit: Callable[[int], None]
) -> None:
    replication_limit(100)
    emu: Emulated = start_emulator(machines=4, seed=61, speed=3000)
    plan = _saved_plan(emu, "smoke-a")
    first, *rest = plan.waves[0].machines
    plan.waves[0].machines[0] = first.model_copy(update={"app_ports": [9999]})  # nothing listens there
    WavePlanBlock.of(plan).save("smoke-a", overwrite=True)

    outcome = migrate_wave(
        MigrateWaveRequest(plan_name="smoke-a", wave="wave-1", poll_interval=0.3, pre_approved_by="sam"),
        return_state=True,
    )
    tests = {t.machine: t for t in outcome.result().smoke_tests}
    assert sorted(tests) == sorted(m.display_name for m in plan.waves[0].machines)
    assert not tests[first.display_name].ok and tests[first.display_name].closed == [9999]
    assert all(tests[m.display_name].ok for m in rest)
    assert outcome.name == "1 failed" and "NOT listening on 9999" in (outcome.message or "")
    assert len(_events(emu, "migrate_started")) == len(plan.waves[0].machines), "the smoke test changes nothing"

    again = smoke_test_wave("smoke-a", "wave-1", return_state=True)  # any time again, changing nothing
    assert again.name == "1 failed"
