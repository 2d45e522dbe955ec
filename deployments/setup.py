"""What a Prefect server needs before wavelift's flows run: the work pool, the global concurrency
limit, the block types and the deployments. Running it again changes nothing."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate, WorkPoolCreate
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel

from deployments.definitions import WORK_POOL, NightlyCutover, deployments
from tasks.replication import INITIAL_REPLICATION_LIMIT

MAX_INITIAL_REPLICATIONS = 100


class SetupReport(BaseModel):
    """What setup found and made."""

    work_pool: str
    work_pool_created: bool
    concurrency_limit: str
    block_types: list[str]
    deployments: list[str]


def ensure_concurrency_limit(name: str = INITIAL_REPLICATION_LIMIT, limit: int = MAX_INITIAL_REPLICATIONS) -> None:
    """Create the global concurrency limit, or set its size if it exists (held slots are kept)."""
    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            return
        if current.limit != limit or not current.active:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=limit, active=True))


def ensure_work_pool(name: str = WORK_POOL) -> bool:
    """A process work pool with the process worker's job template; True if it was created now."""
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type=ProcessWorker.type, base_job_template=ProcessWorker.get_default_base_job_template(),
                                                   description="wavelift's migration flows"))
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

    types = [AzureCredentials, AzureMigrationTarget, WavePlanBlock, SignOffLedger, HardeningPolicy, CleanupPolicy, HttpBackupCatalog, LocalDatastore, DocsTarget]
    for block_type in types:
        block_type.register_type_and_schema()
    return [t.get_block_type_slug() for t in types]


def setup(nightly: NightlyCutover) -> SetupReport:
    """Everything wavelift needs on the server the Prefect settings point at."""
    created = ensure_work_pool()
    ensure_concurrency_limit()
    slugs = register_block_types()
    names = []
    for deployment in deployments(nightly):
        deployment.apply()
        names.append(f"{deployment.flow_name}/{deployment.name}")
    return SetupReport(work_pool=WORK_POOL, work_pool_created=created, concurrency_limit=INITIAL_REPLICATION_LIMIT, block_types=slugs, deployments=names)
