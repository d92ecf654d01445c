"""The operators' overview adds up known jobs, ledger entries and payments per hour and per day, with the
buckets' edges where they belong and empty buckets present as zeros."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.credits import EntryKind
from core.db.session import Database
from core.db.statuses import JobStatus
from core.figures import Overview, Period, Revenue, bounds, overview
from tests.core.figure_rows import accounts, add_entry, add_job, add_payment

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
DAY_START = datetime(2026, 3, 9, 15, tzinfo=UTC)  # the first of the 24 hourly buckets ending with NOW's
END = datetime(2026, 3, 10, 15, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def values(series_points: tuple[tuple[datetime, int], ...]) -> dict[datetime, int]:
    return {start: value for start, value in series_points if value}


async def test_jobs_fall_in_the_hour_they_finished_in_and_the_period_has_every_hour(db: Database) -> None:
    alice, bob, carol, dave = await accounts(db, 4)
    # the first instant of the period, and the last one
    await add_job(
        db, alice, JobStatus.SUCCEEDED, created=DAY_START, started=DAY_START, finished=DAY_START, n=2
    )
    last = END - timedelta(microseconds=1)
    await add_job(db, bob, JobStatus.SUCCEEDED, created=NOW, started=NOW, finished=last, n=4, cost=40)
    # just outside, on either side
    await add_job(db, carol, JobStatus.SUCCEEDED, created=NOW, finished=DAY_START - timedelta(microseconds=1))
    await add_job(db, carol, JobStatus.SUCCEEDED, created=NOW, finished=END)
    # delivered without a hold: images, but no credits spent
    await add_job(db, alice, JobStatus.SUCCEEDED, created=NOW, finished=at("2026-03-10 09:10"), held=False)
    await add_job(
        db, dave, JobStatus.FAILED, created=NOW, finished=at("2026-03-10 09:20"), error="moderation"
    )
    await add_job(
        db, dave, JobStatus.FAILED, created=NOW, finished=at("2026-03-10 09:40"), error="moderation"
    )
    await add_job(db, carol, JobStatus.FAILED, created=NOW, finished=at("2026-03-10 09:50"), error="timeout")
    await add_job(db, carol, JobStatus.FAILED, created=NOW, finished=at("2026-03-10 10:00"))
    await add_job(db, bob, JobStatus.QUEUED, created=NOW)
    await add_job(db, bob, JobStatus.QUEUED, created=NOW)
    await add_job(db, dave, JobStatus.RUNNING, created=at("2026-03-10 14:00"), started=at("2026-03-10 14:20"))

    figures = await overview(db, Period.DAY, now=NOW)

    assert (figures.start, figures.end, figures.step) == (DAY_START, END, timedelta(hours=1))
    hours = [start for start, _ in figures.images.points]
    assert hours == [DAY_START + timedelta(hours=i) for i in range(24)]
    assert values(figures.images.points) == {
        DAY_START: 2,
        at("2026-03-10 09:00"): 1,
        at("2026-03-10 14:00"): 4,
    }
    assert figures.images.total == 7
    assert values(figures.credits_spent.points) == {DAY_START: 10, at("2026-03-10 14:00"): 40}
    assert values(figures.active_users.points) == {
        DAY_START: 1,
        at("2026-03-10 09:00"): 3,  # alice, dave (twice) and carol
        at("2026-03-10 10:00"): 1,
        at("2026-03-10 14:00"): 1,
    }
    assert figures.active_users_total == 4
    assert figures.failures == (("moderation", 2), ("timeout", 1), ("unknown", 1))
    assert (figures.queued_now, figures.running_now) == (2, 1)


async def test_days_begin_at_midnight_utc_and_thirty_days_are_thirty_points(db: Database) -> None:
    [alice] = await accounts(db, 1)
    midnight = at("2026-03-10 00:00")
    await add_job(db, alice, JobStatus.SUCCEEDED, created=NOW, finished=midnight, n=3)
    await add_job(db, alice, JobStatus.SUCCEEDED, created=NOW, finished=midnight - timedelta(microseconds=1))
    await add_job(db, alice, JobStatus.SUCCEEDED, created=NOW, finished=at("2026-02-09 00:00"), n=5)
    await add_job(db, alice, JobStatus.SUCCEEDED, created=NOW, finished=at("2026-02-08 23:59:59"), n=7)

    week = await overview(db, Period.WEEK, now=NOW)
    month = await overview(db, Period.MONTH, now=NOW)

    assert [start for start, _ in week.images.points] == [
        at(f"2026-03-{day:02} 00:00") for day in range(4, 11)
    ]
    assert values(week.images.points) == {midnight: 3, at("2026-03-09 00:00"): 1}
    assert len(month.images.points) == 30
    assert (month.start, month.end) == (at("2026-02-09 00:00"), at("2026-03-11 00:00"))
    assert values(month.images.points) == {midnight: 3, at("2026-03-09 00:00"): 1, at("2026-02-09 00:00"): 5}
    assert (month.active_users.total, month.active_users_total) == (3, 1)  # the same user each day


async def test_credits_and_revenue_by_kind_and_currency(db: Database) -> None:
    alice, bob = await accounts(db, 2)
    ten = at("2026-03-10 10:05")
    await add_entry(db, alice, EntryKind.REFUND, 10, ten)
    await add_entry(db, alice, EntryKind.REFUND, 5, at("2026-03-10 10:59:59"))
    await add_entry(db, alice, EntryKind.REFUND, 99, DAY_START - timedelta(seconds=1))
    await add_entry(db, bob, EntryKind.ADMIN_GRANT, 50, ten)
    await add_entry(db, bob, EntryKind.TRIAL, 30, DAY_START)
    await add_entry(db, bob, EntryKind.REVERSAL, -15, ten)
    await add_entry(db, bob, EntryKind.ADMIN_DEDUCT, -7, ten)
    await add_entry(db, bob, EntryKind.RESERVE, -20, ten)  # a hold, not yet spent
    await add_payment(db, alice, amount=500, currency="usd", status="paid", credits=100, when=ten)
    await add_payment(db, alice, amount=300, currency="usd", status="refunded", credits=50, when=ten)
    await add_payment(
        db, bob, amount=1000, currency="eur", status="partially_refunded", credits=200, when=NOW
    )
    await add_payment(db, bob, amount=150, currency="XTR", status="paid", credits=75, when=DAY_START)
    await add_payment(db, bob, amount=999, currency="usd", status="failed", credits=999, when=ten)
    await add_payment(db, bob, amount=777, currency="usd", status="paid", credits=777, when=END)

    figures = await overview(db, Period.DAY, now=NOW)

    assert values(figures.credits_refunded.points) == {at("2026-03-10 10:00"): 15}
    assert values(figures.credits_granted.points) == {at("2026-03-10 10:00"): 50}
    assert values(figures.credits_trial.points) == {DAY_START: 30}
    assert values(figures.credits_taken_back.points) == {at("2026-03-10 10:00"): 15}
    assert values(figures.credits_deducted.points) == {at("2026-03-10 10:00"): 7}
    assert values(figures.credits_sold.points) == {
        DAY_START: 75,
        at("2026-03-10 10:00"): 150,
        at("2026-03-10 14:00"): 200,
    }
    assert figures.revenue == (
        Revenue("EUR", gross=1000, returned=0, payments=1),
        Revenue("USD", gross=800, returned=300, payments=2),
        Revenue("XTR", gross=150, returned=0, payments=1),
    )
    assert figures.revenue[1].net == 500


async def test_wait_and_latency_are_nearest_rank_median_and_90th_percentile(db: Database) -> None:
    [alice] = await accounts(db, 1)
    base = at("2026-03-10 08:00")
    for i in range(1, 11):  # waits of 1..10 minutes, renders of 10..100 seconds
        started = base + timedelta(minutes=i)
        finished = started + timedelta(seconds=10 * i)
        await add_job(db, alice, JobStatus.SUCCEEDED, created=base, started=started, finished=finished)
    # started before the period: its wait does not count, though it finished inside
    early = DAY_START - timedelta(minutes=1)
    await add_job(
        db, alice, JobStatus.FAILED, created=early - timedelta(hours=5), started=early, finished=DAY_START
    )
    # still running: it waited 30 minutes
    await add_job(
        db, alice, JobStatus.RUNNING, created=at("2026-03-10 13:00"), started=at("2026-03-10 13:30")
    )

    figures = await overview(db, Period.DAY, now=NOW)

    assert figures.latency.count == 10
    assert figures.latency.median_s == pytest.approx(50, abs=0.01)
    assert figures.latency.p90_s == pytest.approx(90, abs=0.01)
    assert figures.wait.count == 11
    assert figures.wait.median_s == pytest.approx(360, abs=0.01)  # 1..10 minutes and 30: the 6th
    assert figures.wait.p90_s == pytest.approx(600, abs=0.01)  # the 10th of 11


async def test_an_empty_period_is_all_zeros(db: Database) -> None:
    figures: Overview = await overview(db, Period.WEEK, now=NOW)

    assert len(figures.images.points) == 7
    assert figures.images.total == figures.credits_sold.total == figures.active_users.peak == 0
    assert figures.failures == figures.revenue == ()
    assert (figures.wait.count, figures.wait.median_s, figures.latency.p90_s) == (0, None, None)


def test_a_period_is_measured_in_utc_whatever_the_clock_it_is_given() -> None:
    shanghai = timezone(timedelta(hours=8))
    unit, starts, end = bounds(Period.WEEK, datetime(2026, 3, 10, 2, 0, tzinfo=shanghai))  # 03-09 18:00 UTC

    assert unit == "day"
    assert (starts[0], starts[-1], end) == (
        at("2026-03-03 00:00"),
        at("2026-03-09 00:00"),
        at("2026-03-10 00:00"),
    )
