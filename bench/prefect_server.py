"""The Prefect server a benchmark runs against: `prefect server start` on a fresh PostgreSQL database
(127.0.0.1:5432), as a team would run it for a wave of hundreds of machines, dropped afterwards.

SQLite serialises every write: under a thousand task runs a slot acquisition waited seconds for the
database, which measured the database, not wavelift.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.local_prefect import LocalPrefect

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/"


async def _database(action: str, name: str) -> None:
    connection = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@contextmanager
def postgres_prefect() -> Iterator[LocalPrefect]:
    """A Prefect server on its own PostgreSQL database, the API setting pointed at it for the block."""
    name = f"wavelift_bench_{os.getpid()}"
    asyncio.run(_database("create", name))
    try:
        home = Path(tempfile.mkdtemp(prefix="wavelift-bench-prefect-"))
        with (
            LocalPrefect(home, database_url=POSTGRES + name) as server,
            temporary_settings(updates={PREFECT_API_URL: server.api_url}),
        ):
            yield server
    finally:
        asyncio.run(_database("drop", name))
