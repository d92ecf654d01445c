"""One claim/lease/backoff mechanism for every background loop (`core.db.leases`): a named lease is
one process's at a time until it lapses or is given up, the daily purge runs in one process per day,
a broadcast is sent by one process, and backoffs double up to their cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest_asyncio

from core.db import leases
from core.db.leases import Backoff
from core.db.types import utcnow
from tests.core.privacy.helpers import accepted
from tests.harness import DatabaseTarget, Harness, harness_for

MINUTE = timedelta(minutes=1)


@pytest_asyncio.fixture
async def quiet(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness_for(database, tmp_path, run_workers=False, drain_outbox=False) as harness:
        yield harness


async def take(harness: Harness, owner: str, *, later: timedelta = timedelta(0)) -> bool:
    now = utcnow() + later
    async with harness.app.db.transaction() as session:
        return await leases.acquire(session, "upkeep", owner, now + MINUTE, now)


async def test_a_named_lease_is_one_process_s_until_it_lapses_or_is_given_up(quiet: Harness) -> None:
    assert await take(quiet, "a")
    assert not await take(quiet, "b")
    assert await take(quiet, "a")  # its holder renews it
    assert await take(quiet, "b", later=2 * MINUTE)  # a's lapsed: a process that died loses it
    assert not await take(quiet, "a", later=2 * MINUTE)
    async with quiet.app.db.transaction() as session:
        await leases.give_up(session, "upkeep", "a")  # not a's to give up any more: nothing changes
    assert not await take(quiet, "a", later=2 * MINUTE)
    async with quiet.app.db.transaction() as session:
        await leases.give_up(session, "upkeep", "b")
    assert await take(quiet, "a", later=2 * MINUTE)


def test_a_backoff_doubles_up_to_its_cap_and_waits_at_least_what_was_asked() -> None:
    backoff = Backoff(base_s=2.0, max_s=10.0, max_attempts=4)
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    assert backoff.delay(1, at_least=30.0).total_seconds() == 30
    assert [backoff.exhausted(n) for n in (3, 4)] == [False, True]


async def test_one_process_purges_per_interval(quiet: Harness) -> None:
    day = timedelta(days=1)
    assert await leases.take_turn(quiet.app.db, "retention", "process-a", day)
    assert not await leases.take_turn(quiet.app.db, "retention", "process-b", day)  # a purged within the day
    assert await leases.take_turn(quiet.app.db, "retention", "process-a", day)


async def test_a_broadcast_is_sent_by_the_process_holding_the_lease_only(quiet: Harness) -> None:
    await accepted(quiet, "alice")
    await quiet.say("/marketing on", "alice")
    broadcasts = quiet.app.core.services.privacy.broadcasts
    broadcasts.rates["test"] = 1000.0
    await broadcasts.queue("News", actor="cli:op")
    now = utcnow()
    async with quiet.app.db.transaction() as session:
        assert await leases.acquire(session, "broadcasts", "another process", now + MINUTE, now)

    assert not await broadcasts.send_next()
    await quiet.app.notifier.drain()
    assert quiet.chat.sent["alice"] == []

    async with quiet.app.db.transaction() as session:
        await leases.give_up(session, "broadcasts", "another process")
    assert await broadcasts.send_next()
    await quiet.app.notifier.drain()
    assert len(quiet.chat.sent["alice"]) == 1
