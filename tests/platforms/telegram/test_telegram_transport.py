"""How updates reach the bot (polling, webhook) and how it behaves towards Telegram's servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bot import tls
from bot.web import WebServer
from core.commands.catalogue import MENU
from core.i18n import translate
from platforms.telegram.adapter import TelegramAdapter, Webhook
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget, Harness, harness_for
from tests.platforms.telegram.conftest import ALICE, TOKEN, TelegramBot, quick_budget

SECRET = "s3cret-token_value"


def update(text: str, user: int = ALICE, update_id: int = 1) -> dict[str, object]:
    message = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "U", "language_code": "en"},
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
    }
    return {"update_id": update_id, "message": message}


@asynccontextmanager
async def running(adapter: TelegramAdapter) -> AsyncIterator[None]:
    task = asyncio.create_task(adapter.start())
    try:
        yield
    finally:
        await adapter.stop()
        await asyncio.wait_for(task, 10)


def adapter_for(
    harness: Harness, api: TelegramBotAPIDouble, webhook: Webhook | None = None
) -> TelegramAdapter:
    adapter = TelegramAdapter(
        harness.app.core,
        token=TOKEN,
        budget=quick_budget(harness.app.db),
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        webhook=webhook,
        ssl_context=tls.httpx_context(),
    )
    harness.app.notifier.register(adapter)
    return adapter


async def test_polling_receives_updates_and_answers_them(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with harness_for(database, tmp_path) as harness:
        adapter = adapter_for(harness, api)
        async with running(adapter):
            await api.updates.put(update("/balance"))
            [answer] = await api.wait_for("sendMessage", chat_id=ALICE)
        assert answer.fields["text"].startswith("Balance:")
        assert api.of("deleteWebhook"), "polling takes over from any webhook left behind"


async def test_the_webhook_accepts_telegrams_secret_and_nothing_else(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with harness_for(database, tmp_path) as harness:
        webhook = Webhook("https://bot.example.com/telegram/webhook", SECRET)
        adapter = adapter_for(harness, api, webhook)
        web = WebServer(host="127.0.0.1", port=0)
        web.add_post("/telegram/webhook", adapter.handle_webhook)
        await web.start()
        url = f"http://127.0.0.1:{web.port}/telegram/webhook"
        try:
            async with running(adapter), aiohttp.ClientSession() as http:
                [registered] = await api.wait_for("setWebhook")
                assert registered.fields["url"] == webhook.url
                assert registered.fields["secret_token"] == SECRET
                for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                    async with http.post(
                        url, json=update("/balance", update_id=1), headers=headers
                    ) as response:
                        assert response.status == 403
                good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with http.post(url, json=update("/help", update_id=2), headers=good) as response:
                    assert response.status == 200
                [answer] = await api.wait_for("sendMessage", chat_id=ALICE)
        finally:
            await web.stop()
    assert answer.fields["text"].startswith("/imagine"), "only the update with the right secret was processed"


async def test_a_flood_limit_is_waited_out_and_the_photo_still_arrives(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    api.fail_next("sendPhoto", 429, "Too Many Requests: retry after 1", retry_after=1)
    await telegram_bot.say("/imagine a cat")
    [refused, delivered] = await api.wait_for("sendPhoto", 2, chat_id=ALICE)
    assert delivered.at - refused.at >= 1.0, "Telegram's retry_after is respected"
    await telegram_bot.harness.app.notifier.drain()
    assert len(api.of("sendPhoto", ALICE)) == 2, "delivered once"


async def test_the_command_menu_is_published_in_english_and_chinese(telegram_bot: TelegramBot) -> None:
    published = {
        call.fields.get("language_code"): call.fields["commands"]
        for call in telegram_bot.api.of("setMyCommands")
    }
    assert set(published) == {None, "zh"}
    for language, code in (("en", None), ("zh-CN", "zh")):
        assert published[code] == [
            {"command": name, "description": translate(language, f"menu.{name}")} for name in MENU
        ]
