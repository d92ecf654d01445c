"""A new subscription's first two events (its checkout and its first invoice) may be handled at the
same moment by two processes: both land, the later one updating the row the earlier one made.
PostgreSQL only: SQLite runs one writer at a time, so there the second cannot read before the first
has committed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db.models import Subscription
from core.db.repositories import payments as repo
from core.db.session import Database
from tests.harness import DatabaseTarget, harness_for

CEILING_S = 20


async def waiting_on_a_lock(db: Database, backend: int) -> None:
    """Returns once that connection waits for a lock another transaction holds."""
    async with db.engine.connect() as connection:
        query = text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted")
        # PostgreSQL tells no one of a lock wait: the condition is polled, within the test's ceiling.
        while not await connection.scalar(query, {"pid": backend}):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_subscription_first_recorded_by_two_events_at_once_keeps_both(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        await harness.say("/balance")
        found = await harness.app.core.services.accounts.find("test", "alice")
        assert found is not None
        db = harness.app.db
        invoice_backend: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        checkout_saved = asyncio.Event()

        async def checkout() -> None:
            async with db.transaction() as session:
                await repo.save_subscription(
                    session, "sub_race", account_id=found.id, plan="pro", status="active", customer="cus_1"
                )
                checkout_saved.set()
                await waiting_on_a_lock(db, await invoice_backend)  # its insert meets this row

        async def invoice() -> None:
            async with db.transaction() as session:
                invoice_backend.set_result(await session.scalar(text("SELECT pg_backend_pid()")))
                await checkout_saved.wait()
                await repo.save_subscription(
                    session, "sub_race", account_id=found.id, plan="pro", status="active", chat="test:alice"
                )

        async with asyncio.timeout(CEILING_S):
            await asyncio.gather(checkout(), invoice())

        async with db.read() as session:
            row = await session.get(Subscription, "sub_race")
        assert row is not None
        assert (row.customer, row.chat, row.status) == ("cus_1", "test:alice", "active")
