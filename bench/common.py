"""What every benchmark shares: the figures it reports, settings for the real app, Telegram updates."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import signal
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg

from bench.doubles import TELEGRAM_TOKEN, RemoteDoubles
from bench.seed import seed_accounts
from bot.app import App, build
from bot.config import Settings
from platforms.telegram.adapter import TelegramAdapter

POSTGRES_DSN = os.environ.get("IMAGE2BOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

SKIPPED = "skipped"


@dataclass
class Figure:
    """One line of the table: what was measured, the target and whether it is met (None: no target,
    or not measured)."""

    key: str
    title: str
    value: str
    target: str = "-"
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.value == SKIPPED:
            return SKIPPED
        return {True: "met", False: "MISSED", None: "-"}[self.met]


def bench_settings(data_dir: Path, **sections: Any) -> Settings:
    """The product's settings with its defaults, SQLite under `data_dir` unless `database` is given,
    and the sections given. No config file is read (environment variables still apply)."""
    storage = {"data_dir": data_dir}
    return Settings(storage=storage, **sections)


def telegram_section(base_url: str, token: str) -> dict[str, Any]:
    return {"enabled": True, "token": token, "base_url": base_url}


def telegram_door(adapters: Sequence[object]) -> TelegramAdapter:
    return next(adapter for adapter in adapters if isinstance(adapter, TelegramAdapter))


class Updates:
    """Telegram updates as the Bot API delivers them: private messages with a command entity."""

    def __init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    def message(self, user: int, text: str) -> dict[str, Any]:
        command = text.split()[0]
        return {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": user, "type": "private", "first_name": f"User{user}"},
                "from": {"id": user, "is_bot": False, "first_name": f"User{user}", "language_code": "en"},
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
            },
        }


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation; a single value is every quantile of itself."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 30


async def start_bot(*args: str, cwd: str, env: dict[str, str], log: IO[bytes]) -> asyncio.subprocess.Process:
    """`python -m bot <args>` in `cwd`, its output in `log`."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )


async def stop_bot(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, as a service manager stops it; killed if it has not exited within STOP_TIMEOUT_S."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


async def until_up(
    process: asyncio.subprocess.Process, log: Path, ready: Callable[[], Awaitable[bool]], what: str
) -> None:
    """Waits until `ready()` says the bot process is up; fails with its log's tail if it exits first
    or is not up within START_TIMEOUT_S."""
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not await ready():
                if process.returncode is not None:
                    raise RuntimeError(f"the bot exited with {process.returncode}")
                await asyncio.sleep(0.2)
    except (TimeoutError, RuntimeError) as error:
        tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-3000:]
        raise RuntimeError(f"{what} ({error}):\n{tail}") from None


def process_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def serving_telegram(
    doubles: RemoteDoubles, data_dir: Path, users: Sequence[int], **generation: Any
) -> AsyncIterator[App]:
    """The product's `App.run` on SQLite in `data_dir`: its Telegram door polling the Bot API double,
    the OpenAI provider on the images double (`generation`: more of that section), and `users` who
    accepted the terms seeded in bulk. Stopped when the block ends."""
    settings = bench_settings(
        data_dir,
        telegram=telegram_section(doubles.urls["telegram"], TELEGRAM_TOKEN),
        generation={"provider": "openai", **generation},
        openai={"api_key": "sk-bench", "base_url": doubles.urls["openai"]},
    )
    app = build(settings)
    await app.prepare()
    await seed_accounts(
        app.db, list(users), platform="telegram", trial=settings.credits.trial, privacy=settings.privacy
    )
    serving = asyncio.create_task(app.run())
    try:
        async with asyncio.timeout(60):
            while (await doubles.telegram_polls())[0] == 0:
                if serving.done():
                    serving.result()  # the app stopped: its error says why
                await asyncio.sleep(0.1)
        yield app
    finally:
        app.stop()
        with suppress(asyncio.CancelledError):
            await serving


def most_within(times: Sequence[float], window_s: float) -> int:
    """The most of `times` (sorted) inside any window of `window_s` seconds."""
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[tuple[str, str]]:
    """A fresh schema on the benchmarks' PostgreSQL, dropped afterwards: (SQLAlchemy URL, schema)."""
    schema = f"bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield "postgresql+asyncpg" + POSTGRES_DSN.removeprefix("postgresql"), schema
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
