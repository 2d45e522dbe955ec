"""Clean-up after a wave against the emulator: a dry run changes nothing; the replication goes once
the VM is verified; on-prem backups and disk files go only past every gate of DESIGN rule 4; the docs
list every new IP, committed to git; a machine failing a gate is reported and kept; re-runs change nothing."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL
from pydantic import SecretStr

from tests.test_harden import _policy
from tests.test_inventory_flow import _latest_artifact
from tests.test_lifecycle import _replicated_plan
from wavelift.blocks.cleanup import CleanupPolicy
from wavelift.blocks.docs import DocsTarget
from wavelift.blocks.onprem import DiskFile, HttpBackupCatalog, LocalDatastore
from wavelift.blocks.plan import WavePlanBlock
from wavelift.blocks.signoff import SignOffLedger
from wavelift.flows.cleanup import CleanupRequest, cleanup_wave
from wavelift.flows.migrate_wave import MigrateWaveRequest, migrate_wave

GRACE_HOURS = 1000.0
CANARY = "canary-7f3a9c-never-stored-in-plain-text"


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


def _onprem(emu) -> tuple[dict, dict]:
    state = emu.admin.state()
    jobs = {m["display_name"]: m["backup_jobs"] for m in state["machines"]}
    return jobs, state["datastore"]


def _prefect_events(name: str, expected: int, resources: list[str]) -> list[dict]:
    """Events of one name about these machines from the Prefect API.

    Waits (briefly) until at least `expected` are stored."""
    query = {"filter": {"event": {"name": [name]}, "resource": {"id": resources}}, "limit": 50}
    for _ in range(30):
        events = httpx.post(f"{PREFECT_API_URL.value()}/events/filter", json=query).json()["events"]
        if len(events) >= expected:
            return events
        time.sleep(1)
    return events


def _assert_no_secret_stored(secrets: list[str]) -> None:
    """DESIGN rule 5: no secret in logs, artifacts, events or run parameters, all of which the Prefect database
    holds in plain bytes (block secrets are stored encrypted)."""
    database = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1])
    stored = b"".join(p.read_bytes() for p in database.parent.glob(f"{database.name}*"))
    assert b"wavelift.machine.cleaned-up" in stored and b"as-built" in stored  # events and artifacts are in there
    for secret in secrets:
        assert secret.encode() not in stored


@pytest.fixture
def docs_repo(tmp_path: Path) -> Path:
    folder = tmp_path / "server-docs"
    folder.mkdir()
    _git(folder, "init", "--quiet")
    _git(folder, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "--allow-empty", "-m", "start")
    return folder


def test_cleanup_wave_removes_only_what_its_gates_allow(start_emulator, prefect_server: None, docs_repo: Path) -> None:
    emu, machines = _replicated_plan(start_emulator, "clean-a", 4, seed=53)
    _policy(emu).save("clean-hardening", overwrite=True)
    migrate_wave(
        MigrateWaveRequest(
            plan_name="clean-a",
            wave="wave-1",
            poll_interval=0.3,
            pre_approved_by="hank",
            hardening_policy="clean-hardening",
        )
    )
    HttpBackupCatalog(
        url=emu.connection["backup_catalog_url"], ca_bundle=emu.connection["ca_cert"], api_token=SecretStr(CANARY)
    ).save("clean-catalog", overwrite=True)
    LocalDatastore(root=emu.connection["san_path"]).save("clean-san", overwrite=True)
    DocsTarget(folder=str(docs_repo)).save("clean-docs", overwrite=True)
    CleanupPolicy(
        hardening_policy="clean-hardening",
        grace_period_hours=GRACE_HOURS,
        backup_catalog="wavelift-http-backup-catalog/clean-catalog",
        datastore="wavelift-local-datastore/clean-san",
        docs_target="clean-docs",
    ).save("clean-policy", overwrite=True)
    with pytest.raises(TypeError, match="is a LocalDatastore, not a BackupCatalog block"):
        CleanupPolicy(hardening_policy="clean-hardening", backup_catalog="wavelift-local-datastore/clean-san").catalog()
    rg = emu.connection["target_resource_group"]
    stopped = machines[0]
    emu.target.compute_client().virtual_machines.begin_power_off(rg, stopped).result()
    jobs_before, disks_before = _onprem(emu)
    assert all(jobs_before[m] and disks_before[m] for m in machines)
    request = CleanupRequest(plan_name="clean-a", wave="wave-1", policy_block="clean-policy")

    dry = cleanup_wave(request)
    assert _onprem(emu) == (jobs_before, disks_before) and len(emu.admin.state()["migration_items"]) == len(machines)
    assert _git(docs_repo, "status", "--porcelain") == "" and not list(docs_repo.glob("clean-a/**/*.md"))
    assert {a.outcome for r in dry for a in r.actions} == {"would", "held"}

    early = {r.machine: r for r in cleanup_wave(request.model_copy(update={"execute": True}))}
    assert [i["properties"]["machineName"] for i in emu.admin.state()["migration_items"]] == [stopped]
    assert _onprem(emu) == (jobs_before, disks_before)
    assert all("grace-period" in [g.name for g in r.held_by] for r in early.values())

    emu.admin.skip(GRACE_HOURS * 3600)
    late = {r.machine: r for r in cleanup_wave(request.model_copy(update={"execute": True}))}
    jobs, disks = _onprem(emu)
    for name in machines[1:]:
        assert late[name].held_by == [] and jobs[name] == [] and not disks.get(name)
        assert not any(Path(p).exists() for p in disks_before[name])
    assert [g.name for g in late[stopped].held_by] == ["vm-running"] and "is stopped" in late[stopped].detail
    assert jobs[stopped] == jobs_before[stopped] and disks[stopped] == disks_before[stopped]
    assert [i["properties"]["machineName"] for i in emu.admin.state()["migration_items"]] == [stopped]

    index = (docs_repo / "clean-a" / "wave-1" / "README.md").read_text()
    for name in machines:
        record = late[name].record
        assert (
            record is not None
            and record.new_ip
            and f"| {record.new_ip} |" in index
            and record.old_ip
            and record.old_ip in index
        )
        page = (docs_repo / "clean-a" / "wave-1" / f"{name}.md").read_text()
        assert f"{name}-nsg" in page and "wavelift-daily" in page and "replicated to northeurope" in page
        assert "| Disk encryption | Azure Disk Encryption (" in page and "by Azure's clock" in page
    assert (
        "as-built: clean-a/wave-1" in _git(docs_repo, "log", "-1", "--format=%s")
        and _git(docs_repo, "status", "--porcelain") == ""
    )

    document = asyncio.run(_latest_artifact("as-built-clean-a-wave-1")).data  # one place holds every record
    for name in machines[1:]:
        record = late[name].record
        assert record is not None and f"| {name} | {record.old_ip} | {record.new_ip} |" in document
        section = document.split(f"## {name} — as built", 1)[1].split("\n## ", 1)[0]
        assert f"| New private IP | {record.new_ip} |" in section and f"{name}-nsg" in section

    plan = WavePlanBlock.load("clean-a").plan.waves[0].machines
    source = {m.display_name: f"wavelift.machine.{m.source_name}" for m in plan}
    for name in (
        "replication.seeded",
        "test.passed",
        "cutover.migrated",
        "hardened",
    ):  # every machine's state changes, for reviewers and automations
        assert sorted(
            e["resource"]["prefect.resource.id"]
            for e in _prefect_events(f"wavelift.machine.{name}", len(machines), list(source.values()))
        ) == sorted(source.values()), name
    cleaned = _prefect_events("wavelift.machine.cleaned-up", len(machines) - 1, list(source.values()))
    assert sorted(e["resource"]["prefect.resource.id"] for e in cleaned) == sorted(source[m] for m in machines[1:])
    held = _prefect_events(
        "wavelift.machine.cleanup.held", len(machines) - 1, list(source.values())
    )  # the early run: replication removed, on-prem kept by the grace period
    assert sorted(e["resource"]["prefect.resource.id"] for e in held) == sorted(source[m] for m in machines[1:])

    _assert_no_secret_stored([CANARY, emu.connection["client_secret"]])

    commits = _git(docs_repo, "rev-list", "--count", "HEAD")
    history = emu.admin.history()
    again = cleanup_wave(request.model_copy(update={"execute": True}))
    assert not [a for r in again for a in r.actions if a.outcome == "done"]
    assert _git(docs_repo, "rev-list", "--count", "HEAD") == commits and emu.admin.history() == history

    # A finished wave run again from the top: the completed migrations (items removed) are read from the Azure VMs.
    signoffs = SignOffLedger.for_wave("clean-a", "wave-1").records
    rerun = migrate_wave(
        MigrateWaveRequest(
            plan_name="clean-a",
            wave="wave-1",
            poll_interval=0.3,
            pre_approved_by="hank",
            hardening_policy="clean-hardening",
            cleanup_policy="clean-policy",
            execute_cleanup=True,
        )
    )
    assert emu.admin.history() == history  # no enable, no test VM, no source shutdown, no migration, nothing removed
    assert (
        _git(docs_repo, "rev-list", "--count", "HEAD") == commits
        and SignOffLedger.for_wave("clean-a", "wave-1").records == signoffs
    )
    assert {t.machine for t in rerun.tests if t.skipped and "completed earlier" in t.detail} == set(machines[1:])
    assert {c.machine: c.outcome for c in rerun.cutovers} == {m: "already-migrated" for m in machines[1:]} | {
        stopped: "failed"
    }


def test_the_adapters_stay_inside_their_folders(tmp_path: Path) -> None:
    store = LocalDatastore(root=str(tmp_path / "san"))
    (tmp_path / "san" / "web-01").mkdir(parents=True)
    (tmp_path / "keep.vmdk").write_bytes(b"x")
    with pytest.raises(ValueError, match="contains a path separator"):
        store.disk_files("../")
    with pytest.raises(ValueError, match="is not in the datastore folder of web-01"):
        store.delete("web-01", DiskFile(path=str(tmp_path / "keep.vmdk"), size_bytes=1))
    assert (tmp_path / "keep.vmdk").exists()
    with pytest.raises(ValueError, match="outside the docs folder"):
        DocsTarget(folder=str(tmp_path / "docs")).write("../escape.md", "x")
    assert not (tmp_path / "escape.md").exists()


def test_a_cleanup_policy_names_adapters_by_block_type_and_name() -> None:
    with pytest.raises(ValueError, match="backup_catalog"):
        CleanupPolicy(hardening_policy="h", backup_catalog="just-a-name")
