"""`/privacy keep off`: the content of an account's jobs is erased `unkept_hours` after each finished,
instead of being kept for `/history`.

A job is made unkept when it is queued by an account that keeps no history, and every job of an
account is made unkept when it turns the switch off (core.privacy.consent); turning it on again keeps
what comes next only. Once an unkept job has been finished for `unkept_hours`, its prompts are
emptied, its outputs, previews and uploads deleted (an upload another job still names stays: uploads
are shared by content), its outbox messages deleted and `erased_at` set; the row stays for the
ledger. The jobs due are found through `ix_jobs_unkept`, a batch at a time: files are removed first,
outside any transaction, then the batch's rows are emptied in one short transaction, so a crash in
between only leaves the batch to be done again. A file a queued or running job is about to read (the
image an upscale starts from) waits until the next run. Accounts under a legal hold are exempt.
Every process that renders runs the loop; one at a time erases, under the `unkept` lease, hourly.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from core.db import leases
from core.db.repositories import privacy as privacy_repo
from core.db.repositories import references
from core.db.repositories import unkept as repo
from core.db.session import Database
from core.db.types import utcnow
from core.generation.storage import UPLOADS, Storage
from core.instance import process_name
from core.privacy.settings import RetentionSettings
from core.privacy.vacuum import Vacuum
from core.waiting import stop_if_cancelled

log = logging.getLogger(__name__)

LEASE = "unkept"
EVERY = timedelta(hours=1)  # how late past `unkept_hours` content may be erased at most
BATCH = 200  # jobs per transaction: the writer lock is never held long
TABLES = ("jobs", "job_references", "deliveries")  # vacuumed on PostgreSQL once content was erased


class Unkept:
    def __init__(self, db: Database, storage: Storage, settings: RetentionSettings, vacuum: Vacuum) -> None:
        self._db = db
        self._storage = storage
        self._settings = settings
        self._vacuum = vacuum
        self._owner = process_name("unkept")

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self._settings.unkept_hours)

    async def run(self, interval_s: float = EVERY.total_seconds()) -> None:
        """Erases what is due once per interval among every process sharing the database."""
        while True:
            try:
                if await leases.take_turn(self._db, LEASE, self._owner, timedelta(seconds=interval_s)):
                    await self.erase_due()
            except Exception:
                log.exception("erasing unkept content failed; trying again at the next run")
                stop_if_cancelled()
            await asyncio.sleep(interval_s)

    async def erase_due(self, now: datetime | None = None) -> int:
        """Erases the content of every unkept job finished more than `unkept_hours` before `now`;
        returns how many jobs were erased."""
        now = now or utcnow()
        cutoff = now - self.window
        async with self._db.read() as session:
            held = await privacy_repo.held_accounts(session)
        erased = 0
        waiting: set[int] = set()  # jobs whose files a job still to render reads
        while True:
            async with self._db.read() as session:
                jobs = await repo.due(session, cutoff, held, waiting, BATCH)
                own = {job.id: {*job.outputs, *Storage.job_files(job.id, job.n)} for job in jobs}
                busy = await repo.read_by_active(session, set().union(*own.values()), own)
                ready = [job for job in jobs if not own[job.id] & busy]
                numbers = [job.id for job in ready]
                uploads = {path for job in ready for path in job.references if path.startswith(UPLOADS)}
                shared = await references.used_by_others(session, uploads, numbers)
            waiting.update(job.id for job in jobs if own[job.id] & busy)
            files = {path for number in numbers for path in own[number]} | (uploads - shared)
            removed = await self._storage.remove(sorted(files))
            if numbers:
                async with self._db.transaction() as session:
                    erased += await repo.erase(session, numbers, now)
                log.info("unkept content erased: %d jobs, %d files", len(numbers), removed)
            if len(jobs) < BATCH:
                break
        if erased:
            await self._db.checkpoint()
            await self._vacuum.after_erasure(TABLES)
        return erased
