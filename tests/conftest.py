"""Shared fixtures: every database test runs on SQLite and on PostgreSQL, each in a fresh database."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from bot.__main__ import PAYLOAD_LOGGERS
from tests.fakes.openai_images import openai_double  # noqa: F401  (a fixture other modules use)
from tests.harness import DatabaseTarget, Harness, harness_for

POSTGRES_DSN = os.environ.get("IMAGE2BOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseTarget]:
    """A database URL (and schema) no other test sees; PostgreSQL tests skip only outside CI."""
    if request.param == "sqlite":
        yield DatabaseTarget(f"sqlite+aiosqlite:///{tmp_path / 'image2bot.db'}")
        return
    if not _postgres_answers():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL does not answer on 127.0.0.1:5432 and CI is set")
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    schema = f"t_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        yield DatabaseTarget("postgresql+asyncpg" + POSTGRES_DSN.removeprefix("postgresql"), schema)
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
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
