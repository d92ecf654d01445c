"""On PostgreSQL every transaction that changes an account's credits and its queue row locks the account
first, as the intake does: a job failing while its account queues another never deadlocks (a deadlock
reaches the user as "something went wrong", and the request is lost)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db.repositories import orders
from core.db.session import Database
from core.generation.providers.base import ContentBlocked, OnPartial, RenderRequest, RenderResult
from core.i18n import translate
from tests.fakes.gated_provider import GatedProvider
from tests.harness import DatabaseTarget, harness_for

WAIT_LIMIT_S = 10.0
# SQLite runs one write transaction at a time: there is no lock order to keep, so these run on
# PostgreSQL alone.
ON_POSTGRES_ONLY = pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


class GatedBlock(GatedProvider):
    """Renders wait for the test, then are refused by the safety system (a refund and a strike)."""

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        await super().render(request, on_partial)
        raise ContentBlocked("blocked")


@ON_POSTGRES_ONLY
async def test_a_job_failing_while_its_account_queues_another_does_not_deadlock(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedBlock()
    async with harness_for(database, tmp_path, provider=provider) as bot:
        job = await bot.imagine("a lighthouse")
        await provider.wait_started(1)
        account = (await bot.job(job)).account_id

        async with bot.app.db.transaction() as intake:  # an intake batch: the payer first ...
            await orders.payers(intake, [account])
            provider.release("a lighthouse")
            await _until_a_lock_is_awaited(bot.app.db)  # the worker's failure waits for the account
            # ... then the account's queue row, which the failing worker must not be holding
            await intake.execute(
                text("SELECT account_id FROM account_queues WHERE account_id = :a FOR UPDATE"),
                {"a": account},
            )

        async with asyncio.timeout(WAIT_LIMIT_S):
            while (await bot.job(job)).status != "failed":  # noqa: ASYNC110 (a row another task writes)
                await asyncio.sleep(0.02)
        assert (await bot.balance()).total == 40  # refunded
        blocked = translate("en", "job.failed.blocked", job=job, credits=10)
        assert (await bot.chat.wait_final(job)).text.startswith(blocked)  # the outbox delivers it after
        await bot.assert_ledger_consistent()


async def _until_a_lock_is_awaited(db: Database) -> None:
    """Until a session waits for a lock in a statement on accounts (the failing worker's)."""
    async with asyncio.timeout(WAIT_LIMIT_S):
        while True:
            async with db.read() as session:
                waiting = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                        "AND query LIKE '%accounts%'"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.02)
