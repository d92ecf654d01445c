"""2. Burst: 2,000 `/imagine` from 500 users arriving at once at the running bot; how long until each
is acknowledged, and that none is lost.

The app is the product's own (`bot.app.build`, then `App.run`: workers, outbox and the Telegram door
polling the Bot API double), on SQLite, with the OpenAI provider against the images double (20 s a
picture, as the real service takes). The users accepted the terms before. All 2,000 updates are
queued in the double at one instant; the bot fetches them 100 per getUpdates as from Telegram.
An update is acknowledged when the double receives the sendMessage carrying its "queued" answer;
every time is read in the doubles' process on the machine's monotonic clock.
"""

from __future__ import annotations

import asyncio
import tempfile
from contextlib import suppress
from pathlib import Path

from sqlalchemy import select

from bench.common import Figure, Updates, bench_settings, ms, quantile, telegram_section
from bench.doubles import TELEGRAM_TOKEN, RemoteDoubles
from bench.seed import seed_accounts
from bot.app import build
from core.db.models import Job

TARGET_P99_S = 1.0
USERS = 500
PER_USER = 4  # the trial's 40 credits buy four 1K images
FIRST_USER = 20_000
PROVIDER_LATENCY_S = 20.0
ACK_TIMEOUT_S = 200.0
ACK_WORD = "queued"


async def run(doubles: RemoteDoubles) -> list[Figure]:
    updates = Updates()
    users = range(FIRST_USER, FIRST_USER + USERS)
    burst = [
        updates.message(user, f"/imagine a paper boat on a pond, take {take}")
        for take in range(PER_USER)
        for user in users
    ]
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(
            Path(tmp),
            telegram=telegram_section(doubles.urls["telegram"], TELEGRAM_TOKEN),
            generation={"provider": "openai"},
            openai={"api_key": "sk-bench", "base_url": doubles.urls["openai"]},
        )
        app = build(settings)
        await app.prepare()
        await seed_accounts(
            app.db, list(users), platform="telegram", trial=settings.credits.trial, privacy=settings.privacy
        )
        serving = asyncio.create_task(app.run())
        try:
            await _until_polling(doubles, serving)
            arrived, arrived_wall = await doubles.feed_telegram(burst)
            await doubles.wait_telegram("sendMessage", ACK_WORD, len(burst), ACK_TIMEOUT_S)
            async with app.db.transaction() as session:
                created = list(await session.scalars(select(Job.created_at)))
        finally:
            app.stop()
            with suppress(asyncio.CancelledError):
                await serving
        sent = await doubles.telegram_calls("sendMessage")
    acks = [call for call in sent if call["chat_id"] in users and ACK_WORD in (call["text"] or "")]
    latencies = sorted(call["at"] - arrived for call in acks)
    queued = sorted(when.timestamp() - arrived_wall for when in created)
    lost = len(burst) - len(acks)
    if not latencies:
        raise RuntimeError("no update was acknowledged")
    p50, p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
    details = {
        "updates": len(burst),
        "users": USERS,
        "acknowledged": len(acks),
        "lost": lost,
        "jobs_queued": len(created),
        "ack_p50_s": p50,
        "ack_p99_s": p99,
        "ack_max_s": latencies[-1],
        "queued_p50_s": quantile(queued, 0.5) if queued else None,
        "queued_p99_s": quantile(queued, 0.99) if queued else None,
        "database": "sqlite",
    }
    return [
        Figure(
            key="burst",
            title=f"2. Burst: {len(burst)} /imagine from {USERS} users, ack p50 / p99",
            value=f"{ms(p50)} / {ms(p99)}, {lost} lost",
            target=f"p99 < {TARGET_P99_S:.0f} s, none lost",
            met=p99 < TARGET_P99_S and lost == 0,
            details=details,
        ),
        Figure(
            key="burst_queued",
            title="   (diagnostic) job queued in the database, p50 / p99",
            value=f"{ms(details['queued_p50_s'] or 0)} / {ms(details['queued_p99_s'] or 0)}",
            details={"note": "arrival to the job row's created_at: the bot's work before it answers"},
        ),
    ]


async def _until_polling(doubles: RemoteDoubles, serving: asyncio.Task[None]) -> None:
    async with asyncio.timeout(60):
        while (await doubles.telegram_polls())[0] == 0:
            if serving.done():
                serving.result()  # the app stopped: its error says why
            await asyncio.sleep(0.1)
