"""What a Prefect server needs before wavelift's flows run; running it again changes nothing."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectNotFound

from tasks.replication import INITIAL_REPLICATION_LIMIT

MAX_INITIAL_REPLICATIONS = 100


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
