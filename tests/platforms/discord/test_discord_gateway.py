"""The door as `image2bot run` starts it: REST login, commands, then the gateway from `/gateway/bot`."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from core import credits
from platforms.discord.adapter import DiscordAdapter
from tests.fakes.discord_api import APPLICATION_ID, GUILD_ID, TOKEN, DiscordDouble
from tests.harness import harness_for, sqlite_target
from tests.platforms.discord.conftest import ALICE, TRIAL, answered, buttons, webhook

FOUR_BUTTONS = ["🔁 Reroll", "⬆️ Upscale 2K", "⬆️ Upscale 4K", "✨ Vary"]


async def test_an_interaction_from_the_gateway_is_answered_with_the_image(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path) as harness:
        adapter = DiscordAdapter(harness.app.core, token=TOKEN, api_base_url=discord_api.api)
        harness.app.notifier.register(adapter)
        serving = asyncio.create_task(adapter.start())
        try:
            async with asyncio.timeout(20):
                await discord_api.identified.wait()
            asked = discord_api.slash("imagine", {"prompt": "a castle", "aspect": "16:9"}, who=ALICE)
            await discord_api.dispatch("INTERACTION_CREATE", asked)
            [followup] = await discord_api.wait_for("POST", webhook(asked))
        finally:
            await adapter.stop()
            async with asyncio.timeout(20):
                await serving  # start() returns once stopped
        account = await harness.app.core.services.accounts.find("discord", ALICE["id"])
        assert account is not None
        async with harness.app.db.transaction() as session:
            balance = await credits.balance(session, account.id)
    assert [call.path for call in discord_api.calls[:4]] == [
        "/users/@me",
        "/oauth2/applications/@me",
        f"/applications/{APPLICATION_ID}/commands",
        "/gateway/bot",
    ]
    identify = next(frame for frame in discord_api.gateway_frames if frame["op"] == 2)
    assert identify["d"]["token"] == TOKEN
    assert identify["d"]["intents"] == 1  # guilds only: no message content, no members
    assert "shard" not in identify["d"]  # not sharded unless configured: one connection
    assert discord_api.connections == 1
    assert any(frame["op"] == 1 for frame in discord_api.gateway_frames)  # heartbeats, answered
    [answer] = discord_api.requests("POST", f"/interactions/{asked['id']}/{asked['token']}/callback")
    assert answer.body == {"type": 5}
    with Image.open(io.BytesIO(followup.uploads[0].data)) as picture:
        assert picture.size == (1360, 768)
    assert [label for label, _ in buttons(followup.body)][:4] == FOUR_BUTTONS
    assert balance.total == TRIAL - 10


async def test_commands_published_to_guilds_only_answer_there(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path) as harness:
        adapter = DiscordAdapter(
            harness.app.core, token=TOKEN, api_base_url=discord_api.api, guild_ids=[GUILD_ID]
        )
        await adapter.login()
        try:
            asked = discord_api.slash("help", who=ALICE)
            adapter.client._connection.parse_interaction_create(asked)  # type: ignore[arg-type]
            answer = await answered(discord_api, asked)
        finally:
            await adapter.stop()
    assert [call.path for call in discord_api.requests("PUT", r"/applications/.*")] == [
        f"/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands"
    ]
    assert answer["content"].startswith("/imagine <prompt>")


async def test_commands_are_left_alone_when_publishing_is_off(
    discord_api: DiscordDouble, tmp_path: Path
) -> None:
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path) as harness:
        adapter = DiscordAdapter(
            harness.app.core, token=TOKEN, api_base_url=discord_api.api, sync_commands=False
        )
        await adapter.login()
        await adapter.stop()
    assert [call.path for call in discord_api.calls] == ["/users/@me", "/oauth2/applications/@me"]
