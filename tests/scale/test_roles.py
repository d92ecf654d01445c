"""`image2bot run --role gateway` and `--role worker` on one database serve Telegram end to end: the
gateway takes the command and answers at once, the worker renders, the gateway delivers the result."""

from __future__ import annotations

import asyncio
import io
from contextlib import suppress
from pathlib import Path

import pytest
from PIL import Image

from core.db.session import Database
from core.policy import CreditSettings
from tests.cli import users_show
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget, assert_books_balance
from tests.scale.conftest import bot_env, command, job_statuses, pending_deliveries, processes

# Many processes share one PostgreSQL database in production; SQLite is for one process.
pytestmark = [pytest.mark.parametrize("database", ["postgresql"], indirect=True), pytest.mark.spawns]

USER = 5150
SETTLE_S = 20


async def nothing_left_to_send(database: DatabaseTarget) -> None:
    """Returns once the job has succeeded and the outbox holds nothing pending: from then on neither
    process has anything to send, so what the double received is all there will be."""
    db = database.open()
    try:
        async with asyncio.timeout(SETTLE_S):
            while not await _settled(db):  # noqa: ASYNC110 (other processes' state: polled, within the ceiling)
                await asyncio.sleep(0.05)
    finally:
        await db.dispose()


async def _settled(db: Database) -> bool:
    return await job_statuses(db) == {"succeeded": 1} and await pending_deliveries(db) == 0


async def test_a_gateway_and_a_worker_process_serve_imagine_together(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    env = bot_env(database, IMAGE2BOT_TELEGRAM__ENABLED="true", IMAGE2BOT_TELEGRAM__BASE_URL=api.base_url)
    async with processes(tmp_path, ("worker", env), ("gateway", env)) as (worker, gateway):
        await api.updates.put(command(1, USER, "/imagine a lighthouse in fog --ar 3:2"))
        with suppress(TimeoutError):
            await api.wait_for("sendPhoto", chat_id=USER)
            await nothing_left_to_send(database)
    for served in (worker, gateway):
        assert served.returncode == 0, served.log
        assert "Traceback" not in served.log, served.log[-4000:]
    [photo] = api.of("sendPhoto", USER)
    [ack] = [call for call in api.of("sendMessage", USER) if "queued" in call.fields["text"]]
    assert ack.at < photo.at
    assert len(api.of("sendPhoto", USER)) == 1
    with Image.open(io.BytesIO(photo.upload())) as image:
        assert image.size == (1248, 832)
    report = await users_show(f"telegram:{USER}", cwd=tmp_path, env=env)
    assert report["balance"]["total"] == CreditSettings().trial - 10
    db = database.open()
    try:
        assert await job_statuses(db) == {"succeeded": 1}
        await assert_books_balance(db)
    finally:
        await db.dispose()
