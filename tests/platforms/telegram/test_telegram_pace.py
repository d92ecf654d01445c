"""Accept first, answer at Telegram's pace: a burst is written before any answer has to leave, the
acknowledgements that wait for the chat's turn leave as one message, and an image costs its chat at
most two messages."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from core.db.session import Database
from core.messages import Stage, progress
from core.send_budget import SendBudget
from platforms.telegram import render
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, TRIAL, TelegramBot, open_telegram_bot, quick_budget


class GatedBudget:
    """The product's budget behind a gate the test opens: while it is shut, no message may leave."""

    def __init__(self, inner: SendBudget) -> None:
        self._inner = inner
        self.gate = asyncio.Event()
        self.gate.set()

    async def acquire(self, chat: str, *, group: bool = False, chat_only: bool = False) -> None:
        await self.gate.wait()
        await self._inner.acquire(chat, group=group, chat_only=chat_only)

    async def hold(self, seconds: float) -> None:
        await self._inner.hold(seconds)

    def due_in(self, chat: str, *, group: bool = False) -> float:
        return self._inner.due_in(chat, group=group)

    async def close(self) -> None:
        await self._inner.close()


async def test_a_burst_is_accepted_at_once_and_its_acknowledgements_leave_as_one_message(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    budgets: list[GatedBudget] = []

    def gated(db: Database) -> SendBudget:
        budgets.append(GatedBudget(quick_budget(db)))
        return budgets[-1]

    async with open_telegram_bot(database, tmp_path, api, budget=gated, run_workers=False) as bot:
        await bot.say("/accept")
        before = len(api.of("sendMessage", ALICE))
        [budget] = budgets
        budget.gate.clear()  # Telegram's pace, at its slowest: nothing may leave for now

        for take in range(3):
            await bot.hand_over(_update(bot, f"/imagine a heron, take {take}"))

        assert await bot.balance() == TRIAL - 30, "all three are accepted and charged before any answer"
        assert len(api.of("sendMessage", ALICE)) == before, "no answer had its turn yet"
        budget.gate.set()
        await bot.adapter.settled()

    [status] = api.of("sendMessage", ALICE)[before:]
    lines = status.fields["text"].split("\n\n")
    assert len(lines) == 3, status.fields["text"]
    assert all("queued" in line for line in lines), status.fields["text"]
    cancels = [button["text"] for button in status.buttons()]
    assert len(cancels) == 3
    assert all(label.startswith("✖️ Cancel #") for label in cancels), cancels
    assert len(set(cancels)) == 3, "each Cancel says which job it stops"


async def test_an_image_costs_its_chat_two_messages_and_its_status_message_goes(
    telegram_bot: TelegramBot,
) -> None:
    api = telegram_bot.api
    await telegram_bot.say("/accept")
    before = {method: len(api.of(method, ALICE)) for method in ("sendMessage", "sendPhoto")}

    await telegram_bot.say("/imagine a kingfisher")
    [photo] = await api.wait_for("sendPhoto", chat_id=ALICE)
    await telegram_bot.harness.app.notifier.drain()
    await telegram_bot.adapter.settled()

    [status] = api.of("sendMessage", ALICE)[before["sendMessage"] :]
    assert "queued" in status.fields["text"]
    assert len(api.of("sendPhoto", ALICE)) - before["sendPhoto"] == 1
    assert photo.buttons()[0]["text"] == "🔁 Reroll", "the result carries its actions"
    [deleted] = api.of("deleteMessage", ALICE)
    assert deleted.fields["message_id"] == status.result["message_id"], "the status message is removed"


def _update(bot: TelegramBot, text: str) -> dict[str, object]:
    return {"update_id": bot.api.next_update_id(), "message": bot.message(text)}


async def test_a_status_message_is_edited_at_most_once_an_interval_and_shows_the_newest_state(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    interval = 0.5
    async with open_telegram_bot(database, tmp_path, api, edit_interval_s=interval, run_workers=False) as bot:
        chat = render.chat_ref(ALICE, "private")
        await bot.adapter.send(chat, progress(7, Stage.QUEUED, "Job #7 queued"))
        for step in range(1, 6):  # states come faster than the interval
            await bot.adapter.send(chat, progress(7, Stage.STARTED, f"Job #7: step {step}"))
        await bot.adapter.settled()

    [posted] = api.of("sendMessage", ALICE)
    edits = api.of("editMessageText", ALICE)
    assert edits, "the status message is edited"
    assert edits[-1].fields["text"] == "Job #7: step 5", "the newest state wins"
    assert len(edits) < 5, "states that came meanwhile are skipped"
    moments = [posted.at, *(edit.at for edit in edits)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert min(gaps) >= interval * 0.8, gaps  # the double's clock: a little network jitter allowed
