"""Applies the Alembic migrations in `migrations/` to a database."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db.locks import lock_key


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    return config


@functools.cache
def _heads() -> tuple[str, ...]:
    """The newest revisions, read once per process: reading them compiles every migration file."""
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrates to `revision`; a database already at the newest revision is left as it is, without
    loading the migrations (every start and every test does this)."""
    config = alembic_config()

    def run(connection: Any) -> None:
        if revision == "head" and _current(connection) == set(_heads()):
            return
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # processes starting together migrate one at a time
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("migrations")}
            )
        await connection.run_sync(run)


async def pending(engine: AsyncEngine) -> bool:
    """True when the database is behind the newest migration."""

    async with engine.connect() as connection:
        return await connection.run_sync(_current) != set(_heads())


def _current(connection: Any) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())
