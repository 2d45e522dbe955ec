"""Prefect global concurrency limits wavelift relies on, made sure of before use (creating one twice is harmless)."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound


def ensure_concurrency_limit(name: str, limit: int) -> None:
    """Create the global concurrency limit, or set its size if it exists (held slots are kept)."""
    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except ObjectAlreadyExists:  # another run created it a moment ago
                pass
            return
        if current.limit != limit or not current.active:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=limit, active=True))
