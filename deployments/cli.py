"""The `wavelift` command line: what belongs in a terminal (the emulator, setup, the demo, checking a plan file).

Heavy imports (Prefect, the Azure SDKs, the emulator) happen inside each command, so `--help` is fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="wavelift: move servers into Azure as Prefect flows.", no_args_is_help=True, add_completion=False
)


@app.callback()
def _private_by_default() -> None:
    """wavelift: move servers into Azure as Prefect flows.

    Every file wavelift and the processes it starts create is private (umask 077): some hold secrets
    (the emulator's connection.json and TLS key, the Prefect database with its block secrets and key)."""
    os.umask(0o077)


@app.command()
def emulator(
    machines: Annotated[int, typer.Option(help="Servers in the seeded on-prem estate.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the estate (same seed, same servers).")] = 1,
    speed: Annotated[float, typer.Option(help="Emulated seconds per wall-clock second.")] = 60.0,
    state_dir: Annotated[
        Path, typer.Option(help="Where connection.json, the TLS files, the SAN datastore and state.json go.")
    ] = Path(".state/emulator"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    retry_after: Annotated[int, typer.Option(help="Retry-After seconds on long-running-operation answers.")] = 1,
    page_size: Annotated[int, typer.Option(help="Items per page of ARM lists.")] = 100,
    vcenters: Annotated[int, typer.Option(help="vCenters the appliance discovers (1-10), each with its account.")] = 1,
    disks: Annotated[
        str, typer.Option(help="Disk sizes: heavy-tailed (realistic) or flat (100-800 GB a server, for benchmarks).")
    ] = "heavy-tailed",
) -> None:
    """Serve the local Azure and on-prem emulator over HTTPS until Ctrl-C or SIGTERM."""
    from pydantic import ValidationError

    from wavelift.emulator.config import EmulatorConfig
    from wavelift.emulator.server import serve

    try:
        config = EmulatorConfig(
            machines=machines,
            seed=seed,
            speed=speed,
            state_dir=state_dir.resolve(),
            retry_after=retry_after,
            page_size=page_size,
            vcenters=vcenters,
            disks=disks,
        )
    except ValidationError as exc:
        raise typer.BadParameter(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    typer.echo(
        f"emulator: {machines} machines, speed x{speed:g}; connection details in "
        f"{config.state_dir / 'connection.json'}",
        err=True,
    )
    serve(config, port)


@app.command("check-plan-file")
def check_plan_file(
    path: Annotated[
        Path, typer.Argument(help="An Azure Migrate assessment export (.xlsx) or a migrate-at-scale input CSV.")
    ],
) -> None:
    """Check a plan file offline: every problem is listed with its file, row, field and reason.

    The file's bytes decide what it is (a workbook named .csv is read as a workbook); nothing is changed."""
    from wavelift.tasks.assessment import read_assessment
    from wavelift.tasks.migrate_csv import read_migrate_csv
    from wavelift.tasks.plan_files import kind_of, read_bytes
    from wavelift.tasks.problems import InputRefused

    try:
        if kind_of(read_bytes(path), path.name) == "xlsx":
            machines = read_assessment(path)
            ready = sum(m.ready for m in machines)
            typer.echo(
                f"{path.name}: {len(machines)} assessed machines, {ready} ready for Azure, {len(machines) - ready} not."
            )
        else:
            rows = read_migrate_csv(path)
            typer.echo(f"{path.name}: {len(rows)} rows, {sum(r.ok_to_migrate for r in rows)} marked OK_TO_MIGRATE.")
    except InputRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command("emulator-blocks")
def emulator_blocks(
    connection: Annotated[Path, typer.Argument(help="The connection.json a running `wavelift emulator` wrote.")],
    name: Annotated[str, typer.Option(help="Block document name of every block saved.")] = "emulator",
    docs_folder: Annotated[
        Path | None, typer.Option(help="Folder for the as-built records (a DocsTarget); none: artifacts only.")
    ] = None,
    grace_hours: Annotated[
        float, typer.Option(min=0, help="Hours after cutover before the clean-up touches on-prem backups and disks.")
    ] = 24.0,
) -> None:
    """Save the blocks that point wavelift at a running emulator on the Prefect server that PREFECT_API_URL
    names, as the demo does: the target with its credentials, the backup catalog, the datastore, a hardening
    policy and a clean-up policy (and a docs target with --docs-folder)."""
    from wavelift.deployments.emulator_blocks import save_emulator_blocks

    _require_prefect_server()
    for reference in save_emulator_blocks(
        connection, name, docs_folder.resolve() if docs_folder else None, grace_hours
    ):
        typer.echo(f"saved {reference}")


def _require_prefect_server() -> None:
    """Refuse to go on without PREFECT_API_URL: Prefect would use a temporary server that vanishes with the command."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        typer.echo(
            "PREFECT_API_URL is not set: point it at your Prefect server (e.g. export "
            "PREFECT_API_URL=http://127.0.0.1:4200/api) and run the command again; nothing was changed.",
            err=True,
        )
        raise typer.Exit(2)


@app.command()
def setup(
    nightly_plan: Annotated[str, typer.Option(help="Plan the nightly cutover works through.")] = "main",
    nightly_cron: Annotated[
        str, typer.Option(help="When the nightly cutover starts (cron, in --timezone).")
    ] = "0 22 * * *",
    timezone: Annotated[str, typer.Option(help="IANA time zone of the nightly cron, e.g. Europe/London.")] = "UTC",
) -> None:
    """Create the work pool, the 100-slot limit, the block types and the deployments on the Prefect server
    that PREFECT_API_URL names. Running it again changes nothing; run it again once the nightly plan is
    imported, so that the nightly cutover's form in the UI shows that plan as chosen."""
    from pydantic import ValidationError

    from wavelift.deployments.definitions import NightlyCutover
    from wavelift.deployments.setup import setup as run_setup

    try:
        nightly = NightlyCutover(plan_name=nightly_plan, cron=nightly_cron, timezone=timezone)
    except ValidationError as exc:
        raise typer.BadParameter(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    _require_prefect_server()
    report = run_setup(nightly)
    typer.echo(
        f"work pool {report.work_pool} ({'created' if report.work_pool_created else 'already there'}); "
        f"global concurrency limit {report.concurrency_limit}; {len(report.block_types)} block types"
    )
    for name in report.deployments:
        typer.echo(f"  deployment {name}")


@app.command()
def demo(
    state_dir: Annotated[Path, typer.Option(help="Where the emulator and the demo keep their files.")] = Path(
        ".state/demo"
    ),
    machines: Annotated[int, typer.Option(help="Servers in the seeded estate.")] = 150,
    speed: Annotated[float, typer.Option(help="Emulated seconds per wall-clock second.")] = 600.0,
    port: Annotated[int, typer.Option(help="Port of the Prefect server and UI on 127.0.0.1; 0 picks a free one.")] = 0,
) -> None:
    """Start the emulator, a Prefect server and a worker, and run a whole wave through wavelift's deployments."""
    from wavelift.deployments.demo import run_demo

    raise typer.Exit(run_demo(state_dir.resolve(), machines, speed, port))


@app.command()
def ui(
    state_dir: Annotated[
        Path, typer.Option(help="The demo's state directory (its Prefect database is under prefect/).")
    ] = Path(".state/demo"),
    port: Annotated[int, typer.Option(help="Port of the Prefect server and UI on 127.0.0.1.")] = 4200,
) -> None:
    """Re-open the Prefect UI on a finished (or interrupted) demo's database, until Ctrl-C."""
    import time

    from wavelift.deployments.local_prefect import LocalPrefect

    home = state_dir.resolve() / "prefect"
    if not (home / "prefect.db").is_file():
        typer.echo(f"{home / 'prefect.db'} does not exist: run `make demo` (or wavelift demo) first", err=True)
        raise typer.Exit(2)
    with LocalPrefect(home, port) as server:
        typer.echo(f"Prefect UI on the demo's database: {server.ui_url} (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            typer.echo("stopped")


if __name__ == "__main__":
    app()
