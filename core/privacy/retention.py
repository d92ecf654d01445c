"""The daily purge: what the retention settings say has expired is removed; legal holds are exempt.

- outputs (and their previews) of jobs finished more than `outputs_days` ago;
- uploaded references no job of the last `uploads_days` (or an unfinished or held one) still needs;
- prompts of failed and cancelled jobs after `failed_job_details_days`;
- support tickets closed more than `support_days` ago;
- exports after 24 hours or once downloaded, delivered outbox messages after a day, and image files
  whose job no longer exists (left behind by a render that was still writing during an erasure);
- ids of messages taken in (`core.inbound`) after a day: platforms repeat a delivery within minutes;
- wrong `/link` codes once they no longer count (after an hour).
Logged as counts only. Every process that renders runs the loop, but one purge a day is enough: the
process that takes the `retention` lease (`core.db.leases`) purges and holds it for the day.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path

from core.db import leases
from core.db.repositories import abuse, erasure, inbound
from core.db.repositories import privacy as repo
from core.db.session import Database
from core.db.types import utcnow
from core.generation.storage import Storage
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
                if await self._take_turn(timedelta(seconds=interval_s)):
                    wait = interval_s
                    await self.purge()
            except Exception:
                log.exception("retention purge failed; trying again at the next run")
                stop_if_cancelled()
            await asyncio.sleep(wait)

    async def _take_turn(self, interval: timedelta) -> bool:
        """Whether this process purges now: it takes the lease for the interval, unless another
        process holds it (that one purged less than an interval ago)."""
        now = utcnow()
        async with self._db.transaction() as session:
            return await leases.acquire(session, LEASE, self._owner, now + interval, now)

    async def purge(self, now: datetime | None = None) -> Purged:
        now = now or utcnow()
        settings = self._settings
        purged = Purged()
        async with self._db.transaction() as session:
            held = await repo.held_accounts(session)
        if settings.outputs_days:
            purged.outputs = await self._outputs(now - timedelta(days=settings.outputs_days), held)
        if settings.uploads_days:
            purged.uploads = await self._uploads(now - timedelta(days=settings.uploads_days), held)
        async with self._db.transaction() as session:
            if settings.failed_job_details_days:
                cutoff = now - timedelta(days=settings.failed_job_details_days)
                purged.prompts = await erasure.blank_failed_prompts(session, cutoff, held)
            if settings.support_days:
                cutoff = now - timedelta(days=settings.support_days)
                purged.tickets = await erasure.delete_closed_tickets(session, cutoff, held)
            purged.deliveries = await erasure.delete_delivered(session, now - DELIVERED_KEEP)
            await inbound.purge_before(session, now - INBOUND_KEEP)
            await abuse.forget_link_failures_before(session, now - FAILURE_WINDOW)
            expired = await repo.expired_exports(session, now)
            await repo.delete_exports(session, [export.id for export in expired])
        purged.exports = await asyncio.to_thread(_remove, [self._storage.path(e.path) for e in expired])
        purged.orphans = await self._orphans()
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

    async def _outputs(self, cutoff: datetime, held: set[int]) -> int:
        async with self._db.transaction() as session:
            jobs = await erasure.finished_before(session, cutoff, held)
        root = self._storage.root

        def remove() -> int:
            files = [root / output for job in jobs for output in job.outputs or ()]
            if jobs:  # the previews folder is listed once, not once per job
                previews = _job_files([self._storage.previews])
                files += [path for job in jobs for path in previews.get(job.id, ())]
            return _remove(files)

        return await asyncio.to_thread(remove)

    async def _uploads(self, cutoff: datetime, held: set[int]) -> int:
        async with self._db.transaction() as session:
            needed = await erasure.references_in_use(session, cutoff, held)
        uploads = self._storage.uploads
        root = self._storage.root

        def remove() -> int:
            if not uploads.is_dir():
                return 0
            expired = [
                path
                for path in uploads.iterdir()
                if path.is_file()
                and str(path.relative_to(root)) not in needed
                and datetime.fromtimestamp(path.stat().st_mtime, cutoff.tzinfo) < cutoff
            ]
            return _remove(expired)

        return await asyncio.to_thread(remove)

    async def _orphans(self) -> int:
        """Output and preview files of jobs that no longer exist."""
        files = await asyncio.to_thread(_job_files, [self._storage.outputs, self._storage.previews])
        if not files:
            return 0
        async with self._db.transaction() as session:
            existing = await erasure.existing_jobs(session, sorted(files))
        gone = [path for job_id, paths in files.items() if job_id not in existing for path in paths]
        return await asyncio.to_thread(_remove, gone)


def _job_files(folders: list[Path]) -> dict[int, list[Path]]:
    """The image files in `folders`, by the job they belong to (named `job-<id>-...`)."""
    files: dict[int, list[Path]] = {}
    for folder in folders:
        for path in folder.glob("job-*") if folder.is_dir() else ():
            if match := JOB_FILE.match(path.name):
                files.setdefault(int(match.group(1)), []).append(path)
    return files


def _remove(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
