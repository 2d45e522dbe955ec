"""The Prefect UI in a real browser (Debian's Chromium, driven by Playwright, no browser download),
played as an on-call operator following the README's runbook: every wavelift deployment is listed with
the nightly cutover's cron and time zone; the blocks come from the documented command; then inventory,
import-plan, migrate-wave, sign-off and cutover-now each run from their form, filled in as a person
would (plans and targets picked from the saved blocks), and the wave board says where each machine is."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.conftest import StartEmulator
from wavelift.deployments.definitions import WORK_POOL, NightlyCutover
from wavelift.deployments.local_prefect import LocalPrefect
from wavelift.deployments.setup import setup

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
# The nightly cutover fires at half past the hour twelve hours from now in London: a scheduled cutover firing while
# the test runs would act on the wave beside the forms' runs (the test used a fixed 21:30, which a CI run can meet).
NIGHTLY_AT = (datetime.now(ZoneInfo("Europe/London")) + timedelta(hours=12)).replace(minute=30)
NIGHTLY = NightlyCutover(plan_name="first", cron=f"30 {NIGHTLY_AT.hour} * * 1-5", timezone="Europe/London")
DEPLOYMENTS = [
    "inventory",
    "import-plan",
    "preflight-wave",
    "replicate-wave",
    "test-wave",
    "sign-off",
    "cutover-now",
    "nightly-cutover",
    "smoke-test-wave",
    "harden-wave",
    "update-backup-policy",
    "cleanup-wave",
    "migrate-wave",
    "resync-wave",
    "rollback-cutover",
]


@pytest.fixture
def prefect_with_deployments(tmp_path: Path) -> Iterator[LocalPrefect]:
    with LocalPrefect(tmp_path / "prefect") as server, temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        setup(NIGHTLY)
        server.start_worker(WORK_POOL, "ui-worker")
        yield server


@contextmanager
def chromium_page() -> Iterator:
    """A page in headless Debian Chromium. Playwright's sync API runs an event loop in this thread, so
    Prefect's client calls (which then turn async) belong before it, not inside."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium package is needed (make test installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)  # a loaded 2-core CI machine serves the UI slowly
        yield page
        browser.close()


@pytest.mark.timeout(900)
def test_an_operator_runs_a_first_wave_from_the_ui(
    start_emulator: StartEmulator, prefect_with_deployments: LocalPrefect
) -> None:
    server = prefect_with_deployments
    again = setup(NIGHTLY)  # running setup a second time changes nothing
    assert not again.work_pool_created and len(
        httpx.post(f"{server.api_url}/deployments/filter", json={}).json()
    ) == len(again.deployments) == len(DEPLOYMENTS)
    database = server.home / "prefect.db"  # holds the block secrets and, by default, the key that decrypts them
    assert stat.S_IMODE(database.stat().st_mode) == 0o600 and stat.S_IMODE(server.home.stat().st_mode) == 0o700
    emu = start_emulator(machines=6, seed=3, speed=3000)
    saved = _wavelift(server, "emulator-blocks", str(emu.connection_file), "--name", "ui")  # the runbook's command
    assert "saved wavelift-azure-migration-target/ui" in saved and "saved wavelift-cleanup-policy/ui" in saved
    with chromium_page() as page:
        _check_deployments_and_the_nightly_schedule(server, page)
        _run_the_first_wave(server, page, emu.connection["assessment_workbook"])
        _submit_every_other_form(server, page)


def _wavelift(server: LocalPrefect, *arguments: str) -> str:
    """The `wavelift` command as an operator types it, against this server; its output."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "wavelift"), *arguments],
        env=os.environ | {"PREFECT_API_URL": server.api_url},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _check_deployments_and_the_nightly_schedule(server: LocalPrefect, page) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.ui_url}/deployments")
    expect(page.get_by_text(f"{len(DEPLOYMENTS)} Deployments")).to_be_visible()
    ids = {d["name"]: d["id"] for d in httpx.post(f"{server.api_url}/deployments/filter", json={}).json()}
    assert sorted(ids) == sorted(DEPLOYMENTS)
    for name in DEPLOYMENTS:  # the list shows ten a page: each deployment on its own page
        page.goto(f"{server.ui_url}/deployments/deployment/{ids[name]}")
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    nightly = httpx.get(f"{server.api_url}/deployments/name/cutover/nightly-cutover").json()
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"], s["active"]) for s in nightly["schedules"]] == [
        (NIGHTLY.cron, "Europe/London", True)
    ]
    assert (
        nightly["global_concurrency_limit"]["limit"] == 1
        and nightly["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    )
    assert nightly["parameters"] == {
        "request": {"plan_name": {"$ref": {"block_document_slug": "wavelift-wave-plan/first"}}}
    }
    page.goto(f"{server.ui_url}/deployments/deployment/{ids['nightly-cutover']}")
    schedule = page.get_by_text(f"At {NIGHTLY_AT:%I:%M %p}, Monday through Friday", exact=True)
    expect(schedule).to_be_visible()
    schedule.locator("xpath=ancestor::*[.//button][1]").get_by_role("button").last.click()  # the schedule's menu
    page.get_by_text("Edit", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Europe / London")).to_be_visible()  # the time zone, as the schedule editor shows it
    page.keyboard.press("Escape")


def _run_the_first_wave(server: LocalPrefect, page, workbook: str) -> None:
    from playwright.sync_api import expect

    form = _Form(server, page)
    form.open("inventory/inventory")
    expect(page.get_by_text("The wavelift Azure Migration Target block to read.")).to_be_visible()  # the description
    form.pick("target_block", "ui")  # a flow's own parameter is titled by its name
    inventory = form.submit()
    assert inventory["parameters"]["target_block"]["$ref"]["block_document_id"]  # the picked document
    page.goto(f"{server.ui_url}/runs/flow-run/{inventory['id']}")
    expect(page.get_by_text("inventory-ui").first).to_be_visible()  # the run's name: the picked block's name
    page.get_by_text("Artifacts", exact=True).click()
    expect(page.get_by_text("inventory-machines")).to_be_visible()

    form.open("import-plan/import-plan")
    expect(form.field("Days").get_by_text("Mon")).to_be_visible()  # the window's default days, shown as meant
    form.pick("Source", "assessment")
    form.type("Path", workbook)
    form.type("Plan Name", "first")
    form.pick("Target Block", "ui")
    # Open from an hour ago for thirteen hours (London's time, the form's zone), so that the cutover runs now and
    # every machine's predicted cutover ends inside it: a window of 00:00-23:59 held the largest machine at 23:28.
    opened = datetime.now(ZoneInfo("Europe/London")) - timedelta(hours=1)
    form.type("Start", f"{opened:%H}:00")
    form.type("End", f"{opened + timedelta(hours=13):%H}:00")
    expect(form.box("Start")).to_have_value(f"{opened:%H}:00")  # not put back by End's
    assert form.submit()["name"] == "import-plan-first"
    page.goto(f"{server.ui_url}/blocks")
    page.get_by_text("first", exact=True).first.click()
    for label in ("Name", "Target Block", "Waves", "Excluded"):  # the plan reads as a plan: its fields, not a string
        expect(page.get_by_text(label, exact=True).first).to_be_visible()
    plan = httpx.get(  # Playwright's loop runs in this thread: Prefect's client is read over plain HTTP here
        f"{server.api_url}/block_types/slug/wavelift-wave-plan/block_documents/name/first"
    ).json()["data"]
    wave = plan["waves"][0]["name"]
    machines = sorted(m["display_name"] for m in plan["waves"][0]["machines"])

    form.open("migrate-wave/migrate-wave")
    form.pick("Plan Name", "first")
    form.type("Wave", wave)
    form.field("Cut Over").get_by_role("switch").click()  # replicate and test only
    expect(form.field("Cut Over").get_by_role("switch")).to_have_attribute("aria-checked", "false")
    migrate = form.submit()
    assert (migrate["name"], migrate["parameters"]["request"]["cut_over"]) == ("migrate-first-wave-1", False)

    form.open("sign-off/sign-off")
    form.pick("Plan Name", "first")
    form.type("Wave", wave)
    form.pick("Decision", "approve")
    form.type("Approver", "Olivia On-call")
    form.type("Comment", "the application owner checked the test VMs")
    assert form.submit()["name"] == "sign-off-first-wave-1-approve"

    form.open("cutover/cutover-now")
    form.pick("Plan Name", "first")
    cutover = form.submit()
    assert (cutover["name"], cutover["state"]["name"]) == ("cutover-first-all-waves", "Completed")

    page.goto(f"{server.ui_url}/runs/flow-run/{cutover['id']}")
    page.get_by_text("Artifacts", exact=True).click()
    page.get_by_text(f"wave-board-first-{wave}").first.click()
    expect(page.get_by_text(f"first/{wave} at ")).to_contain_text(f"{len(machines)} migrated")
    for name in machines:  # one row per machine: where it is and what comes next
        row = page.get_by_role("row").filter(has_text=name)
        expect(row).to_contain_text("migrated")
        expect(row).to_contain_text("harden and clean up")


def _submit_every_other_form(server: LocalPrefect, page) -> None:
    """The remaining forms submit with their defaults and the required fields, and their runs complete: on a
    migrated wave they find nothing to check, replicate, test or resync, harden it, and clean up as a dry run."""
    from playwright.sync_api import expect

    form = _Form(server, page)
    for deployment, plan_label, policy_label in [
        ("preflight-wave/preflight-wave", "plan_name", None),
        ("replicate-wave/replicate-wave", "plan_name", None),
        ("test-wave/test-wave", "plan_name", None),
        ("harden-wave/harden-wave", "plan_name", "policy_block"),
        ("cleanup-wave/cleanup-wave", "Plan Name", "Policy Block"),
        ("resync-wave/resync-wave", "Plan Name", None),
    ]:
        form.open(deployment)
        form.pick(plan_label, "first")
        form.type("wave" if plan_label == "plan_name" else "Wave", "wave-1")
        if policy_label:
            form.pick(policy_label, "ui")
        run = form.submit()
        assert run["name"].endswith("-first-wave-1"), run["name"]
    _wavelift(
        server, "setup", "--nightly-plan", "first", "--nightly-cron", NIGHTLY.cron, "--timezone", NIGHTLY.timezone
    )
    form.open("cutover/nightly-cutover")  # its plan is chosen already: the defaults alone make a run
    expect(form.field("Plan Name").get_by_text("first", exact=True)).to_be_visible()
    nightly = form.submit()
    assert (nightly["name"], nightly["state"]["name"]) == ("cutover-first-all-waves", "Nothing cut over"), nightly[
        "state"
    ]["message"]
    assert nightly["state"]["message"].startswith("nothing to cut over: ")


class _Form:
    """A deployment's Run → Custom run form, filled in field by field as a person does."""

    def __init__(self, server: LocalPrefect, page) -> None:
        self.server, self.page, self.deployment, self.before = server, page, {}, set()
        self.trouble: list[str] = []  # what the browser saw go wrong: quoted when a form makes no run
        page.on("console", self._on_console)
        page.on("requestfailed", lambda request: self.trouble.append(f"failed: {request.method} {request.url}"))
        page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.trouble.append(f"console: {message.text}")

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self.trouble.append(f"{response.status}: {response.request.method} {response.url}")

    def open(self, name: str) -> None:
        self.deployment = httpx.get(f"{self.server.api_url}/deployments/name/{name}").json()
        self.before = {r["id"] for r in self._runs()}  # earlier runs
        self.page.goto(f"{self.server.ui_url}/deployments/deployment/{self.deployment['id']}")
        self.page.get_by_role("button", name="Run", exact=True).click()
        self.page.get_by_text("Custom run").click()
        self.page.wait_for_url(re.compile(r"/deployment/[^/]+/run"), wait_until="commit")

    def field(self, label: str):
        """The form property under this label (optional ones carry ' (Optional)')."""
        title = self.page.locator("span.schema-form-property__label").filter(
            has_text=re.compile(rf"^{re.escape(label)}( \(Optional\))?$")
        )
        return title.locator(
            "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' schema-form-property ')][1]"
        )

    def box(self, label: str):
        """The text box of a form property."""
        return self.field(label).locator("textarea, input").first

    def type(self, label: str, text: str) -> None:
        """Fill a text field and see that it keeps the text. Once, with the suite on four workers, import-plan's run
        got the window's default End (05:00) though End had been typed; whether the field lost the text is not
        known, so the field is checked and filled again."""
        from playwright.sync_api import expect

        box = self.box(label)
        for _ in range(3):
            box.fill(text)
            self.page.wait_for_timeout(500)
            if box.input_value() == text:
                break
        expect(box).to_have_value(text)

    def pick(self, label: str, option: str) -> None:
        """Choose from a select (an enum, or a block picker listing the saved documents); it opens from the keyboard."""
        from playwright.sync_api import expect

        control = self.field(label).locator("button.p-select-button__control").first
        control.focus()
        self.page.keyboard.press("ArrowDown")
        self.page.locator(".p-select-option").filter(has_text=re.compile(rf"^\s*{re.escape(option)}\s*$")).first.click()
        expect(control).to_contain_text(option)  # chosen, as the form shows it

    def submit(self) -> dict:
        """Submit, then wait for the one run the form created to end; it must end Completed. A form that makes
        no run within two minutes refused its input: the failure quotes what the form says and what the browser
        saw go wrong."""
        from playwright.sync_api import expect

        submit = self.page.get_by_role("button", name="Submit")
        expect(submit).to_be_enabled()
        self.trouble.clear()
        submit.click()
        resubmitted = False
        for attempt in range(250):  # under load the UI's validation and the run's creation can take a minute
            runs = [r for r in self._runs() if r["id"] not in self.before and not r["auto_scheduled"]]
            if len(runs) == 1 and runs[0]["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            if not runs and not resubmitted and self._lost(attempt):
                self._close_toasts()  # a person closes the notices over the form and submits again, once
                submit.click()
                resubmitted = True
            assert runs or attempt < 60, (
                f"no run from the form: {self.page.locator('body').inner_text()[:3000]}\n"
                f"the browser saw: {self.trouble[-20:]}"
            )
            self.page.wait_for_timeout(2000)
        assert len(runs) == 1, f"the form created {len(runs)} runs"  # exactly the one submitted
        assert runs[0]["state"]["type"] == "COMPLETED", (runs[0]["name"], runs[0]["state"]["message"])
        return runs[0]

    def _lost(self, attempt: int) -> bool:
        """Whether the submission was lost on a loaded machine. The UI says so when it loses the API ("Oops.
        Something went wrong.") or fails to create the run (an error notice); once (CI, four workers on two cores)
        it said nothing, and the form stayed as filled in with no run for two minutes: after half a minute on the
        form with no run, a person clicks Submit again. The UI ignores a second click while it is creating the
        run, and a second run would fail the test."""
        if attempt < 5:
            return False
        notices = (
            self.page.get_by_text("Oops. Something went wrong.").count()
            + self.page.locator(".p-toast__icon--error").count()
        )
        return bool(notices) or (attempt >= 15 and re.search(r"/deployment/[^/]+/run", self.page.url) is not None)

    def _close_toasts(self) -> None:
        from playwright.sync_api import Error as PlaywrightError

        for close in self.page.locator("button.p-toast__close-btn").all():
            with suppress(PlaywrightError):  # a toast may time out and go while it is being closed
                close.click(timeout=5000)

    def _runs(self) -> list[dict]:
        filter_ = {"deployments": {"id": {"any_": [self.deployment["id"]]}}}
        return httpx.post(f"{self.server.api_url}/flow_runs/filter", json=filter_).json()
