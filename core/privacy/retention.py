"""The daily purge: what the retention settings say has expired is removed; legal holds are exempt.

- outputs (and their previews) of jobs finished more than `outputs_days` ago;
- uploaded references no job of the last `uploads_days` (or an unfinished or held one) still needs;
- prompts of failed and cancelled jobs after `failed_job_details_days`;
- support tickets closed more than `support_days` ago;
- exports after 24 hours or once downloaded, delivered outbox messages after a day, and image files
  whose job no longer exists (left behind by a render that was still writing during an erasure);
- ids of messages taken in (`core.inbound`) after a day: platforms repeat a delivery within minutes;
- wrong `/link` codes once they no longer count (after an hour).
Every write is a batch of at most BATCH rows in its own transaction, so `/imagine` never waits long
for the writer lock; files are removed outside transactions, each folder listed once per purge.
Logged as counts only. Every process that renders runs the loop, but one purge a day is enough: the
process that takes the `retention` lease (`core.db.leases`) purges and holds it for the day.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from core.db import leases
from core.db.repositories import abuse, inbound, references
from core.db.repositories import privacy as repo
from core.db.repositories import retention as retention_repo
from core.db.session import Database
from core.db.types import utcnow
from core.generation.storage import OUTPUTS, PREVIEWS, UPLOADS, Storage
from core.instance import process_name
from core.privacy.linking import FAILURE_WINDOW
from core.privacy.settings import RetentionSettings
from core.waiting import stop_if_cancelled

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
LEASE = "retention"
LOOK_AGAIN = timedelta(hours=1)  # a process that is not the purging one checks back this often
DELIVERED_KEEP = timedelta(days=1)
INBOUND_KEEP = timedelta(days=1)
JOB_FILE = re.compile(r"^job-(\d+)-")
BATCH = 500  # rows per write: a write stays far below 100 ms at a million jobs
SCAN_SPAN = 20_000  # job numbers per read when looking for prompts to blank


@dataclass(slots=True)
class Purged:
    outputs: int = 0
    uploads: int = 0
    prompts: int = 0
    tickets: int = 0
    exports: int = 0
    deliveries: int = 0
    orphans: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, field.name) for field in fields(self))


class Retention:
    def __init__(self, db: Database, storage: Storage, settings: RetentionSettings) -> None:
        self._db = db
        self._storage = storage
        self._settings = settings
        self._owner = process_name("retention")

    async def run(self, interval_s: float = DAY.total_seconds()) -> None:
        """Purges once per interval among every process sharing the database, until cancelled."""
        while True:
            wait = min(interval_s, LOOK_AGAIN.total_seconds())
            try:
                if await leases.take_turn(self._db, LEASE, self._owner, timedelta(seconds=interval_s)):
                    wait = interval_s
                    await self.purge()
            except Exception:
                log.exception("retention purge failed; trying again at the next run")
                stop_if_cancelled()
            await asyncio.sleep(wait)

    async def purge(self, now: datetime | None = None) -> Purged:
        """Removes what expired, in batches: each write is its own short transaction, files go
        outside any, and each folder is listed once."""
        now = now or utcnow()
        settings = self._settings
        purged = Purged()
        async with self._db.read() as session:
            held = await repo.held_accounts(session)
        outputs_cutoff = now - timedelta(days=settings.outputs_days) if settings.outputs_days else None
        purged.outputs, purged.orphans = await self._images(outputs_cutoff, held)
        if settings.uploads_days:
            purged.uploads = await self._uploads(now - timedelta(days=settings.uploads_days), held)
        if settings.failed_job_details_days:
            cutoff = now - timedelta(days=settings.failed_job_details_days)
            purged.prompts = await self._prompts(cutoff, held)
        if settings.support_days:
            purged.tickets = await self._tickets(now - timedelta(days=settings.support_days), held)
        purged.deliveries = await self._delivered(now - DELIVERED_KEEP)
        async with self._db.transaction() as session:
            await inbound.purge_before(session, now - INBOUND_KEEP)
            await abuse.forget_link_failures_before(session, now - FAILURE_WINDOW)
            expired = await repo.expired_exports(session, now)
            await repo.delete_exports(session, [export.id for export in expired])
        purged.exports = await self._storage.remove([export.path for export in expired])
        if purged.total:
            await self._db.checkpoint()
        log.info(
            "retention purge: %d output files, %d uploads, %d exports, %d orphaned files removed; "
            "%d failed-job prompts blanked; %d support tickets and %d delivered messages deleted",
            purged.outputs,
            purged.uploads,
            purged.exports,
            purged.orphans,
            purged.prompts,
            purged.tickets,
            purged.deliveries,
        )
        return purged

    async def _images(self, cutoff: datetime | None, held: set[int]) -> tuple[int, int]:
        """(expired outputs, orphaned files) removed: outputs and previews of jobs finished before
        `cutoff` (None: kept for good), and those of jobs that no longer exist. The stored images are
        listed a page at a time, so the work follows the files kept, not every job ever run; their
        jobs are looked up by primary key, a page per read."""
        outputs = orphans = 0
        for prefix in (PREVIEWS, OUTPUTS):
            async for page in self._storage.store.listing(f"{prefix}job-"):
                files: dict[int, list[str]] = {}
                for found in page:
                    if match := JOB_FILE.match(found.key[len(prefix) :]):
                        files.setdefault(int(match.group(1)), []).append(found.key)
                if not files:
                    continue
                async with self._db.read() as session:
                    jobs = await retention_repo.jobs_by_id(session, sorted(files))
                expired: list[str] = []
                orphaned: list[str] = []
                for job_id, keys in files.items():
                    if job_id not in jobs:
                        orphaned.extend(keys)
                        continue
                    account, finished = jobs[job_id]
                    if cutoff and finished is not None and finished < cutoff and account not in held:
                        expired.extend(keys)
                removed = await self._storage.remove(expired)
                if prefix == OUTPUTS:  # a preview is counted with its image: it is a step of it
                    outputs += removed
                orphans += await self._storage.remove(orphaned)
        return outputs, orphans

    async def _uploads(self, cutoff: datetime, held: set[int]) -> int:
        """Uploads older than `cutoff` that no recent, unfinished or held job refers to: listed a page
        at a time, each page's old files looked up in the references' index."""
        removed = 0
        async for page in self._storage.store.listing(UPLOADS):
            old = [found.key for found in page if found.modified < cutoff]
            if not old:
                continue
            async with self._db.read() as session:
                needed = await references.needed(session, old, cutoff, held)
            removed += await self._storage.remove([key for key in old if key not in needed])
        return removed

    async def _prompts(self, cutoff: datetime, held: set[int]) -> int:
        """Walks the jobs' primary key in ranges of SCAN_SPAN, reading; writes only what it found."""
        async with self._db.read() as session:
            last = await retention_repo.last_job(session)
        blanked = 0
        for first in range(1, last + 1, SCAN_SPAN):
            async with self._db.read() as session:
                found = await retention_repo.prompts_to_blank(
                    session, first, first + SCAN_SPAN - 1, cutoff, held
                )
            for start in range(0, len(found), BATCH):
                async with self._db.transaction() as session:
                    blanked += await retention_repo.blank_prompts(session, found[start : start + BATCH])
        return blanked

    async def _tickets(self, cutoff: datetime, held: set[int]) -> int:
        deleted = 0
        while True:
            async with self._db.transaction() as session:
                tickets = await retention_repo.closed_tickets(session, cutoff, held, BATCH)
                if tickets:
                    await retention_repo.delete_tickets(session, tickets)
            deleted += len(tickets)
            if len(tickets) < BATCH:
                return deleted

    async def _delivered(self, before: datetime) -> int:
        deleted = 0
        while True:
            async with self._db.transaction() as session:
                batch = await retention_repo.delete_delivered(session, before, BATCH)
            deleted += batch
            if batch < BATCH:
                return deleted
