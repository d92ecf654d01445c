"""15. Lanes: how long paid and trial jobs wait in a mixed, overloaded queue, with the paid lane and
without it (the baseline: every job in one lane, the fair claim as it was), in the same run.

A simulated minute on SQLite, driven through the real `jobs.claim_next` with a simulated clock: 40
paying accounts queue 8 jobs a second and 40 trial accounts 4 a second, while workers start 10 a
second (each finishes at once, so turns are decided by the lanes and the fairness alone). The queue
grows by 2 jobs a second. A job's wait is from its queuing to its claim. Figures: the paid lane's
wait against the baseline's, and the trial lane's worst wait against `trial_wait_multiple` times the
paid lane's worst (the bound; one simulated second of slack for the claims' granularity); beside
them, what a claim costs (it reads the lanes' oldest jobs first) against the baseline's.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bench.common import Figure, ms, quantile
from core.db import migrate
from core.db.models import Account
from core.db.repositories import jobs, orders, queue
from core.db.session import Database
from core.db.statuses import JobLane, JobStatus
from core.db.types import utcnow
from tests.core.generation.job_rows import JOB_COLUMNS

SECONDS = 60
PAID_PER_S, TRIAL_PER_S, CLAIMS_PER_S = 8, 4, 10
ACCOUNTS = 40  # in each lane
MULTIPLE = jobs.TRIAL_WAIT_MULTIPLE
LEASE = timedelta(seconds=30)
TICK = timedelta(seconds=1)
ROW = {**JOB_COLUMNS, "cost": 10, "hold_id": None, "references": [], "request_key": None}


@dataclass
class Run:
    waits: dict[JobLane, list[float]] = field(default_factory=lambda: {JobLane.PAID: [], JobLane.TRIAL: []})
    claim_s: list[float] = field(default_factory=list)

    def p(self, lane: JobLane, q: float) -> float:
        return quantile(self.waits[lane], q)


async def run() -> list[Figure]:
    baseline, lanes = await _simulate(lanes=False), await _simulate(lanes=True)
    worst_paid, worst_trial = max(lanes.waits[JobLane.PAID]), max(lanes.waits[JobLane.TRIAL])
    bound = MULTIPLE * worst_paid + TICK.total_seconds()
    claim_lanes, claim_base = statistics.median(lanes.claim_s), statistics.median(baseline.claim_s)
    paid_ratio = lanes.p(JobLane.PAID, 0.5) / baseline.p(JobLane.PAID, 0.5)
    paid, paid_base = lanes.p(JobLane.PAID, 0.5), baseline.p(JobLane.PAID, 0.5)
    paid99, paid99_base = lanes.p(JobLane.PAID, 0.99), baseline.p(JobLane.PAID, 0.99)
    trial, trial_base = lanes.p(JobLane.TRIAL, 0.5), baseline.p(JobLane.TRIAL, 0.5)
    return [
        Figure(
            key="lanes_paid_wait",
            title="15. Lanes: paid jobs' median wait with the paid lane / without (mixed, overloaded queue)",
            value=(
                f"{paid_ratio:.2f}x ({paid:.1f} vs {paid_base:.1f} s;"
                f" p99 {paid99:.1f} vs {paid99_base:.1f} s)"
            ),
            target="<= 0.5x",
            met=paid_ratio <= 0.5,
            details=_details(baseline, lanes),
        ),
        Figure(
            key="lanes_trial_bound",
            title=f"trial jobs' worst wait / ({MULTIPLE:g} x paid worst + 1 s)",
            value=(
                f"{worst_trial / bound:.2f} ({worst_trial:.1f} s vs {bound:.1f} s;"
                f" trial median {trial:.1f} s, baseline {trial_base:.1f} s)"
            ),
            target="<= 1",
            met=worst_trial <= bound,
        ),
        Figure(
            key="lanes_claim_cost",
            title="claim with lanes / without, median wall time",
            value=f"{claim_lanes / claim_base:.2f}x ({ms(claim_lanes)} vs {ms(claim_base)})",
        ),
    ]


def _details(baseline: Run, lanes: Run) -> dict[str, float]:
    details: dict[str, float] = {}
    for name, result in (("baseline", baseline), ("lanes", lanes)):
        for lane in JobLane:
            details[f"{name}_{lane}_p50_s"] = result.p(lane, 0.5)
            details[f"{name}_{lane}_p99_s"] = result.p(lane, 0.99)
            details[f"{name}_{lane}_max_s"] = max(result.waits[lane])
            details[f"{name}_{lane}_claimed"] = len(result.waits[lane])
    return details


async def _simulate(*, lanes: bool) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'lanes.db'}")
        try:
            await migrate.upgrade(db.engine)
            return await _minute(db, lanes)
        finally:
            await db.dispose()


async def _minute(db: Database, lanes: bool) -> Run:
    async with db.transaction() as session:
        accounts = [Account() for _ in range(2 * ACCOUNTS)]
        session.add_all(accounts)
        await session.flush()
        paid, trial = [a.id for a in accounts[:ACCOUNTS]], [a.id for a in accounts[ACCOUNTS:]]
    lane_of: dict[int, JobLane] = {}
    result = Run()
    start = utcnow()
    for second in range(SECONDS):
        now = start + second * TICK
        arrivals = [(paid[(second * PAID_PER_S + i) % ACCOUNTS], JobLane.PAID) for i in range(PAID_PER_S)]
        arrivals += [
            (trial[(second * TRIAL_PER_S + i) % ACCOUNTS], JobLane.TRIAL) for i in range(TRIAL_PER_S)
        ]
        async with db.transaction() as session:
            ids = (await orders.numbers(session, len(arrivals))).job_ids
            rows = [
                {
                    **ROW,
                    "id": job_id,
                    "account_id": account,
                    "created_at": now,
                    "lane": lane if lanes else JobLane.PAID,
                }
                for job_id, (account, lane) in zip(ids, arrivals, strict=True)
            ]
            await queue.insert_queued(session, rows)
        lane_of.update({job_id: lane for job_id, (_, lane) in zip(ids, arrivals, strict=True)})
        for claim in range(CLAIMS_PER_S):
            at = now + claim * TICK / CLAIMS_PER_S
            began = time.perf_counter()
            async with db.transaction() as session:
                claimed = await jobs.claim_next(
                    session, owner="bench", lease=LEASE, max_running_per_account=2, now=at
                )
                if claimed.job is not None:
                    await jobs.transition(
                        session, claimed.job.id, from_statuses=[JobStatus.RUNNING], to=JobStatus.SUCCEEDED
                    )
            result.claim_s.append(time.perf_counter() - began)
            if claimed.job is not None:
                waited = (at - claimed.job.created_at).total_seconds()
                result.waits[lane_of[claimed.job.id]].append(waited)
    return result
