"""The ledger's promises: idempotent, never negative, every hold closed exactly once, no double spend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core import credits
from core.credits import Bucket, EntryKind
from core.db.session import Database
from core.i18n import translate
from core.messages import Stage
from tests.harness import DatabaseTarget, Harness, harness_for


async def _account(harness: Harness, user: str = "alice") -> int:
    await harness.say("/balance", user)
    account = await harness.app.core.services.accounts.find("test", user)
    assert account is not None
    return account.id


def _db(harness: Harness) -> Database:
    return harness.app.db


async def test_first_contact_grants_the_trial_exactly_once(harness: Harness) -> None:
    replies = await asyncio.gather(*(harness.say("/balance", "newcomer") for _ in range(20)))
    assert all("40" in r[0].text for r in replies)
    assert (await harness.balance("newcomer")).total == 40
    await harness.assert_ledger_consistent()


async def test_grant_is_idempotent_by_key(harness: Harness) -> None:
    account = await _account(harness)
    async with _db(harness).transaction() as session:
        assert await credits.grant(session, account, 100, kind=EntryKind.ADMIN_GRANT, key="case-1")
        assert not await credits.grant(session, account, 100, kind=EntryKind.ADMIN_GRANT, key="case-1")
        assert (await credits.balance(session, account)).one_time == 140
    await harness.assert_ledger_consistent()


async def test_reserve_spends_subscription_first_and_refund_returns_each_bucket(harness: Harness) -> None:
    account = await _account(harness)
    async with _db(harness).transaction() as session:
        await credits.grant(
            session, account, 15, kind=EntryKind.ADMIN_GRANT, key="sub", bucket=Bucket.SUBSCRIPTION
        )
        hold = await credits.reserve(session, account, 20, key="job:a")
        assert (hold.subscription_amount, hold.one_time_amount) == (15, 5)
        assert await credits.balance(session, account) == credits.Balance(0, 35)
        assert await credits.refund(session, hold.id)
        assert await credits.balance(session, account) == credits.Balance(15, 40)
    await harness.assert_ledger_consistent()


async def test_a_hold_writes_one_entry_per_bucket_as_it_opens_and_as_it_closes(harness: Harness) -> None:
    account = await _account(harness)  # the trial: 40 one-time credits
    async with _db(harness).transaction() as session:
        await credits.grant(
            session, account, 15, kind=EntryKind.ADMIN_GRANT, key="sub", bucket=Bucket.SUBSCRIPTION
        )
        spent = await credits.reserve(session, account, 20, key="job:s", reference="job:7")
        returned = await credits.reserve(session, account, 10, key="job:r")
    async with _db(harness).transaction() as session:
        assert await credits.settle(session, spent.id)
        assert await credits.refund(session, returned.id)
        written = sorted(await credits.all_entries(session, account), key=lambda entry: entry.id)

    s, r = spent.id, returned.id
    assert [
        (entry.kind, entry.bucket, entry.delta, entry.idempotency_key, entry.reference)
        for entry in written
        if entry.kind in (EntryKind.RESERVE, EntryKind.SETTLE, EntryKind.REFUND)
    ] == [
        ("reserve", "subscription", -15, f"hold:{s}:reserve:subscription", "job:7"),
        ("reserve", "one_time", -5, f"hold:{s}:reserve:one_time", "job:7"),
        ("reserve", "one_time", -10, f"hold:{r}:reserve:one_time", f"hold:{r}"),
        ("settle", "subscription", 0, f"hold:{s}:settle:subscription", "job:7"),
        ("settle", "one_time", 0, f"hold:{s}:settle:one_time", "job:7"),
        ("refund", "one_time", 10, f"hold:{r}:refund:one_time", f"hold:{r}"),
    ]
    assert all(entry.created_at.tzinfo is not None for entry in written)
    assert await harness.balance() == credits.Balance(0, 35)
    await harness.assert_ledger_consistent()


async def test_a_take_decided_on_a_stale_balance_still_spends_subscription_first(harness: Harness) -> None:
    account = await _account(harness)
    async with _db(harness).transaction() as session:
        read_earlier = await credits.balance(session, account)  # 0 subscription, 40 one-time
        await credits.set_subscription(session, account, 25, key="cycle-1")  # then a cycle began
        taken = await credits.take(session, account, 30, known=read_earlier)
        assert taken is not None
        assert (taken.subscription, taken.one_time) == (25, 5)
        assert taken.balance == credits.Balance(0, 35) == await credits.balance(session, account)
        hold = await credits.hold(session, account, taken, key="stale")
        assert await credits.refund(session, hold.id)
    await harness.assert_ledger_consistent()


async def test_a_take_decided_on_a_balance_since_spent_is_refused(harness: Harness) -> None:
    account = await _account(harness)
    async with _db(harness).transaction() as session:
        read_earlier = await credits.balance(session, account)
        await credits.reserve(session, account, 35, key="elsewhere")
        with pytest.raises(credits.InsufficientCredits):
            await credits.take(session, account, 10, known=read_earlier)
        assert await credits.balance(session, account) == credits.Balance(0, 5)


async def test_reserve_with_the_same_key_returns_the_same_hold(harness: Harness) -> None:
    account = await _account(harness)
    async with _db(harness).transaction() as session:
        first = await credits.reserve(session, account, 10, key="job:same")
        second = await credits.reserve(session, account, 10, key="job:same")
        assert first.id == second.id
        assert (await credits.balance(session, account)).total == 30


async def test_a_reserve_beyond_the_balance_changes_nothing(harness: Harness) -> None:
    account = await _account(harness)
    with pytest.raises(credits.InsufficientCredits) as refused:
        async with _db(harness).transaction() as session:
            await credits.reserve(session, account, 41, key="job:big")
    assert refused.value.balance.total == 40
    assert (await harness.balance()).total == 40
    await harness.assert_ledger_consistent()


async def test_settle_and_refund_close_a_hold_once_whatever_the_order(harness: Harness) -> None:
    account = await _account(harness)
    async with _db(harness).transaction() as session:
        settled = await credits.reserve(session, account, 10, key="job:s")
        refunded = await credits.reserve(session, account, 10, key="job:r")
    async with _db(harness).transaction() as session:
        assert await credits.settle(session, settled.id)
        assert not await credits.refund(session, settled.id)
        assert not await credits.settle(session, settled.id)
        assert await credits.refund(session, refunded.id)
        assert not await credits.settle(session, refunded.id)
        assert not await credits.refund(session, refunded.id)
    assert (await harness.balance()).total == 30
    await harness.assert_ledger_consistent()


async def test_racing_settles_and_refunds_close_each_hold_exactly_once(harness: Harness) -> None:
    account = await _account(harness)
    async with _db(harness).transaction() as session:
        holds = [await credits.reserve(session, account, 10, key=f"job:{i}") for i in range(4)]

    async def close(hold_id: int, how: str) -> bool:
        async with _db(harness).transaction() as session:
            return await (credits.settle if how == "settle" else credits.refund)(session, hold_id)

    outcomes = await asyncio.gather(
        *(close(hold.id, how) for hold in holds for how in ("settle", "refund", "settle", "refund"))
    )
    for i in range(len(holds)):
        assert sum(outcomes[i * 4 : i * 4 + 4]) == 1
    await harness.assert_ledger_consistent()


async def test_200_concurrent_imagines_with_credits_for_3_accept_exactly_3(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False, credits={"trial": 30}) as harness:
        answers = await asyncio.gather(*(harness.say("/imagine a red fox") for _ in range(200)))
        accepted = [replies for replies in answers if replies[0].stage == Stage.QUEUED]
        refused = [replies for replies in answers if replies[0].stage is None]
        assert len(accepted) == 3
        assert len(refused) == 197
        # Costs and balances move in steps of 10, so a refusal only ever happens at a balance of 0.
        refusal = translate("en", "error.insufficient_credits", balance=0, cost=10)
        assert all(replies[0].text.startswith(refusal) for replies in refused)
        assert (await harness.balance()).total == 0
        account = await _account(harness)
        assert len(await harness.jobs_of(account)) == 3
        await harness.assert_ledger_consistent()


async def test_concurrent_imagines_never_exceed_the_queue_limit(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(
        database,
        tmp_path,
        run_workers=False,
        credits={"trial": 1000},
        generation={"max_queued_jobs_per_user": 4},
    ) as harness:
        answers = await asyncio.gather(*(harness.say("/imagine a lighthouse") for _ in range(30)))
        assert sum(replies[0].stage == Stage.QUEUED for replies in answers) == 4
        assert (await harness.balance()).total == 1000 - 4 * 10
        await harness.assert_ledger_consistent()
