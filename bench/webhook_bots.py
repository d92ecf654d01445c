"""Several `image2bot run` processes on one PostgreSQL schema and one Telegram token, in webhook mode
against the Bot API double, as several processes on one token must run (bench/send_rate.py,
bench/pipeline.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import free_port, start_bot, stop_bot, until_up
from bench.doubles import TELEGRAM_TOKEN, RemoteDoubles

SECRET = "bench-webhook-secret"
WEBHOOK_PATH = "/telegram/webhook"


@dataclass(frozen=True)
class Bot:
    process: asyncio.subprocess.Process
    port: int

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def cpu_s(self) -> float:
        """The process's CPU so far (user and system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def webhook_bots(
    doubles: RemoteDoubles, url: str, schema: str, count: int, cwd: Path, **settings: str
) -> AsyncIterator[list[Bot]]:
    """`count` bots, each up with its webhook registered; stopped when the block ends. `settings`:
    more environment, e.g. IMAGE2BOT_GENERATION__PROVIDER."""
    async with AsyncExitStack() as stack:
        bots = []
        for number in range(count):
            port = free_port()
            log_path = cwd / f"bot-{number}.log"
            log = stack.enter_context(log_path.open("wb"))
            env = _environment(doubles, url, schema, port) | settings
            process = await start_bot("run", cwd=str(cwd), env=env, log=log)
            stack.push_async_callback(stop_bot, process)
            bots.append((Bot(process, port), log_path))
        for bot, log_path in bots:
            await until_up(bot.process, log_path, _registered(log_path), "a bot did not bring Telegram up")
        yield [bot for bot, _ in bots]


def _registered(log: Path) -> Callable[[], Awaitable[bool]]:
    async def ready() -> bool:
        return "receiving updates by webhook" in await asyncio.to_thread(log.read_text, errors="replace")

    return ready


def _environment(doubles: RemoteDoubles, url: str, schema: str, port: int) -> dict[str, str]:
    kept = {key: value for key, value in os.environ.items() if not key.startswith(("IMAGE2BOT_", "OPENAI_"))}
    return {
        **kept,
        "IMAGE2BOT_DATABASE__URL": url,
        "IMAGE2BOT_DATABASE__SCHEMA": schema,
        "IMAGE2BOT_DATABASE__AUTO_MIGRATE": "false",
        "IMAGE2BOT_WEB__PORT": str(port),
        "IMAGE2BOT_WEB__PUBLIC_URL": "https://bot.example.com",
        "IMAGE2BOT_TELEGRAM__ENABLED": "true",
        "IMAGE2BOT_TELEGRAM__TOKEN": TELEGRAM_TOKEN,
        "IMAGE2BOT_TELEGRAM__BASE_URL": doubles.urls["telegram"],
        "IMAGE2BOT_TELEGRAM__MODE": "webhook",
        "IMAGE2BOT_TELEGRAM__WEBHOOK_SECRET": SECRET,
    }
