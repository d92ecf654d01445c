"""The paid lane: jobs of accounts that bought something are claimed before trial jobs, fairly among
themselves, and a trial job never waits more than `trial_wait_multiple` times the paid lane's wait."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core.db.models import Job
from core.db.repositories import jobs as repo
from core.db.repositories import orders, queue
from core.db.session import Database
from core.db.statuses import JobLane, JobStatus
from core.db.types import utcnow
from tests.core.figure_rows import add_payment
from tests.core.generation.test_account_queues import LEASE, WORDS, new_accounts
from tests.harness import Harness

MULTIPLE = 3.0
STEP = timedelta(seconds=1)


async def submit(db: Database, account_id: int, lane: JobLane, created: datetime) -> int:
    async with db.transaction() as session:
        [job_id] = (await orders.numbers(session, 1)).job_ids
        row = {**WORDS, "id": job_id, "account_id": account_id, "lane": lane, "created_at": created}
        await queue.insert_queued(session, [row])
    return job_id


async def claim_and_finish(db: Database, now: datetime) -> Job | None:
    """Claims the next job at `now` and finishes it at once, so running jobs never decide the turn."""
    async with db.transaction() as session:
        claimed = await repo.claim_next(
            session,
            owner="w",
            lease=LEASE,
            max_running_per_account=1,
            now=now,
            trial_wait_multiple=MULTIPLE,
        )
        if claimed.job is not None:
            await repo.transition(
                session, claimed.job.id, from_statuses=[JobStatus.RUNNING], to=JobStatus.SUCCEEDED
            )
    return claimed.job


async def test_paid_jobs_are_claimed_before_older_trial_jobs(db: Database) -> None:
    now = utcnow()
    trial_a, trial_b, paid_a, paid_b = await new_accounts(db, 4)
    trial = [await submit(db, account, JobLane.TRIAL, now - 10 * STEP) for account in (trial_a, trial_b)]
    paid = [await submit(db, account, JobLane.PAID, now - 5 * STEP) for account in (paid_a, paid_b)]

    order = []
    for _ in range(4):
        job = await claim_and_finish(db, now)
        assert job is not None
        order.append(job.id)

    assert order == [*paid, *trial]  # 10 s of trial wait is less than 3 x 5 s of paid wait
    assert await claim_and_finish(db, now) is None


async def test_a_trial_job_that_waited_past_the_multiple_goes_first(db: Database) -> None:
    now = utcnow()
    trial_account, paid_account = await new_accounts(db, 2)
    trial = await submit(db, trial_account, JobLane.TRIAL, now - 40 * STEP)
    paid = [await submit(db, paid_account, JobLane.PAID, now - 10 * STEP) for _ in range(2)]

    first, second = await claim_and_finish(db, now), await claim_and_finish(db, now)

    assert (first and first.id, second and second.id) == (trial, paid[0])  # 40 s > 3 x 10 s


async def test_paid_accounts_take_turns_among_themselves(db: Database) -> None:
    now = utcnow()
    busy, other, trial_account = await new_accounts(db, 3)
    busy_jobs = [await submit(db, busy, JobLane.PAID, now - STEP) for _ in range(3)]
    other_jobs = [await submit(db, other, JobLane.PAID, now - STEP) for _ in range(2)]
    trial = await submit(db, trial_account, JobLane.TRIAL, now - STEP)

    order = []
    for step in range(6):
        job = await claim_and_finish(db, now + step * timedelta(milliseconds=1))
        assert job is not None
        order.append(job.id)

    assert order == [busy_jobs[0], other_jobs[0], busy_jobs[1], other_jobs[1], busy_jobs[2], trial]


async def test_a_busy_paid_lane_never_starves_the_trial_lane(db: Database) -> None:
    """One claim a second against a paid backlog that never drains: trial jobs still start, each
    within the multiple of the paid lane's wait (one step of slack for the claim's granularity)."""
    start = utcnow()
    paid_accounts = await new_accounts(db, 4)
    trial_accounts = await new_accounts(db, 3)
    lane_of: dict[int, JobLane] = {}
    for index in range(6):
        job = await submit(db, paid_accounts[index % 4], JobLane.PAID, start)
        lane_of[job] = JobLane.PAID
    waits: dict[JobLane, list[timedelta]] = {JobLane.PAID: [], JobLane.TRIAL: []}
    for tick in range(36):
        now = start + tick * STEP
        job = await submit(db, paid_accounts[tick % 4], JobLane.PAID, now)
        lane_of[job] = JobLane.PAID
        if tick % 3 == 0:
            job = await submit(db, trial_accounts[tick % 3], JobLane.TRIAL, now)
            lane_of[job] = JobLane.TRIAL
        claimed = await claim_and_finish(db, now)
        assert claimed is not None
        waits[lane_of[claimed.id]].append(now - claimed.created_at)

    assert waits[JobLane.TRIAL], "the trial lane starved"
    worst_paid = max(waits[JobLane.PAID])
    assert max(waits[JobLane.TRIAL]) <= worst_paid * MULTIPLE + STEP
    mean = {lane: sum(w, timedelta()) / len(w) for lane, w in waits.items()}
    assert mean[JobLane.PAID] < mean[JobLane.TRIAL]


async def test_an_account_with_a_paid_job_queued_stays_in_the_paid_lane(db: Database) -> None:
    now = utcnow()
    buyer, trial_account = await new_accounts(db, 2)
    trial = await submit(db, trial_account, JobLane.TRIAL, now - 2 * STEP)
    paid = await submit(db, buyer, JobLane.PAID, now - STEP)
    after = await submit(db, buyer, JobLane.TRIAL, now - STEP)  # e.g. the plan ended meanwhile
    async with db.read() as session:
        lanes = {job_id: lane for job_id, lane in await session.execute(select(Job.id, Job.lane))}
    assert lanes == {trial: JobLane.TRIAL, paid: JobLane.PAID, after: JobLane.TRIAL}

    order = []
    for step in range(3):
        job = await claim_and_finish(db, now + step * timedelta(milliseconds=1))
        assert job is not None
        order.append(job.id)

    assert order == [paid, after, trial]


async def test_imagine_queues_in_the_trial_lane_until_the_account_buys(harness: Harness) -> None:
    trial_job = await harness.imagine("a fox")
    account = await harness.app.core.services.accounts.find("test", "alice")
    assert account is not None
    await add_payment(
        harness.app.db, account.id, amount=999, currency="usd", status="paid", credits=500, when=utcnow()
    )
    paid_job = await harness.imagine("a fox")

    assert ((await harness.job(trial_job)).lane, (await harness.job(paid_job)).lane) == (
        JobLane.TRIAL,
        JobLane.PAID,
    )
