"""The acceptance path: `image2bot run` with Telegram switched on by environment variables, polling a
Bot API server, and `image2bot users show` reading the account afterwards."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
from PIL import Image

from core.policy import CreditSettings
from tests.cli import TIMEOUT_S, serving, users_show
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.console.test_console_e2e import _env
from tests.platforms.telegram.conftest import QUICK_PACE_ENV, TOKEN

pytestmark = [pytest.mark.spawns, BOTH_DATABASES]

USER = 4242


async def test_image2bot_run_serves_telegram_and_charges_the_asker(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    env = _env(
        database,
        IMAGE2BOT_TELEGRAM__ENABLED="true",
        IMAGE2BOT_TELEGRAM__TOKEN=TOKEN,
        IMAGE2BOT_TELEGRAM__BASE_URL=api.base_url,
        **QUICK_PACE_ENV,
    )
    async with serving("run", cwd=tmp_path, env=env) as served:
        accept = {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "T", "language_code": "en"},
            "text": "/accept",
            "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
        }
        message = {
            **accept,
            "message_id": 2,
            "text": "/imagine a cat named Whiskerfield --ar 3:2",
            "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
        }
        await api.updates.put({"update_id": 1, "message": accept})  # a newcomer accepts the terms first
        async with asyncio.timeout(TIMEOUT_S):
            await api.wait_for("sendMessage", chat_id=USER)
        await api.updates.put({"update_id": 2, "message": message})
        async with asyncio.timeout(TIMEOUT_S):
            [photo] = await api.wait_for("sendPhoto", chat_id=USER)
    assert served.returncode == 0, served.log
    assert TOKEN not in served.log, "the token never reaches the log"
    assert "Whiskerfield" not in served.log, "nor does the prompt"
    assert "Traceback" not in served.log, served.log[-4000:]

    # The job's status message: queued, or already drawing when the job started before the chat's turn
    [status] = [call for call in api.of("sendMessage", USER) if call.fields["text"].startswith("Job #")]
    assert status.at < photo.at
    with Image.open(io.BytesIO(photo.upload())) as image:
        assert image.size == (1248, 832)
    assert [b["text"] for b in photo.buttons()][:4] == [
        "🔁 Reroll",
        "⬆️ Upscale 2K",
        "⬆️ Upscale 4K",
        "✨ Vary",
    ]

    report = await users_show(f"telegram:{USER}", cwd=tmp_path, env=env)
    assert report["balance"]["total"] == CreditSettings().trial - 10
