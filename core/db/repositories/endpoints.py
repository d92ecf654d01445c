"""Image provider endpoints as every worker process sees them: each call in the rolling window (its
images, whether it is still running, how it ended) and each endpoint's circuit breaker.

Which endpoint a job may use is decided under the claims' lock (`core.db.locks`, "job-claims"): the
window, the concurrent calls and the breaker's single probe then hold across processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import ProviderBreaker, ProviderCall
from core.db.upsert import insert as upsert

OK = "ok"


@dataclass(frozen=True, slots=True)
class Route:
    """An endpoint as a claim sees it: its limits (0: none) and the models it serves (None: all)."""

    name: str
    images_per_minute: int = 0
    concurrent: int = 0
    models: tuple[str, ...] | None = None

    def serves(self, model: str) -> bool:
        return self.models is None or model in self.models


@dataclass(frozen=True, slots=True)
class Call:
    """A call stamped in the window: `probe` when it is the one call an open breaker lets through."""

    id: int
    endpoint: str
    probe: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a call may still be running (it counts against `concurrent` until then), and how
    long a breaker waits for its probe before letting another one through."""

    call_horizon: timedelta = timedelta(minutes=10)
    probe_stale: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Breaker:
    failures: int = 0
    open_until: datetime | None = None
    probe_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None

    def state(self, now: datetime) -> str:
        """`closed`, `open` (no calls until `open_until`), `probing` (its one probe is running) or
        `half_open` (a probe may go)."""
        if self.open_until is None:
            return "closed"
        if self.open_until > now:
            return "open"
        return "probing" if self.probe_at is not None else "half_open"

    def admits(self, now: datetime, limits: Limits) -> bool | None:
        """None: no call now; False: a normal call; True: the probe."""
        if self.open_until is None:
            return False
        if self.open_until > now:
            return None
        if self.probe_at is None or self.probe_at <= now - limits.probe_stale:
            return True
        return None


CLOSED = Breaker()
DEFAULT_LIMITS = Limits()


async def breakers(session: AsyncSession) -> dict[str, Breaker]:
    rows = await session.execute(select(ProviderBreaker))
    return {
        row.endpoint: Breaker(row.failures, row.open_until, row.probe_at, row.last_error, row.last_error_at)
        for row in rows.scalars()
    }


async def admits(
    session: AsyncSession, route: Route, breaker: Breaker, now: datetime, limits: Limits
) -> bool | None:
    """Whether the breaker and the concurrent calls let one more call go to `route` (see `Breaker.admits`)."""
    probe = breaker.admits(now, limits)
    if probe is None or not route.concurrent:
        return probe
    running = await session.scalar(
        select(func.count(ProviderCall.id)).where(
            ProviderCall.endpoint == route.name,
            ProviderCall.finished_at.is_(None),
            ProviderCall.started_at > now - limits.call_horizon,
        )
    )
    return probe if (running or 0) < route.concurrent else None


async def images_since(session: AsyncSession, endpoint: str, since: datetime) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(ProviderCall.images), 0)).where(
            ProviderCall.endpoint == endpoint, ProviderCall.started_at > since
        )
    )
    return int(total or 0)


async def stamp(session: AsyncSession, endpoint: str, images: int, now: datetime, *, probe: bool) -> Call:
    """Records a call starting now; a probe is taken in the breaker by a conditional update."""
    call_id = await session.scalar(
        ProviderCall.__table__.insert()
        .values(endpoint=endpoint, started_at=now, images=images)
        .returning(ProviderCall.id)
    )
    if probe:
        await session.execute(
            update(ProviderBreaker)
            .where(ProviderBreaker.endpoint == endpoint, ProviderBreaker.open_until <= now)
            .values(probe_at=now)
        )
    assert call_id is not None
    return Call(call_id, endpoint, probe)


async def finished(
    session: AsyncSession,
    call: Call,
    outcome: str,
    now: datetime,
    *,
    failure: bool,
    threshold: int,
    open_for: timedelta,
) -> Breaker:
    """Records how a call ended and moves its endpoint's breaker: a failure counts (`threshold` in a
    row open it, none when 0; a failed probe re-opens it); a success closes it after a probe, else
    resets the count unless it is open. Returns the breaker as it now stands. A success, the common
    case, costs one write more than the call's own (none for an endpoint that never failed)."""
    await session.execute(
        update(ProviderCall).where(ProviderCall.id == call.id).values(finished_at=now, outcome=outcome)
    )
    row = ProviderBreaker.__table__.c
    if failure:
        created = upsert(session, ProviderBreaker).values(endpoint=call.endpoint)
        await session.execute(created.on_conflict_do_nothing())
        reopen = now + open_for
        opens = and_(row.open_until.is_(None), row.failures + 1 >= threshold)
        closed_or_open = case((opens, reopen), else_=row.open_until) if threshold > 0 else row.open_until
        values = {
            "failures": row.failures + 1,
            "last_error": outcome,
            "last_error_at": now,
            "open_until": reopen if call.probe else closed_or_open,
            "probe_at": None if call.probe else row.probe_at,
        }
    elif call.probe:
        values = {"failures": 0, "open_until": None, "probe_at": None}
    else:
        values = {"failures": case((row.open_until.is_(None), 0), else_=row.failures)}
    changed = await session.execute(
        update(ProviderBreaker)
        .where(ProviderBreaker.endpoint == call.endpoint)
        .values(**values)
        .returning(row.failures, row.open_until, row.probe_at, row.last_error, row.last_error_at)
    )
    found = changed.first()
    return CLOSED if found is None else Breaker(*found)


async def abandoned(session: AsyncSession, call: Call, now: datetime) -> None:
    """A call cut off before it returned: it ends, and moves no breaker (a probe may go again)."""
    await session.execute(
        update(ProviderCall).where(ProviderCall.id == call.id).values(finished_at=now, outcome="cancelled")
    )
    if call.probe:
        await session.execute(
            update(ProviderBreaker).where(ProviderBreaker.endpoint == call.endpoint).values(probe_at=None)
        )


@dataclass(frozen=True, slots=True)
class Activity:
    """An endpoint's calls in the recent window: for operators (`image2bot admin providers`)."""

    calls: int
    running: int
    errors: dict[str, int]
    mean_latency_s: float | None


async def activity(session: AsyncSession, since: datetime, limit: int = 10_000) -> dict[str, Activity]:
    """The calls started after `since` (the recent window: few rows), summed up per endpoint."""
    rows = await session.execute(
        select(ProviderCall.endpoint, ProviderCall.started_at, ProviderCall.finished_at, ProviderCall.outcome)
        .where(ProviderCall.started_at > since)
        .order_by(ProviderCall.started_at.desc())
        .limit(limit)
    )
    calls: dict[str, list[tuple[datetime, datetime | None, str | None]]] = {}
    for endpoint, started_at, finished_at, outcome in rows:
        calls.setdefault(endpoint, []).append((started_at, finished_at, outcome))
    summary: dict[str, Activity] = {}
    for endpoint, seen in calls.items():
        errors: dict[str, int] = {}
        for _, _, outcome in seen:
            if outcome is not None and outcome != OK:
                errors[outcome] = errors.get(outcome, 0) + 1
        latencies = [(end - start).total_seconds() for start, end, outcome in seen if end and outcome == OK]
        mean = sum(latencies) / len(latencies) if latencies else None
        running = sum(1 for _, end, _ in seen if end is None)
        summary[endpoint] = Activity(len(seen), running, errors, mean)
    return summary


async def forget(session: AsyncSession, before: datetime, running_since: datetime) -> None:
    """Drops calls long past: finished before `before`, or still marked running since before
    `running_since` (their worker died)."""
    await session.execute(
        delete(ProviderCall).where(
            ProviderCall.started_at <= before,
            or_(ProviderCall.finished_at.is_not(None), ProviderCall.started_at <= running_since),
        )
    )
