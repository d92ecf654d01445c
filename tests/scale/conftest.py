"""Several real `image2bot run` processes on one database, each with a role, against the doubles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from core.db.models import Delivery, Job
from core.db.session import Database
from core.db.statuses import DeliveryStatus
from tests.cli import TIMEOUT_S, Served, serving
from tests.harness import DatabaseTarget
from tests.platforms.console.test_console_e2e import _env
from tests.platforms.telegram.conftest import (
    QUICK_PACE_ENV,
    TOKEN,
    api,  # noqa: F401  (a fixture)
)


def bot_env(database: DatabaseTarget, **extra: str) -> dict[str, str]:
    """A bot on `database` with its Telegram door on the double and the terms already accepted, sending
    at a pace that keeps tests quick (the pace itself is tested in tests/core/test_send_budget.py)."""
    return _env(
        database,
        IMAGE2BOT_TELEGRAM__TOKEN=TOKEN,
        **QUICK_PACE_ENV,
        IMAGE2BOT_PRIVACY__REQUIRE_ACCEPTANCE="false",
        **extra,
    )


@asynccontextmanager
async def processes(cwd: Path, *setups: tuple[str, dict[str, str]]) -> AsyncIterator[list[Served]]:
    """`image2bot run --role <role>` once per (role, env), all stopped when the block ends."""
    async with AsyncExitStack() as stack:
        served = [
            await stack.enter_async_context(serving("run", "--role", role, cwd=cwd, env=env))
            for role, env in setups
        ]
        yield served


async def healthy(port: int) -> None:
    """Waits until the web server on `port` answers /healthz."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(TIMEOUT_S):
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


def command(update_id: int, user: int, text: str) -> dict[str, Any]:
    """A Telegram update: `text` sent by `user` in their private chat."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "U", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}],
        },
    }


async def job_statuses(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        rows = await session.execute(select(Job.status, func.count(Job.id)).group_by(Job.status))
        return {status: count for status, count in rows.all()}


async def pending_deliveries(db: Database) -> int:
    async with db.read() as session:
        pending = await session.scalar(
            select(func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.PENDING)
        )
        return int(pending or 0)
