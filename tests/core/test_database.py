"""The transaction boundary under cancellation, which every stopping process goes through."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from core.db.session import Database


async def test_a_write_cut_off_by_a_stop_leaves_the_database_open_to_the_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "image2bot.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    asked, running, finish = asyncio.Event(), threading.Event(), threading.Event()

    def hold() -> int:
        running.set()
        finish.wait(10)
        return 1

    def _register(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("hold", 0, hold)

    def _asked(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "hold()" in statement:
            asked.set()

    for engine in db.engines:
        event.listen(engine.sync_engine, "connect", _register)
        event.listen(engine.sync_engine, "before_cursor_execute", _asked)

    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE notes (body TEXT)"))

    kept: list[BaseException] = []

    async def write_then_hold() -> None:
        try:
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO notes SELECT 'first' WHERE hold()"))
        except asyncio.CancelledError as stop:
            kept.append(stop)  # as a log record would: its traceback keeps the statement referenced
            raise

    # Another process writes, so the statement waits for the lock in the connection's thread (where
    # a stop can cut it off) instead of running on the event loop's.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writer = asyncio.create_task(write_then_hold())
    async with asyncio.timeout(10):
        await asked.wait()
    other.rollback()
    await asyncio.to_thread(running.wait, 10)
    writer.cancel()
    finish.set()
    await asyncio.gather(writer, return_exceptions=True)
    other.close()

    async with db.transaction() as session:
        await session.execute(text("INSERT INTO notes VALUES ('second')"))
    async with db.transaction() as session:
        bodies = (await session.execute(text("SELECT body FROM notes"))).scalars().all()
    assert bodies == ["second"]
    assert kept
    await db.dispose()
