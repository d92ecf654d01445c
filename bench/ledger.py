"""4. Ledger: reserve + settle pairs per second from 64 concurrent tasks, on SQLite and PostgreSQL,
against a bare insert-and-commit loop from 64 tasks on the same database.

Both sides go through the product's `Database.transaction()` (its engine, pool and, on SQLite,
BEGIN IMMEDIATE behind one in-process writer lock), so the difference is what runs inside: a
reserve as `/imagine` makes it (`credits.take` from the balance the request read, then
`credits.hold`: a conditional balance update, the hold, its ledger entry) in one transaction and its
settle (the hold closed, a settle entry) in a second, as the worker does, against one INSERT. Two
transactions against one keep the ratio below 0.5x. Each task has its own account. PostgreSQL runs
in a fresh schema of the `test` database, dropped afterwards; it is skipped when no server answers.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from sqlalchemy import text

from bench.common import SKIPPED, Figure
from bench.seed import seed_accounts
from core import credits
from core.db import migrate
from core.db.session import Database
from core.privacy.settings import PrivacySettings
from tests.harness import postgres_answers

TASKS = 64
TARGET = 0.5  # issue 15: pairs per second against bare inserts per second
WARMUP_S = 1.0
MEASURE_S = 2.0
ROUNDS = 5  # the median round is the figure
POSTGRES_DSN = os.environ.get("IMAGE2BOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
FIRST_USER = 30_000


async def run() -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}")
        try:
            figures.append(await _compare(sqlite, "SQLite", "INTEGER PRIMARY KEY"))
        finally:
            await sqlite.dispose()
    if not postgres_answers():
        return [*figures, Figure(key="ledger_postgresql", title=_title("PostgreSQL"), value=SKIPPED)]
    schema = f"bench_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        postgres = Database("postgresql+asyncpg" + POSTGRES_DSN.removeprefix("postgresql"), schema=schema)
        try:
            identity = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            figures.append(await _compare(postgres, "PostgreSQL", identity))
        finally:
            await postgres.dispose()
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await connection.close()
    return figures


def _title(database: str) -> str:
    return f"4. Ledger ({database}): reserve+settle pairs/s, 64 tasks, vs bare inserts/s"


async def _compare(db: Database, name: str, primary_key: str) -> Figure:
    await migrate.upgrade(db.engine)
    users = list(range(FIRST_USER, FIRST_USER + TASKS))
    await seed_accounts(db, users, platform="bench", trial=10**9, privacy=PrivacySettings())
    async with db.transaction() as session:
        await session.execute(text(f"CREATE TABLE bench_rows (id {primary_key}, v INTEGER NOT NULL)"))
        accounts = list(
            await session.scalars(
                text("SELECT account_id FROM identities WHERE platform = 'bench' ORDER BY account_id")
            )
        )
    keys = itertools.count()

    known: dict[int, credits.Balance] = {}  # each task's balance as its last request read it

    async def pair(account: int) -> None:
        key = f"bench:{next(keys)}"
        async with db.transaction() as session:
            taken = await credits.take(session, account, 1, known=known.get(account))
            assert taken is not None
            hold = await credits.hold(session, account, taken, key=key, reference=key)
        known[account] = taken.balance
        async with db.transaction() as session:
            await credits.settle(session, hold.id)

    async def insert(account: int) -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO bench_rows (v) VALUES (:v)"), {"v": account})

    rounds = []  # the two sides alternate, so a change in the machine's load falls on both
    for _ in range(ROUNDS):
        pairs = await _rate(pair, accounts)
        inserts = await _rate(insert, accounts)
        rounds.append((pairs / inserts, pairs, inserts))
    ratio, pairs, inserts = statistics.median(rounds)
    return Figure(
        key=f"ledger_{name.lower()}",
        title=_title(name),
        value=f"{pairs:,.0f} vs {inserts:,.0f}/s ({ratio:.2f}x)",
        target=f">= {TARGET}x",
        met=ratio >= TARGET,
        details={
            "pairs_per_s": pairs,
            "inserts_per_s": inserts,
            "ratio": ratio,
            "ratios_by_round": [round(each[0], 3) for each in rounds],
            "tasks": TASKS,
        },
    )


async def _rate(operation: Callable[[int], Awaitable[None]], accounts: list[int]) -> float:
    """Operations per second over MEASURE_S, after WARMUP_S, with one task per account."""
    done = 0
    stop = asyncio.Event()

    async def loop(account: int) -> None:
        nonlocal done
        while not stop.is_set():
            await operation(account)
            done += 1

    tasks = [asyncio.create_task(loop(account)) for account in accounts]
    await asyncio.sleep(WARMUP_S)
    start_count, start = done, time.perf_counter()
    await asyncio.sleep(MEASURE_S)
    rate = (done - start_count) / (time.perf_counter() - start)
    stop.set()
    await asyncio.gather(*tasks)
    return rate
