"""Upkeep in small batches: the purge and the erasure finish everything across many short
transactions, and an upload another account still uses survives an erasure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from core.db.models import Delivery, Job, JobReference
from core.db.types import utcnow
from core.privacy import erase, retention
from tests.core.privacy.helpers import accepted, account_id
from tests.core.privacy.test_retention import upload
from tests.harness import Harness

BATCH = 2


@contextmanager
def commits(harness: Harness) -> Iterator[list[int]]:
    """Counts the transactions committed meanwhile."""
    seen: list[int] = []

    def committed(_connection: object) -> None:
        seen.append(1)

    engines = [engine.sync_engine for engine in harness.app.db.engines]
    for engine in engines:
        event.listen(engine, "commit", committed)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "commit", committed)


async def count(harness: Harness, statement: object) -> int:
    async with harness.app.db.read() as session:
        return int(await session.scalar(statement) or 0)  # type: ignore[call-overload]


async def imagine_with(harness: Harness, user: str, color: tuple[int, int, int]) -> int:
    [queued] = await harness.say(f"/imagine {user} draws", user, attachments=(upload(color),))
    assert queued.job is not None, queued.text
    await harness.chat.wait_final(queued.job)
    return queued.job


async def references_match_jobs(harness: Harness) -> None:
    """The reference table holds exactly the files the jobs' own lists name."""
    async with harness.app.db.read() as session:
        listed = {(path, job.id) for job in await session.scalars(select(Job)) for path in job.references}
        recorded = set((await session.execute(select(JobReference.path, JobReference.job_id))).all())
    assert recorded == listed


async def test_the_purge_removes_more_delivered_messages_than_a_batch_in_several_transactions(
    gated: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", BATCH)
    old = utcnow() - timedelta(days=3)
    async with gated.app.db.transaction() as session:
        session.add_all(
            Delivery(key=f"old:{index}", chat="test:private:x", payload={}, status="sent", created_at=old)
            for index in range(2 * BATCH + 1)
        )
    with commits(gated) as seen:
        purged = await gated.app.core.services.privacy.retention.purge()

    assert purged.deliveries == 2 * BATCH + 1
    assert await count(gated, select(func.count()).select_from(Delivery)) == 0
    assert len(seen) >= 3  # one transaction per batch at least


async def test_an_erasure_of_more_jobs_than_a_batch_removes_them_all_and_spares_a_shared_upload(
    gated: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erase, "BATCH", BATCH)
    eraser = gated.app.core.services.privacy.eraser
    monkeypatch.setattr(eraser.vacuum, "interval_s", 0.0)  # the second erasure need not wait a minute
    for user in ("alice", "bob"):
        await accepted(gated, user)
    alices = [await imagine_with(gated, "alice", (200, 10, 10)) for _ in range(BATCH + 1)]
    alices.append(await imagine_with(gated, "alice", (10, 10, 200)))  # hers alone
    bobs = await imagine_with(gated, "bob", (200, 10, 10))  # the same picture: the same stored upload
    storage = gated.app.core.services.storage
    shared = (await gated.job(bobs)).references[0]
    own = (await gated.job(alices[-1])).references[0]
    outputs = [path for job in alices for path in (await gated.job(job)).outputs]
    await references_match_jobs(gated)
    alice = await account_id(gated, "alice")

    with commits(gated) as seen:
        await eraser.erase_now(alice, "cli:operator")

    assert await count(gated, select(func.count()).select_from(Job).where(Job.account_id == alice)) == 0
    async with gated.app.db.read() as session:
        keys = list(await session.scalars(select(Delivery.key)))
    assert not [key for key in keys for job in alices if key.startswith(f"job:{job}:")]
    assert any(key.startswith(f"job:{bobs}:") for key in keys)  # bob's own messages stay
    assert not [path for path in outputs if await storage.exists(path)]
    assert not await storage.exists(own)
    assert await storage.exists(shared)  # bob's job still refers to it
    assert len(seen) >= 4  # the jobs went in batches, each in its own transaction
    await references_match_jobs(gated)

    bob = await account_id(gated, "bob")
    await eraser.erase_now(bob, "cli:operator")
    assert not await storage.exists(shared)  # its last user is gone
    assert await count(gated, select(func.count()).select_from(JobReference)) == 0


async def test_outbox_keys_sort_by_code_point_so_a_prefix_is_exactly_a_range(gated: Harness) -> None:
    """Erasure deletes a job's messages as `key >= 'job:7:' AND key < 'job:7;'`. In a language's
    collation punctuation counts for little ('job:7:0' would sort before 'job:70:0' and after
    'job:7;'), which would erase another job's messages and keep this one's."""
    async with gated.app.db.transaction() as session:
        for key in ("job:7:0", "job:70:0", "job:7;"):
            session.add(Delivery(key=key, chat="telegram:private:1", payload={}))
    async with gated.app.db.read() as session:
        ordered = list(await session.scalars(select(Delivery.key).order_by(Delivery.key)))
        if not gated.app.db.is_sqlite:  # whatever the database's own collation is
            collation = await session.scalar(
                text(
                    "SELECT collation_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = 'deliveries'"
                    " AND column_name = 'key'"
                )
            )
            assert collation == "C"
    assert ordered == ["job:70:0", "job:7:0", "job:7;"]
