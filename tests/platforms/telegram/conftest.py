"""A bot whose Telegram door talks, through the real python-telegram-bot, to a local Bot API double."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio
from telegram import Update
from telegram.ext import ContextTypes

from bot import tls
from core import credits
from core.db.session import Database
from core.policy import CreditSettings
from core.send_budget import Pace, SendBudget, send_budget
from core.status_boards import SharedBoards
from platforms.telegram.adapter import TelegramAdapter
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TelegramBotAPIDouble
from tests.harness import DatabaseTarget, Harness, harness_for

TOKEN = "123456:TEST-token-for-the-double"
ALICE = 42
BOB = 43
GROUP = -100777
TRIAL = CreditSettings().trial
QUICK_PACE = Pace(per_second=1000.0, chat_interval_s=0.0, group_interval_s=0.0)
# The same pace for a bot process the tests start: Telegram's real one holds each chat's messages a second
# apart, a wait a test of what the bot says need not sit through (tests/core/test_send_budget.py tests it).
QUICK_PACE_ENV = {
    "IMAGE2BOT_TELEGRAM__MESSAGES_PER_SECOND": str(QUICK_PACE.per_second),
    "IMAGE2BOT_TELEGRAM__CHAT_INTERVAL_S": str(QUICK_PACE.chat_interval_s),
    "IMAGE2BOT_TELEGRAM__GROUP_INTERVAL_S": str(QUICK_PACE.group_interval_s),
}


def quick_budget(db: Database) -> SendBudget:
    """The product's budget (shared through PostgreSQL there), at a pace that keeps tests quick."""
    return send_budget(db, "telegram:tests", QUICK_PACE)


@pytest_asyncio.fixture
async def api() -> AsyncIterator[TelegramBotAPIDouble]:
    double = TelegramBotAPIDouble(TOKEN)
    await double.start()
    yield double
    await double.stop()
    assert double.violations == [], "the bot made calls Telegram would refuse"


@dataclass
class TelegramBot:
    """The whole bot with its Telegram door; updates go in the way Telegram would deliver them."""

    api: TelegramBotAPIDouble
    adapter: TelegramAdapter
    harness: Harness
    errors: list[BaseException] = field(default_factory=list)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hands the update to the door and waits until its answers have left."""
        await self.hand_over(update)
        await self.adapter.settled()

    async def hand_over(self, update: dict[str, Any]) -> None:
        """Hands the update to the door: done once the door has handled it, whatever is still to send."""
        application = self.adapter.application
        await application.process_update(Update.de_json(update, application.bot))

    async def say(self, text: str | None, **message: Any) -> dict[str, Any]:
        """Sends a message (from ALICE in her private chat unless told otherwise); returns it."""
        payload = self.message(text, **message)
        await self.deliver({"update_id": self.api.next_update_id(), "message": payload})
        return payload

    def message(
        self,
        text: str | None,
        *,
        user: int = ALICE,
        chat: int | None = None,
        language: str = "en",
        **extra: Any,
    ) -> dict[str, Any]:
        chat_id = chat if chat is not None else user
        payload: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "title": "Group"},
            "from": _user(user, language),
            **extra,
        }
        if text is not None:
            payload["caption" if "photo" in extra or "document" in extra else "text"] = text
            if text.startswith("/"):
                key = "caption_entities" if "caption" in payload else "entities"
                length = len(text.split()[0])
                payload[key] = [{"type": "bot_command", "offset": 0, "length": length}]
        return payload

    async def press(self, data: str, *, user: int = ALICE, message_id: int, chat: int | None = None) -> None:
        chat_id = chat if chat is not None else user
        query = {
            "id": f"q{next(self._message_ids)}",
            "from": _user(user),
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Image 2", "username": BOT_USERNAME},
                "text": "…",
            },
        }
        await self.deliver({"update_id": self.api.next_update_id(), "callback_query": query})

    async def balance(self, user: int = ALICE) -> int:
        account = await self.harness.app.core.services.accounts.find("telegram", str(user))
        assert account is not None
        async with self.harness.app.db.transaction() as session:
            return (await credits.balance(session, account.id)).total


def _user(user_id: int, language: str = "en") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": language}


def open_telegram_bot(
    database: DatabaseTarget,
    data_dir: Path,
    api: TelegramBotAPIDouble,
    *,
    stars: bool = False,
    budget: Callable[[Database], SendBudget] = quick_budget,
    edit_interval_s: float = 0.0,
    shared_status: bool = False,
    **sections: Any,
) -> AbstractAsyncContextManager[TelegramBot]:
    """`shared_status`: the chats' status messages kept in the database, as where several processes
    speak for the token."""
    return _telegram_bot(database, data_dir, api, stars, budget, edit_interval_s, shared_status, **sections)


@asynccontextmanager
async def _telegram_bot(
    database: DatabaseTarget,
    data_dir: Path,
    api: TelegramBotAPIDouble,
    stars: bool,
    budget: Callable[[Database], SendBudget],
    edit_interval_s: float,
    shared_status: bool,
    **sections: Any,
) -> AsyncIterator[TelegramBot]:
    if stars:
        sections["telegram"] = {"stars": True, **sections.get("telegram", {})}
    async with harness_for(database, data_dir, **sections) as harness:
        adapter = TelegramAdapter(
            harness.app.core,
            token=TOKEN,
            budget=budget(harness.app.db),
            base_url=api.base_url,
            base_file_url=api.base_file_url,
            edit_interval_s=edit_interval_s,
            album_wait_s=0.2,
            stars=harness.app.core.services.stars if stars else None,
            ssl_context=tls.httpx_context(),  # shared, as bot/app.py does
            shared_boards=SharedBoards(harness.app.db) if shared_status else None,
        )
        harness.app.notifier.register(adapter)
        if stars:  # as bot.doors wires it
            harness.app.core.services.stars.renewals = adapter.stars_renewals
        bot = TelegramBot(api, adapter, harness)

        async def collect(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert context.error is not None
            bot.errors.append(context.error)

        adapter.application.add_error_handler(collect)
        await adapter.open()
        try:
            yield bot
        finally:
            await adapter.close()
        assert bot.errors == []


@pytest_asyncio.fixture
async def telegram_bot(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> AsyncIterator[TelegramBot]:
    async with open_telegram_bot(database, tmp_path, api) as bot:
        yield bot
