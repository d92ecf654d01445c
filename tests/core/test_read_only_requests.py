"""Requests that only read never wait for the writer: on SQLite they read their snapshot beside it
(WAL), on PostgreSQL their transactions are READ ONLY."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError

from core.db.session import READ_ONLY
from core.i18n import translate
from tests.harness import DatabaseTarget, Harness, harness_for

CEILING_S = 20  # the busy timeout is 30 s: a request that waits for the writer fails here first


@contextmanager
def writer_elsewhere(database: Path) -> Iterator[None]:
    """Another process holding SQLite's one write lock for as long as the block runs."""
    other = sqlite3.connect(database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def sqlite_file(harness: Harness) -> Path:
    url = harness.app.db.engine.url
    assert url.database is not None
    return Path(url.database)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_balance_history_and_help_answer_while_another_process_writes(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        await harness.say("/balance")  # the first contact creates the account: a write
        with writer_elsewhere(sqlite_file(harness)):
            async with asyncio.timeout(CEILING_S):
                [balance] = await harness.say("/balance")
                [history] = await harness.say("/history")
                [shown] = await harness.say("/help")
    assert balance.text.startswith(translate("en", "balance.total", total=40))
    assert history.text == translate("en", "history.empty")
    assert not shown.error


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_read_unit_of_work_refuses_to_write_on_postgresql(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        with pytest.raises(DBAPIError, match="read-only"):
            async with harness.app.db.read() as session:
                await session.execute(text("UPDATE accounts SET language = 'en'"))


@contextmanager
def transactions(harness: Harness) -> Iterator[list[bool]]:
    """Each transaction the block begins, as whether it only reads (run with no background loop: the
    outbox's own transactions would count too)."""
    begun: list[bool] = []

    def count(connection: Connection) -> None:
        options = connection.get_execution_options()
        begun.append(bool(options.get(READ_ONLY) or options.get("postgresql_readonly")))

    engines = [engine.sync_engine for engine in harness.app.db.engines]
    for engine in engines:
        event.listen(engine, "begin", count)
    try:
        yield begun
    finally:
        for engine in engines:
            event.remove(engine, "begin", count)


@pytest.mark.parametrize("command", ["/help", "/balance", "/history"])
async def test_a_command_that_only_reads_runs_in_one_read_only_transaction(
    database: DatabaseTarget, tmp_path: Path, command: str
) -> None:
    async with harness_for(database, tmp_path, run_workers=False, drain_outbox=False) as harness:
        await harness.say("/help")  # the first contact creates the account and accepts the terms
        with transactions(harness) as begun:
            [shown] = await harness.say(command)
    assert not shown.error
    assert begun == [True], "one transaction, and it only reads"


async def test_imagine_writes_in_one_transaction(database: DatabaseTarget, tmp_path: Path) -> None:
    async with harness_for(database, tmp_path, run_workers=False, drain_outbox=False) as harness:
        await harness.say("/help")
        with transactions(harness) as begun:
            await harness.imagine("a red fox")
    assert begun.count(False) == 1, "the reserve, the job and its place in the queue: one write"
    assert len(begun) <= 3, "who asks, what refuses them: two reads before it"
