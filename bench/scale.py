"""13. Scale (issue 16): what each per-request query costs as the history grows from 1,000 to 100,000 to
1,000,000 jobs on SQLite, and how long the upkeep (the retention purge, an erasure) holds the writer
at a million.

One database is migrated by the product (`bot.app.build`, `App.prepare`) and grown in place, 1k ->
100k -> 1M jobs (its file copied at 1k and at 100k, each copy served by an app of its own, so that the
three sizes are measured side by side), with set-based SQL through a connection of its own
(`bench.seed`: recursive CTEs, never the ORM): one account per 20 jobs (identity, accepted terms,
consent record, trial entry, one in ten with a purchase and its payment); each job with its credit
hold and ledger entries (reserve, then settle or refund), its outcome in the outbox (sent, one in 97
given up) and, one job in four, a progress message (sent or expired); one job in ten reads an upload
shared with others (`job_references`); audit events (1%), safety strikes and support tickets;
`account_queues` counted from the jobs as migration 0011 does. Job numbers follow a timeline of
HISTORY_DAYS ending an hour ago, so much of the history is past retention (failed jobs' prompts after
90 days). Up to 100k the outbox keeps every message; at 1M the daily purge is taken to have stopped
OUTBOX_DAYS ago, so the outbox holds the last OUTBOX_DAYS of messages, all but a day's past retention.
The queue as it stands (QUEUED waiting and RUNNING rendering jobs, PENDING undelivered messages) is
the same at every size: this benchmark weighs the history, `bench/claim.py` a long queue. No ANALYZE
is run (the product never runs one).

At each size every query runs as the product runs it, through its repository functions, in
`Database.read()` or `Database.transaction()`: who asks (with the standing, as `/imagine` reads it),
`/balance`, `/history`, the `/imagine` write (`JobService.submit` for an account that never asked
before; the local provider's moderation is a no-op), the worker's job claim and the outbox claim.
The sizes take turns: after a warm-up round (WARMUP runs of each query at each size, discarded),
ROUNDS rounds of RUNS // ROUNDS runs each, so that the machine's changing load falls on every size
alike. Each query's median over its RUNS runs at 100k and at 1M is compared with its median at 1k, in
CPU time (this process, SQLite's thread included) and in wall time. The verdict uses CPU time: on this
shared 2-core machine other sessions' work moves wall-time medians by more than the history does,
while CPU time still counts every page SQLite reads.

At 1M, an account with one job in HEAVY_EVERY of the growth (4,500 jobs) is erased
(`Eraser.erase_now`, as `image2bot admin delete` does), then the retention purge runs
(`Retention.purge`, as its daily loop calls it). Each write transaction is timed from the moment
`Database.transaction()` has the writer lock until it has committed, COMMIT (and the WAL checkpoint
SQLite may run in it) included.

`python -m bench scale` runs it alone.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import seed
from bench.common import Figure, bench_settings
from bench.write_timer import WriteTimer, quantile
from bot.app import App, build
from bot.config import Settings
from core import credits
from core.accounts import AccountView
from core.commands.account import HISTORY_JOBS, RECENT_LEDGER_LINES
from core.db.models import Job
from core.db.repositories import asker, deliveries
from core.db.repositories import jobs as jobs_repo
from core.db.types import utcnow
from core.generation import admission
from core.generation.jobs import ImagineSpec
from core.generation.sizes import AspectRatio, Tier
from core.messages import ChatRef, UserRef
from core.privacy.settings import PrivacySettings

SIZES = (1_000, 100_000, 1_000_000)
JOBS_PER_ACCOUNT = 20
HISTORY_DAYS = 180  # the timeline the largest history spans
OUTBOX_DAYS = 30  # at the largest size, the purge stopped this long ago: older messages are gone
TARGET_RATIO = 2.0
PURGE_TARGET_MS = 100.0
ERASURE_TARGET_S = 0.5
WARMUP = 10
RUNS = 200
ROUNDS = 5
QUEUED = 30  # the queue at every size: jobs waiting...
RUNNING = 4  # ...jobs rendering on another worker...
PENDING = 40  # ...and messages waiting in the outbox, over PENDING // 2 chats
HEAVY_ACCOUNT = 9_000_000  # its jobs are one in HEAVY_EVERY of the growth to the largest size
HEAVY_EVERY = 200
FRESH_ACCOUNTS = 10_000_000  # first number of the accounts that `/imagine` for the first time
IMAGES_PER_MINUTE = 1_000_000  # never reached: the claim still keeps the window's books
CLAIM_LEASE = timedelta(seconds=30)
OUTBOX_LIMIT = 500  # as core.notifier claims
BALANCE = 1_000

QUERIES = (
    # key, title
    ("who_asks", "who asks, with the standing (one read)"),
    ("balance", "/balance (one read)"),
    ("history", "/history (one read)"),
    ("imagine", "/imagine write (JobService.submit)"),
    ("job_claim", "job claim (jobs.claim_next, one write)"),
    ("outbox_claim", "outbox claim (deliveries.claim, one write)"),
)


async def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        apps = {size: build(_settings(Path(tmp) / _label(size))) for size in SIZES}
        largest = apps[SIZES[-1]]
        await largest.prepare()  # migrates the database that grows
        history = _History(_database(largest), largest.settings.privacy)
        context: dict[str, Any] = {"seeding_s": {}, "load_average": {}}
        subjects: dict[int, _Subjects] = {}
        writes: WriteTimer | None = None
        try:
            for size in SIZES:
                start = time.perf_counter()
                copy = None if size == SIZES[-1] else _database(apps[size])
                subjects[size] = await history.grow(size, heavy=size == SIZES[-1], copy_to=copy)
                context["seeding_s"][size] = time.perf_counter() - start
            for size in SIZES[:-1]:
                await apps[size].prepare()
            context["load_average"]["queries"] = os.getloadavg()[0]
            raw = await _measure_all(apps, subjects)
            context["rows"] = await asyncio.to_thread(history.counts)
            writes = WriteTimer(largest)
            context["load_average"]["upkeep"] = os.getloadavg()[0]
            typical = await _erase(largest, writes, await _typical_account(largest))
            erasure = await _erase(largest, writes, HEAVY_ACCOUNT)
            purge = await _purge(largest, writes)
        finally:
            if writes is not None:
                writes.remove()
            for app in apps.values():
                await app.close()
    return [*_query_figures(raw, context), *_upkeep_figures(typical, erasure, purge, context)]


def _settings(data_dir: Path) -> Settings:
    return bench_settings(
        data_dir, generation={"provider": "local", "provider_images_per_minute": IMAGES_PER_MINUTE}
    )


def _database(app: App) -> Path:
    return app.settings.storage.data_dir / "image2bot.db"


def _label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1_000}k"


def _query_figures(raw: dict[int, dict[str, list[float]]], context: dict[str, Any]) -> list[Figure]:
    medians = {size: {key: statistics.median(runs) for key, runs in raw[size].items()} for size in SIZES}
    first, *larger = SIZES
    figures = []
    for key, title in QUERIES:
        base, cpu = medians[first][key], medians[first][f"{key}_cpu"]
        ratios = {size: medians[size][key] / base for size in larger}
        cpu_ratios = {size: medians[size][f"{key}_cpu"] / cpu for size in larger}
        figures.append(
            Figure(
                key=f"scale_{key}",
                title=f"13. Scale: {title}, {' / '.join(map(_label, larger))} jobs vs {_label(first)}",
                value=f"CPU {_ratios(cpu_ratios)}, wall {_ratios(ratios)}"
                f" ({_label(first)}: {base * 1000:.2f} ms)",
                target=f"<= {TARGET_RATIO:g}x",
                met=max(cpu_ratios.values()) <= TARGET_RATIO,
                details={
                    "median_ms": {size: medians[size][key] * 1000 for size in SIZES},
                    "ratio": ratios,
                    "p90_ms": {size: quantile(raw[size][key], 0.9) * 1000 for size in SIZES},
                    "cpu_median_ms": {size: medians[size][f"{key}_cpu"] * 1000 for size in SIZES},
                    "cpu_ratio": cpu_ratios,
                    "runs_ms": {size: [round(value * 1000, 3) for value in raw[size][key]] for size in SIZES},
                    "runs": RUNS,
                    "warmup": WARMUP,
                    "load_average": context["load_average"],
                },
            )
        )
    return figures


def _ratios(ratios: dict[int, float]) -> str:
    return " / ".join(f"{ratio:.2f}x" for ratio in ratios.values())


def _upkeep_figures(
    typical: dict[str, Any], erasure: dict[str, Any], purge: dict[str, Any], context: dict[str, Any]
) -> list[Figure]:
    largest = _label(SIZES[-1])
    longest = purge["longest_ms"]
    return [
        Figure(
            key="scale_purge",
            title=f"13. Scale: retention purge at {largest} jobs, longest write transaction",
            value=f"{longest:.1f} ms ({purge['transactions']} tx, {purge['seconds']:.1f} s)",
            target=f"<= {PURGE_TARGET_MS:g} ms",
            met=longest <= PURGE_TARGET_MS,
            details=purge | context,
        ),
        Figure(
            key="scale_erasure",
            title=f"13. Scale: erasing an account ({typical['jobs']:,} jobs, as most have) at {largest} jobs",
            value=f"{typical['seconds']:.2f} s (longest tx {typical['longest_ms']:.1f} ms)",
            target=f"< {ERASURE_TARGET_S:g} s",
            met=typical["seconds"] < ERASURE_TARGET_S,
            details=typical,
        ),
        Figure(
            key="scale_erasure_heavy",
            title=f"   (diagnostic) erasing an account with {erasure['jobs']:,} jobs",
            value=f"{erasure['seconds']:.2f} s (longest tx {erasure['longest_ms']:.1f} ms)",
            details=erasure,
        ),
    ]


@dataclass(frozen=True)
class _Subjects:
    """Who asks at one size: history accounts (WARMUP + RUNS, drawn at random, repeats allowed) and
    as many accounts that have never asked (one `/imagine` each)."""

    accounts: list[int]
    fresh: list[int]


class _History:
    """The database's history, grown in place with set-based SQL (bench.seed); a copy of the file is
    taken at each smaller size, so that every size is measured side by side."""

    def __init__(self, path: Path, privacy: PrivacySettings) -> None:
        self.path = path
        self.privacy = privacy
        self.accounts = 0  # history accounts are 1..accounts
        self.fresh = FRESH_ACCOUNTS  # the next account that has never asked
        self.heavy_jobs = 0
        now = utcnow()
        step = HISTORY_DAYS * 86_400 / SIZES[-1]
        # Job SIZES[-1] was created an hour ago; the queue is newer still.
        self.timeline = seed.Timeline(now.timestamp() - 3_600 - SIZES[-1] * step, step)

    async def grow(self, size: int, *, heavy: bool, copy_to: Path | None) -> _Subjects:
        """Grows the history to `size` jobs (with a heavy account when `heavy`), copies the database
        file to `copy_to` if given, and returns who asks at this size."""
        fresh = list(range(self.fresh, self.fresh + WARMUP + RUNS))
        self.fresh += len(fresh)
        await asyncio.to_thread(self._grow, size, heavy, fresh)
        if copy_to is not None:
            copy_to.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(shutil.copyfile, self.path, copy_to)
        picked = random.Random(size)
        return _Subjects([picked.randint(1, self.accounts) for _ in fresh], fresh)

    def _grow(self, size: int, heavy: bool, fresh: list[int]) -> None:
        now = utcnow()
        connection = seed.sqlite_seed_connection(self.path)
        try:
            seed.finish_backlog(connection, now)
            accounts = size // JOBS_PER_ACCOUNT
            created = self.timeline.stamp(self.accounts * JOBS_PER_ACCOUNT)
            seed.seed_history_accounts(
                connection,
                self.accounts + 1,
                accounts,
                created=created,
                balance=BALANCE,
                privacy=self.privacy,
            )
            self.accounts = accounts
            if heavy:
                seed.seed_history_accounts(
                    connection,
                    HEAVY_ACCOUNT,
                    HEAVY_ACCOUNT,
                    created=created,
                    balance=BALANCE,
                    privacy=self.privacy,
                )
            first, hold_offset = seed.next_numbers(connection)
            outbox_from = 0
            if heavy:  # the largest size: the purge stopped OUTBOX_DAYS ago
                outbox_from = size - round(OUTBOX_DAYS * 86_400 / self.timeline.step)
                seed.forget_delivered_before(connection, self.timeline.moment(outbox_from))
            seed.seed_history_jobs(
                connection,
                first,
                size,
                accounts=accounts,
                timeline=self.timeline,
                hold_offset=hold_offset,
                heavy=HEAVY_ACCOUNT if heavy else 0,
                heavy_every=HEAVY_EVERY if heavy else 0,
                outbox_from=outbox_from,
            )
            if heavy:
                self.heavy_jobs = seed.count(connection, "jobs", f"account_id = {HEAVY_ACCOUNT}")
            first, hold_offset = seed.next_numbers(connection)
            seed.seed_backlog(
                connection,
                first,
                queued=QUEUED,
                running=RUNNING,
                accounts=accounts,
                hold_offset=hold_offset,
                now=now,
            )
            seed.seed_pending_deliveries(connection, PENDING, chats=PENDING // 2, tag=str(size), now=now)
            seed.seed_history_accounts(
                connection,
                fresh[0],
                fresh[-1],
                created=seed.sqlite_stamp(now),
                balance=BALANCE,
                privacy=self.privacy,
            )
            seed.count_account_queues(connection)
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file is whole: it can be copied
        finally:
            connection.close()

    def counts(self) -> dict[str, int]:
        connection = seed.sqlite_seed_connection(self.path)
        try:
            return {table: seed.count(connection, table) for table in seed.HISTORY_TABLES}
        finally:
            connection.close()


async def _measure_all(
    apps: dict[int, App], subjects: dict[int, _Subjects]
) -> dict[int, dict[str, list[float]]]:
    """The sizes take turns: a warm-up round of WARMUP runs of each query at each size (discarded),
    then ROUNDS rounds of RUNS // ROUNDS, the sizes' order reversed every other round, so that a
    change in the machine's load falls on every size alike."""
    raw: dict[int, dict[str, list[float]]] = {size: {} for size in SIZES}
    per_round = RUNS // ROUNDS
    for turn in range(ROUNDS + 1):
        first = 0 if turn == 0 else WARMUP + (turn - 1) * per_round
        last = WARMUP if turn == 0 else first + per_round
        for size in SIZES if turn % 2 else SIZES[::-1]:
            timings = await _measure(
                apps[size], subjects[size].accounts[first:last], subjects[size].fresh[first:last]
            )
            if turn:
                for key, values in timings.items():
                    raw[size].setdefault(key, []).extend(values)
    return raw


async def _measure(app: App, accounts: list[int], fresh: list[int]) -> dict[str, list[float]]:
    """Each query once per subject; wall and CPU seconds of each run."""
    services = app.core.services
    db = app.db
    strikes = services.generation.safety_strikes

    def user(account: int) -> UserRef:
        return UserRef("telegram", str(seed.HISTORY_USERS + account))

    async def standing(account: int) -> tuple[asker.AskerRow, asker.Standing]:
        """The asker's read as `/imagine` makes it (`Core._known_asker` with `charges`)."""
        async with db.read() as session:
            found = await asker.who_asks(
                session,
                "telegram",
                user(account).user_id,
                standing_since=utcnow() - admission.STRIKE_WINDOW,
                strikes_for_cooldown=strikes,
            )
        if found is None or found[1] is None:
            raise RuntimeError(f"account {account} has no standing")
        return found[0], found[1]

    async def who_asks(account: int) -> None:
        await standing(account)

    async def balance(account: int) -> None:
        async with db.read() as session:
            await credits.balance(session, account)
            await credits.recent_entries(session, account, RECENT_LEDGER_LINES)

    async def recent(account: int) -> None:
        async with db.read() as session:
            await services.jobs.recent(session, account, HISTORY_JOBS)

    # `/imagine` from accounts that never asked: their standing is read first (not timed).
    standings = {account: await standing(account) for account in fresh}
    spec = ImagineSpec(
        prompt="a red fox in the snow at dawn",
        ratio=AspectRatio.parse("1:1"),
        tier=Tier.K1,
        style="none",
        model=services.generation.model,
    )

    async def imagine(account: int) -> None:
        row, read = standings[account]
        who = user(account)
        chat = ChatRef("telegram", "private", who.user_id)
        await services.jobs.submit(
            AccountView(row.account_id, row.language, row.preferences),
            who,
            chat,
            "en",
            spec,
            read,
            request_key=f"{chat.serialize()}:1",
        )

    async def job_claim(_: int) -> None:
        async with db.transaction() as session:
            claim = await jobs_repo.claim_next(
                session,
                owner="bench-scale",
                lease=CLAIM_LEASE,
                max_running_per_account=services.generation.max_running_jobs_per_user,
                images_per_minute=IMAGES_PER_MINUTE,
                now=utcnow(),
            )
        assert claim.job is not None, "the queue ran dry"

    async def outbox_claim(_: int) -> None:
        now = utcnow()
        async with db.transaction() as session:
            claimed = await deliveries.claim(
                session,
                owner="bench-scale",
                platforms=("telegram",),
                now=now,
                until=now + timedelta(seconds=30),
                limit=OUTBOX_LIMIT,
            )
        assert len(claimed) == PENDING

    timings = {}
    for key, query, subjects in (
        ("who_asks", who_asks, accounts),
        ("balance", balance, accounts),
        ("history", recent, accounts),
        ("imagine", imagine, fresh),
        ("job_claim", job_claim, fresh),
        ("outbox_claim", outbox_claim, fresh),
    ):
        timings[key], timings[f"{key}_cpu"] = await _timed(query, subjects)
    return timings


async def _timed(
    query: Callable[[int], Awaitable[None]], subjects: list[int]
) -> tuple[list[float], list[float]]:
    """Each run's wall time and CPU time (this process, every thread: SQLite runs in aiosqlite's)."""
    walls, cpus = [], []
    for subject in subjects:
        cpu, wall = time.process_time(), time.perf_counter()
        await query(subject)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


async def _typical_account(app: App) -> int:
    """The account of the job halfway through the history: one with as many jobs as most."""
    async with app.db.read() as session:
        middle = await session.scalar(select(func.max(Job.id))) // 2
        return int(await session.scalar(select(Job.account_id).where(Job.id >= middle).limit(1)))


async def _erase(app: App, writes: WriteTimer, account: int) -> dict[str, Any]:
    eraser = app.core.services.privacy.eraser
    jobs = await _count_jobs(app, account)
    writes.reset()
    start = time.perf_counter()
    await eraser.erase_now(account, "cli:operator")
    seconds = time.perf_counter() - start
    left = await _count_jobs(app, account)
    if left:
        raise RuntimeError(f"the erasure left {left} jobs")
    return {"jobs": jobs, "seconds": seconds, **writes.summary()}


async def _purge(app: App, writes: WriteTimer) -> dict[str, Any]:
    retention = app.core.services.privacy.retention
    writes.reset()
    start = time.perf_counter()
    purged = await retention.purge()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "purged": asdict(purged), **writes.summary()}


async def _count_jobs(app: App, account: int) -> int:
    async with app.db.read() as session:
        return await jobs_repo.count_for_account(
            session, account, ("queued", "running", "succeeded", "failed", "cancelled")
        )
