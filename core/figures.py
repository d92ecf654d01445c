"""The operators' overview: images, credits, money, users, the queue and the provider over 24 h, 7 d or 30 d.

A period is a whole number of buckets (24 hours, 7 or 30 days, in UTC) ending with the one that holds
`now`; every series has a point for each bucket, zero where nothing happened, so a chart's axis is
continuous. What counts as what:

- images: the `n` of jobs that succeeded, when they finished; failures: failed jobs by error code.
- credits sold: the credits of payments (packs and plans' billing cycles, Stripe and Stars) when they
  were paid, kept even if they were refunded later (the refund shows as credits taken back);
  spent: the cost of jobs that succeeded with a hold (their hold is settled in the same transaction);
  refunded: credits given back for jobs that did not deliver (ledger `refund` entries);
  granted: staff grants; trial: free trial credits; taken back: credits reclaimed from refunded or
  disputed payments; deducted: staff corrections (both shown as positive numbers).
- revenue: per currency, the amounts of payments made in the period (Stars as currency XTR), and the part
  of them refunded in full or lost in a dispute. A partial refund's share is not recorded anywhere,
  so it is not subtracted.
- active users: distinct accounts with a job that ended (delivered, failed or cancelled).
- wait: `started_at - created_at` of jobs that started in the period; provider latency:
  `finished_at - started_at` of jobs that succeeded in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from core.credits import EntryKind
from core.db.repositories import figures as repo
from core.db.repositories.figures import Spread, Takings, Unit
from core.db.session import Database
from core.db.types import utcnow


class Period(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"


_SHAPE: dict[Period, tuple[Unit, int]] = {
    Period.DAY: ("hour", 24),
    Period.WEEK: ("day", 7),
    Period.MONTH: ("day", 30),
}
_STEP: dict[Unit, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}

# Payments that took money, and those of them whose money went back in full.
TAKEN = frozenset({"paid", "partially_refunded", "refunded", "disputed", "dispute_lost"})
RETURNED = frozenset({"refunded", "dispute_lost"})

_LEDGER_KINDS = (
    EntryKind.REFUND,
    EntryKind.ADMIN_GRANT,
    EntryKind.ADMIN_DEDUCT,
    EntryKind.TRIAL,
    EntryKind.REVERSAL,
)
UNKNOWN_CAUSE = "unknown"


@dataclass(frozen=True, slots=True)
class Series:
    """One value per bucket, in time order, each with the bucket's start."""

    points: tuple[tuple[datetime, int], ...]

    @property
    def total(self) -> int:
        return sum(value for _, value in self.points)

    @property
    def peak(self) -> int:
        return max((value for _, value in self.points), default=0)


@dataclass(frozen=True, slots=True)
class Revenue:
    currency: str  # ISO code in upper case, or XTR for Telegram Stars
    gross: int  # minor units (cents), or Stars
    returned: int
    payments: int

    @property
    def net(self) -> int:
        return self.gross - self.returned


@dataclass(frozen=True, slots=True)
class Overview:
    period: Period
    start: datetime  # the first bucket's start
    end: datetime  # the end of the last bucket (after `now`)
    step: timedelta  # one bucket: an hour or a day
    images: Series
    active_users: Series
    active_users_total: int  # distinct over the whole period (not the sum of the buckets)
    credits_sold: Series
    credits_spent: Series
    credits_refunded: Series
    credits_granted: Series
    credits_trial: Series
    credits_taken_back: Series
    credits_deducted: Series
    failures: tuple[tuple[str, int], ...]  # (error code, failed jobs), the most frequent first
    revenue: tuple[Revenue, ...]  # by currency
    queued_now: int
    running_now: int
    wait: Spread
    latency: Spread


def bounds(period: Period, now: datetime) -> tuple[Unit, list[datetime], datetime]:
    """The bucket unit, every bucket's start and the end of the last one."""
    unit, count = _SHAPE[period]
    now = now.astimezone(UTC)
    last = now.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        last = last.replace(hour=0)
    step = _STEP[unit]
    starts = [last - step * (count - 1 - i) for i in range(count)]
    return unit, starts, last + step


async def overview(db: Database, period: Period, *, now: datetime | None = None) -> Overview:
    """Every figure of the period ending with the bucket that holds `now`, read in one snapshot."""
    unit, starts, end = bounds(period, now or utcnow())
    start = starts[0]
    async with db.read() as session:
        jobs = await repo.job_buckets(session, start, end, unit)
        active = await repo.active_accounts(session, start, end)
        failed = await repo.failures(session, start, end)
        ledger = await repo.ledger_buckets(session, start, end, unit, _LEDGER_KINDS)
        sold = await repo.credits_sold(session, start, end, unit, TAKEN)
        takings = await repo.takings(session, start, end, taken=TAKEN, returned=RETURNED)
        queued, running = await repo.jobs_now(session)
        wait = await repo.waits(session, start, end)
        latency = await repo.latencies(session, start, end)

    def series(values: Mapping[datetime, int]) -> Series:
        return Series(tuple((at, values.get(at, 0)) for at in starts))

    def of_kind(kind: EntryKind, sign: int = 1) -> Series:
        return series({at: sign * total for (at, entry_kind), total in ledger.items() if entry_kind == kind})

    return Overview(
        period=period,
        start=start,
        end=end,
        step=_STEP[unit],
        images=series({at: bucket.images for at, bucket in jobs.items()}),
        active_users=series({at: bucket.accounts for at, bucket in jobs.items()}),
        active_users_total=active,
        credits_sold=series(sold),
        credits_spent=series({at: bucket.spent for at, bucket in jobs.items()}),
        credits_refunded=of_kind(EntryKind.REFUND),
        credits_granted=of_kind(EntryKind.ADMIN_GRANT),
        credits_trial=of_kind(EntryKind.TRIAL),
        credits_taken_back=of_kind(EntryKind.REVERSAL, sign=-1),
        credits_deducted=of_kind(EntryKind.ADMIN_DEDUCT, sign=-1),
        failures=tuple((code or UNKNOWN_CAUSE, count) for code, count in failed),
        revenue=tuple(_revenue(line) for line in takings),
        queued_now=queued,
        running_now=running,
        wait=wait,
        latency=latency,
    )


def _revenue(line: Takings) -> Revenue:
    return Revenue(line.currency or "?", line.gross, line.returned, line.payments)
