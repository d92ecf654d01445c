"""After an erasure: no readable rest in PostgreSQL's table files.

A deleted or updated row stays in its table (and its index entries in the indexes) as a dead row
version until VACUUM removes it, and autovacuum may leave a quiet table alone for a long time. So once
an erasure has committed, the tables it touched are vacuumed: a plain VACUUM (no exclusive lock),
outside any transaction. The first erasure after a quiet spell vacuums at once; erasures within the
next `interval_s` only mark their tables, which one VACUUM takes together when the interval is over,
so a wave of erasures costs one VACUUM per table and interval, not one per request. A VACUUM cannot
remove row versions that a transaction older than the erasure may still see; autovacuum takes those.

SQLite needs nothing here: its connections run with `secure_delete` (deleted content is overwritten
in place) and every erasure ends by emptying the write-ahead log (`Database.checkpoint`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable

from core.db.repositories import erasure
from core.db.session import Database

log = logging.getLogger(__name__)

INTERVAL_S = 60.0


class Vacuum:
    def __init__(self, db: Database, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._db = db
        self._dirty: set[str] = set()
        self._later: asyncio.Task[None] | None = None
        self._last = -math.inf

    async def after_erasure(self, tables: Iterable[str]) -> None:
        """Vacuums these tables now, or marks them for the next coalesced VACUUM (PostgreSQL)."""
        if self._db.is_sqlite:
            return
        self._dirty.update(tables)
        if self._later is not None and not self._later.done():
            return  # the VACUUM already planned takes these tables too
        wait = self._last + self.interval_s - time.monotonic()
        if wait <= 0:
            await self._vacuum()
        else:
            self._later = asyncio.create_task(self._after(wait), name="vacuum-after-erasures")

    async def settled(self) -> None:
        """Returns once the tables marked so far have been vacuumed."""
        if self._later is not None:
            await asyncio.shield(self._later)

    async def _after(self, wait: float) -> None:
        await asyncio.sleep(wait)
        await self._vacuum()

    async def _vacuum(self) -> None:
        tables, self._dirty = sorted(self._dirty), set()
        self._last = time.monotonic()
        try:
            await erasure.vacuum(self._db.engine, tables)
        except Exception:
            log.warning("vacuum after an erasure failed; autovacuum will clean up", exc_info=True)
