"""Database-wide critical sections shared by every process using the database."""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def serialize(session: AsyncSession, name: str) -> None:
    """Until the transaction ends, no other transaction passes `serialize` with the same name.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: nothing to do, since its transactions
    start with BEGIN IMMEDIATE and already run one at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def lock_key(name: str) -> int:
    """A stable signed 32-bit advisory-lock key for `name`, the same in every process."""
    return zlib.crc32(name.encode()) - 2**31
