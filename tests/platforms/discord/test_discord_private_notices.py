"""A purchase started in a guild channel: the link is shown to the buyer alone, and the payment's
notices reach them in a DM (opened with `POST /users/@me/channels`), never the channel; a DM Discord
refuses (50007) leaves one pointer in the channel and the notice waits until the buyer writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.i18n import translate
from tests.core.payments.conftest import Shop, shop_settings
from tests.fakes.discord_api import CHANNEL_ID, DiscordDouble
from tests.fakes.stripe_api import StripeAPIDouble
from tests.fakes.stripe_api import stripe_api_fixture as stripe_api  # noqa: F401  (a fixture)
from tests.platforms.discord.conftest import ALICE, DiscordBot, answered, discord_bot

LANGUAGES = ("en", "zh-CN")
EPHEMERAL = 64
CANNOT_MESSAGE_USER = 50007
WAIT_S = 30.0


@asynccontextmanager
async def discord_shop(
    api: DiscordDouble, tmp_path: Path, stripe: StripeAPIDouble
) -> AsyncIterator[tuple[DiscordBot, Shop]]:
    """The bot with its Discord door, selling through the Stripe double, its webhook served."""
    async with (
        discord_bot(api, tmp_path, stripe=shop_settings(stripe), web={"port": 0}) as bot,
        aiohttp.ClientSession() as http,
    ):
        assert bot.harness.app.web is not None
        await bot.harness.app.web.start()
        yield bot, Shop(bot.harness, stripe, http)


def posted(api: DiscordDouble, channel_id: int | str) -> list[str]:
    """What the bot posted to a channel itself (not as an interaction's answer), that Discord took."""
    calls = api.requests("POST", f"/channels/{channel_id}/messages")
    return [call.body["content"] for call in calls if call.status < 300]


def interaction_answers(api: DiscordDouble) -> int:
    """Every answer given through interactions (callbacks, followups, edits): none may follow later."""
    return len([call for call in api.calls if "/interactions/" in call.path or "/webhooks/" in call.path])


async def buy_in_the_guild(bot: DiscordBot, stripe: StripeAPIDouble, language: str) -> dict[str, Any]:
    """Alice chooses her language, then asks for the starter pack in the guild channel; the buy
    answer is hers alone. Returns the Checkout Session the bot made for her."""
    chosen = bot.deliver(bot.api.slash("language", {"language": language}, who=ALICE))
    await answered(bot.api, chosen)
    asked = bot.deliver(bot.api.slash("buy", {"item": "starter"}, who=ALICE))
    answer = await answered(bot.api, asked)
    assert answer["flags"] & EPHEMERAL, "only the buyer sees the payment link"
    [session] = [s for s in stripe.checkout_sessions.values() if s["url"] in answer["content"]]
    assert session["metadata"]["chat"] == f"discord:user:{ALICE['id']}"
    return session


async def until(condition: Any) -> None:
    """Waits for `condition`, with a generous ceiling (delivery after a write runs in the background)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110  (the double records calls; nothing to wait on but them)
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_purchase_started_in_a_guild_channel_is_told_in_a_dm_and_nothing_shows_in_the_channel(
    discord_api: DiscordDouble,
    tmp_path: Path,
    stripe_api: StripeAPIDouble,  # noqa: F811
    language: str,
) -> None:
    async with discord_shop(discord_api, tmp_path, stripe_api) as (bot, shop):
        session = await buy_in_the_guild(bot, stripe_api, language)
        before, answers = await bot.balance(), interaction_answers(discord_api)

        completed = stripe_api.complete_session(session["id"])
        await shop.deliver("checkout.session.completed", completed)
        await shop.deliver(
            "charge.dispute.created",
            stripe_api.open_dispute(stripe_api.charge_of(completed["payment_intent"])),
        )

        dm = discord_api.dm_channels[ALICE["id"]]
        received = translate(language, "payment.received", credits=500, balance=before + 500)
        disputed = translate(language, "payment.disputed")
        told = posted(discord_api, dm)
        assert [text for text in told if text.startswith(received)] != [], told
        assert [text for text in told if text.startswith(disputed)] != [], told
        assert posted(discord_api, CHANNEL_ID) == [], "nothing about it in the guild channel"
        assert interaction_answers(discord_api) == answers, "nor as a late answer to the /buy"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_refused_dm_leaves_one_pointer_in_the_channel_and_the_notice_waits_for_the_buyer(
    discord_api: DiscordDouble,
    tmp_path: Path,
    stripe_api: StripeAPIDouble,  # noqa: F811
    language: str,
) -> None:
    async with discord_shop(discord_api, tmp_path, stripe_api) as (bot, shop):
        session = await buy_in_the_guild(bot, stripe_api, language)
        before = await bot.balance()

        # Alice takes no DMs from the server's members: Discord refuses the bot's message.
        discord_api.fail(r"POST /channels/\d+/messages", 403, code=CANNOT_MESSAGE_USER)
        completed = stripe_api.complete_session(session["id"])
        await shop.deliver("checkout.session.completed", completed)
        await shop.deliver(
            "charge.refunded", stripe_api.refund(stripe_api.charge_of(completed["payment_intent"]))
        )
        await bot.harness.app.notifier.drain()

        dm = discord_api.dm_channels[ALICE["id"]]
        pointer = translate(language, "notices.waiting_named", name=ALICE["global_name"])
        assert posted(discord_api, CHANNEL_ID) == [pointer], "one pointer, without any content"
        assert posted(discord_api, dm) == []

        # She writes to the bot in her DM: what waited is delivered there.
        await answered(
            discord_api, bot.deliver(discord_api.slash("help", who=ALICE, guild=False, channel_id=dm))
        )
        received = translate(language, "payment.received", credits=500, balance=before + 500)
        refunded = translate(language, "payment.refunded", credits=500, balance=before)
        await until(lambda: any(text.startswith(refunded) for text in posted(discord_api, dm)))
        assert [text for text in posted(discord_api, dm) if text.startswith(received)] != []
        assert posted(discord_api, CHANNEL_ID) == [pointer], "still one pointer"
