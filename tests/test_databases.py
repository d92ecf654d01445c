"""The databases the tests run in are migrated and empty, though they are reused or copied to save time:
a PostgreSQL schema given back is emptied for the next test, its ids counting from 1 again; a SQLite
database is a copy of one migrated per process."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import migrate
from core.db.models import Base
from tests.conftest import _postgres_target, _require_postgres
from tests.harness import DatabaseTarget, harness_for, sqlite_target
from tests.postgres import PostgresSchemas


@pytest.mark.postgres
async def test_a_schema_given_back_is_handed_out_again_empty_with_ids_from_one(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    _require_postgres()
    schema = await postgres_schemas.take_schema()
    first = _postgres_target(schema)
    async with harness_for(first, tmp_path / "first") as bot:
        for user in ("alice", "bob", "carol"):
            await bot.imagine("a lighthouse", user)
        assert await rows(first) > 0
    postgres_schemas.give_back(schema)

    again = await postgres_schemas.take_schema()
    try:
        assert again == schema, "a schema given back is reused, not migrated anew"
        assert await rows(_postgres_target(again)) == 0
        async with harness_for(_postgres_target(again), tmp_path / "second") as bot:
            assert await bot.imagine("a lighthouse", "dave") == 1, "ids count from 1 again"
            account = await bot.app.core.services.accounts.find("test", "dave")
            assert account is not None
            assert account.id == 1
    finally:
        postgres_schemas.give_back(again)


async def test_a_sqlite_database_is_migrated_and_empty(tmp_path: Path) -> None:
    target = sqlite_target(tmp_path)
    db = target.open()
    try:
        assert not await migrate.pending(db.engine)
    finally:
        await db.dispose()
    assert await rows(target) == 0


async def rows(target: DatabaseTarget) -> int:
    """How many rows the tables of the models hold, all together."""
    db = target.open()
    try:
        async with db.read() as session:
            total = 0
            for table in Base.metadata.sorted_tables:
                total += await session.scalar(select(func.count()).select_from(table)) or 0
            return total
    finally:
        await db.dispose()
