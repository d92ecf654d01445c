"""Four bot processes on one database, a hundred `/imagine` at once for one account that can pay for ten,
spread over the four: exactly ten are accepted, every other one is told why, and the books balance.

A hundred is as many as arrive together: the client holds every request open at once (the refusals
that would follow once the balance is spent prove nothing more)."""

from __future__ import annotations

import asyncio
import re
from contextlib import suppress
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from core.db.models import Account
from core.i18n import translate
from tests.cli import free_port
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget, assert_books_balance
from tests.scale.conftest import bot_env, command, healthy, job_statuses, processes

# Many processes share one PostgreSQL database in production; SQLite is for one process.
pytestmark = [pytest.mark.parametrize("database", ["postgresql"], indirect=True), pytest.mark.spawns]

USER = 777
PROCESSES = 4
PER_PROCESS = 25
SECRET = "storm-secret"
JOB_NUMBER = re.compile(r"Job #(\d+)\b")


async def test_four_processes_never_accept_more_than_the_credits_pay_for(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    ports = [free_port() for _ in range(PROCESSES)]
    common = bot_env(
        database,
        IMAGE2BOT_TELEGRAM__ENABLED="true",
        IMAGE2BOT_TELEGRAM__BASE_URL=api.base_url,
        IMAGE2BOT_TELEGRAM__MODE="webhook",
        IMAGE2BOT_TELEGRAM__WEBHOOK_SECRET=SECRET,
        IMAGE2BOT_CREDITS__TRIAL="100",
        IMAGE2BOT_GENERATION__MAX_QUEUED_JOBS_PER_USER="1000",
    )
    setups = [
        (
            "web",
            {
                **common,
                "IMAGE2BOT_WEB__PORT": str(port),
                "IMAGE2BOT_WEB__PUBLIC_URL": f"http://127.0.0.1:{port}",
            },
        )
        for port in ports
    ]
    total = PROCESSES * PER_PROCESS
    async with processes(tmp_path, *setups) as served:
        await asyncio.gather(*(healthy(port) for port in ports))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=total)) as http:

            async def post(n: int) -> int:
                port = ports[n % PROCESSES]
                update = command(n + 1, USER, f"/imagine storm number {n}")
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with http.post(
                    f"http://127.0.0.1:{port}/telegram/webhook", json=update, headers=headers
                ) as r:
                    return r.status

            assert set(await asyncio.gather(*(post(n) for n in range(total)))) == {200}
        refusal = translate("en", "error.insufficient_credits", balance=0, cost=10)
        with suppress(TimeoutError):  # every command answered: 90 refusals, 10 jobs shown
            await api.wait_until(
                lambda: len(_refusals(api, refusal)) >= total - 10 and len(_jobs_shown(api)) >= 10
            )
    for process in served:
        assert process.returncode == 0, process.log
        assert "Traceback" not in process.log, process.log[-4000:]

    assert len(_refusals(api, refusal)) == total - 10, "each refused command is answered, once"
    assert len(_jobs_shown(api)) == 10, "the accepted ones are on the chat's status message"
    db = database.open()
    try:
        assert await job_statuses(db) == {"queued": 10}
        async with db.transaction() as session:
            [account] = (await session.scalars(select(Account))).all()
        assert (account.balance_one_time, account.balance_subscription) == (0, 0)
        await assert_books_balance(db)
    finally:
        await db.dispose()


def _refusals(api: TelegramBotAPIDouble, refusal: str) -> list[str]:
    return [text for call in api.of("sendMessage", USER) if (text := call.fields["text"]).startswith(refusal)]


def _jobs_shown(api: TelegramBotAPIDouble) -> set[str]:
    """The jobs the chat's status message has named (a message or an edit of it)."""
    calls = api.of("sendMessage", USER) + api.of("editMessageText", USER)
    return {number for call in calls for number in JOB_NUMBER.findall(call.fields["text"])}
