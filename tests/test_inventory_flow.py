"""The inventory flow on a real Prefect API against the emulator: discovery through the block-built
SDK pipeline, the vault's replication infrastructure, and the artifacts reviewers read."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from tests.conftest import Emulated, StartEmulator
from wavelift.flows.inventory import inventory


async def _latest_artifact(key: str):
    async with get_client() as client:
        artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return max(artifacts, key=lambda a: a.created)


def test_inventory_discovers_every_machine_across_pages(start_emulator, prefect_server: None) -> None:
    emu: Emulated = start_emulator(machines=23, page_size=10)
    emu.target.save("inventory-target", overwrite=True)
    report = inventory("inventory-target")
    state = emu.admin.state()
    assert sorted(m.display_name for m in report.machines) == sorted(m["display_name"] for m in state["machines"])
    assert report.infrastructure.fabric == emu.connection["fabric"]
    assert report.infrastructure.container == emu.connection["container"]
    assert report.infrastructure.policy_id == emu.connection["policy_id"]
    assert report.infrastructure.run_as_account_id == emu.connection["run_as_account_id"]
    infra = report.infrastructure  # each machine's run-as account is its own vCenter's, as Az.Migrate follows vCenterId
    assert {infra.run_as_for(m.vcenter_id) for m in report.machines} == {emu.connection["run_as_account_id"]}
    assert all(m.vcenter_id and m.vcenter_id.lower() in infra.run_as_by_vcenter for m in report.machines)
    other = infra.model_copy(
        update={"run_as_by_vcenter": infra.run_as_by_vcenter | {"/vcenters/second": "/runasaccounts/b"}}
    )
    assert other.run_as_for("/vCenters/SECOND") == "/runasaccounts/b"
    assert report.infrastructure.log_storage_account_id == emu.connection["log_storage_account_id"]
    requests = emu.admin.stats()["requests"]  # one list of the site's machines, paged through to its third page
    assert requests["LIST Microsoft.OffAzure/VMwareSites/machines"] == 1
    assert requests["LIST Microsoft.OffAzure/VMwareSites/machines (next page)"] == 2
    table = asyncio.run(_latest_artifact("inventory-machines"))
    assert table.type == "table" and all(m.display_name in table.data for m in report.machines)
    summary = asyncio.run(_latest_artifact("inventory-summary"))
    assert "**23** servers" in summary.data


def test_a_transient_fault_outlasting_the_sdk_is_retried_by_the_task(start_emulator, prefect_server: None) -> None:
    emu: Emulated = start_emulator(machines=3)
    emu.target.save("flaky-target", overwrite=True)
    # five 503s outlast the SDK's three status retries; the task's own retry then succeeds
    emu.admin.add_fault(
        method="GET", path="/VMwareSites/[^/]+/machines$", status=503, code="ServiceUnavailable", count=5
    )
    emu.target.polling_interval = 0
    report = inventory.with_options(retries=0)("flaky-target")
    assert len(report.machines) == 3
    assert [f["fired"] for f in emu.admin.faults()] == [5]


def test_a_refusal_is_not_retried(start_emulator, prefect_server: None) -> None:
    emu: Emulated = start_emulator(machines=3)
    emu.target.save("refusing-target", overwrite=True)
    emu.admin.add_fault(
        method="GET", path="/VMwareSites/[^/]+/machines$", status=403, code="AuthorizationFailed", count=1
    )
    state = inventory("refusing-target", return_state=True)
    assert state.is_failed()
    assert "AuthorizationFailed" in str(state.result(raise_on_failure=False))
    assert (
        emu.admin.stats()["requests"].get("LIST Microsoft.OffAzure/VMwareSites/machines") is None
    )  # never served: no retry after the 403


def test_each_machine_replicates_with_its_own_vcenters_run_as_account(
    start_emulator: StartEmulator, prefect_server: None
) -> None:
    from azure.core.exceptions import HttpResponseError

    from tests.azure_inputs import discovered
    from tests.test_lifecycle import _saved_plan
    from tests.test_site_recovery import _enable
    from wavelift.flows.replicate import replicate_wave
    from wavelift.tasks.limits import ensure_concurrency_limit
    from wavelift.tasks.replication import INITIAL_REPLICATION_LIMIT

    emu = start_emulator(machines=9, seed=83, vcenters=3, speed=3000)
    machines = discovered(emu)
    by_vcenter = {m["properties"]["vCenterId"] for m in machines}
    assert len(by_vcenter) == 3  # an appliance discovers several vCenters; the machines are spread over them
    stranger = next(m for m in machines if m["properties"]["vCenterId"] != emu.connection["vcenter_id"])
    with pytest.raises(HttpResponseError, match="is not the run-as account of vCenter"):
        _enable(emu, stranger)  # the first vCenter's account, for a machine another vCenter runs

    plan = _saved_plan(emu, "vc-a")
    infra = inventory("vc-a-target").infrastructure
    assert len(set(infra.run_as_by_vcenter.values())) == 3
    ensure_concurrency_limit(INITIAL_REPLICATION_LIMIT, 100)
    summary = replicate_wave("vc-a", "wave-1", poll_interval=0.3)
    assert summary.failed == {} and len(summary.seeded) == len(plan.waves[0].machines)
