"""14. Pipeline: images a minute from `/imagine` to the delivered result, against the lowest of what
could bound them: the provider's limit, Telegram's send budget over the messages each image costs,
and the machine's cores over the CPU each image costs.

One process: the app is the product's own (`bot.app.build`, then `App.run`: workers, outbox and the
Telegram door polling the Bot API double at Telegram's real pace) on SQLite, with the OpenAI
provider against the images double (50 ms a picture, previews streamed) and no provider limit of its own
(`provider_images_per_minute` out of reach), so the send budget is the bound to meet. `USERS` users
who accepted the terms ask for one image each, all at one instant. The run lasts from that instant
to the double receiving the last result (the doubles' monotonic clock); the CPU is this process's
over the same stretch, every thread included. Messages are those the double received
(`sendMessage`, `sendPhoto`, `sendDocument`), acknowledgements included. The budget is the pace the
bot keeps: 90% of Telegram's 30 messages a second (`core/send_budget.py`).

Four processes: `image2bot run` four times on one PostgreSQL schema and one token, in webhook mode
(bench/webhook_bots.py); the updates are posted to their webhooks in turn, as a load balancer would,
and the CPU is the four processes' (/proc). They share one send budget, so the bound is the same.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Figure, Updates, postgres_schema, serving_telegram
from bench.doubles import RemoteDoubles
from bench.seed import seed_accounts
from bench.webhook_bots import SECRET, Bot, webhook_bots
from core.db import migrate
from core.db.session import Database
from core.privacy.settings import PrivacySettings
from core.send_budget import MARGIN
from tests.harness import postgres_answers

USERS = 600
PROCESSES = 4
POSTS_AT_ONCE = 100
FIRST_USER = 40_000
PROVIDER_LATENCY_S = 0.05
PROVIDER_PER_MINUTE = 1_000_000  # never reached: the provider is not the bound here
TELEGRAM_PER_SECOND = 30
DONE_TIMEOUT_S = 300.0
SHARE = 0.9  # of the lowest bound, to be met
MESSAGES = ("sendMessage", "sendPhoto", "sendDocument")


async def run(doubles: RemoteDoubles) -> list[Figure]:
    return [await _one_process_on_sqlite(doubles), await _processes_on_postgres(doubles)]


async def _one_process_on_sqlite(doubles: RemoteDoubles) -> Figure:
    updates = Updates()
    users = range(FIRST_USER, FIRST_USER + USERS)
    burst = [updates.message(user, f"/imagine a windmill at noon, for {user}") for user in users]
    with tempfile.TemporaryDirectory() as tmp:
        async with serving_telegram(
            doubles, Path(tmp), users, provider_images_per_minute=PROVIDER_PER_MINUTE
        ):
            before = len(await doubles.telegram_calls("sendPhoto"))
            cpu = time.process_time()
            arrived, _ = await doubles.feed_telegram(burst)
            await _until_delivered(doubles, before, len(users))
            cpu = time.process_time() - cpu
    return await _figure(doubles, "pipeline", "1 process on SQLite", users, arrived, cpu)


async def _processes_on_postgres(doubles: RemoteDoubles) -> Figure:
    key, title = "pipeline_postgresql", f"{PROCESSES} processes on PostgreSQL"
    if not postgres_answers():
        return Figure(key=key, title=_title(title), value="skipped: no PostgreSQL")
    users = range(FIRST_USER + USERS, FIRST_USER + 2 * USERS)
    making = Updates()
    updates = [making.message(user, f"/imagine a windmill at noon, for {user}") for user in users]
    async with postgres_schema() as (url, schema):
        db = Database(url, schema=schema)
        try:
            await migrate.upgrade(db.engine)
            await seed_accounts(db, list(users), platform="telegram", trial=40, privacy=PrivacySettings())
        finally:
            await db.dispose()
        with tempfile.TemporaryDirectory() as tmp:
            openai = _openai_environment(doubles)
            async with webhook_bots(doubles, url, schema, PROCESSES, Path(tmp), **openai) as bots:
                before = len(await doubles.telegram_calls("sendPhoto"))
                cpu = sum(bot.cpu_s() for bot in bots)
                arrived = time.monotonic()  # the machine's clock, as the doubles' process reads it
                await _post_all(bots, updates)
                await _until_delivered(doubles, before, len(users))
                cpu = sum(bot.cpu_s() for bot in bots) - cpu
    return await _figure(doubles, key, title, users, arrived, cpu)


def _openai_environment(doubles: RemoteDoubles) -> dict[str, str]:
    return {
        "IMAGE2BOT_GENERATION__PROVIDER": "openai",
        "IMAGE2BOT_GENERATION__PROVIDER_IMAGES_PER_MINUTE": str(PROVIDER_PER_MINUTE),
        "IMAGE2BOT_OPENAI__API_KEY": "sk-bench",
        "IMAGE2BOT_OPENAI__BASE_URL": doubles.urls["openai"],
    }


async def _post_all(bots: list[Bot], updates: list[dict[str, Any]]) -> None:
    """Telegram's webhook posts, spread over the processes as a load balancer would."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POSTS_AT_ONCE)) as http:

        async def post(number: int, update: dict[str, Any]) -> None:
            async with http.post(bots[number % len(bots)].webhook, json=update, headers=headers) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"the webhook answered {answer.status}")

        await asyncio.gather(*(post(number, update) for number, update in enumerate(updates)))


async def _until_delivered(doubles: RemoteDoubles, before: int, count: int) -> None:
    """Until `count` more photos than `before` have reached the double."""
    await doubles.wait_telegram("sendPhoto", "", before + count, DONE_TIMEOUT_S)


async def _figure(
    doubles: RemoteDoubles, key: str, title: str, users: range, arrived: float, cpu: float
) -> Figure:
    calls = {method: await doubles.telegram_calls(method) for method in MESSAGES}
    ours = {str(user) for user in users}
    photos = sorted(call["at"] for call in calls["sendPhoto"] if str(call["chat_id"]) in ours)
    finished = photos[len(users) - 1]
    sent = [call for method in MESSAGES for call in calls[method] if str(call["chat_id"]) in ours]
    messages = sum(1 for call in sent if call["at"] <= finished)
    seconds = finished - arrived
    per_minute = len(users) / seconds * 60
    per_image = messages / len(users)
    cpu_per_image = cpu / len(users)
    bounds = {
        "provider": float(PROVIDER_PER_MINUTE),
        "send_budget": TELEGRAM_PER_SECOND * MARGIN * 60 / per_image,
        "cpu": (os.cpu_count() or 1) * 60 / cpu_per_image,
    }
    bound = min(bounds, key=bounds.__getitem__)
    target = SHARE * bounds[bound]
    return Figure(
        key=key,
        title=_title(title),
        value=f"{per_minute:.0f}/min ({per_image:.2f} messages, {cpu_per_image * 1000:.1f} ms CPU each)",
        target=f">= {SHARE:g} x {bounds[bound]:.0f} ({bound.replace('_', ' ')}) = {target:.0f}",
        met=per_minute >= target,
        details={
            "images": len(users),
            "seconds": seconds,
            "images_per_minute": per_minute,
            "messages": messages,
            "messages_per_image": per_image,
            "cpu_ms_per_image": cpu_per_image * 1000,
            "bounds_per_minute": bounds,
        },
    )


def _title(where: str) -> str:
    return f"14. Pipeline: images a minute, {where} ({USERS} users, 50 ms provider)"
