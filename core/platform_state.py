"""What a door may persist without touching the database itself: small values by key (a cursor into
a platform's message stream, so a restart neither loses nor repeats messages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.db.repositories import platform_state as repo
from core.db.session import Database


class StateStore(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class DatabaseStateStore:
    db: Database

    async def get(self, key: str) -> str | None:
        async with self.db.transaction() as session:
            return await repo.get(session, key)

    async def put(self, key: str, value: str) -> None:
        async with self.db.transaction() as session:
            await repo.put(session, key, value)
