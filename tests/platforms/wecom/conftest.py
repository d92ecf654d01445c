"""A bot whose WeCom door talks, through the real wechatpy, to a local WeCom API double, and receives
callbacks over HTTP on the bot's own web server, encrypted the way WeCom encrypts them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from bot.web import WECOM_CALLBACK_MAX_BYTES, WebServer
from core.generation.providers.base import ImageProvider
from core.inbound import DatabaseInboundLog
from core.platform_state import DatabaseStateStore
from platforms.wecom.adapter import WeComAdapter
from tests.fakes.wecom_api import WeComAPIDouble
from tests.fakes.wecom_crypto import Callback, WeComCallbackCrypto, kf_event, member_image, member_text
from tests.harness import DatabaseTarget, Harness, harness_for, sqlite_target

CORP_ID = "ww0123456789abcdef"
SECRET = "app-secret-known-only-to-the-double"
TOKEN = "callbackToken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AGENT_ID = 1000002
OPEN_KFID = "wkTestAccount"
CALLBACK_PATH = "/wecom/callback"
ZHANGSAN = "zhangsan"
CUSTOMER = "wmCustomer01"


@pytest_asyncio.fixture
async def api() -> AsyncIterator[WeComAPIDouble]:
    double = WeComAPIDouble(CORP_ID, SECRET)
    await double.start()
    yield double
    await double.stop()


@dataclass
class Response:
    status: int
    text: str


@dataclass
class WeComBot:
    """The whole bot with its WeCom door; callbacks arrive over HTTP as WeCom would send them."""

    api: WeComAPIDouble
    adapter: WeComAdapter
    harness: Harness
    url: str
    http: aiohttp.ClientSession
    crypto: WeComCallbackCrypto = field(default_factory=lambda: WeComCallbackCrypto(TOKEN, AES_KEY, CORP_ID))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(7_000_000_000_000_000_001))

    async def deliver(self, callback: Callback, method: str = "POST") -> Response:
        async with self.http.request(method, self.url, params=callback.query, data=callback.body) as answer:
            return Response(answer.status, await answer.text())

    async def say(self, text: str, user: str = ZHANGSAN, *, msg_id: int | None = None) -> Response:
        xml = member_text(CORP_ID, user, text, msg_id or next(self._ids), AGENT_ID)
        return await self.deliver(self.crypto.message(xml))

    async def send_image(self, data: bytes, user: str = ZHANGSAN) -> str:
        """The member sends an image; returns its media id."""
        media_id = self.api.add_media(data)
        await self.deliver(
            self.crypto.message(member_image(CORP_ID, user, media_id, next(self._ids), AGENT_ID))
        )
        return media_id

    async def customer_says(self, customer: str = CUSTOMER, **content: Any) -> None:
        """A customer writes (`text={"content": ...}` or `image={...}`); WeCom's callback follows."""
        self.api.customer_writes(OPEN_KFID, customer, **content)
        await self.kf_callback()

    async def kf_callback(self) -> None:
        answer = await self.deliver(
            self.crypto.message(kf_event(CORP_ID, f"token-{next(self._ids)}", OPEN_KFID))
        )
        assert answer.status == 200
        await self.adapter.idle()


def wecom_adapter(harness: Harness, api: WeComAPIDouble, **options: Any) -> WeComAdapter:
    """The WeCom door on `harness`, talking to `api`, with quick rate-limit backoffs."""
    settings: dict[str, Any] = {
        "corp_id": CORP_ID,
        "agent_id": AGENT_ID,
        "secret": SECRET,
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "api_base_url": api.base_url,
        "request_timeout_s": 5,
        "state": DatabaseStateStore(harness.app.db),
        "inbound": DatabaseInboundLog(harness.app.db),
        "rate_limit_backoff_s": (0.01, 0.02),
    }
    return WeComAdapter(harness.app.core, **{**settings, **options})


def open_wecom_bot(
    database: DatabaseTarget,
    data_dir: Path,
    api: WeComAPIDouble,
    *,
    provider: ImageProvider | None = None,
    **sections: dict[str, Any],
) -> AbstractAsyncContextManager[WeComBot]:
    return _wecom_bot(database, data_dir, api, provider, **sections)


@asynccontextmanager
async def _wecom_bot(
    database: DatabaseTarget,
    data_dir: Path,
    api: WeComAPIDouble,
    provider: ImageProvider | None,
    **sections: dict[str, Any],
) -> AsyncIterator[WeComBot]:
    async with harness_for(database, data_dir, provider=provider, **sections) as harness:
        adapter = wecom_adapter(harness, api, kf_open_kfid=OPEN_KFID)
        harness.app.notifier.register(adapter)
        assert adapter.kf is not None
        harness.app.notifier.register(adapter.kf)
        web = WebServer(host="127.0.0.1", port=0)
        web.add_post(CALLBACK_PATH, adapter.handle_callback, max_body=WECOM_CALLBACK_MAX_BYTES)
        web.add_get(CALLBACK_PATH, adapter.handle_callback)
        await web.start()
        serving = asyncio.create_task(adapter.start())
        await asyncio.sleep(0)  # start() has begun: what customers wrote meanwhile is being pulled
        try:
            async with aiohttp.ClientSession() as http:
                yield WeComBot(api, adapter, harness, f"http://127.0.0.1:{web.port}{CALLBACK_PATH}", http)
        finally:
            await adapter.stop()
            await serving
            await web.stop()


@pytest_asyncio.fixture
async def wecom_bot(database: DatabaseTarget, tmp_path: Path, api: WeComAPIDouble) -> AsyncIterator[WeComBot]:
    async with open_wecom_bot(database, tmp_path, api) as bot:
        yield bot


@pytest_asyncio.fixture
async def sqlite_bot(tmp_path: Path, api: WeComAPIDouble) -> AsyncIterator[WeComBot]:
    """For tests of the transport (callbacks, API calls), where the database is beside the point."""
    database = sqlite_target(tmp_path)
    async with open_wecom_bot(database, tmp_path, api) as bot:
        yield bot
