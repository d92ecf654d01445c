"""Discord sharding: processes that each connect some of the gateway's shards serve the bot together.

Each "process" here is a door started as `image2bot run` starts it (REST login, `GET /gateway/bot`,
then the gateway), on one shared core: in production the processes share the database instead.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.config import ConfigError, load_settings
from core import credits
from platforms.discord.adapter import DiscordAdapter
from tests.fakes.discord_api import GUILD_ID, TOKEN, DiscordDouble
from tests.harness import Harness, harness_for, sqlite_target
from tests.platforms.discord.conftest import (
    ALICE,
    TRIAL,
    answered,
    buttons,
    callback,
    message_with,
    watched,
    webhook,
)

SHARDS = 2
# Discord sends a guild's events over shard (guild_id >> 22) % shard_count.
GUILD_SHARD = (GUILD_ID >> 22) % SHARDS
STOP_S = 20.0


@asynccontextmanager
async def process(
    api: DiscordDouble, harness: Harness, shard_ids: Sequence[int]
) -> AsyncIterator[DiscordAdapter]:
    """One bot process's Discord door, connected to its shards until the block ends."""
    adapter = DiscordAdapter(
        harness.app.core, token=TOKEN, api_base_url=api.api, shard_count=SHARDS, shard_ids=shard_ids
    )
    errors: list[BaseException | str] = []
    with watched(adapter, errors):
        serving = asyncio.create_task(adapter.start())
        try:
            yield adapter
        finally:
            await adapter.stop()
            async with asyncio.timeout(STOP_S):
                await serving  # start() returns once stopped
    assert errors == []


async def test_two_processes_each_connect_their_own_shard_and_answer_what_arrives_on_it(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    assert GUILD_SHARD == 1, "the test guild's events travel over the second process's shard"
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path) as harness:
        async with process(discord_api, harness, [0]):
            await discord_api.wait_identified(1)
            async with process(discord_api, harness, [1]) as second:
                harness.app.notifier.register(second)  # each process's results go out through its own door
                await discord_api.wait_identified(2)
                asked = discord_api.slash("imagine", {"prompt": "a castle", "aspect": "16:9"}, who=ALICE)
                await discord_api.dispatch("INTERACTION_CREATE", asked, shard=GUILD_SHARD)
                [followup] = await discord_api.wait_for("POST", webhook(asked))
                # the result's buttons answer on the sharded client too
                original = next(custom for label, custom in buttons(followup.body) if "Original" in label)
                pressed = discord_api.press(message_with(discord_api, original), original, who=ALICE)
                await discord_api.dispatch("INTERACTION_CREATE", pressed, shard=GUILD_SHARD)
                file = await answered(discord_api, pressed)
        account = await harness.app.core.services.accounts.find("discord", ALICE["id"])
        assert account is not None
        async with harness.app.db.transaction() as session:
            balance = await credits.balance(session, account.id)

    first_identify, second_identify = discord_api.identifies
    assert first_identify["shard"] == [0, SHARDS]
    assert second_identify["shard"] == [1, SHARDS]
    assert discord_api.connections == 2, "each process connects its own shard and no other"
    assert {identify["intents"] for identify in discord_api.identifies} == {1}  # guilds only, as unsharded
    [answer] = discord_api.requests("POST", callback(asked))
    assert answer.body == {"type": 5}
    queued = discord_api.requests("PATCH", webhook(asked, original=True))[0]
    assert queued.body["content"].startswith("Job #1 queued (position 1)")
    with Image.open(io.BytesIO(followup.uploads[0].data)) as picture:
        assert picture.size == (1360, 768)
    assert followup.body["allowed_mentions"] == {"parse": []}  # a prompt's @everyone pings nobody
    assert file["flags"] == 64
    [sent] = discord_api.requests("POST", webhook(pressed))
    assert [upload.filename for upload in sent.uploads] == ["job-1-1.png"]
    assert balance.total == TRIAL - 10


# --- configuration --------------------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Only the test's own IMAGE2BOT_* variables, and no ./config.toml."""
    for name in list(os.environ):
        if name.startswith("IMAGE2BOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_each_process_is_given_its_shards_by_environment(environment: pytest.MonkeyPatch) -> None:
    unsharded = load_settings(None).discord
    assert (unsharded.shard_count, unsharded.shard_ids) == (None, None)
    environment.setenv("IMAGE2BOT_DISCORD__SHARD_COUNT", "4")
    environment.setenv("IMAGE2BOT_DISCORD__SHARD_IDS", "[2,3]")
    sharded = load_settings(None).discord
    assert (sharded.shard_count, sharded.shard_ids) == (4, [2, 3])


@pytest.mark.parametrize(
    ("discord", "expected"),
    [
        ({"shard_ids": [0]}, "discord.shard_ids: Value error, set discord.shard_count too"),
        ({"shard_count": 0}, "discord.shard_count: Input should be greater than or equal to 1"),
        ({"shard_count": 2, "shard_ids": [2]}, "discord.shard_ids: Value error, shards are numbered 0 to 1"),
        (
            {"shard_count": 2, "shard_ids": [1, 1]},
            "discord.shard_ids: Value error, each shard may be listed once",
        ),
        ({"shard_count": 2, "shard_ids": []}, "discord.shard_ids: List should have at least 1 item"),
        (
            {"shard_count": 2, "shard_ids": [-1]},
            "discord.shard_ids.0: Input should be greater than or equal to 0",
        ),
    ],
)
def test_shards_that_cannot_exist_stop_the_start_naming_the_key(
    environment: pytest.MonkeyPatch, discord: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, discord=discord)
    assert expected in str(refused.value)
