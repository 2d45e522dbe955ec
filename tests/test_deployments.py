"""`wavelift setup` refuses a bad nightly schedule before it touches any server, naming the field and reason."""

from __future__ import annotations

from typer.testing import CliRunner

from wavelift.deployments.cli import app


def test_setup_refuses_a_bad_cron_or_time_zone() -> None:
    runner = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"})
    bad_cron = runner.invoke(app, ["setup", "--nightly-cron", "61 * * * *"])
    assert bad_cron.exit_code == 2 and "cron" in bad_cron.output and "Invalid cron string" in bad_cron.output
    bad_zone = runner.invoke(app, ["setup", "--timezone", "Mars/Olympus"])
    assert bad_zone.exit_code == 2 and "'Mars/Olympus' is not an IANA time zone" in bad_zone.output


def test_setup_refuses_to_run_without_a_prefect_server() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: ""}):
        result = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"}).invoke(app, ["setup"])
    assert (
        result.exit_code == 2
        and "PREFECT_API_URL is not set" in result.output
        and "nothing was changed" in result.output
    )
