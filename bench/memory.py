"""5. Memory: the resident size of one `image2bot run` process (role `all`, the default) serving
Telegram (polling), Discord (gateway) and WeCom (callbacks on the web app) against the doubles, on a
SQLite database holding 100,000 accounts.

The database is migrated and seeded with bulk inserts first; the bot starts as a subprocess; once
Telegram is polling, Discord has identified on the gateway and the WeCom callback route answers, it
is left to settle for a moment and VmRSS is read from /proc/<pid>/status.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import aiohttp

from bench.common import Figure, free_port, process_memory, start_bot, stop_bot, until_up
from bench.doubles import TELEGRAM_TOKEN, WECOM_CORP_ID, WECOM_SECRET, RemoteDoubles
from bench.seed import seed_accounts
from core.db import migrate
from core.db.session import Database
from core.privacy.settings import PrivacySettings
from tests.fakes.discord_api import TOKEN as DISCORD_TOKEN

ACCOUNTS = 100_000
TARGET_MB = 200
FIRST_USER = 1_000_000
SETTLE_S = 3.0
WECOM_AGENT_ID = 1000002
WECOM_CALLBACK_TOKEN = "benchCallbackToken"
WECOM_AES_KEY = "benchAESkey0123456789abcdefghijklmnopqrstuv"  # 43 characters, as WeCom issues them


async def run(doubles: RemoteDoubles) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'image2bot.db'}"
        db = Database(url)
        try:
            await migrate.upgrade(db.engine)
            users = list(range(FIRST_USER, FIRST_USER + ACCOUNTS))
            await seed_accounts(db, users, platform="telegram", trial=40, privacy=PrivacySettings())
        finally:
            await db.dispose()
        port = free_port()
        log_path = Path(tmp) / "bot.log"
        with log_path.open("wb") as log:
            process = await start_bot("run", cwd=tmp, env=_environment(doubles, url, port), log=log)
            try:
                await _until_doors_up(doubles, process, port, log_path)
                await asyncio.sleep(SETTLE_S)
                rss_kb, peak_kb = process_memory(process.pid)
            finally:
                await stop_bot(process)
    rss_mb = rss_kb / 1024
    return [
        Figure(
            key="memory",
            title="5. Memory: RSS of `image2bot run`, 3 doors, 100,000 accounts",
            value=f"{rss_mb:.0f} MB",
            target=f"<= {TARGET_MB} MB",
            met=rss_mb <= TARGET_MB,
            details={"rss_mb": rss_mb, "peak_rss_mb": peak_kb / 1024, "accounts": ACCOUNTS},
        )
    ]


def _environment(doubles: RemoteDoubles, url: str, port: int) -> dict[str, str]:
    kept = {key: value for key, value in os.environ.items() if not key.startswith(("IMAGE2BOT_", "OPENAI_"))}
    return {
        **kept,
        "IMAGE2BOT_DATABASE__URL": url,
        "IMAGE2BOT_WEB__PORT": str(port),
        "IMAGE2BOT_TELEGRAM__ENABLED": "true",
        "IMAGE2BOT_TELEGRAM__TOKEN": TELEGRAM_TOKEN,
        "IMAGE2BOT_TELEGRAM__BASE_URL": doubles.urls["telegram"],
        "IMAGE2BOT_DISCORD__ENABLED": "true",
        "IMAGE2BOT_DISCORD__TOKEN": DISCORD_TOKEN,
        "IMAGE2BOT_DISCORD__API_BASE_URL": doubles.urls["discord"],
        "IMAGE2BOT_WECOM__ENABLED": "true",
        "IMAGE2BOT_WECOM__CORP_ID": WECOM_CORP_ID,
        "IMAGE2BOT_WECOM__AGENT_ID": str(WECOM_AGENT_ID),
        "IMAGE2BOT_WECOM__SECRET": WECOM_SECRET,
        "IMAGE2BOT_WECOM__TOKEN": WECOM_CALLBACK_TOKEN,
        "IMAGE2BOT_WECOM__ENCODING_AES_KEY": WECOM_AES_KEY,
        "IMAGE2BOT_WECOM__API_BASE_URL": doubles.urls["wecom"],
    }


async def _until_doors_up(
    doubles: RemoteDoubles, process: asyncio.subprocess.Process, port: int, log: Path
) -> None:
    async with aiohttp.ClientSession() as http:

        async def ready() -> bool:
            return (
                (await doubles.telegram_polls())[0] > 0
                and await doubles.discord_identified()
                and await _wecom_answers(http, port)
            )

        await until_up(process, log, ready, "the bot did not bring its three doors up")


async def _wecom_answers(http: aiohttp.ClientSession, port: int) -> bool:
    """The callback route is served (an unsigned GET is refused, which proves it is there)."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/wecom/callback") as answer:
            return answer.status != 404
    except aiohttp.ClientConnectionError:
        return False
