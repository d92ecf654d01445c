"""A rendering process's heartbeat: readiness checks in any process tell from it that some worker lives.

The row is renewed every `interval_s`; a stop removes it (so readiness turns at once, not after the
staleness window), and each beat prunes the rows of processes that died without stopping.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from core.db.repositories import heartbeats as repo
from core.db.session import Database
from core.db.types import utcnow
from core.waiting import stop_if_cancelled

log = logging.getLogger(__name__)

RENDERING_ROLES = ("all", "worker")


@dataclass(slots=True)
class Heartbeat:
    db: Database
    process: str
    role: str
    interval_s: float
    stale_s: float

    async def run(self) -> None:
        """Beats until cancelled, then removes the process's row."""
        try:
            while True:
                try:
                    await self.beat()
                except Exception:  # the database is away for a moment: readiness says so meanwhile
                    log.warning("heartbeat: could not renew; trying again", exc_info=True)
                    stop_if_cancelled()
                await asyncio.sleep(self.interval_s)
        finally:
            await asyncio.shield(self._goodbye())

    async def beat(self) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            await repo.beat(session, self.process, self.role, now)
            await repo.prune(session, now - timedelta(seconds=self.stale_s))

    async def _goodbye(self) -> None:
        try:
            async with self.db.transaction() as session:
                await repo.remove(session, self.process)
        except Exception:
            log.warning("heartbeat: could not remove this process's row; it will be pruned as stale")
