"""The transaction boundary under cancellation, which every stopping process goes through."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from core.db.session import Database


async def test_a_write_cut_off_by_a_stop_leaves_the_database_open_to_the_next_writer(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'image2bot.db'}")
    running, finish = threading.Event(), threading.Event()

    def hold() -> int:
        running.set()
        finish.wait(10)
        return 1

    @event.listens_for(db.engine.sync_engine, "connect")
    def _register(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("hold", 0, hold)

    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE notes (body TEXT)"))

    kept: list[BaseException] = []

    async def write_then_hold() -> None:
        try:
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO notes VALUES ('first')"))
                await session.execute(text("SELECT hold()"))
        except asyncio.CancelledError as stop:
            kept.append(stop)  # as a log record would: its traceback keeps the statement referenced
            raise

    writer = asyncio.create_task(write_then_hold())
    await asyncio.to_thread(running.wait, 10)
    writer.cancel()
    finish.set()
    await asyncio.gather(writer, return_exceptions=True)

    async with db.transaction() as session:
        await session.execute(text("INSERT INTO notes VALUES ('second')"))
    async with db.transaction() as session:
        bodies = (await session.execute(text("SELECT body FROM notes"))).scalars().all()
    assert bodies == ["second"]
    assert kept
    await db.dispose()
