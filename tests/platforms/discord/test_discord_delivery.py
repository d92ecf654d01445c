"""Results reach Discord users through stale tokens, rate limits, outages and closed channels."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fakes.discord_api import CHANNEL_ID, DiscordDouble
from tests.platforms.discord.conftest import TRIAL, DiscordBot, buttons, discord_bot, webhook

CHANNEL_POST = f"/channels/{CHANNEL_ID}/messages"
NEARLY_EXPIRED = timedelta(minutes=14, seconds=30)  # Discord takes its token for 15 minutes


@pytest.mark.parametrize("guild", [True, False], ids=["guild", "dm"])
async def test_a_result_later_than_the_token_allows_is_posted_by_the_bot(
    bot: DiscordBot, guild: bool
) -> None:
    asked = bot.imagine("a castle", guild=guild, age=NEARLY_EXPIRED)
    [posted] = await bot.api.wait_for("POST", CHANNEL_POST)
    assert posted.body["content"].startswith("“a castle”")
    assert posted.uploads[0].filename == "job-1-1.png"
    assert buttons(posted.body)[0][1] == "i2b:job:1:reroll:1"
    assert bot.api.requests("POST", webhook(asked)) == []
    [queued] = bot.api.requests("PATCH", webhook(asked, original=True))
    assert queued.body["content"].startswith("Job #1 queued")


async def test_a_token_discord_refuses_does_not_lose_the_result(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    async with discord_bot(discord_api, tmp_path, run_workers=False) as bot:
        asked = bot.imagine("a castle")
        await bot.api.wait_for("PATCH", webhook(asked, original=True))
        bot.api.expire(asked)
        worker = asyncio.create_task(bot.harness.app.worker.run())
        try:
            [posted] = await bot.api.wait_for("POST", CHANNEL_POST)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    [refused] = discord_api.requests("POST", webhook(asked))
    assert refused.status == 401
    assert posted.uploads[0].filename == "job-1-1.png"


async def test_a_rate_limited_followup_is_sent_again(bot: DiscordBot) -> None:
    bot.api.fail(r"POST /webhooks/\d+/[^/]+", 429)
    asked = bot.imagine("a castle")
    await bot.api.wait_for("POST", webhook(asked))
    assert [call.status for call in bot.api.requests("POST", webhook(asked))] == [429, 200]


async def test_a_discord_outage_delays_a_post_without_losing_it(bot: DiscordBot) -> None:
    bot.harness.app.notifier.poll_interval_s = 0.01  # retry due deliveries at once
    bot.api.fail(f"POST {CHANNEL_POST}", 503, times=2)
    bot.imagine("a castle", age=NEARLY_EXPIRED)
    await bot.api.wait_for("POST", CHANNEL_POST)
    await bot.harness.app.notifier.drain()  # any retry in flight has finished
    assert [call.status for call in bot.api.requests("POST", CHANNEL_POST)] == [503, 503, 200]
    assert await bot.balance() == TRIAL - 10


async def test_a_channel_the_bot_may_no_longer_use_is_given_up(bot: DiscordBot) -> None:
    bot.api.fail(f"POST {CHANNEL_POST}", 403, code=50001, times=10)
    bot.imagine("a castle", age=NEARLY_EXPIRED)
    await bot.api.wait_for("POST", CHANNEL_POST, status=403)
    await bot.harness.app.notifier.drain()
    assert [call.status for call in bot.api.requests("POST", CHANNEL_POST)] == [403]
    assert await bot.balance() == TRIAL - 10  # the image was made: it stays paid for, in /history
