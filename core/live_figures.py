"""The figures every process reads from the database for its metrics: the same answer in each one.

Credits by ledger kind are summed without reading the whole ledger at each scrape: entries older than
`sealed_after` no longer change (the ledger is append-only and its transactions are short), so their
sums are read once and kept, and each read adds only what was written since.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.db.repositories import live_figures as repo
from core.db.session import Database
from core.db.types import utcnow

SEALED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Snapshot:
    jobs: dict[str, int]
    oldest_queued_s: float  # 0 when nothing waits
    outbox_pending: int
    outbox_oldest_s: float  # the oldest pending delivery's age; 0 when none
    credits: dict[str, int]  # sum of ledger deltas by kind


@dataclass(slots=True)
class Figures:
    db: Database
    sealed_after: timedelta = SEALED_AFTER
    _sealed: Counter[str] = field(default_factory=Counter)
    _sealed_until: datetime | None = None

    async def read(self) -> Snapshot:
        now = utcnow()
        seal = now - self.sealed_after
        async with self.db.read() as session:
            jobs = await repo.jobs_by_status(session)
            queued_since = await repo.oldest_queued(session)
            pending, pending_since, _due = await repo.outbox(session)
            newly_sealed = await repo.credits_by_kind(session, self._sealed_until, seal)
            recent = await repo.credits_by_kind(session, seal)
        self._sealed.update(newly_sealed)
        self._sealed_until = seal
        credits = Counter(self._sealed)
        credits.update(recent)
        return Snapshot(
            jobs=jobs,
            oldest_queued_s=_age(now, queued_since),
            outbox_pending=pending,
            outbox_oldest_s=_age(now, pending_since),
            credits=dict(credits),
        )


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0
