"""Generation jobs: the queue and its record at once. State changes are conditional updates."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    ScalarSelect,
    Update,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import NamedFromClause

from core.db import leases, locks
from core.db.leases import Lease
from core.db.models import Account, Job, ProviderCall, SafetyStrike
from core.db.repositories import endpoints, queue
from core.db.repositories.endpoints import Call, Limits, Route
from core.db.statuses import ACTIVE_JOBS, JobLane, JobStatus


async def get(session: AsyncSession, job_id: int) -> Job | None:
    return await session.scalar(select(Job).where(Job.id == job_id).execution_options(populate_existing=True))


async def by_request(session: AsyncSession, request_key: str) -> Job | None:
    return await session.scalar(select(Job).where(Job.request_key == request_key))


async def count_for_account(session: AsyncSession, account_id: int, statuses: Iterable[str]) -> int:
    return int(
        await session.scalar(
            select(func.count(Job.id)).where(Job.account_id == account_id, Job.status.in_(list(statuses)))
        )
        or 0
    )


async def queue_position(session: AsyncSession, job_id: int) -> int:
    """1 for the next job to start; approximate, since claims are fair across accounts."""
    ahead = await session.scalar(
        select(func.count(Job.id)).where(Job.status == JobStatus.QUEUED, Job.id < job_id)
    )
    return int(ahead or 0) + 1


async def recent(session: AsyncSession, account_id: int, limit: int) -> list[Job]:
    result = await session.scalars(
        select(Job).where(Job.account_id == account_id).order_by(Job.id.desc()).limit(limit)
    )
    return list(result)


async def latest_active(session: AsyncSession, account_id: int) -> Job | None:
    return await session.scalar(
        select(Job)
        .where(Job.account_id == account_id, Job.status.in_(ACTIVE_JOBS))
        .order_by(Job.id.desc())
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """A job to render now, or nothing; then `wake_at` says when a queued job may become claimable
    (the provider window frees a slot, or a backoff ends)."""

    job: Job | None
    wake_at: datetime | None = None
    call: Call | None = None  # the job's call, stamped in its endpoint's window


PROVIDER_WINDOW = timedelta(minutes=1)
TRIAL_WAIT_MULTIPLE = 3.0
WINDOW_SLACK = 0.02  # a slot is kept a little past the minute: the provider's clock is not ours

JOBS = Job.__table__
CALLS = ProviderCall.__table__
ACCOUNTS = Account.__table__
QUEUES = queue.QUEUES
LEASE = Lease(JOBS.c.lease_owner, JOBS.c.lease_expires_at)
# Written into the SQL, not bound: the partial indexes the claim reads are only usable with literals.
QUEUED = literal_column(f"'{JobStatus.QUEUED}'")


async def claim_next(
    session: AsyncSession,
    *,
    owner: str,
    lease: timedelta,
    max_running_per_account: int,
    images_per_minute: int = 0,
    now: datetime,
    routes: Sequence[Route] = (),
    limits: Limits = endpoints.DEFAULT_LIMITS,
    trial_wait_multiple: float = TRIAL_WAIT_MULTIPLE,
) -> Claim:
    """Leases the fairest due job to `owner`, round robin across accounts: fewest running jobs first,
    then the account served least recently, then the oldest job; within the account's running limit
    and an endpoint's limits. Accounts of the paid lane take their turns before those of the trial
    lane, until the trial lane's oldest job has waited more than `trial_wait_multiple` times as long
    as the paid lane's oldest: then the trial lane goes first (`trial_first`), so none starves.
    `routes` are the endpoints in the order to try them (by default one, unnamed, of
    `images_per_minute`): the first whose breaker and concurrent calls allow a call takes the fairest
    job of a model it serves that fits its images per minute (a request larger than the whole limit
    waits for an empty window). The job's call is stamped `now` in that endpoint's window: the worker
    calls the provider as soon as this commits.

    The accounts are read in that order from their queue counts (`queue`), through one index, so a
    claim costs the same whatever the backlog and the history. Claims serialize on a lock shared by
    every worker process (SQLite: its writers already take turns), so a claim always counts the
    running jobs, the window's calls and the breakers of the others.
    """
    await serialize_claims(session)
    connection = await session.connection()
    window = PROVIDER_WINDOW * (1 + WINDOW_SLACK)
    routes = routes or (Route("", images_per_minute),)
    breakers = await endpoints.breakers(session)
    paid_since, trial_since = (await connection.execute(_HEADS)).one()
    first = trial_first(paid_since, trial_since, now, trial_wait_multiple)
    params = {
        "now": now,
        "since": now - window,
        "max_running": max_running_per_account,
        "owner": owner,
        "until": now + lease,
    }
    for route in routes:
        probe = await endpoints.admits(
            session, route, breakers.get(route.name, endpoints.CLOSED), now, limits
        )
        if probe is None:
            continue
        limited, served = bool(route.images_per_minute), route.models is not None
        route_params = {**params, "endpoint": route.name, "per_minute": route.images_per_minute}
        if served:
            route_params["models"] = list(route.models or ())
        claimed = (await connection.execute(_claim(limited, served, first), route_params)).first()
        if claimed is not None:
            await queue.served(session, claimed.account_id, claimed.id, now)
            call = await endpoints.stamp(session, route.name, claimed.n, now, probe=probe)
            return Claim(Job(**claimed._mapping), call=call)
    due, oldest = (await connection.execute(_WAKE, params)).one()
    if any(route.images_per_minute for route in routes) and oldest is not None:
        due = min(due, oldest + window) if due else oldest + window
    return Claim(None, wake_at=due)


async def serialize_claims(session: AsyncSession) -> None:
    """Until the transaction ends, no claim runs (see `claim_next`)."""
    await locks.serialize(session, "job-claims")


async def reroute(
    session: AsyncSession,
    job: Job,
    routes: Sequence[Route],
    now: datetime,
    limits: Limits = endpoints.DEFAULT_LIMITS,
) -> Call | None:
    """Another endpoint for a running job whose call failed: the first of `routes` that serves its
    model and whose breaker, concurrent calls and window allow its images now, stamped there."""
    await serialize_claims(session)
    breakers = await endpoints.breakers(session)
    since = now - PROVIDER_WINDOW * (1 + WINDOW_SLACK)
    for route in routes:
        if not route.serves(job.model):
            continue
        probe = await endpoints.admits(
            session, route, breakers.get(route.name, endpoints.CLOSED), now, limits
        )
        if probe is None:
            continue
        if route.images_per_minute:
            used = await endpoints.images_since(session, route.name, since)
            if used and used + job.n > route.images_per_minute:
                continue
        return await endpoints.stamp(session, route.name, job.n, now, probe=probe)
    return None


def trial_first(
    paid_since: datetime | None, trial_since: datetime | None, now: datetime, multiple: float
) -> bool:
    """Whether the trial lane goes first: its oldest job (queued at `trial_since`) has waited more
    than `multiple` times as long as the paid lane's oldest (queued at `paid_since`)."""
    if trial_since is None or paid_since is None:
        return paid_since is None
    return now - trial_since > (now - paid_since) * multiple


def _lane_head(lane: JobLane) -> ScalarSelect[datetime | None]:
    """When the lane's oldest queued job was queued (`ix_account_queues_head`)."""
    head = (
        select(func.min(QUEUES.c.next_job_id))
        .where(QUEUES.c.queued > literal_column("0"), QUEUES.c.lane == literal_column(f"'{lane}'"))
        .scalar_subquery()
    )
    return select(JOBS.c.created_at).where(JOBS.c.id == head).scalar_subquery()


_HEADS = select(_lane_head(JobLane.PAID), _lane_head(JobLane.TRIAL))


@functools.cache
def _claim(window_limited: bool, model_limited: bool = False, trial_first: bool = False) -> Update:
    """One statement picks and leases the job (built once: building it costs more than running it).
    It walks the accounts of the first lane with queued jobs in turn order and stops at the first one
    with a job it may start now, then, when none may, those of the other lane; within a tie of turns,
    the account whose oldest queued job is oldest goes first."""
    used = (
        select(func.coalesce(func.sum(CALLS.c.images), 0))
        .where(CALLS.c.endpoint == bindparam("endpoint"), CALLS.c.started_at > bindparam("since"))
        .scalar_subquery()
    )

    def startable(job: NamedFromClause) -> list[ColumnElement[bool]]:
        conditions = [
            job.c.status == QUEUED,
            or_(job.c.not_before.is_(None), job.c.not_before <= bindparam("now")),
        ]
        if window_limited:
            conditions.append(or_(used == 0, job.c.n + used <= bindparam("per_minute")))
        if model_limited:
            conditions.append(job.c.model.in_(bindparam("models", expanding=True)))
        return conditions

    waiting = JOBS.alias("waiting")
    in_turn = [
        QUEUES.c.queued > literal_column("0"),
        QUEUES.c.running < bindparam("max_running"),
        exists().where(waiting.c.account_id == QUEUES.c.account_id, *startable(waiting)),
    ]
    if window_limited:  # a full window: no account is looked at
        in_turn.append(or_(used == 0, used < bindparam("per_minute")))

    def turn(lane: JobLane) -> ScalarSelect[int]:
        return (
            select(QUEUES.c.account_id)
            .where(QUEUES.c.lane == literal_column(f"'{lane}'"), *in_turn)
            .order_by(QUEUES.c.running, QUEUES.c.last_served_at, QUEUES.c.next_job_id)
            .limit(1)
            .scalar_subquery()
        )

    lanes = (JobLane.TRIAL, JobLane.PAID) if trial_first else (JobLane.PAID, JobLane.TRIAL)
    turns = func.coalesce(*(turn(lane) for lane in lanes))
    candidate = JOBS.alias("candidates")
    fairest = (
        select(func.min(candidate.c.id))
        .where(candidate.c.account_id == turns, *startable(candidate))
        .scalar_subquery()
    )
    return (
        update(JOBS)
        .where(JOBS.c.id == fairest, JOBS.c.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            attempts=JOBS.c.attempts + 1,
            started_at=bindparam("now"),
            not_before=None,
            **LEASE.take(bindparam("owner"), bindparam("until")),
        )
        .returning(*JOBS.c)
    )


# Nothing to claim: when a backoff ends (`ix_jobs_backoff`), and when the oldest slot leaves the
# provider window.
_WAKE = select(
    select(func.min(JOBS.c.not_before))
    .where(JOBS.c.status == QUEUED, JOBS.c.not_before > bindparam("now"))
    .scalar_subquery(),
    select(func.min(CALLS.c.started_at)).where(CALLS.c.started_at > bindparam("since")).scalar_subquery(),
)


async def forget_provider_calls(
    session: AsyncSession, now: datetime, limits: Limits = endpoints.DEFAULT_LIMITS
) -> None:
    """Drops window slots long past (upkeep: claims only read the last window), but not a call that
    may still be running (it counts against its endpoint's concurrent calls)."""
    window = PROVIDER_WINDOW * (1 + WINDOW_SLACK)
    await endpoints.forget(session, now - 2 * window, now - limits.call_horizon)


async def renew_leases(
    session: AsyncSession, owner: str, job_ids: Iterable[int], until: datetime
) -> set[int]:
    """Extends `owner`'s leases; returns the jobs it still holds (the others were cancelled or taken)."""
    return await leases.renew(
        session, JOBS, LEASE, owner, list(job_ids), until, JOBS.c.status == JobStatus.RUNNING
    )


async def expired_leases(session: AsyncSession, now: datetime, limit: int = 100) -> list[Job]:
    """Running jobs whose worker stopped renewing its lease (it died, or lost the database)."""
    result = await session.scalars(
        select(Job)
        .where(Job.status == JobStatus.RUNNING, LEASE.free(now))
        .order_by(Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result)


async def succeed(
    session: AsyncSession, job_id: int, *, owner: str, attempt: int, outputs: list[str], now: datetime
) -> tuple[int, int] | None:
    """Moves `owner`'s claim on a job to succeeded; returns the account's balances (subscription,
    one-time), None when the claim was lost (the job was cancelled, or taken over). Settling the hold
    afterwards does not move them: its credits left the balance when they were reserved."""
    params = {"job": job_id, "owner": owner, "attempt": attempt, "job_outputs": outputs, "now": now}
    row = (await session.execute(_SUCCEED, params)).first()
    if row is None:
        return None
    await queue.moved(session, row.account_id, job_id, JobStatus.RUNNING, JobStatus.SUCCEEDED)
    return row.balance_subscription, row.balance_one_time


def _balance_of_job_account(column: Column[int]) -> ScalarSelect[int]:
    # A group wallet's job reports the wallet's balance.
    payer = func.coalesce(JOBS.c.wallet_id, JOBS.c.account_id)
    return select(column).where(ACCOUNTS.c.id == payer).scalar_subquery()


_SUCCEED = (
    update(JOBS)
    .where(
        JOBS.c.id == bindparam("job"),
        JOBS.c.status == JobStatus.RUNNING,
        LEASE.held_by(bindparam("owner")),
        JOBS.c.attempts == bindparam("attempt"),
    )
    .values(
        status=JobStatus.SUCCEEDED,
        outputs=bindparam("job_outputs", type_=JOBS.c.outputs.type),
        finished_at=bindparam("now"),
        **LEASE.cleared(),
    )
    .returning(
        JOBS.c.account_id,
        _balance_of_job_account(ACCOUNTS.c.balance_subscription).label("balance_subscription"),
        _balance_of_job_account(ACCOUNTS.c.balance_one_time).label("balance_one_time"),
    )
)


async def transition(
    session: AsyncSession,
    job_id: int,
    *,
    from_statuses: Iterable[str],
    to: str,
    lease_owner: str | None = None,
    attempt: int | None = None,
    **values: Any,
) -> bool:
    """Moves a job between states only if it is still in one of `from_statuses` (and, given a
    `lease_owner` and `attempt`, still in that claim). Leaving `running` ends the lease. The account's
    queue counts follow in the same transaction."""
    statuses = list(from_statuses)
    if len(statuses) > 1:  # the state it leaves changes the counts: read it under the row's lock
        current = await session.scalar(select(JOBS.c.status).where(JOBS.c.id == job_id).with_for_update())
        if current not in statuses:
            return False
        statuses = [current]
    [source] = statuses
    conditions = [JOBS.c.id == job_id, JOBS.c.status == source]
    if lease_owner is not None:
        conditions.append(JOBS.c.lease_owner == lease_owner)
    if attempt is not None:
        conditions.append(JOBS.c.attempts == attempt)
    if to != JobStatus.RUNNING:
        values.update(LEASE.cleared())
    statement = update(JOBS).where(*conditions).values(status=to, **values).returning(JOBS.c.account_id)
    account_id = (await session.execute(statement)).scalar()
    if account_id is None:
        return False
    await queue.moved(session, account_id, job_id, source, to)
    return True


async def add_strike(session: AsyncSession, account_id: int, source: str) -> None:
    session.add(SafetyStrike(account_id=account_id, source=source))
    await session.flush()
