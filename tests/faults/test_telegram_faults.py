"""A job's result on its way to Telegram, through python-telegram-bot and the durable outbox: answers
of 5xx and calls that hang and then drop are sent again and arrive exactly once; a flood limit (429
with retry_after) is waited out, also when it outlasts the client's own retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path

import pytest
import pytest_asyncio

from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.faults.helpers import OUTBOX_POLL_S
from tests.harness import DatabaseTarget
from tests.platforms.telegram.conftest import ALICE, TRIAL, TelegramBot, api, open_telegram_bot  # noqa: F401

# A platform failing does not depend on the database: these run on SQLite only.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

RETRY_AFTER_S = 1  # Telegram counts in whole seconds
CLIENT_RETRIES = 3  # the door's AIORateLimiter(max_retries=3)

# python-telegram-bot 22 warns about `RetryAfter.retry_after` being an int as it builds the error;
# with warnings as errors that warning would replace the 429 and bypass the client's rate limiter.


@pytest_asyncio.fixture
async def telegram_bot(
    database: DatabaseTarget,
    tmp_path: Path,
    api: TelegramBotAPIDouble,  # noqa: F811
) -> AsyncIterator[TelegramBot]:
    async with open_telegram_bot(database, tmp_path, api) as bot:
        bot.harness.app.notifier.poll_interval_s = OUTBOX_POLL_S
        yield bot


def deliveries(bot: TelegramBot) -> list[bool]:
    """For each sendPhoto to Alice: did Telegram take it?"""
    return [call.result is not None for call in bot.api.of("sendPhoto", ALICE)]


async def test_a_result_refused_with_5xx_or_dropped_is_sent_again_and_arrives_once(
    telegram_bot: TelegramBot,
) -> None:
    telegram_bot.api.fail_next("sendPhoto", 502, "Bad Gateway")
    telegram_bot.api.stall_next("sendPhoto", 0.3)
    telegram_bot.api.fail_next("sendPhoto", 500, "Internal Server Error")
    await telegram_bot.say("/imagine a cat")
    *_, delivered = await telegram_bot.api.wait_for("sendPhoto", 4, chat_id=ALICE)
    await telegram_bot.harness.app.notifier.drain()  # a retry still under way has ended
    assert deliveries(telegram_bot) == [False, False, False, True]
    assert delivered.fields["caption"].startswith("“a cat”")
    assert await telegram_bot.balance() == TRIAL - 10


async def test_a_flood_limit_that_outlasts_the_clients_retries_is_still_waited_out(
    telegram_bot: TelegramBot,
) -> None:
    for _ in range(CLIENT_RETRIES + 1):
        telegram_bot.api.fail_next(
            "sendPhoto", 429, f"Too Many Requests: retry after {RETRY_AFTER_S}", retry_after=RETRY_AFTER_S
        )
    await telegram_bot.say("/imagine a cat")
    calls = await telegram_bot.api.wait_for("sendPhoto", CLIENT_RETRIES + 2, chat_id=ALICE)
    for refused, next_try in pairwise(calls):
        assert next_try.at - refused.at >= RETRY_AFTER_S, "sent again before retry_after"
    await telegram_bot.harness.app.notifier.drain()
    assert deliveries(telegram_bot) == [False] * (CLIENT_RETRIES + 1) + [True]
    assert await telegram_bot.balance() == TRIAL - 10
