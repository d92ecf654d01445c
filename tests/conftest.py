"""Shared fixtures: every database test runs on SQLite and on PostgreSQL, each in a database of its own."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from bot.__main__ import PAYLOAD_LOGGERS
from core.db.models import Base
from tests.fakes.openai_images import openai_double  # noqa: F401  (a fixture other modules use)
from tests.harness import (
    DatabaseTarget,
    Harness,
    harness_for,
    migrate_database,
    postgres_answers,
    sqlite_target,
)

POSTGRES_DSN = os.environ.get("IMAGE2BOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _require_postgres() -> None:
    """PostgreSQL tests skip only outside CI."""
    if postgres_answers():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL does not answer on 127.0.0.1:5432 and CI is set")
    pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")


def _postgres_target(schema: str) -> DatabaseTarget:
    return DatabaseTarget("postgresql+asyncpg" + POSTGRES_DSN.removeprefix("postgresql"), schema)


class PostgresSchemas:
    """Migrating takes longer than most tests, so each test process migrates a schema once and empties
    it for the next test."""

    def __init__(self) -> None:
        self._free_schemas: list[str] = []
        self._all_schemas: list[str] = []

    async def take_schema(self) -> str:
        if self._free_schemas:
            return self._free_schemas.pop()
        schema = await _new_schema()
        self._all_schemas.append(schema)
        await migrate_database(_postgres_target(schema))
        return schema

    async def give_back(self, schema: str) -> None:
        """Empties the schema for the next test; one that cannot be emptied is not reused.

        Row by row rather than TRUNCATE: on tables this small it is several times faster."""
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            sequences = await connection.fetch(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = $1", schema
            )
            children_first = reversed(Base.metadata.sorted_tables)
            await connection.execute(
                ";".join(
                    [f'DELETE FROM {schema}."{table.name}"' for table in children_first]
                    + [f'ALTER SEQUENCE {schema}."{row["sequence_name"]}" RESTART' for row in sequences]
                )
            )
        except asyncpg.PostgresError:
            await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            self._all_schemas.remove(schema)
            return
        finally:
            await connection.close()
        self._free_schemas.append(schema)

    async def drop_all(self) -> None:
        if not self._all_schemas:
            return
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            for schema in self._all_schemas:
                await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await connection.close()


async def _new_schema() -> str:
    schema = f"t_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
    finally:
        await connection.close()
    return schema


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[PostgresSchemas]:
    schemas = PostgresSchemas()
    yield schemas
    asyncio.run(schemas.drop_all())


@asynccontextmanager
async def database_of_kind(
    kind: str, tmp_path: Path, postgres_schemas: PostgresSchemas
) -> AsyncIterator[DatabaseTarget]:
    if kind == "sqlite":
        yield sqlite_target(tmp_path)
        return
    _require_postgres()
    schema = await postgres_schemas.take_schema()
    try:
        yield _postgres_target(schema)
    finally:
        await postgres_schemas.give_back(schema)


@pytest_asyncio.fixture(params=DATABASES)
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schemas: PostgresSchemas
) -> AsyncIterator[DatabaseTarget]:
    """A migrated database no other test sees, on SQLite and on PostgreSQL."""
    async with database_of_kind(request.param, tmp_path, postgres_schemas) as target:
        yield target


@pytest_asyncio.fixture(params=DATABASES)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseTarget]:
    """A database no migration has touched yet, for the tests of the migrations themselves."""
    if request.param == "sqlite":
        yield DatabaseTarget(f"sqlite+aiosqlite:///{tmp_path / 'image2bot.db'}")
        return
    _require_postgres()
    schema = await _new_schema()
    try:
        yield _postgres_target(schema)
    finally:
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await connection.close()


@pytest_asyncio.fixture
async def harness(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    """The real core on the offline renderer, a recording chat as its door, workers running."""
    async with harness_for(database, tmp_path) as running:
        yield running


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """For tests that run the CLI in-process: its logging setup replaces the root handlers."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in PAYLOAD_LOGGERS}
    root.handlers.clear()
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that run the bot as a process take longest, the many-process ones in tests/scale above all:
    they start first, so that the run does not end with one worker busy with such a test while the
    others wait."""
    items.sort(key=lambda item: (item.get_closest_marker("spawns") is None, "scale" not in item.path.parts))
