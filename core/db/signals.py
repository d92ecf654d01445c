"""Waking other processes that share the database: a job was queued, a reply waits in the outbox.

PostgreSQL's LISTEN/NOTIFY carries the wake-up; a notification sent inside a transaction is delivered
when it commits. On SQLite there is nothing to listen to: processes fall back on their polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.session import Database
from core.waiting import stop_if_cancelled

log = logging.getLogger(__name__)

JOBS = "image2bot_jobs"
OUTBOX = "image2bot_outbox"
RECONNECT_S = 5.0


async def notify(session: AsyncSession, channel: str) -> None:
    """Wakes every listener on `channel` once the caller's transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


async def listen(db: Database, handlers: Mapping[str, Callable[[], None]]) -> None:
    """Calls `handlers[channel]()` for every notification until cancelled; reconnects after a failure."""
    if db.is_sqlite or not handlers:
        return
    while True:
        try:
            await _listen_once(db, handlers)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("lost the database notification channel; polling until it is back", exc_info=True)
            stop_if_cancelled()
        for wake in handlers.values():
            wake()  # notifications may have been missed while disconnected
        await asyncio.sleep(RECONNECT_S)


async def _listen_once(db: Database, handlers: Mapping[str, Callable[[], None]]) -> None:
    async with db.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None

        def dispatch(_connection: Any, _pid: int, channel: str, _payload: str) -> None:
            if wake := handlers.get(channel):
                wake()

        for channel in handlers:
            await raw.add_listener(channel, dispatch)
        try:
            while not raw.is_closed():
                await asyncio.sleep(RECONNECT_S)
                await raw.execute("SELECT 1")  # notices a dead connection
        finally:
            if not raw.is_closed():
                for channel in handlers:
                    await raw.remove_listener(channel, dispatch)
