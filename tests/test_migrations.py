"""The Alembic migrations build exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, inspect, select

from core.db import migrate
from core.db.models import Account, Base
from core.db.session import Database
from tests.harness import DatabaseTarget, make_settings


def open_database(database: DatabaseTarget, tmp_path: Path) -> Database:
    return make_settings(database, tmp_path).open_database()


def head() -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


async def test_migrated_database_matches_the_models(empty_database: DatabaseTarget, tmp_path: Path) -> None:
    db = open_database(empty_database, tmp_path)
    try:
        await migrate.upgrade(db.engine)

        def differences(connection: Connection) -> list[Any]:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(context, Base.metadata)

        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await db.dispose()


async def test_migrations_create_every_table_in_the_configured_place(
    empty_database: DatabaseTarget, tmp_path: Path
) -> None:
    db = open_database(empty_database, tmp_path)
    try:
        await migrate.upgrade(db.engine)

        def tables(connection: Connection) -> tuple[str | None, set[str]]:
            inspector = inspect(connection)
            return inspector.default_schema_name, set(inspector.get_table_names())

        async with db.engine.connect() as connection:
            schema, names = await connection.run_sync(tables)
    finally:
        await db.dispose()

    assert names == set(Base.metadata.tables) | {"alembic_version"}
    if empty_database.schema:  # PostgreSQL: inside the configured schema, not in public
        assert schema == empty_database.schema


async def test_pending_until_upgraded_and_a_second_upgrade_changes_nothing(
    empty_database: DatabaseTarget, tmp_path: Path
) -> None:
    db = open_database(empty_database, tmp_path)
    try:
        assert await migrate.pending(db.engine)

        await migrate.upgrade(db.engine)
        assert not await migrate.pending(db.engine)
        async with db.transaction() as session:
            session.add(Account())

        await migrate.upgrade(db.engine)

        assert not await migrate.pending(db.engine)
        async with db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Account)) == 1

        def revisions(connection: Connection) -> tuple[str, ...]:
            return MigrationContext.configure(connection).get_current_heads()

        async with db.engine.connect() as connection:
            assert await connection.run_sync(revisions) == (head(),)
    finally:
        await db.dispose()
