"""Whether this process can do its work now: the database answers, some worker renders (its heartbeat
is fresh), the outbox is not stuck, and this process's doors are connected.

Each check answers within `timeout_s`; one that cannot is failed, never waited for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from core.db.repositories import heartbeats, live_figures
from core.db.session import Database
from core.db.types import utcnow
from core.heartbeat import RENDERING_ROLES

log = logging.getLogger(__name__)


class Door(Protocol):
    name: str

    @property
    def connected(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Report:
    ready: bool
    checks: dict[str, dict[str, Any]]


@dataclass(slots=True)
class Readiness:
    db: Database
    doors: Sequence[Door]
    worker_stale_s: float
    outbox_overdue_s: float
    timeout_s: float

    async def check(self) -> Report:
        checks: dict[str, dict[str, Any]] = {}
        try:
            async with asyncio.timeout(self.timeout_s):
                last_beat, due = await self._read()
        except Exception as error:
            log.warning("readiness: the database did not answer (%s)", type(error).__name__)
            checks["database"] = {"ok": False}
            checks["worker"] = {"ok": False}
            checks["outbox"] = {"ok": False}
        else:
            now = utcnow()
            checks["database"] = {"ok": True}
            beat_age = _age(now, last_beat)
            checks["worker"] = {
                "ok": beat_age is not None and beat_age <= self.worker_stale_s,
                "last_beat_s": beat_age,
            }
            overdue = max(0.0, _age(now, due) or 0.0)
            checks["outbox"] = {"ok": overdue <= self.outbox_overdue_s, "overdue_s": round(overdue, 3)}
        doors = {door.name: door.connected for door in self.doors}
        checks["doors"] = {"ok": all(doors.values()), **doors}
        return Report(all(check["ok"] for check in checks.values()), checks)

    async def _read(self) -> tuple[datetime | None, datetime | None]:
        async with self.db.read() as session:
            last_beat = await heartbeats.last_beat(session, RENDERING_ROLES)
            _pending, _oldest, due = await live_figures.outbox(session)
        return last_beat, due


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((now - then) / timedelta(seconds=1), 3)
