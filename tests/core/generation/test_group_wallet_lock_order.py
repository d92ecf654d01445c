"""On PostgreSQL a group job failing locks its member's account and the group wallet that paid, in id
order as the intake does, before the member's queue row: a failure while the intake charges the wallet
for another order never deadlocks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from core import credits
from core.db.repositories import orders
from core.i18n import translate
from core.messages import ChatRef, Incoming, Stage, declared
from tests.core.generation.test_lock_order import (
    ON_POSTGRES_ONLY,
    WAIT_LIMIT_S,
    GatedBlock,
    _until_a_lock_is_awaited,
)
from tests.harness import DatabaseTarget, harness_for

GROUP = ChatRef("test", "group", "g1")


@ON_POSTGRES_ONLY
async def test_a_group_job_failing_while_the_intake_charges_its_wallet_does_not_deadlock(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedBlock()
    async with harness_for(database, tmp_path, provider=provider) as bot:
        core = bot.app.core

        def in_group(message: str, user: str, admin: bool = False) -> Incoming:
            return Incoming(bot.user(user), GROUP, message, group_admin=declared(admin))

        await bot.say("/start", "bob")  # the member's account is older than the wallet: a lower id
        await core.dispatch(in_group("/group wallet on", "admin", admin=True))
        wallet = await core.services.groups.wallet_of(GROUP)
        assert wallet is not None
        async with bot.app.db.transaction() as session:
            await credits.grant(session, wallet, 30, kind=credits.EntryKind.ADMIN_GRANT, key="fund")
        [queued] = await core.dispatch(in_group("/imagine a lighthouse", "bob"))
        assert queued.stage == Stage.QUEUED
        assert queued.job is not None
        job = queued.job
        await provider.wait_started(1)
        member = (await bot.job(job)).account_id

        async with bot.app.db.transaction() as intake:  # an intake batch charging the wallet ...
            await orders.payers(intake, [wallet])
            provider.release("a lighthouse")
            await _until_a_lock_is_awaited(bot.app.db)  # the worker's failure waits for the wallet
            # ... then the member's queue row, which the failing worker must not be holding
            await intake.execute(
                text("SELECT account_id FROM account_queues WHERE account_id = :a FOR UPDATE"), {"a": member}
            )

        async with asyncio.timeout(WAIT_LIMIT_S):
            while (await bot.job(job)).status != "failed":  # noqa: ASYNC110 (a row another task writes)
                await asyncio.sleep(0.02)
        async with bot.app.db.read() as session:
            assert (await credits.balance(session, wallet)).total == 30, "refunded to the group's wallet"
        blocked = translate("en", "job.failed.blocked", job=job, credits=10)
        assert (await bot.chat.wait_final(job)).text.startswith(blocked)
        await bot.assert_ledger_consistent()
