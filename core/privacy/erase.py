"""`/delete` and `image2bot admin delete`: erase an account's personal data for good.

The request is recorded first. The erasure then runs in idempotent steps, so a crash leaves a pending
request that the next start finishes:
1. one transaction: cancel and refund unfinished jobs, forfeit what is left of the balance;
2. the rows that name or describe the person go in batches of BATCH rows, each batch its own short
   transaction (the outbox to the person's chats, then the jobs, then the long per-account tables),
   then the rest in one; the ones the law makes us keep (ledger, payments) are pseudonymised. Each
   job batch notes its files on the request before its rows go, and removes them before the next;
   files are named exactly (core.generation.storage), no folder is listed per job;
3. mark the request done, and on SQLite empty the write-ahead log; on PostgreSQL vacuum the tables
   touched (core.privacy.vacuum).
The identities of an account that had the free trial are remembered as keyed hashes (fraud prevention,
core.privacy.identities), so that an identity coming back after its erasure gets no second trial.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.db.models import AnalyticsEvent, ConsentRecord, ExportFile, PrivacyCode, SafetyStrike
from core.db.repositories import abuse, erasure, references
from core.db.repositories import jobs as jobs_repo
from core.db.repositories import privacy as repo
from core.db.repositories.support import audit
from core.db.session import Database
from core.db.statuses import ACTIVE_JOBS, JobStatus, RequestStatus
from core.db.types import utcnow
from core.generation.jobs import WorkerControl
from core.generation.storage import UPLOADS, Storage
from core.privacy import codes
from core.privacy.identities import IdentityHasher, account_identities
from core.privacy.ledger import PrivacyEntryKind, move
from core.privacy.vacuum import Vacuum

log = logging.getLogger(__name__)

PURPOSE = "delete"
BATCH = 200  # rows per transaction: the writer lock is never held long, however much the account has
# The account's own rows that may be many (an event per command with analytics on, for years).
PER_ACCOUNT = (SafetyStrike, AnalyticsEvent, ConsentRecord, PrivacyCode, ExportFile)


class OnLegalHold(Exception):
    """The account is under a legal hold: nothing of it may be erased until the hold is lifted."""


class Confirmation(StrEnum):
    ERASED = "erased"
    WRONG = "wrong"
    EXPIRED = "expired"
    NO_CODE = "no_code"


@dataclass
class Eraser:
    db: Database
    storage: Storage
    worker: WorkerControl
    identities: IdentityHasher
    vacuum: Vacuum

    async def new_code(self, account_id: int) -> str:
        """A 6-character code that confirms the erasure within 10 minutes."""
        code = codes.new_code(codes.DELETE_CODE_LENGTH)
        async with self.db.transaction() as session:
            await self._refuse_if_held(session, account_id)
            digest = codes.code_hash(PURPOSE, code, str(account_id))
            await repo.replace_code(session, account_id, PURPOSE, digest, utcnow() + codes.CODE_LIFETIME)
        return code

    async def confirm(self, account_id: int, typed: str) -> Confirmation:
        """Checks the code and, when it is right, erases the account."""
        code = codes.normalized(typed)
        now = utcnow()
        async with self.db.transaction() as session:
            await self._refuse_if_held(session, account_id)
            if await repo.deletion_request(session, account_id) is None:
                found = await repo.open_code(session, account_id, PURPOSE)
                if found is None:
                    return Confirmation.NO_CODE
                if code is None or found.code_hash != codes.code_hash(PURPOSE, code, str(account_id)):
                    return Confirmation.WRONG
                if not await repo.use_code(session, found.id, now):
                    return Confirmation.EXPIRED
                await repo.request_deletion(session, account_id, "user")
                await audit(
                    session, actor="user", action="erasure_requested", account_id=account_id, details={}
                )
        await self.run(account_id)
        return Confirmation.ERASED

    async def erase_now(self, account_id: int, actor: str) -> None:
        """The operator's erasure (`image2bot admin delete`), for a request received elsewhere."""
        async with self.db.transaction() as session:
            await self._refuse_if_held(session, account_id)
            await repo.request_deletion(session, account_id, "operator")
            await audit(session, actor=actor, action="erasure_requested", account_id=account_id, details={})
        await self.run(account_id)
        await self.vacuum.settled()  # one planned for later: before the command's process ends

    async def resume(self) -> int:
        """Finishes erasures a crash interrupted; returns how many it finished."""
        async with self.db.transaction() as session:
            pending = await repo.pending_deletions(session)
        finished = 0
        for account_id in pending:
            finished += await self.run(account_id)
        if finished:
            log.info("finished %d interrupted erasure(s)", finished)
        return finished

    async def run(self, account_id: int) -> bool:
        """Carries out a recorded erasure; every step may run again. False when there is none to do
        (already done, or suspended by a legal hold)."""
        key = await self.identities.key()
        async with self.db.read() as session:
            wallets = await erasure.paying_wallets(session, account_id)
        while True:
            async with self.db.transaction() as session:
                # In id order as the intake, with the group wallets whose jobs are refunded: no deadlock
                await credits.lock_all(session, (account_id, *wallets))
                paying = await erasure.paying_wallets(session, account_id)
                if not paying <= wallets:  # a job another wallet pays for was queued meanwhile
                    wallets |= paying
                    continue
                request = await repo.deletion_request(session, account_id)
                found = await repo.profile(session, account_id)
                if (
                    request is None
                    or request.status != RequestStatus.PENDING
                    or (found and found.hold_reason)
                ):
                    return False
                running = await self._close_money(session, account_id, request.id)
                names = await account_identities(session, account_id)
                if found is not None and found.trial_granted:
                    await abuse.record_trial(session, key.hashes(names))
                chats = await erasure.chats_of(session, account_id)
                left_over = list(request.files or ())  # recorded by a run that stopped before removing them
            break
        for job_id in running:
            self.worker.abort(job_id)
        removed = await self.storage.remove(left_over)
        async with self.db.read() as session:
            events = await erasure.events_naming(
                session, await erasure.stripe_references(session, account_id)
            )
        await self._in_batches(lambda session: erasure.delete_deliveries_to(session, sorted(chats), BATCH))
        removed += await self._erase_jobs(account_id, request.id)
        for model in PER_ACCOUNT:
            await self._in_batches(
                lambda session, model=model: erasure.delete_some(session, model, account_id, BATCH)
            )
        exports = [Storage.exports_of(account_id)]
        async with self.db.transaction() as session:
            await credits.lock(session, account_id)
            await erasure.erase_rest(session, account_id, chats=chats, identities=set(names))
            await erasure.blank_events(session, events)
            await repo.set_deletion_files(session, request.id, exports)
        removed += await self.storage.remove(exports)
        async with self.db.transaction() as session:
            await credits.lock(session, account_id)  # the account first, as in every step: no deadlock
            await repo.clear_deletion_files(session, account_id)
            if await repo.finish_deletion(session, account_id, utcnow()):
                await audit(
                    session,
                    actor=request.requested_by,
                    action="erasure_completed",
                    account_id=account_id,
                    details={},
                )
        await self.db.checkpoint()
        await self.vacuum.after_erasure(table.__tablename__ for table in erasure.ERASED_TABLES)
        log.info("an account was erased (%d files removed)", removed)
        return True

    async def _erase_jobs(self, account_id: int, request_id: int) -> int:
        """Deletes the account's jobs BATCH at a time. Each transaction records the batch's files on
        the request before its rows go, and they are removed before the next batch: a crash leaves
        them on the request for the next run. An upload another job still refers to stays."""
        removed = 0
        while True:
            async with self.db.transaction() as session:
                jobs = await erasure.next_jobs(session, account_id, BATCH)
                if not jobs:
                    return removed
                numbers = [job.id for job in jobs]
                uploads = {path for job in jobs for path in job.references if path.startswith(UPLOADS)}
                shared = await references.used_by_others(session, uploads, numbers)
                files = {path for job in jobs for path in (*job.outputs, *Storage.job_files(job.id, job.n))}
                files |= uploads - shared
                await erasure.delete_jobs(session, numbers)
                await repo.set_deletion_files(session, request_id, sorted(files))
            removed += await self.storage.remove(sorted(files))

    async def _in_batches(self, step: Callable[[AsyncSession], Awaitable[int]]) -> None:
        """Runs `step` (which deletes up to BATCH rows) in transactions of its own until less remains."""
        while True:
            async with self.db.transaction() as session:
                if await step(session) < BATCH:
                    return

    async def _refuse_if_held(self, session: AsyncSession, account_id: int) -> None:
        await credits.lock(session, account_id)
        found = await repo.profile(session, account_id)
        if found is not None and found.hold_reason:
            raise OnLegalHold(account_id)

    async def _close_money(self, session: AsyncSession, account_id: int, request_id: int) -> list[int]:
        """Refunds unfinished jobs, then forfeits the whole balance; returns the jobs that were running."""
        running = []
        for job in await erasure.active_jobs(session, account_id):
            if await jobs_repo.transition(
                session, job.id, from_statuses=ACTIVE_JOBS, to=JobStatus.CANCELLED, finished_at=utcnow()
            ):
                if job.hold_id:
                    await credits.refund(session, job.hold_id)
                if job.status == JobStatus.RUNNING:
                    running.append(job.id)
        balance = await credits.balance(session, account_id)
        left = (
            (credits.Bucket.SUBSCRIPTION, balance.subscription),
            (credits.Bucket.ONE_TIME, balance.one_time),
        )
        for bucket, amount in left:
            await move(
                session,
                account_id,
                bucket,
                -amount,
                kind=PrivacyEntryKind.FORFEIT,
                key=f"erasure:{request_id}:{bucket}:{uuid.uuid4().hex[:12]}",
                reference=f"erasure:{request_id}",
            )
        return running
