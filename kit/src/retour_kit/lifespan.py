"""What every service's lifespan starts with: its pool open and its schema migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog

from retour_kit.db import Database
from retour_kit.migrations import migrate

log = structlog.stdlib.get_logger(__name__)


@asynccontextmanager
async def database_ready(
    database: Database, *, migrations_package: str, migrate_on_start: bool, **pool_options: Any
) -> AsyncIterator[asyncpg.Pool]:
    """Opens the pool, applies pending migrations when asked (two instances starting at once
    are serialised by the migration lock), and closes the pool on the way out."""
    pool = await database.open(**pool_options)
    try:
        if migrate_on_start:
            async with pool.acquire() as connection:
                applied = await migrate(
                    connection, schema=database.schema, package=migrations_package
                )
            log.info("migrations up to date", applied=applied)
        yield pool
    finally:
        await database.close()
