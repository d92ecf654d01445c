"""Shared fixtures: every database test runs on SQLite and on PostgreSQL, each in a database of its own."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import hypothesis
import pytest
import pytest_asyncio
from argon2 import PasswordHasher

from bot.__main__ import PAYLOAD_LOGGERS
from core import operators
from core.db.session import Database
from tests.fakes.openai_images import openai_double  # noqa: F401  (a fixture other modules use)
from tests.harness import (
    DatabaseTarget,
    Harness,
    harness_for,
    migrate_database,
    postgres_answers,
    sqlite_target,
)
from tests.object_store import s3_endpoint, s3_storage  # noqa: F401  (fixtures other modules use)
from tests.postgres import (
    PostgresAdmin,
    PostgresSchemas,
    commits_without_flush,
    create_schema,
    drop_schema,
)

POSTGRES_DSN = os.environ.get("IMAGE2BOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

# Compiled modules are kept (in `__pycache__`, which git ignores) even where the environment asks Python
# not to write them: each xdist worker, and each of the many bot processes the tests start, would
# otherwise compile the project's sources and rewrite the test modules again (some 10-20 s of CPU a run,
# as much as a hundred tests). Set before the workers and the bot processes start, they inherit it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# Property tests draw the same examples on every run, so a run never meets a failing example by
# chance that the one before passed, and have no deadline: a busy machine is no defect of the code.
hypothesis.settings.register_profile("image2bot", derandomize=True, deadline=None)
hypothesis.settings.load_profile("image2bot")

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


async def _migrate_schema(schema: str) -> None:
    await migrate_database(_postgres_target(schema))


@pytest.fixture(scope="session", autouse=True)
def _quick_password_hashes() -> Iterator[None]:
    """Operators' passwords are hashed with argon2 at a cost chosen to slow down guessing (half a second
    a hash on these machines). The tests sign in hundreds of times to check what a sign-in decides, not
    how long it takes, so in the test processes the same hasher runs at its lowest cost; a hash carries
    its own parameters, so every check works as before. Bot processes the tests start keep the real cost."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operators, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield


@pytest.fixture(scope="session", autouse=True)
def _postgres_commits_without_flush() -> Iterator[None]:
    with commits_without_flush():
        yield


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[PostgresAdmin]:
    """One connection for creating, emptying and dropping the test schemas, for the whole session."""
    admin = PostgresAdmin(POSTGRES_DSN)
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def postgres_schemas(postgres_admin: PostgresAdmin) -> Iterator[PostgresSchemas]:
    schemas = PostgresSchemas(postgres_admin, _migrate_schema)
    yield schemas
    if postgres_answers():
        schemas.drop_all()


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
        postgres_schemas.give_back(schema)


@pytest_asyncio.fixture(params=DATABASES)
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schemas: PostgresSchemas
) -> AsyncIterator[DatabaseTarget]:
    """A migrated database no other test sees, on SQLite and on PostgreSQL."""
    async with database_of_kind(request.param, tmp_path, postgres_schemas) as target:
        yield target


@pytest_asyncio.fixture(params=DATABASES)
async def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_admin: PostgresAdmin
) -> AsyncIterator[DatabaseTarget]:
    """A database no migration has touched yet, for the tests of the migrations themselves."""
    if request.param == "sqlite":
        yield DatabaseTarget(f"sqlite+aiosqlite:///{tmp_path / 'image2bot.db'}")
        return
    _require_postgres()
    schema = await create_schema(postgres_admin)
    try:
        yield _postgres_target(schema)
    finally:
        await drop_schema(postgres_admin, schema)


@pytest_asyncio.fixture
async def db(database: DatabaseTarget) -> AsyncIterator[Database]:
    """The migrated test database, opened directly (below the application)."""
    opened = database.open()
    try:
        yield opened
    finally:
        await opened.dispose()


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
    for handler in root.handlers:  # a log file the CLI opened
        handler.close()
    logging.captureWarnings(False)
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that run the bot as a process take longest, the many-process ones in tests/scale above all:
    they start first, so that the run does not end with one worker busy with such a test while the
    others wait."""
    items.sort(key=lambda item: (item.get_closest_marker("spawns") is None, "scale" not in item.path.parts))
