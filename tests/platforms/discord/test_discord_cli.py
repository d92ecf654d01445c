"""The acceptance path: `image2bot run` with Discord switched on by environment variables, connected
through the gateway of a Discord-compatible API, and `image2bot users show` reading the account."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sys
from pathlib import Path

from PIL import Image

from tests.fakes.discord_api import TOKEN, DiscordDouble
from tests.harness import DatabaseTarget
from tests.platforms.console.test_console_e2e import _env
from tests.platforms.discord.conftest import ALICE, buttons, callback, webhook

TIMEOUT_S = 60


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
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    asked = discord_api.slash("imagine", {"prompt": "a castle", "aspect": "16:9"}, who=ALICE)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await discord_api.identified.wait()
        await discord_api.dispatch("INTERACTION_CREATE", asked)
        [followup] = await discord_api.wait_for("POST", webhook(asked))
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(TIMEOUT_S):
            _, err = await process.communicate()
    log = err.decode()
    assert process.returncode == 0, log
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

    show = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "users",
        "show",
        f"discord:{ALICE['id']}",
        "--json",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(TIMEOUT_S):
        out, err = await show.communicate()
    assert show.returncode == 0, err.decode()
    report = json.loads(out)
    [job] = report["jobs"]
    assert (job["status"], job["size"], job["cost"]) == ("succeeded", "1360x768", 10)
