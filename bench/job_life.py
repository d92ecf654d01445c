"""9. Job life: the CPU one generation costs the bot after it was queued: the claim, the call to the
provider (a double answering after 50 ms), storing the image, settling the credits and delivering
the result through the outbox to Telegram.

The app is the product's own (`bot.app.build`) on SQLite, with the OpenAI provider against the images
double and the Telegram door against the Bot API double, so every reply really goes out. Users who
accepted the terms queue their jobs through the door first (`/imagine`, acknowledged as usual; not
measured). Then the worker pool and the outbox run until every job is delivered, and the figure is
`time.process_time()` per job: this process only (its threads included, SQLite's too), since the
doubles run in their own process. Statements and transactions are counted on the engine meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from telegram import Update

from bench.common import Figure, Updates, bench_settings, telegram_door, telegram_section
from bench.doubles import TELEGRAM_TOKEN, RemoteDoubles
from bench.seed import seed_accounts
from bot.app import App, build
from core.db.models import Delivery, Job

TARGET_MS = 30.0
PROVIDER_LATENCY_S = 0.05
USERS = 40
WARMUP_USERS = 10
PER_USER = 4  # the trial's 40 credits buy four 1K images
FIRST_USER = 30_000
# A limit the run never reaches, so the claim still does the provider window's bookkeeping, as it
# does in production (5 a minute by default).
IMAGES_PER_MINUTE = 100_000
DELIVERY_TIMEOUT_S = 300.0
CHECK_EVERY_S = 5.0  # how often the bot looks at its own loops while the doubles count deliveries
SETTLED_POLL_S = 0.05


async def run(doubles: RemoteDoubles) -> list[Figure]:
    updates = Updates()
    warmup_users = range(FIRST_USER, FIRST_USER + WARMUP_USERS)
    users = range(FIRST_USER + WARMUP_USERS, FIRST_USER + WARMUP_USERS + USERS)
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(
            Path(tmp),
            telegram=telegram_section(doubles.urls["telegram"], TELEGRAM_TOKEN),
            generation={"provider": "openai", "provider_images_per_minute": IMAGES_PER_MINUTE},
            openai={"api_key": "sk-bench", "base_url": doubles.urls["openai"]},
        )
        app = build(settings)
        door = telegram_door(app.adapters)
        await app.prepare()
        await seed_accounts(
            app.db,
            [*warmup_users, *users],
            platform="telegram",
            trial=settings.credits.trial,
            privacy=settings.privacy,
        )
        await door.open()
        counter = _Counter(app)
        try:
            await _queue(app, updates, warmup_users)
            await _deliver(app, doubles, WARMUP_USERS * PER_USER)
            jobs = await _queue(app, updates, users)
            gc.collect()
            counter.reset()
            cpu, wall = time.process_time(), time.perf_counter()
            await _deliver(app, doubles, (WARMUP_USERS + USERS) * PER_USER)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            statements, transactions = counter.statements, counter.transactions
            failed = await _count(app, Job.status != "succeeded")
        finally:
            counter.remove()
            await door.close()
            await app.close()
    if failed:
        raise RuntimeError(f"{failed} jobs did not succeed")
    per_job_ms = cpu / jobs * 1000
    return [
        Figure(
            key="job_life",
            title="9. Job life: CPU per job, claim to delivery (50 ms provider)",
            value=f"{per_job_ms:.1f} ms ({statements / jobs:.1f} statements, {transactions / jobs:.1f} tx)",
            target=f"<= {TARGET_MS:.0f} ms",
            met=per_job_ms <= TARGET_MS,
            details={
                "jobs": jobs,
                "cpu_ms_per_job": per_job_ms,
                "wall_s": wall,
                "statements_per_job": statements / jobs,
                "transactions_per_job": transactions / jobs,
                "provider_latency_s": PROVIDER_LATENCY_S,
                "database": "sqlite",
            },
        )
    ]


class _Counter:
    """SQL statements (BEGIN aside) and transactions on the app's engines, from `reset()` on."""

    def __init__(self, app: App) -> None:
        self._engines = [engine.sync_engine for engine in app.db.engines]
        self.statements = 0
        self.transactions = 0
        for engine in self._engines:
            event.listen(engine, "before_cursor_execute", self._statement)
            event.listen(engine, "begin", self._begin)

    def reset(self) -> None:
        self.statements = self.transactions = 0

    def remove(self) -> None:
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._statement)
            event.remove(engine, "begin", self._begin)

    def _statement(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):  # counted as a transaction
            self.statements += 1

    def _begin(self, *_args: Any) -> None:
        self.transactions += 1


async def _queue(app: App, updates: Updates, users: range) -> int:
    """Each user asks for PER_USER images through the Telegram door; returns how many were asked for."""
    application = telegram_door(app.adapters).application
    before = await _count(app, Job.status == "queued")
    for take in range(PER_USER):
        for user in users:
            payload = updates.message(user, f"/imagine a kite over the dunes, take {take}")
            await application.process_update(Update.de_json(payload, application.bot))
    await telegram_door(app.adapters).settled()  # the acknowledgements have left
    asked = len(users) * PER_USER
    if (queued := await _count(app, Job.status == "queued") - before) != asked:
        raise RuntimeError(f"{queued} jobs queued for {asked} /imagine")
    return asked


async def _deliver(app: App, doubles: RemoteDoubles, total: int) -> None:
    """Runs the worker pool and the outbox until `total` results (photos) have reached Telegram and
    nothing is left to do, then stops them."""
    loops = [asyncio.create_task(app.worker.run()), asyncio.create_task(app.notifier.run())]
    try:
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while (seen := await doubles.wait_telegram("sendPhoto", "", total, CHECK_EVERY_S)) < total:
            for loop in loops:
                if loop.done():
                    loop.result()  # it stopped: its error says why
            if time.monotonic() > deadline:
                raise RuntimeError(f"{seen} of {total} results delivered in {DELIVERY_TIMEOUT_S:.0f} s")
        async with asyncio.timeout(DELIVERY_TIMEOUT_S):  # the last replies' bookkeeping
            while True:
                if not await _count(app, Job.status.in_(("queued", "running"))) and not await _pending(app):
                    break
                await asyncio.sleep(SETTLED_POLL_S)
            await telegram_door(app.adapters).settled()  # the status messages' last edits and removals
    finally:
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with suppress(asyncio.CancelledError):
                await loop


async def _count(app: App, condition: Any) -> int:
    async with app.db.read() as session:
        return int(await session.scalar(select(func.count(Job.id)).where(condition)) or 0)


async def _pending(app: App) -> int:
    async with app.db.read() as session:
        return int(
            await session.scalar(select(func.count(Delivery.id)).where(Delivery.status == "pending")) or 0
        )
