"""What concerns one person's money and tickets reaches them in their private chat, never a group:
a purchase started in a group, the verified Stripe webhook that pays it, its refund and a support
answer, through the real python-telegram-bot against the Bot API double."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.i18n import translate
from core.messages import ChatRef, Incoming, UserRef
from tests.core.payments.conftest import Shop, shop_settings
from tests.core.test_support_desk import WECOM
from tests.fakes.chat import RecordingChat
from tests.fakes.stripe_api import StripeAPIDouble
from tests.fakes.stripe_api import stripe_api_fixture as stripe_api  # noqa: F401  (a fixture)
from tests.fakes.telegram_api import BOT_USERNAME, TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import BOB, GROUP, TelegramBot, open_telegram_bot

LANGUAGES = ("en", "zh-CN")
NOT_OPENED = "Forbidden: bot can't initiate conversation with a user"
START_LINK = f"https://t.me/{BOT_USERNAME}?start=notices"
WAIT_S = 30.0


@asynccontextmanager
async def telegram_shop(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble, stripe: StripeAPIDouble
) -> AsyncIterator[tuple[TelegramBot, Shop]]:
    """The bot with its Telegram door, selling through the Stripe double, its webhook served."""
    async with (
        open_telegram_bot(database, tmp_path, api, stripe=shop_settings(stripe), web={"port": 0}) as bot,
        aiohttp.ClientSession() as http,
    ):
        assert bot.harness.app.web is not None
        await bot.harness.app.web.start()
        yield bot, Shop(bot.harness, stripe, http)


def texts(api: TelegramBotAPIDouble, chat_id: int) -> list[str]:
    """What arrived in a chat: every message Telegram took (a refused call left nothing)."""
    return [call.fields["text"] for call in api.of("sendMessage", chat_id) if call.result is not None]


def anything_in(api: TelegramBotAPIDouble, chat_id: int) -> list[str]:
    """Every call of any method that reached the chat, for asserting that nothing else did."""
    return [call.method for call in api.calls if call.chat_id == chat_id and call.result is not None]


async def choose_language(bot: TelegramBot, language: str) -> None:
    """Bob chooses his language in the group: later notices are written in the account's language
    (a Telegram client's own language reaches only the answers to what he sends)."""
    await bot.say(f"/language@{BOT_USERNAME} {language}", user=BOB, chat=GROUP, language=language)


async def buy_in_the_group(bot: TelegramBot, stripe: StripeAPIDouble, language: str) -> dict[str, Any]:
    """Bob asks for the starter pack in the group; the Checkout Session the bot made for him."""
    await bot.say(f"/buy@{BOT_USERNAME} starter", user=BOB, chat=GROUP, language=language)
    link = texts(bot.api, BOB)[-1]
    [session] = [s for s in stripe.checkout_sessions.values() if s["url"] in link]
    return session


async def until(condition: Any) -> None:
    """Waits for `condition`, with a generous ceiling (delivery after a write runs in the background)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110  (the double records calls; nothing to wait on but them)
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_purchase_started_in_a_group_is_told_privately_and_the_group_sees_nothing_of_it(
    database: DatabaseTarget,
    tmp_path: Path,
    api: TelegramBotAPIDouble,
    stripe_api: StripeAPIDouble,  # noqa: F811
    language: str,
) -> None:
    async with telegram_shop(database, tmp_path, api, stripe_api) as (bot, shop):
        await choose_language(bot, language)
        before, said = await bot.balance(BOB), texts(api, GROUP)
        session = await buy_in_the_group(bot, stripe_api, language)
        assert session["metadata"]["chat"] == f"telegram:private:{BOB}", "not even Stripe hears of the group"
        assert texts(api, GROUP) == [*said, translate(language, "private.sent")], "the link went privately"
        group_before = anything_in(api, GROUP)

        completed = stripe_api.complete_session(session["id"])
        await shop.deliver("checkout.session.completed", completed)

        received = translate(language, "payment.received", credits=500, balance=before + 500)
        assert [text for text in texts(api, BOB) if text.startswith(received)] != [], texts(api, BOB)
        assert anything_in(api, GROUP) == group_before, "nothing about the payment appears in the group"

        charge = stripe_api.charge_of(completed["payment_intent"])
        await shop.deliver("charge.refunded", stripe_api.refund(charge))
        refunded = translate(language, "payment.refunded", credits=500, balance=before)
        assert [text for text in texts(api, BOB) if text.startswith(refunded)] != []
        assert anything_in(api, GROUP) == group_before, "nor about its refund"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_when_the_private_chat_refuses_the_group_gets_one_pointer_and_the_notice_waits_for_the_user(
    database: DatabaseTarget,
    tmp_path: Path,
    api: TelegramBotAPIDouble,
    stripe_api: StripeAPIDouble,  # noqa: F811
    language: str,
) -> None:
    async with telegram_shop(database, tmp_path, api, stripe_api) as (bot, shop):
        await choose_language(bot, language)
        session = await buy_in_the_group(bot, stripe_api, language)
        before_balance = await bot.balance(BOB)
        group_before = texts(api, GROUP)
        completed = stripe_api.complete_session(session["id"])

        api.fail_next("sendMessage", 403, NOT_OPENED)  # Bob's private chat takes nothing until he writes
        await shop.deliver("checkout.session.completed", completed)
        charge = stripe_api.charge_of(completed["payment_intent"])
        await shop.deliver("charge.refunded", stripe_api.refund(charge))  # a second notice waits too
        await bot.harness.app.notifier.drain()

        # The Telegram door keeps no names: the pointer names nobody; the buyer knows it is for them.
        pointer = translate(language, "notices.waiting") + "\n" + START_LINK
        assert texts(api, GROUP) == [*group_before, pointer], "one pointer, without any content"
        received = translate(language, "payment.received", credits=500, balance=before_balance + 500)
        assert not [text for text in texts(api, BOB) if text.startswith(received)]

        await bot.say("/start notices", user=BOB, language=language)  # the pointer's link

        refunded = translate(language, "payment.refunded", credits=500, balance=before_balance)
        await until(lambda: any(text.startswith(refunded) for text in texts(api, BOB)))
        delivered = texts(api, BOB)
        assert [text for text in delivered if text.startswith(received)] != []
        assert texts(api, GROUP) == [*group_before, pointer], "still one pointer"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_private_answer_never_falls_back_to_the_group(
    database: DatabaseTarget,
    tmp_path: Path,
    api: TelegramBotAPIDouble,
    stripe_api: StripeAPIDouble,  # noqa: F811
    language: str,
) -> None:
    async with telegram_shop(database, tmp_path, api, stripe_api) as (bot, _shop):
        api.fail_next("sendMessage", 403, NOT_OPENED)
        await bot.say(f"/buy@{BOT_USERNAME} starter", user=BOB, chat=GROUP, language=language)

        [session] = stripe_api.checkout_sessions.values()
        pointer = translate(language, "notices.needs_private_named", name=f"User{BOB}") + "\n" + START_LINK
        assert texts(api, GROUP) == [pointer], "the group never sees the payment link"
        assert session["url"] not in "".join(texts(api, GROUP))


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_support_answer_to_a_ticket_opened_in_a_group_arrives_privately(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble, language: str
) -> None:
    async with open_telegram_bot(
        database, tmp_path, api, wecom=WECOM, support={"wecom_agents": ["lisi"]}
    ) as bot:
        notifier = bot.harness.app.notifier
        notifier.register(RecordingChat("wecom"))
        await bot.say(
            f"/support@{BOT_USERNAME} my refund never came", user=BOB, chat=GROUP, language=language
        )
        assert texts(api, BOB) == [translate(language, "support.opened", ticket=1)]
        assert texts(api, GROUP) == [translate(language, "private.sent")]

        lisi = UserRef("wecom", "lisi")
        await bot.harness.app.core.dispatch(
            Incoming(lisi, ChatRef("wecom", "user", "lisi"), "#1 refunded today")
        )
        await notifier.drain()

        answer = translate(language, "support.replied", ticket=1, text="refunded today")
        assert texts(api, BOB)[-1] == answer
        assert texts(api, GROUP) == [translate(language, "private.sent")], "the answer is not in the group"
