"""Messages a door has taken in, by the platform's message id: a platform that repeats a delivery
(WeCom retries a callback it thinks was missed) is answered once, by whichever process gets it first.
Kept in the database so that any number of processes agree; retention purges old ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from core.db.models import InboundMessage
from core.db.repositories import inbound as repo
from core.db.session import Database
from core.db.types import utcnow

KEY_CHARS = InboundMessage.__table__.c.key.type.length


class InboundLog(Protocol):
    async def first_time(self, key: str) -> bool:
        """True the first time `key` is offered, by any process; False ever after (until purged)."""
        ...


@dataclass(frozen=True, slots=True)
class DatabaseInboundLog:
    db: Database

    async def first_time(self, key: str) -> bool:
        if len(key) > KEY_CHARS:  # a platform's id longer than the column: its digest stands in
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        async with self.db.transaction() as session:
            return await repo.record(session, key, utcnow())
