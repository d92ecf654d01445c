"""The per-account queue counts the claim reads (`account_queues`) never drift from the jobs: after any
mix of submits, claims, outcomes, cancels, retries, lease expiries and hand-backs, serial or racing,
they equal a recount; and every claim picks the job the fairness rule names, computed from the jobs."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, case, func, select, text

from core.db import migrate
from core.db.models import NEVER_SERVED, Account, AccountQueue, Job, ProviderCall
from core.db.repositories import jobs as repo
from core.db.repositories import orders, queue
from core.db.session import Database
from core.db.statuses import ACTIVE_JOBS, JobStatus
from core.db.types import UTCDateTime, utcnow
from tests.core.generation.job_rows import JOB_COLUMNS
from tests.harness import DatabaseTarget

LEASE = timedelta(seconds=30)
MAX_RUNNING = 2
PER_MINUTE = 3
WORDS = {**JOB_COLUMNS, "cost": 10, "hold_id": None, "references": [], "request_key": None}


async def new_accounts(db: Database, count: int) -> list[int]:
    async with db.transaction() as session:
        accounts = [Account() for _ in range(count)]
        session.add_all(accounts)
        await session.flush()
        return [account.id for account in accounts]


async def submit(db: Database, account_id: int, n: int = 1) -> int:
    async with db.transaction() as session:
        [job_id] = (await orders.numbers(session, 1)).job_ids
        await queue.insert_queued(session, [{**WORDS, "id": job_id, "account_id": account_id, "n": n}])
    return job_id


async def claim(db: Database, now: datetime, owner: str = "w", per_minute: int = 0) -> Job | None:
    async with db.transaction() as session:
        claimed = await repo.claim_next(
            session,
            owner=owner,
            lease=LEASE,
            max_running_per_account=MAX_RUNNING,
            images_per_minute=per_minute,
            now=now,
        )
    return claimed.job


async def counts(db: Database) -> dict[int, tuple[int, int, datetime, int | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(
                AccountQueue.account_id,
                AccountQueue.running,
                AccountQueue.queued,
                AccountQueue.last_served_at,
                AccountQueue.next_job_id,
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}  # type: ignore[misc]


async def recount(db: Database) -> dict[int, tuple[int, int, datetime, int | None]]:
    """What the counts must be, from the jobs alone."""
    async with db.read() as session:
        rows = await session.execute(
            select(
                Job.account_id,
                func.count(case((Job.status == JobStatus.RUNNING, 1))),
                func.count(case((Job.status == JobStatus.QUEUED, 1))),
                func.max(Job.started_at),
                func.min(case((Job.status == JobStatus.QUEUED, Job.id))),
            ).group_by(Job.account_id)
        )
        return {row[0]: (row[1], row[2], row[3] or NEVER_SERVED, row[4]) for row in rows}


@dataclass
class Fairness:
    """The claim's rule, computed from every job as the claim once did: fewest running jobs, then the
    account served least recently (never first), then the oldest job; within the running limit, the
    job's backoff and the provider window."""

    per_minute: int

    async def expected(self, db: Database, now: datetime) -> int | None:
        async with db.read() as session:
            jobs = (
                await session.execute(
                    select(Job.id, Job.account_id, Job.status, Job.started_at, Job.not_before, Job.n)
                )
            ).all()
            since = now - repo.PROVIDER_WINDOW * (1 + repo.WINDOW_SLACK)
            used = await session.scalar(
                select(func.coalesce(func.sum(ProviderCall.images), 0)).where(ProviderCall.started_at > since)
            )
        running: dict[int, int] = {}
        served: dict[int, datetime] = {}
        for job in jobs:
            running[job.account_id] = running.get(job.account_id, 0) + (job.status == JobStatus.RUNNING)
            if job.started_at is not None:
                served[job.account_id] = max(served.get(job.account_id, job.started_at), job.started_at)
        startable = [
            job
            for job in jobs
            if job.status == JobStatus.QUEUED
            and (job.not_before is None or job.not_before <= now)
            and running[job.account_id] < MAX_RUNNING
            and (not self.per_minute or used == 0 or job.n + used <= self.per_minute)
        ]
        if not startable:
            return None
        return min(
            startable,
            key=lambda job: (running[job.account_id], served.get(job.account_id, NEVER_SERVED), job.id),
        ).id


async def running_jobs(db: Database) -> list[Job]:
    async with db.read() as session:
        return list(await session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)))


async def active_jobs(db: Database) -> list[int]:
    async with db.read() as session:
        return list(await session.scalars(select(Job.id).where(Job.status.in_(ACTIVE_JOBS))))


async def finish(db: Database, job: Job, how: str, now: datetime) -> bool:
    """One of the ways a worker, a user or the recovery ends or hands back a running job."""
    async with db.transaction() as session:
        if how == "succeed":
            done = await repo.succeed(
                session, job.id, owner=job.lease_owner or "", attempt=job.attempts, outputs=[], now=now
            )
            return done is not None
        claim_of: dict[str, Any] = {"lease_owner": job.lease_owner, "attempt": job.attempts}
        if how == "fail":
            to, values = JobStatus.FAILED, {**claim_of, "finished_at": now}
        elif how == "retry":
            to, values = JobStatus.QUEUED, {**claim_of, "not_before": now + timedelta(seconds=30)}
        elif how == "hand back":
            to, values = JobStatus.QUEUED, {"lease_owner": job.lease_owner, "attempts": Job.attempts - 1}
        else:  # its lease lapsed: the recovery re-queues it
            lapsed = await repo.expired_leases(session, now + 2 * LEASE)
            if job.id not in {each.id for each in lapsed}:
                return False
            to, values = JobStatus.QUEUED, {}
        return await repo.transition(session, job.id, from_statuses=[JobStatus.RUNNING], to=to, **values)


async def cancel(db: Database, job_id: int, now: datetime) -> bool:
    async with db.transaction() as session:
        return await repo.transition(
            session, job_id, from_statuses=ACTIVE_JOBS, to=JobStatus.CANCELLED, finished_at=now
        )


@pytest.mark.parametrize("per_minute", [0, PER_MINUTE])
async def test_counts_equal_a_recount_and_every_claim_is_the_fairest(db: Database, per_minute: int) -> None:
    rng = random.Random(16 + per_minute)
    accounts = await new_accounts(db, 5)
    fairness = Fairness(per_minute)
    now = utcnow()
    claimed = 0
    for step in range(250):
        now += timedelta(seconds=rng.choice((1, 7, 20)))
        action = rng.choices(("submit", "claim", "finish", "cancel"), weights=(4, 4, 3, 1))[0]
        if action == "submit":
            await submit(db, rng.choice(accounts))
        elif action == "claim":
            expected = await fairness.expected(db, now)
            job = await claim(db, now, per_minute=per_minute)
            assert (job.id if job else None) == expected, f"step {step}"
            claimed += job is not None
        elif action == "finish" and (running := await running_jobs(db)):
            how = rng.choice(("succeed", "fail", "retry", "hand back", "lapse"))
            assert await finish(db, rng.choice(running), how, now)
        elif action == "cancel" and (active := await active_jobs(db)):
            assert await cancel(db, rng.choice(active), now)
        if step % 25 == 0:
            assert await counts(db) == await recount(db), f"step {step}"
    assert await counts(db) == await recount(db)
    assert claimed > 50


async def test_counts_stay_right_while_workers_and_users_race(db: Database) -> None:
    """Several workers and users at once, each on connections of their own (PostgreSQL: truly at
    the same time; SQLite: its writers take turns)."""
    accounts = await new_accounts(db, 6)

    async def user(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(25):
            job_id = await submit(db, rng.choice(accounts))
            if rng.random() < 0.3:
                await cancel(db, job_id, utcnow())

    async def worker(name: str, seed: int) -> None:
        rng = random.Random(seed)
        mine: list[Job] = []
        for _ in range(40):
            if job := await claim(db, utcnow(), owner=name):
                mine.append(job)
            if mine and rng.random() < 0.6:
                job = mine.pop(rng.randrange(len(mine)))
                await finish(db, job, rng.choice(("succeed", "fail", "retry", "hand back")), utcnow())

    async def canceller(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(20):
            if active := await active_jobs(db):
                await cancel(db, rng.choice(active), utcnow())

    await asyncio.gather(
        *(user(seed) for seed in range(3)),
        *(worker(f"worker-{seed}", seed) for seed in range(3)),
        canceller(99),
    )
    assert await counts(db) == await recount(db)
    assert all(running <= MAX_RUNNING for running, *_ in (await counts(db)).values())


@pytest.mark.parametrize("database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_job_queued_while_another_leaves_the_queue_becomes_the_accounts_oldest(db: Database) -> None:
    """PostgreSQL: the account's row is locked by a job being queued while another leaves the queue;
    the leaving one's count waits, and then still sees the new job."""
    [account] = await new_accounts(db, 1)
    leaving = await submit(db, account)
    server_pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def cancel_the_first() -> None:
        async with db.transaction() as session:
            server_pid.set_result(int(await session.scalar(select(func.pg_backend_pid())) or 0))
            await repo.transition(
                session, leaving, from_statuses=ACTIVE_JOBS, to=JobStatus.CANCELLED, finished_at=utcnow()
            )

    async with db.transaction() as session:
        [job_id] = (await orders.numbers(session, 1)).job_ids
        await queue.insert_queued(session, [{**WORDS, "id": job_id, "account_id": account, "n": 1}])
        cancelling = asyncio.create_task(cancel_the_first())
        await until_waiting_for_a_lock(db, await server_pid)
    await cancelling

    assert (await counts(db))[account][1:] == (1, NEVER_SERVED, job_id)
    assert await counts(db) == await recount(db)


async def until_waiting_for_a_lock(db: Database, pid: int) -> None:
    """Until the server process `pid` waits for a lock (30 s at most)."""
    query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
    async with asyncio.timeout(30):
        while True:
            async with db.read() as session:
                if await session.scalar(query, {"pid": pid}) == "Lock":
                    return
            await asyncio.sleep(0.01)


_OLD_JOB = text(
    """
    INSERT INTO jobs (id, account_id, identity, chat, language, status, prompt, provider_prompt, style,
        ratio, tier, width, height, model, quality, n, cost, "references", outputs, attempts,
        created_at, started_at)
    VALUES (:id, :account, 'test:1', 'test:private:1', 'en', :status, 'a fox', 'a fox', 'none', '1:1',
        '1k', 1024, 1024, 'gpt-image-2', 'medium', 1, 10, '[]', '[]', 0, :created, :started)
    """
).bindparams(bindparam("created", type_=UTCDateTime()), bindparam("started", type_=UTCDateTime()))


async def test_the_migration_counts_the_jobs_already_there(empty_database: DatabaseTarget) -> None:
    db = empty_database.open()
    try:
        await migrate.upgrade(db.engine, "0010")
        now = utcnow()
        earlier, later = now - timedelta(hours=2), now - timedelta(hours=1)
        async with db.transaction() as session:
            session.add_all([Account(id=1), Account(id=2), Account(id=3)])
            await session.flush()
            for job_id, account, status, started in (
                (1, 1, JobStatus.SUCCEEDED, earlier),
                (2, 1, JobStatus.RUNNING, later),
                (3, 1, JobStatus.QUEUED, None),
                (4, 2, JobStatus.QUEUED, None),
                (5, 1, JobStatus.QUEUED, earlier),  # handed back after a start
                (6, 3, JobStatus.FAILED, earlier),
            ):
                values = {"id": job_id, "account": account, "status": status, "created": now}
                await session.execute(_OLD_JOB, {**values, "started": started})
        await migrate.upgrade(db.engine)

        assert await counts(db) == {
            1: (1, 2, later, 3),
            2: (0, 1, NEVER_SERVED, 4),
            3: (0, 0, earlier, None),
        }
        assert await counts(db) == await recount(db)
    finally:
        await db.dispose()
