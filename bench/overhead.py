"""1. Overhead: the CPU one `/imagine` costs through the Telegram door end to end (parse, checks,
reserve, queue, acknowledgement), against a bare python-telegram-bot handler that only replies.

The product runs as configured by default once an OpenAI key is set: its checks include OpenAI's
prompt moderation (answered by the images double). Both get the same updates through
`process_update`, one after the other, and answer through the same Bot API double; the doubles run
in another process, so `time.process_time()` here is the bot's CPU only (its threads included, so
SQLite's work counts). Workers are not started: drawing is not part of it.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    MessageHandler,
    filters,
)

from bench.common import Figure, Updates, bench_settings, telegram_door, telegram_section
from bench.doubles import TELEGRAM_TOKEN, RemoteDoubles
from bot.app import build
from core.db.models import Job

TARGET = 4.0  # issue 15, with moderation on
TARGET_WITHOUT_MODERATION = 3.0
USERS = 60  # each sends four /imagine: the trial's 40 credits buy four 1K images
PER_USER = 4
WARMUP_USERS = 10
FIRST_USER = 10_000


async def run(doubles: RemoteDoubles) -> list[Figure]:
    updates = Updates()
    users = range(FIRST_USER, FIRST_USER + USERS)
    accepts = [updates.message(user, "/accept") for user in users]
    imagines = [
        updates.message(user, f"/imagine a lighthouse at dusk, take {take} --ar 16:9")
        for take in range(PER_USER)
        for user in users
    ]
    warmup, measured = imagines[: WARMUP_USERS * PER_USER], imagines[WARMUP_USERS * PER_USER :]
    errors: list[BaseException] = []
    runs = {
        moderation: await _product(doubles, moderation, accepts, warmup, measured, errors)
        for moderation in (True, False)
    }
    bare_cpu, bare_wall = await _bare(doubles.urls["telegram"], warmup, measured, errors, paced=True)
    unpaced_cpu, unpaced_wall = await _bare(doubles.urls["telegram"], warmup, measured, errors, paced=False)
    if errors:
        raise RuntimeError(f"updates failed: {errors[:3]}")
    count = len(measured)
    figures = []
    for moderation, (product_cpu, product_wall) in runs.items():
        ratio = product_cpu / bare_cpu
        target = TARGET if moderation else TARGET_WITHOUT_MODERATION
        figures.append(
            Figure(
                key="overhead" if moderation else "overhead_no_moderation",
                title="1. Overhead: CPU per /imagine via Telegram vs bare PTB reply"
                + ("" if moderation else ", moderation off"),
                value=f"{ratio:.1f}x ({product_cpu / count * 1000:.2f} vs {bare_cpu / count * 1000:.2f} ms)",
                target=f"<= {target}x",
                met=ratio <= target,
                details={
                    "updates": count,
                    "moderation": moderation,
                    "ratio": ratio,
                    "product_cpu_ms_per_update": product_cpu / count * 1000,
                    "bare_cpu_ms_per_update": bare_cpu / count * 1000,
                    "product_wall_ms_per_update": product_wall / count * 1000,
                    "bare_wall_ms_per_update": bare_wall / count * 1000,
                    "unpaced_bare_cpu_ms_per_update": unpaced_cpu / count * 1000,
                    "unpaced_bare_wall_ms_per_update": unpaced_wall / count * 1000,
                    "ratio_to_unpaced_bare": product_cpu / unpaced_cpu,
                    "database": "sqlite",
                },
            )
        )
    return figures


async def _product(
    doubles: RemoteDoubles,
    moderation: bool,
    accepts: list[dict[str, Any]],
    warmup: list[dict[str, Any]],
    measured: list[dict[str, Any]],
    errors: list[BaseException],
) -> tuple[float, float]:
    """(CPU, wall) of the product handling `measured` on a database of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(
            Path(tmp),
            telegram=telegram_section(doubles.urls["telegram"], TELEGRAM_TOKEN),
            generation={"provider": "openai"},
            openai={"api_key": "sk-bench", "base_url": doubles.urls["openai"], "moderation": moderation},
        )
        app = build(settings)
        door = telegram_door(app.adapters)
        door.application.add_error_handler(_collect(errors))
        await app.prepare()
        await door.open()
        try:
            await _feed(door.application, accepts)  # users who accepted the terms, as most are
            await _feed(door.application, warmup)
            await door.settled()
            measurement = await _measure(door.application, measured, door.settled)
            async with app.db.transaction() as session:
                queued = await session.scalar(select(func.count(Job.id)))
        finally:
            await door.close()
            await app.close()
    if queued != len(warmup) + len(measured):
        raise RuntimeError(f"{queued} jobs queued for {len(warmup) + len(measured)} /imagine")
    return measurement


async def _bare(
    base_url: str,
    warmup: list[dict[str, Any]],
    measured: list[dict[str, Any]],
    errors: list[BaseException],
    *,
    paced: bool,
) -> tuple[float, float]:
    bare = _bare_bot(base_url, paced=paced)
    bare.add_error_handler(_collect(errors))
    await bare.initialize()
    try:
        await _feed(bare, warmup)
        return await _measure(bare, measured)
    finally:
        await bare.shutdown()


def _bare_bot(base_url: str, *, paced: bool) -> Application:  # type: ignore[type-arg]
    """python-telegram-bot as its documentation shows it: one handler that replies. `paced`: with
    PTB's own rate limiter, as the product sends (Telegram allows a bot about 30 messages a second).
    Updates fed faster than that wait between replies, and a process that idles between requests
    spends more CPU on each (colder caches), so only a baseline kept to the same pace compares
    the work done, not the pace."""

    async def reply(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("ok")

    builder = ApplicationBuilder().token(TELEGRAM_TOKEN).base_url(base_url)
    if paced:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, reply))
    return application


def _collect(errors: list[BaseException]) -> Callable[[object, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    async def collect(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if context.error is not None:
            errors.append(context.error)

    return collect


async def _feed(application: Application, payloads: list[dict[str, Any]]) -> None:  # type: ignore[type-arg]
    for payload in payloads:
        await application.process_update(Update.de_json(payload, application.bot))


async def _measure(
    application: Application,  # type: ignore[type-arg]
    payloads: list[dict[str, Any]],
    settled: Callable[[], Awaitable[None]] | None = None,
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to handle the updates one after the other and, where the door
    answers after handling (`settled`), until its answers have left."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await _feed(application, payloads)
    if settled is not None:
        await settled()
    return time.process_time() - cpu, time.perf_counter() - wall
