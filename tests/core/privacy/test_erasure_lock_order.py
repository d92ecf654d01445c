"""On PostgreSQL an erasure locks the member and the group wallets paying for its unfinished jobs in id
order, as the intake does, before refunding them: an erasure while the intake charges the same wallet
never deadlocks, and the books balance."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core import credits
from core.db.repositories import orders
from core.messages import ChatRef, Incoming, Stage, declared
from tests.core.generation.test_lock_order import ON_POSTGRES_ONLY, WAIT_LIMIT_S, _until_a_lock_is_awaited
from tests.fakes.gated_provider import GatedProvider
from tests.harness import DatabaseTarget, harness_for

GROUP = ChatRef("test", "group", "g1")


@ON_POSTGRES_ONLY
async def test_erasing_a_member_while_the_intake_charges_its_wallet_does_not_deadlock(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    async with harness_for(database, tmp_path, provider=provider) as bot:
        core = bot.app.core

        def in_group(message: str, user: str, admin: bool = False) -> Incoming:
            return Incoming(bot.user(user), GROUP, message, group_admin=declared(admin))

        await core.dispatch(in_group("/group wallet on", "admin", admin=True))
        wallet = await core.services.groups.wallet_of(GROUP)
        assert wallet is not None
        await bot.say("/start", "bob")  # the member's account is newer than the wallet: a higher id
        async with bot.app.db.transaction() as session:
            await credits.grant(session, wallet, 30, kind=credits.EntryKind.ADMIN_GRANT, key="fund")
        [queued] = await core.dispatch(in_group("/imagine a lighthouse", "bob"))
        assert queued.stage == Stage.QUEUED
        assert queued.job is not None
        await provider.wait_started(1)
        member = (await bot.job(queued.job)).account_id
        assert wallet < member

        async with bot.app.db.transaction() as intake:  # an intake batch charging the wallet ...
            await orders.payers(intake, [wallet])
            erasing = asyncio.create_task(core.services.privacy.eraser.erase_now(member, "cli:operator"))
            await _until_a_lock_is_awaited(bot.app.db)  # the erasure waits for the wallet
            await orders.payers(intake, [member])  # ... then the member, which the erasure must not hold
        async with asyncio.timeout(WAIT_LIMIT_S):
            await erasing
        provider.release("a lighthouse")

        async with bot.app.db.read() as session:
            assert (await credits.balance(session, wallet)).total == 30, "refunded to the group's wallet"
        await bot.assert_ledger_consistent()
