"""A job's result on its way to Discord, through discord.py and the durable outbox: a followup refused
with 5xx or never answered is sent again and arrives exactly once; rate limits (429 with
retry_after) are waited out, also when they outlast discord.py's own retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path

import pytest
import pytest_asyncio

from platforms.discord import delivery
from tests.fakes.discord_api import DiscordDouble, discord_api  # noqa: F401  (a fixture)
from tests.faults.helpers import OUTBOX_POLL_S
from tests.harness import DatabaseTarget, harness_for
from tests.platforms.discord.conftest import (  # noqa: F401  (an autouse fixture)
    TRIAL,
    DiscordBot,
    _public_discord_afterwards,
    door,
    webhook,
)

# A platform failing does not depend on the database: these run on SQLite only.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

FOLLOWUP = r"POST /webhooks/\d+/[^/]+"
RETRY_AFTER_S = 0.2
CLIENT_TRIES = 5  # discord.py tries a rate-limited request five times before it gives up


@pytest_asyncio.fixture
async def bot(
    database: DatabaseTarget,
    tmp_path: Path,
    discord_api: DiscordDouble,  # noqa: F811
) -> AsyncIterator[DiscordBot]:
    async with harness_for(database, tmp_path) as harness, door(discord_api, harness) as running:
        harness.app.notifier.poll_interval_s = OUTBOX_POLL_S
        yield running


async def results(bot: DiscordBot, interaction: dict[str, object]) -> list[int]:
    """The statuses of every followup of `interaction`, once the outbox has nothing under way."""
    await bot.harness.app.notifier.drain()
    return [call.status for call in bot.api.requests("POST", webhook(interaction))]


def castles(bot: DiscordBot) -> list[dict[str, object]]:
    return [m for m in bot.api.messages.values() if str(m["content"]).startswith("“a castle”")]


async def test_a_followup_refused_with_5xx_or_never_answered_is_sent_again_and_arrives_once(
    bot: DiscordBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "SEND_TIMEOUT_S", 0.3)  # how long a call may go unanswered
    bot.api.fail(FOLLOWUP, 503)
    bot.api.stall(FOLLOWUP)
    asked = bot.imagine("a castle")
    await bot.api.wait_for("POST", webhook(asked))
    assert await results(bot, asked) == [503, 504, 200]
    assert len(castles(bot)) == 1
    assert await bot.balance() == TRIAL - 10


async def test_a_rate_limit_that_outlasts_the_clients_tries_is_still_waited_out(bot: DiscordBot) -> None:
    bot.api.fail(FOLLOWUP, 429, times=CLIENT_TRIES + 1, retry_after=RETRY_AFTER_S)
    asked = bot.imagine("a castle")
    await bot.api.wait_for("POST", webhook(asked))
    assert await results(bot, asked) == [429] * (CLIENT_TRIES + 1) + [200]
    calls = bot.api.requests("POST", webhook(asked))
    for limited, next_try in pairwise(calls):
        assert next_try.at - limited.at >= RETRY_AFTER_S, "sent again before retry_after"
    assert len(castles(bot)) == 1
    assert await bot.balance() == TRIAL - 10
