"""What a Prefect server needs before wavelift's flows run: the work pool, the global concurrency
limit, the block types and the deployments. Running it again changes nothing, except that the nightly
cutover's plan, once imported, is referred to by id (which the UI's form shows as chosen)."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel

from blocks.signoff import LEDGER_LOCK
from deployments.definitions import WORK_POOL, NightlyCutover, deployments
from tasks.limits import ensure_concurrency_limit
from tasks.replication import INITIAL_REPLICATION_LIMIT

MAX_INITIAL_REPLICATIONS = 100


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


def register_block_types() -> list[str]:
    """Register every wavelift block type, so the UI offers them before any is saved."""
    from blocks.azure import AzureCredentials, AzureMigrationTarget
    from blocks.cleanup import CleanupPolicy
    from blocks.docs import DocsTarget
    from blocks.hardening import HardeningPolicy
    from blocks.onprem import HttpBackupCatalog, LocalDatastore
    from blocks.plan import WavePlanBlock
    from blocks.signoff import SignOffLedger

    types = [
        AzureCredentials,
        AzureMigrationTarget,
        WavePlanBlock,
        SignOffLedger,
        HardeningPolicy,
        CleanupPolicy,
        HttpBackupCatalog,
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
    slugs = register_block_types()
    names = []
    from blocks.parameters import saved_reference
    from blocks.plan import WavePlanBlock

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
