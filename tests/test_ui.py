"""The Prefect UI in a real browser (Debian's Chromium, driven by Playwright, no browser download):
every wavelift deployment is listed, the nightly cutover with its cron and time zone, and a run
started from the UI's form with a parameter completes and shows its artifacts."""

from __future__ import annotations

import re
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.definitions import WORK_POOL, NightlyCutover
from deployments.local_prefect import LocalPrefect
from deployments.setup import setup

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # the machine has no Internet: no background calls home
NIGHTLY = NightlyCutover(plan_name="ui-plan", cron="30 21 * * 1-5", timezone="Europe/London")


@pytest.fixture
def prefect_with_deployments(tmp_path: Path) -> Iterator[LocalPrefect]:
    with LocalPrefect(tmp_path / "prefect") as server, temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        setup(NIGHTLY)
        server.start_worker(WORK_POOL, "ui-worker")
        yield server


@contextmanager
def chromium_page() -> Iterator:  # type: ignore[type-arg]
    """A page in headless Debian Chromium. Playwright's sync API runs an event loop in this thread, so
    Prefect's client calls (which then turn async) belong before it, not inside."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium package is needed (make test installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


@pytest.mark.timeout(600)
def test_operators_run_a_deployment_from_the_ui(start_emulator, prefect_with_deployments: LocalPrefect) -> None:  # type: ignore[no-untyped-def]
    server = prefect_with_deployments
    again = setup(NIGHTLY)  # running setup a second time changes nothing
    assert (
        not again.work_pool_created
        and len(httpx.post(f"{server.api_url}/deployments/filter", json={}).json()) == len(again.deployments) == 11
    )
    emu = start_emulator(machines=6, seed=3)
    emu.target.save("ui-target", overwrite=True)
    database = server.home / "prefect.db"  # holds the block secrets and, by default, the key that decrypts them
    assert stat.S_IMODE(database.stat().st_mode) == 0o600 and stat.S_IMODE(server.home.stat().st_mode) == 0o700
    with chromium_page() as page:
        _check_deployments_and_run_inventory(server, page)


def _check_deployments_and_run_inventory(server: LocalPrefect, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    wanted = [
        "inventory",
        "import-plan",
        "replicate-wave",
        "test-wave",
        "sign-off",
        "cutover-now",
        "nightly-cutover",
        "harden-wave",
        "cleanup-wave",
        "migrate-wave",
        "resync-wave",
    ]

    page.goto(f"{server.ui_url}/deployments")
    expect(page.get_by_text(f"{len(wanted)} Deployments")).to_be_visible()
    ids = {d["name"]: d["id"] for d in httpx.post(f"{server.api_url}/deployments/filter", json={}).json()}
    assert sorted(ids) == sorted(wanted)
    for name in wanted:  # the list shows ten a page: each deployment on its own page
        page.goto(f"{server.ui_url}/deployments/deployment/{ids[name]}")
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    nightly = httpx.get(f"{server.api_url}/deployments/name/cutover/nightly-cutover").json()
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"], s["active"]) for s in nightly["schedules"]] == [
        ("30 21 * * 1-5", "Europe/London", True)
    ]
    assert (
        nightly["global_concurrency_limit"]["limit"] == 1
        and nightly["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    )
    assert nightly["parameters"] == {"request": {"plan_name": "ui-plan"}}
    page.goto(f"{server.ui_url}/deployments/deployment/{ids['nightly-cutover']}")
    schedule = page.get_by_text("At 09:30 PM, Monday through Friday", exact=True)
    expect(schedule).to_be_visible()
    schedule.locator("xpath=ancestor::*[.//button][1]").get_by_role("button").last.click()  # the schedule's menu
    page.get_by_text("Edit", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Europe / London")).to_be_visible()  # the time zone, as the schedule editor shows it
    page.keyboard.press("Escape")

    inventory = httpx.get(f"{server.api_url}/deployments/name/inventory/inventory").json()
    page.goto(f"{server.ui_url}/deployments/deployment/{inventory['id']}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()
    expect(
        page.get_by_text("The wavelift Azure Migration Target block to read.")
    ).to_be_visible()  # the form shows the parameter's description
    field = page.get_by_role("textbox").last
    field.fill("ui-target")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/deployments/deployment/[^/]+(\?.*)?$"))
    runs = httpx.post(
        f"{server.api_url}/flow_runs/filter", json={"deployments": {"id": {"any_": [inventory["id"]]}}}
    ).json()
    assert [r["parameters"] for r in runs] == [{"target_block": "ui-target"}]  # the UI created exactly this run
    run_id = runs[0]["id"]
    for _ in range(90):
        if httpx.get(f"{server.api_url}/flow_runs/{run_id}").json()["state"]["type"] in (
            "COMPLETED",
            "FAILED",
            "CRASHED",
        ):
            break
        page.wait_for_timeout(2000)
    assert httpx.get(f"{server.api_url}/flow_runs/{run_id}").json()["state"]["type"] == "COMPLETED"
    page.goto(f"{server.ui_url}/runs/flow-run/{run_id}")
    expect(page.get_by_text("inventory-ui-target").first).to_be_visible()  # the run's name
    expect(page.get_by_text("Completed").first).to_be_visible()
    page.get_by_text("Artifacts", exact=True).click()
    expect(page.get_by_text("inventory-summary")).to_be_visible()
    expect(page.get_by_text("inventory-machines")).to_be_visible()
