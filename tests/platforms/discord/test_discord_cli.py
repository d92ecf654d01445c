"""The acceptance path: `image2bot run` with Discord switched on by environment variables, connected
through the gateway of a Discord-compatible API, and `image2bot users show` reading the account."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.cli import TIMEOUT_S, serving, users_show
from tests.fakes.discord_api import TOKEN, DiscordDouble
from tests.harness import DatabaseTarget
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.console.test_console_e2e import _env
from tests.platforms.discord.conftest import ALICE, buttons, callback, webhook

pytestmark = [pytest.mark.spawns, BOTH_DATABASES]


async def test_image2bot_run_serves_discord_and_charges_the_asker(
    database: DatabaseTarget, tmp_path: Path, discord_api: DiscordDouble
) -> None:
    env = _env(
        database,
        IMAGE2BOT_DISCORD__ENABLED="true",
        IMAGE2BOT_DISCORD__TOKEN=TOKEN,
        IMAGE2BOT_DISCORD__API_BASE_URL=discord_api.api,
        # the terms were accepted elsewhere: the consent gate has its own test (test_discord_consent)
        IMAGE2BOT_PRIVACY__REQUIRE_ACCEPTANCE="false",
    )
    asked = discord_api.slash("imagine", {"prompt": "a castle", "aspect": "16:9"}, who=ALICE)
    async with serving("run", cwd=tmp_path, env=env) as served:
        async with asyncio.timeout(TIMEOUT_S):
            await discord_api.identified.wait()
        await discord_api.dispatch("INTERACTION_CREATE", asked)
        [followup] = await discord_api.wait_for("POST", webhook(asked))
    log = served.log
    assert served.returncode == 0, log
    assert TOKEN not in log, "the token never reaches the log"
    assert "a castle" not in log, "nor does the prompt"
    assert "Traceback" not in log, log[-4000:]

    [answer] = discord_api.requests("POST", callback(asked))
    assert answer.body == {"type": 5}
    with Image.open(io.BytesIO(followup.uploads[0].data)) as image:
        assert image.size == (1360, 768)
    assert [label for label, _ in buttons(followup.body)][:4] == [
        "🔁 Reroll",
        "⬆️ Upscale 2K",
        "⬆️ Upscale 4K",
        "✨ Vary",
    ]

    report = await users_show(f"discord:{ALICE['id']}", cwd=tmp_path, env=env)
    [job] = report["jobs"]
    assert (job["status"], job["size"], job["cost"]) == ("succeeded", "1360x768", 10)
