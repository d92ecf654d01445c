"""Requests that arrive together are paid for and queued in one transaction: each is still decided
alone, in arrival order, and what one request does never changes another's outcome."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import credits
from core.credits import Bucket, EntryKind
from core.db.models import LedgerEntry
from core.generation.intake import Order, Queued
from core.messages import ChatRef, Incoming, Reply, Stage
from tests.core.generation.job_rows import JOB_COLUMNS
from tests.harness import DatabaseTarget, Harness, harness_for

COST = 10


async def test_many_users_at_once_each_pay_for_their_own_jobs_within_their_limits(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    users = [f"user{n}" for n in range(6)]
    async with harness_for(
        database,
        tmp_path,
        run_workers=False,
        drain_outbox=False,
        credits={"trial": 30},  # three images each
        generation={"max_queued_jobs_per_user": 2},
    ) as harness:
        for user in users:
            await harness.say("/balance", user)
        asked = [(user, take) for take in range(4) for user in users]
        answers = await asyncio.gather(*(harness.say(f"/imagine a kite, take {t}", u) for u, t in asked))

        for user in users:
            mine = [replies[0] for (who, _), replies in zip(asked, answers, strict=True) if who == user]
            assert [reply.stage == Stage.QUEUED for reply in mine] == [True, True, False, False]
            assert all(reply.error for reply in mine[2:])
            assert await harness.balance(user) == credits.Balance(0, 10)
            account = await harness.app.core.services.accounts.find("test", user)
            assert account is not None
            assert len(await harness.jobs_of(account.id)) == 2
        numbers = [replies[0].job for replies in answers if replies[0].job is not None]
        assert len(set(numbers)) == len(numbers) == 2 * len(users)
        await harness.assert_ledger_consistent()


async def test_an_accounts_requests_together_spend_its_subscription_first_in_arrival_order(
    harness: Harness,
) -> None:
    account = await _account(harness)  # the trial: 40 one-time credits
    async with harness.app.db.transaction() as session:
        await credits.grant(
            session, account, 15, kind=EntryKind.ADMIN_GRANT, key="sub", bucket=Bucket.SUBSCRIPTION
        )

    outcomes = await asyncio.gather(
        *(harness.app.core.services.jobs.intake.queue(_order(account)) for _ in range(3))
    )

    assert all(isinstance(outcome, Queued) for outcome in outcomes)
    assert [outcome.balance for outcome in outcomes] == [
        credits.Balance(5, 40),
        credits.Balance(0, 35),
        credits.Balance(0, 25),
    ]
    assert await harness.balance() == credits.Balance(0, 25)
    async with harness.app.db.read() as session:
        reserved = await session.execute(
            select(LedgerEntry.reference, LedgerEntry.bucket, LedgerEntry.delta)
            .where(LedgerEntry.account_id == account, LedgerEntry.kind == EntryKind.RESERVE)
            .order_by(LedgerEntry.id)
        )
        assert [tuple(row) for row in reserved] == [
            (f"job:{outcomes[0].job_id}", "subscription", -10),
            (f"job:{outcomes[1].job_id}", "subscription", -5),
            (f"job:{outcomes[1].job_id}", "one_time", -5),
            (f"job:{outcomes[2].job_id}", "one_time", -10),
        ]
    assert [outcome.position for outcome in outcomes] == [1, 2, 3]
    await harness.assert_ledger_consistent()


async def test_a_request_that_cannot_be_written_fails_alone_and_the_others_are_queued(
    harness: Harness,
) -> None:
    account = await _account(harness)
    broken = _order(account, parent_id=2**31 - 1)  # names a job that does not exist

    outcomes = await asyncio.gather(
        harness.app.core.services.jobs.intake.queue(_order(account)),
        harness.app.core.services.jobs.intake.queue(broken),
        harness.app.core.services.jobs.intake.queue(_order(account)),
        return_exceptions=True,
    )

    assert isinstance(outcomes[0], Queued)
    assert isinstance(outcomes[1], IntegrityError)
    assert isinstance(outcomes[2], Queued)
    assert await harness.balance() == credits.Balance(0, 40 - 2 * COST)
    assert len(await harness.jobs_of(account)) == 2
    await harness.assert_ledger_consistent()


async def test_one_chat_message_delivered_twice_at_once_or_later_makes_one_job(harness: Harness) -> None:
    account = await _account(harness)
    intake = harness.app.core.services.jobs.intake

    first, again = await asyncio.gather(
        intake.queue(_order(account, request_key="test:private:alice:7")),
        intake.queue(_order(account, request_key="test:private:alice:7")),
        return_exceptions=True,
    )
    later = await asyncio.gather(
        intake.queue(_order(account, request_key="test:private:alice:7")), return_exceptions=True
    )

    assert isinstance(first, Queued)
    assert again == first
    assert isinstance(later[0], IntegrityError)  # the unique key: JobService answers with the first job
    assert await harness.balance() == credits.Balance(0, 40 - COST)
    await harness.assert_ledger_consistent()


async def test_a_redelivered_imagine_answers_with_the_job_it_already_made(harness: Harness) -> None:
    await _account(harness)
    delivered = Incoming(
        harness.user(), ChatRef("test", "private", "alice"), "/imagine a lantern", message_id="41"
    )

    first, second = await asyncio.gather(
        harness.app.core.dispatch(delivered), harness.app.core.dispatch(delivered)
    )
    [third] = [await harness.app.core.dispatch(delivered)]

    assert _job(first) == _job(second) == _job(third)
    assert await harness.balance() == credits.Balance(0, 40 - COST)


async def _account(harness: Harness, user: str = "alice") -> int:
    await harness.say("/balance", user)
    account = await harness.app.core.services.accounts.find("test", user)
    assert account is not None
    return account.id


def _order(account: int, *, parent_id: int | None = None, request_key: str | None = None) -> Order:
    job = {**JOB_COLUMNS, "parent_id": parent_id}
    return Order(account, COST, job, request_key=request_key)


def _job(replies: list[Reply]) -> int:
    [reply] = replies
    assert reply.stage == Stage.QUEUED, reply.text
    assert reply.job is not None
    return reply.job
