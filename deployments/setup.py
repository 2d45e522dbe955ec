"""What a Prefect server needs before wavelift's flows run: the work pool, the global concurrency
limit, the block types, the deployments, and the automation that ends runs whose process died. Running
it again changes nothing, except that the nightly cutover's plan, once imported, is referred to by id
(which the UI's form shows as chosen)."""

from __future__ import annotations

from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel

from wavelift.blocks.signoff import LEDGER_LOCK
from wavelift.deployments.definitions import WORK_POOL, NightlyCutover, deployments
from wavelift.tasks.limits import ensure_concurrency_limit
from wavelift.tasks.replication import INITIAL_REPLICATION_LIMIT

MAX_INITIAL_REPLICATIONS = 100
ZOMBIE_AUTOMATION = "wavelift-crash-runs-without-heartbeat"
SILENCE_BEFORE_CRASHED = timedelta(minutes=10)  # a flow run beats every 180 s (Prefect's default): three missed


class SetupReport(BaseModel):
    """What setup found and made."""

    work_pool: str
    work_pool_created: bool
    concurrency_limit: str
    block_types: list[str]
    deployments: list[str]


def ensure_work_pool(name: str = WORK_POOL) -> bool:
    """A process work pool with the process worker's job template; True if it was created now."""
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=name,
                    type=ProcessWorker.type,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                    description="wavelift's migration flows",
                )
            )
            return True


def ensure_zombie_automation(silence: timedelta = SILENCE_BEFORE_CRASHED) -> bool:
    """An automation that marks a flow run Crashed when its heartbeats stop for `silence` without the run
    ending (Prefect's "Detect zombie flows" recipe): a worker or flow process killed outright cannot say so
    itself, and its run would stay Running for good. True if it was created now."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    try:
        Automation.read(name=ZOMBIE_AUTOMATION)
        return False
    except ValueError:  # Prefect's answer for "no automation of that name"
        pass
    Automation(
        name=ZOMBIE_AUTOMATION,
        description="A wavelift flow run whose process stopped sending heartbeats is Crashed, not Running.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.*"},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=silence,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED, message=f"no heartbeat for {silence}: its process was lost (killed worker?)"
            )
        ],
    ).create()
    return True


def register_block_types() -> list[str]:
    """Register every wavelift block type, so the UI offers them before any is saved."""
    from wavelift.blocks.azure import AzureCredentials, AzureMigrationTarget
    from wavelift.blocks.cleanup import CleanupPolicy
    from wavelift.blocks.docs import DocsTarget
    from wavelift.blocks.hardening import HardeningPolicy
    from wavelift.blocks.onprem import HttpBackupCatalog, HttpSourcePower, LocalDatastore
    from wavelift.blocks.plan import WavePlanBlock
    from wavelift.blocks.signoff import SignOffLedger, SignOffLedgerPage

    types = [
        AzureCredentials,
        AzureMigrationTarget,
        WavePlanBlock,
        SignOffLedger,
        SignOffLedgerPage,
        HardeningPolicy,
        CleanupPolicy,
        HttpBackupCatalog,
        HttpSourcePower,
        LocalDatastore,
        DocsTarget,
    ]
    for block_type in types:
        block_type.register_type_and_schema()
    return [t.get_block_type_slug() for t in types]


def setup(nightly: NightlyCutover) -> SetupReport:
    """Everything wavelift needs on the server the Prefect settings point at."""
    created = ensure_work_pool()
    ensure_concurrency_limit(INITIAL_REPLICATION_LIMIT, MAX_INITIAL_REPLICATIONS)
    ensure_concurrency_limit(LEDGER_LOCK, 1)
    ensure_zombie_automation()
    slugs = register_block_types()
    names = []
    from wavelift.blocks.parameters import saved_reference
    from wavelift.blocks.plan import WavePlanBlock

    for deployment in deployments(nightly, saved_reference(WavePlanBlock, nightly.plan_name)):
        deployment.apply()
        names.append(f"{deployment.flow_name}/{deployment.name}")
    return SetupReport(
        work_pool=WORK_POOL,
        work_pool_created=created,
        concurrency_limit=INITIAL_REPLICATION_LIMIT,
        block_types=slugs,
        deployments=names,
    )
