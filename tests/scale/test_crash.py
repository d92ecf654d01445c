"""The bot killed with SIGKILL at random points while it works through 100 generations, restarted each
time: every job ends succeeded or refunded, the books balance, nobody pays twice, and no job's image
reaches the chat twice.

The bot runs as a real `image2bot run` process against the OpenAI images double (every render takes a
moment, so kills land mid-generation) and a Telegram double that, like Telegram, hands out again every
update the bot had not confirmed when it died.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from core.db.models import Account, Job
from core.db.session import Database
from core.db.statuses import ACTIVE_JOBS
from core.i18n import translate
from tests.cli import TIMEOUT_S
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.fakes.telegram_api import EMPTY_POLL_SLEEP_S, TelegramBotAPIDouble
from tests.harness import DatabaseTarget, assert_books_balance
from tests.platforms.telegram.conftest import TOKEN
from tests.scale.conftest import bot_env, command, pending_deliveries

# The single-process default, killed and restarted: leases, claims and the outbox on SQLite. The
# same machinery on PostgreSQL is what the multi-process tests beside this one exercise.
pytestmark = [pytest.mark.parametrize("database", ["sqlite"], indirect=True), pytest.mark.spawns]

USERS = 10
PER_USER = 10
TRIAL = 1000
KILLS = 3


class SlowImages(OpenAIImagesDouble):
    """Every render takes a moment, as real ones take much longer."""

    def __init__(self) -> None:
        super().__init__()
        self.rendering = 0
        self.started = 0

    async def _images(self, request: web.Request) -> web.StreamResponse:
        self.started += 1
        self.rendering += 1
        try:
            await asyncio.sleep(random.uniform(0.1, 0.4))
            return await super()._images(request)
        finally:
            self.rendering -= 1


class ConfirmingBotAPI(TelegramBotAPIDouble):
    """getUpdates the way Telegram serves it: an update is handed out until a later call confirms it
    (`offset` past its id), so a bot that dies before confirming gets it again."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self._unconfirmed: list[dict[str, Any]] = []

    async def _updates(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(fields.get("offset") or 0)
        while not self.updates.empty():
            self._unconfirmed.append(self.updates.get_nowait())
        self._unconfirmed = [update for update in self._unconfirmed if update["update_id"] >= offset]
        if not self._unconfirmed:
            await asyncio.sleep(EMPTY_POLL_SLEEP_S)
            return []
        return self._unconfirmed[:100]


async def test_sigkill_at_random_points_loses_nothing_and_charges_once(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    openai, telegram = SlowImages(), ConfirmingBotAPI(TOKEN)
    await openai.start()
    await telegram.start()
    db = database.open()
    bot: asyncio.subprocess.Process | None = None
    try:
        env = bot_env(
            database,
            IMAGE2BOT_TELEGRAM__ENABLED="true",
            IMAGE2BOT_TELEGRAM__BASE_URL=telegram.base_url,
            IMAGE2BOT_OPENAI__API_KEY="sk-test-crash",
            IMAGE2BOT_OPENAI__BASE_URL=openai.base_url,
            IMAGE2BOT_OPENAI__MODERATION="false",
            IMAGE2BOT_CREDITS__TRIAL=str(TRIAL),
            IMAGE2BOT_GENERATION__CONCURRENCY="8",
            IMAGE2BOT_GENERATION__PARTIAL_IMAGES="0",
            IMAGE2BOT_GENERATION__LEASE_S="2",
            IMAGE2BOT_GENERATION__MAX_ATTEMPTS="4",
            IMAGE2BOT_GENERATION__RETRY_BACKOFF_S="0.05",
            IMAGE2BOT_GENERATION__RETRY_BACKOFF_MAX_S="0.2",
            IMAGE2BOT_BOT__DELIVERY_CLAIM_S="1",
        )
        update_ids = iter(range(1, USERS * PER_USER + 1))
        for n in range(PER_USER):
            for user in range(USERS):
                text = f"/imagine crash test picture {n} for user {user}"
                await telegram.updates.put(command(next(update_ids), 1000 + user, text))

        logs = [tmp_path / f"run-{n}.log" for n in range(KILLS + 1)]
        for kill in range(1, KILLS + 1):
            bot = await start_bot(tmp_path, env, logs[kill - 1])
            # somewhere in the middle of the work, at a moment nobody chose
            await wait_until(lambda kill=kill: len(openai.requests) >= kill * 20, bot)
            await asyncio.sleep(random.uniform(0.0, 0.6))
            await wait_until(lambda: openai.rendering > 0, bot)  # in the middle of a generation
            bot.send_signal(signal.SIGKILL)
            await bot.wait()
        bot = await start_bot(tmp_path, env, logs[-1])
        await wait_until_finished(db, bot)
        bot.send_signal(signal.SIGTERM)
        await bot.wait()
        assert bot.returncode == 0, logs[-1].read_text()[-4000:]
        for log in logs:
            assert "Traceback" not in log.read_text(), log.read_text()[-4000:]

        assert openai.started > USERS * PER_USER, "kills interrupted some renders, which ran again"
        async with db.transaction() as session:
            jobs = list(await session.scalars(select(Job)))
            balances = {
                account.id: account.balance_one_time + account.balance_subscription
                for account in await session.scalars(select(Account))
            }
        assert len(jobs) == USERS * PER_USER, "one job per message, though Telegram re-sent some"
        statuses = Counter(job.status for job in jobs)
        assert set(statuses) <= {"succeeded", "failed"}, statuses
        assert statuses["succeeded"] >= USERS * PER_USER // 2, statuses
        await assert_books_balance(db)
        for account_id, balance in balances.items():
            succeeded = sum(
                job.cost for job in jobs if job.account_id == account_id and job.status == "succeeded"
            )
            assert balance == TRIAL - succeeded, "charged for exactly the images drawn"

        photos = Counter(job_of(call.buttons()[0]["callback_data"]) for call in telegram.of("sendPhoto"))
        assert max(photos.values()) == 1, [job for job, count in photos.items() if count > 1]
        # A kill while an image was on its way: it may have arrived, so a note goes instead of a copy.
        noted = {
            job.id
            for job in jobs
            for call in telegram.of("sendMessage")
            if call.fields["text"] == translate("en", "job.maybe_delivered", job=job.id, index=1)
        }
        succeeded = {job.id for job in jobs if job.status == "succeeded"}
        assert set(photos) | noted == succeeded
        openai.check_violations()  # every request and answer held to OpenAI's published description
    finally:
        if bot is not None and bot.returncode is None:  # the test failed with the bot still running
            bot.kill()
            await bot.wait()
        await db.dispose()
        await telegram.stop()
        await openai.close()


def job_of(callback_data: str) -> int:
    """The job a result's button belongs to: its data reads `j:<job>:<action>:<n>|<signature>`."""
    kind, job, *_ = callback_data.split(":")
    assert kind == "j"
    return int(job)


async def start_bot(cwd: Path, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


async def wait_until(condition: Any, bot: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while not condition():
            assert bot.returncode is None, "the bot stopped by itself"
            await asyncio.sleep(0.02)


async def wait_until_finished(db: Database, bot: asyncio.subprocess.Process) -> None:
    """Until every message has its job, every job has ended and every reply has gone out."""
    async with asyncio.timeout(TIMEOUT_S * 2):
        while True:
            assert bot.returncode is None, "the bot stopped by itself"
            async with db.transaction() as session:
                jobs = await session.scalar(select(func.count(Job.id)))
                active = await session.scalar(select(func.count(Job.id)).where(Job.status.in_(ACTIVE_JOBS)))
            waiting = await pending_deliveries(db)
            if jobs == USERS * PER_USER and active == 0 and waiting == 0:
                return
            await asyncio.sleep(0.2)
