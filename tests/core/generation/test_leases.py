"""Claims are leases shared by every worker process: a live worker keeps its jobs, a dead one loses
them, a worker that lost a job cannot complete it, and the limits hold across workers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from core.db.models import Job
from core.db.repositories import jobs as jobs_repo
from core.db.types import utcnow
from core.generation.worker import WorkerPool
from core.messages import ReplyType
from tests.fakes.gated_provider import GatedProvider
from tests.harness import DatabaseTarget, Harness, harness_for


def second_pool(harness: Harness, provider: GatedProvider) -> WorkerPool:
    """Another worker on the same database, as another process would run it."""
    first = harness.app.worker
    return WorkerPool(first.db, provider, first.storage, first.notifier, first.styles, first.settings)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def claim(
    harness: Harness, owner: str, *, per_account: int = 2, per_minute: int = 0, later_s: float = 0
) -> Job | None:
    """A claim as a worker makes it, `later_s` seconds from now."""
    async with harness.app.db.transaction() as session:
        result = await jobs_repo.claim_next(
            session,
            owner=owner,
            lease=timedelta(seconds=30),
            max_running_per_account=per_account,
            images_per_minute=per_minute,
            now=utcnow() + timedelta(seconds=later_s),
        )
    return result.job


async def test_a_job_taken_over_from_a_cut_off_worker_is_completed_once(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    async with harness_for(database, tmp_path, run_workers=False, provider=provider) as harness:
        first = asyncio.create_task(harness.app.worker.run())
        job_id = await harness.imagine("contested")
        await provider.wait_started(1)
        async with harness.app.db.transaction() as session:  # the first worker went quiet for too long
            await session.execute(
                update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
        other = second_pool(harness, provider)
        second = asyncio.create_task(other.run())
        try:
            await provider.wait_started(2)  # the second worker re-queued it and renders it again
            provider.release("contested")
            final = await harness.chat.wait_final(job_id)
        finally:
            await stop(second)
            await stop(first)
        assert final.type == ReplyType.ACTIONS
        assert len([reply for reply in harness.chat.for_job(job_id) if reply.final]) == 1
        job = await harness.job(job_id)
        assert (job.status, job.attempts) == ("succeeded", 2)
        assert (await harness.balance()).total == 30
        await harness.assert_ledger_consistent()


async def test_a_live_worker_keeps_its_job_however_long_it_renders(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    generation = {"lease_s": 1.5}
    async with harness_for(
        database, tmp_path, run_workers=False, provider=provider, generation=generation
    ) as harness:
        first = asyncio.create_task(harness.app.worker.run())
        other = second_pool(harness, provider)
        job_id = await harness.imagine("a long one")
        await provider.wait_started(1)
        try:
            for _ in range(3):  # well past the lease: only renewals keep it
                await asyncio.sleep(1.0)
                await other.recover()
                job = await harness.job(job_id)
                assert (job.status, job.lease_owner) == ("running", harness.app.worker.owner)
            provider.release("a long one")
            await harness.chat.wait_final(job_id)
        finally:
            await stop(first)
        job = await harness.job(job_id)
        assert (job.status, job.attempts) == ("succeeded", 1)
        assert provider.started == ["a long one"]


async def test_a_stopping_worker_hands_its_job_back_without_using_an_attempt(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    async with harness_for(database, tmp_path, run_workers=False, provider=provider) as harness:
        first = asyncio.create_task(harness.app.worker.run())
        job_id = await harness.imagine("interrupted politely")
        await provider.wait_started(1)
        await stop(first)
        job = await harness.job(job_id)
        assert (job.status, job.attempts, job.lease_owner) == ("queued", 0, None)
        provider.release("interrupted politely")
        second = asyncio.create_task(second_pool(harness, provider).run())
        try:
            await harness.chat.wait_final(job_id)
        finally:
            await stop(second)
        job = await harness.job(job_id)
        assert (job.status, job.attempts) == ("succeeded", 1)
        await harness.assert_ledger_consistent()


async def test_the_per_user_limit_holds_across_workers(database: DatabaseTarget, tmp_path: Path) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        for prompt in ("one", "two", "three"):
            await harness.imagine(prompt)
        await harness.imagine("someone else's", user="bob")
        claims = await asyncio.gather(*(claim(harness, f"worker:{n}", per_account=1) for n in range(6)))
        claimed = [job for job in claims if job is not None]
        assert sorted(job.identity for job in claimed) == ["test:alice", "test:bob"]
        assert len({job.lease_owner for job in claimed}) == 2


async def test_a_job_is_claimed_by_exactly_one_of_many_racing_workers(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        job_id = await harness.imagine("only once")
        claims = await asyncio.gather(*(claim(harness, f"worker:{n}") for n in range(8)))
        assert [job.id for job in claims if job is not None] == [job_id]


async def test_the_provider_limit_per_minute_is_shared_by_every_worker(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        for user in ("ann", "ben", "cat"):
            await harness.imagine("a kite", user=user)
        first = await claim(harness, "worker:a", per_minute=2)
        second = await claim(harness, "worker:b", per_minute=2)
        third = await claim(harness, "worker:c", per_minute=2)
        assert first is not None
        assert second is not None
        assert third is None
        # a minute later the window has room again
        assert await claim(harness, "worker:c", per_minute=2, later_s=62) is not None


async def test_a_request_fits_the_provider_window_or_waits_for_an_empty_one(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        big = await harness.imagine("a large batch --n 3", user="ann")
        pair = await harness.imagine("a pair --n 2", user="ben")
        single = await harness.imagine("a single one", user="cat")
        first = await claim(harness, "worker:a", per_minute=2)  # larger than the limit: the window is empty
        assert first is not None
        assert first.id == big
        assert await claim(harness, "worker:b", per_minute=2) is None  # three of two used
        later = await claim(harness, "worker:b", per_minute=4)  # room for one more: the pair waits
        assert later is not None
        assert later.id == single
        assert await claim(harness, "worker:c", per_minute=4) is None
        then = await claim(harness, "worker:c", per_minute=4, later_s=62)  # the window moved on
        assert then is not None
        assert then.id == pair
