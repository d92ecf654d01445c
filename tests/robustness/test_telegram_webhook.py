"""Malformed posts to the Telegram webhook route, with the right secret: refused (4xx) or taken and
ignored, never an unhandled exception, and the updates after them are still answered."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from telegram.ext import ContextTypes

from bot import tls
from bot.web import WebServer
from platforms.telegram.adapter import SECRET_HEADER, TelegramAdapter, Webhook
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import harness_for, sqlite_target
from tests.platforms.telegram.conftest import ALICE, TOKEN, api, quick_budget  # noqa: F401  (a fixture)
from tests.robustness.inputs import HUGE, en

SECRET = "robustness-secret"
PATH = "/telegram/webhook"
WEB_MAX_BYTES = 25 * 1024 * 1024  # bot.web.WebServer's client_max_size


def _from(user: int) -> dict[str, Any]:
    return {"id": user, "is_bot": False, "first_name": "A", "language_code": "en"}


def message(update_id: int, **fields: Any) -> dict[str, Any]:
    chat = {"id": ALICE, "type": "private"}
    body = {"message_id": update_id, "date": int(time.time()), "chat": chat, "from": _from(ALICE), **fields}
    return {
        "update_id": update_id,
        "message": {key: value for key, value in body.items() if value is not None},
    }


def command(update_id: int, text: str) -> dict[str, Any]:
    entity = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
    return message(update_id, text=text, entities=[entity])


@dataclass
class Hook:
    api: TelegramBotAPIDouble
    http: aiohttp.ClientSession
    url: str
    errors: list[BaseException]

    async def post(self, body: bytes | Any) -> int:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        async with self.http.post(self.url, data=io.BytesIO(data), headers=headers) as response:
            return response.status


@asynccontextmanager
async def webhook_bot(tmp_path: Path, api: TelegramBotAPIDouble) -> AsyncIterator[Hook]:  # noqa: F811
    """The door as bot/app.py mounts it in webhook mode, on SQLite (the route is what is tested)."""
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        adapter = TelegramAdapter(
            harness.app.core,
            token=TOKEN,
            budget=quick_budget(harness.app.db),
            base_url=api.base_url,
            base_file_url=api.base_file_url,
            webhook=Webhook("https://bot.example.com" + PATH, SECRET),
            ssl_context=tls.httpx_context(),
        )
        errors: list[BaseException] = []

        async def collect(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert context.error is not None
            errors.append(context.error)

        adapter.application.add_error_handler(collect)
        web = WebServer(host="127.0.0.1", port=0)
        web.add_post(PATH, adapter.handle_webhook)
        await web.start()
        serving = asyncio.create_task(adapter.start())
        try:
            await api.wait_for("setWebhook")
            async with aiohttp.ClientSession() as http:
                yield Hook(api, http, f"http://127.0.0.1:{web.port}{PATH}", errors)
        finally:
            await adapter.stop()
            await asyncio.wait_for(serving, 10)
            await web.stop()
        assert errors == []


NOT_UPDATES: list[bytes | Any] = [
    b"",
    b"not json",
    b'{"update_id": 1, "message": ',
    b"\xff\xfe\x00garbage",
    {},
    {"update_id": 1, "message": {}},
    {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": 5}},
    {"update_id": 1, "callback_query": {"id": "q"}},
    message(1, photo=[{"file_id": "no-size"}]),
]


async def test_malformed_updates_are_refused_and_the_next_ones_still_answered(
    tmp_path: Path,
    api: TelegramBotAPIDouble,  # noqa: F811
) -> None:
    async with webhook_bot(tmp_path, api) as hook:
        for body in NOT_UPDATES:
            assert await hook.post(body) == 400, body
        assert await hook.post(b"{" + b" " * WEB_MAX_BYTES + b"}") == 413
        odd_but_valid = [
            {"update_id": "not a number"},
            {"update_id": 2},
            {"update_id": 3, "edited_message": command(3, "/balance")["message"]},
            message(4, text="/balance", entities=[{"type": "bot_command", "offset": -9, "length": 99999}]),
            message(5, photo=[], caption="/balance"),
            message(6, sender_chat={"id": -100, "type": "channel"}, text="/balance", **{"from": None}),
            command(7, "/imagine " + HUGE),
            {
                "update_id": 8,
                "callback_query": {"id": "q", "from": _from(ALICE), "chat_instance": "c", "data": "x" * 999},
            },
        ]
        for body in odd_but_valid:
            assert await hook.post(body) == 200, body
        assert await hook.post(command(9, "/help")) == 200
        await api.wait_for("sendMessage", 4, chat_id=ALICE)
    # Stopped: every update taken in has been handled by now.
    texts = [call.fields["text"] for call in api.of("sendMessage", ALICE)]
    assert len(texts) == 4, texts
    assert en("prompt_too_long", length=len(HUGE.strip()), limit=4000) in texts
    assert sum(text.startswith("Balance") for text in texts) == 2, texts  # odd entities; the caption
    assert any(text.startswith("/imagine") for text in texts), texts  # /help
    [pressed] = api.of("answerCallbackQuery")
    assert pressed.fields["text"] == en("button_expired")


CRASHING: list[bytes | Any] = [
    b"[]",
    b"null",
    b'"an update"',
    {"update_id": 1, "message": "text"},
    message(1, date=1e300, text="/balance"),
]


async def test_json_that_is_not_an_update_object_is_refused(
    tmp_path: Path,
    api: TelegramBotAPIDouble,  # noqa: F811
) -> None:
    async with webhook_bot(tmp_path, api) as hook:
        statuses = [await hook.post(body) for body in CRASHING]
    assert statuses == [400] * len(CRASHING)
