"""One WeCom message delivered to two `web` processes on one database (issue 14, F8): WeCom retries a
callback it heard nothing of, and a load balancer may send each try to another process. Whichever
takes it first answers; the message ids taken in are purged by retention after a day."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path

import aiohttp

from bot.web import WECOM_CALLBACK_MAX_BYTES, WebServer
from core.db.types import utcnow
from tests.fakes.wecom_api import WeComAPIDouble
from tests.fakes.wecom_crypto import Callback, member_text
from tests.harness import DatabaseTarget, Harness, harness_for
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.wecom.conftest import (
    AGENT_ID,
    CALLBACK_PATH,
    CORP_ID,
    ZHANGSAN,
    WeComBot,
    wecom_adapter,
)

TRIES = 3  # WeCom's, to each process


@asynccontextmanager
async def process(database: DatabaseTarget, data_dir: Path, api: WeComAPIDouble) -> AsyncIterator[WeComBot]:
    """An app of its own (engine, core, WeCom door, web server) on the shared database."""
    async with AsyncExitStack() as stack:
        harness: Harness = await stack.enter_async_context(harness_for(database, data_dir, run_workers=False))
        adapter = wecom_adapter(harness, api)
        stack.push_async_callback(adapter.close)
        web = WebServer(host="127.0.0.1", port=0)
        web.add_post(CALLBACK_PATH, adapter.handle_callback, max_body=WECOM_CALLBACK_MAX_BYTES)
        await web.start()
        stack.push_async_callback(web.stop)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        yield WeComBot(api, adapter, harness, f"http://127.0.0.1:{web.port}{CALLBACK_PATH}", http)


async def deliver_everywhere(bots: list[WeComBot], callback: Callback) -> list[int]:
    """`callback` to every process, TRIES times each, all at once; every process's work finished."""
    answers = await asyncio.gather(*(bot.deliver(callback) for bot in bots for _ in range(TRIES)))
    for bot in bots:
        await bot.adapter.idle()
    return [answer.status for answer in answers]


def answered(api: WeComAPIDouble) -> int:
    return len([call for call in api.of("message/send") if call.body["touser"] == ZHANGSAN])


@BOTH_DATABASES  # the database is what the processes agree through
async def test_a_message_delivered_to_two_processes_is_answered_once(
    database: DatabaseTarget, tmp_path: Path, api: WeComAPIDouble
) -> None:
    async with (
        process(database, tmp_path / "a", api) as first,
        process(database, tmp_path / "b", api) as second,
    ):
        balance = first.crypto.message(member_text(CORP_ID, ZHANGSAN, "/balance", 77, AGENT_ID))

        assert await deliver_everywhere([first, second], balance) == [200] * 2 * TRIES
        assert answered(api) == 1

        retention = first.harness.app.core.services.privacy.retention
        await retention.purge()  # taken in just now: still known
        await deliver_everywhere([first, second], balance)
        assert answered(api) == 1

        await retention.purge(utcnow() + timedelta(days=2))  # forgotten: taken in as new
        await deliver_everywhere([second], balance)
        assert answered(api) == 2
