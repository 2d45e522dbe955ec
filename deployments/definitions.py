"""wavelift's deployments: the forms operators start from the Prefect UI, and the nightly cutover.

Every deployment runs on one process work pool; the flows are imported from the installed `wavelift`
package (module-path entrypoints), so a worker needs only the package and the server's address.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron
from pydantic import BaseModel, Field, field_validator

from wavelift.tasks.names import NAME_PATTERN
from wavelift.tasks.plan_models import iana_zone

WORK_POOL = "wavelift"
TAGS = ["wavelift"]


class NightlyCutover(BaseModel):
    """When the nightly cutover runs, and for which plan."""

    plan_name: str = Field(
        default="main", pattern=NAME_PATTERN, description="The plan the nightly cutover works through."
    )
    cron: str = Field(
        default="0 22 * * *",
        description="When it starts, in `timezone` (off-peak by default; keep clear of 01:00-03:00 DST changes).",
    )
    timezone: str = Field(default="UTC", description="IANA time zone of the cron, e.g. Europe/London.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from prefect.client.schemas.schedules import CronSchedule

        return CronSchedule(cron=value).cron

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return iana_zone(value)


def _deployment(flow: Any, name: str, description: str, **options: Any) -> RunnerDeployment:
    return flow.to_deployment(
        name=name,
        description=description,
        work_pool_name=WORK_POOL,
        tags=TAGS,
        entrypoint_type=EntrypointType.MODULE_PATH,
        **options,
    )


def deployments(nightly: NightlyCutover, nightly_plan: dict[str, Any] | None = None) -> list[RunnerDeployment]:
    """Every wavelift deployment, the nightly cutover scheduled as `nightly` says, for the plan `nightly_plan`
    refers to (`blocks.parameters.saved_reference`; by name when not given)."""
    from wavelift.blocks.parameters import reference
    from wavelift.blocks.plan import WavePlanBlock
    from wavelift.flows.backup_policy import update_backup_policy
    from wavelift.flows.cleanup import cleanup_wave
    from wavelift.flows.cutover import cutover
    from wavelift.flows.harden import harden_wave
    from wavelift.flows.inventory import inventory
    from wavelift.flows.migrate_wave import migrate_wave
    from wavelift.flows.plan import import_plan
    from wavelift.flows.preflight import preflight_wave
    from wavelift.flows.replicate import replicate_wave
    from wavelift.flows.resync import resync_wave
    from wavelift.flows.rollback import rollback_cutover
    from wavelift.flows.signoff import sign_off
    from wavelift.flows.smoke_test import smoke_test_wave
    from wavelift.flows.test_wave import test_wave

    return [
        _deployment(
            inventory,
            "inventory",
            "Discover the servers Azure Migrate found and check the vault's replication infrastructure.",
        ),
        _deployment(
            import_plan,
            "import-plan",
            "Import a wave plan from an Azure Migrate assessment export or a migrate-at-scale CSV.",
        ),
        _deployment(
            preflight_wave,
            "preflight-wave",
            "Check a wave against the target before it starts (quotas, subnets, names, regions, run-as); reads only.",
        ),
        _deployment(
            replicate_wave, "replicate-wave", "Replicate a wave (or one batch of it) under the 100-slot limit."
        ),
        _deployment(test_wave, "test-wave", "Test-migrate a wave into the isolated test network and report."),
        _deployment(sign_off, "sign-off", "Approve or reject tested machines: who, when, why."),
        _deployment(
            cutover, "cutover-now", "Cut over signed-off machines now, inside their wave's maintenance window."
        ),
        _deployment(
            cutover,
            "nightly-cutover",
            f"Every night at {nightly.cron} ({nightly.timezone}): cut over what is signed off, inside the windows; one "
            "run at a time.",
            schedules=[Cron(nightly.cron, timezone=nightly.timezone)],
            parameters={"request": {"plan_name": nightly_plan or reference(WavePlanBlock, nightly.plan_name)}},
            concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        ),
        _deployment(
            smoke_test_wave,
            "smoke-test-wave",
            "After cutover: probe each migrated VM's application ports from inside it (Run Command); changes nothing.",
        ),
        _deployment(
            harden_wave,
            "harden-wave",
            "Network security group, disk encryption, backup and DR for a wave's migrated VMs.",
        ),
        _deployment(
            update_backup_policy,
            "update-backup-policy",
            "Apply a changed backup hour or retention to the vault's policy and every VM under it (a dry run unless "
            "execute).",
        ),
        _deployment(
            cleanup_wave,
            "cleanup-wave",
            "Clean up after a wave (a dry run unless execute): replication, on-prem backups and disks, as-built docs.",
        ),
        _deployment(migrate_wave, "migrate-wave", "A wave from replication to clean-up, as child runs."),
        _deployment(resync_wave, "resync-wave", "Repair replications that need it (a dry run unless execute)."),
        _deployment(
            rollback_cutover,
            "rollback-cutover",
            "Power sources on again and stop their Azure VMs after a failed or rejected cutover (a dry run unless "
            "execute).",
        ),
    ]
