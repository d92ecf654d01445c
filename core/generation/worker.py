"""The worker pool: claims queued jobs fairly, renders them, settles or refunds each once.

Any number of pools, in any number of processes, share one database. A claim is a lease: the pool
renews it while it renders, and every state change it makes afterwards requires still holding it. A
pool that dies stops renewing; once its leases lapse, any pool re-queues those jobs (or refunds them
when out of attempts), and the dead pool could not complete them even if it came back.

Retries live here and only here (the provider SDK is told not to retry): a transient failure puts
the job back in the queue with a capped exponential backoff, so a slot is never held while waiting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.accounts import safety_identifier
from core.db.leases import Backoff
from core.db.models import Job
from core.db.repositories import jobs as repo
from core.db.repositories.endpoints import Call
from core.db.session import Database
from core.db.statuses import JobStatus
from core.db.types import utcnow
from core.errors import new_reference
from core.generation import replies
from core.generation.dispatch import Dispatcher
from core.generation.providers.base import (
    ContentBlocked,
    ImageProvider,
    PermanentProviderError,
    RenderRequest,
    RenderResult,
    TransientProviderError,
)
from core.generation.providers.pool import ProviderPool
from core.generation.storage import Storage
from core.generation.styles import StyleBook
from core.i18n import Translator
from core.instance import process_name
from core.messages import ChatRef, Reply
from core.notifier import Notifier
from core.policy import GenerationSettings
from core.telemetry import NO_TELEMETRY, Telemetry
from core.waiting import stop_if_cancelled, until_woken

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WorkerPool:
    db: Database
    provider: ImageProvider | ProviderPool  # one provider: a pool of one endpoint named after it
    storage: Storage
    notifier: Notifier
    styles: StyleBook
    settings: GenerationSettings
    poll_interval_s: float = 1.0
    owner: str = field(default_factory=lambda: process_name("worker"))
    telemetry: Telemetry = NO_TELEMETRY
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _running: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    _aborted: set[int] = field(default_factory=set)
    _interrupted: set[int] = field(default_factory=set)  # cut off by this pool stopping
    _dispatch: Dispatcher = field(init=False)

    def __post_init__(self) -> None:
        pool = self.provider
        if not isinstance(pool, ProviderPool):
            pool = ProviderPool.single(pool, images_per_minute=self.settings.provider_images_per_minute)
        self._dispatch = Dispatcher(self.db, pool, self.settings, self.telemetry)

    def wake(self) -> None:
        self._wake.set()

    def abort(self, job_id: int) -> None:
        """Stops a running job whose owner cancelled it (the cancel already refunded it)."""
        if task := self._running.get(job_id):
            self._aborted.add(job_id)
            task.cancel()

    async def run(self) -> None:
        """Runs until cancelled; on the way out, hands the jobs it was rendering back to the queue."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._keep_leases(), name="job-leases")
                group.create_task(self._recover_forever(), name="job-recovery")
                while True:
                    self._wake.clear()
                    try:
                        idle = await self._start_due_jobs(group)
                    except Exception:  # the database is unreachable for a moment: keep the pool alive
                        log.exception("worker pool: could not claim jobs; trying again shortly")
                        stop_if_cancelled()
                        idle = self.poll_interval_s
                    await until_woken(self._wake, idle)
        finally:
            await asyncio.shield(self._release())

    async def _release(self) -> None:
        """A stopping pool gives the jobs it was rendering straight back to the queue; the attempt
        does not count. Should this fail, their leases lapse and another pool recovers them."""
        try:
            async with self.db.transaction() as session:
                for job_id in self._interrupted:
                    await repo.transition(
                        session,
                        job_id,
                        from_statuses=[JobStatus.RUNNING],
                        to=JobStatus.QUEUED,
                        lease_owner=self.owner,
                        attempts=Job.attempts - 1,
                    )
        except Exception:
            log.warning("worker pool: could not hand back interrupted jobs; their leases will lapse")

    async def _start_due_jobs(self, group: asyncio.TaskGroup) -> float:
        """Starts jobs while slots are free; returns how long to wait before looking again."""
        while len(self._running) < self.settings.concurrency:
            claim = await self._claim()
            if claim.job is None:
                return self._wait_until(claim.wake_at)
            job = claim.job
            if job.id in self._running:  # taken from this pool while it was cut off, and back again
                self.abort(job.id)
            assert claim.call is not None  # a claim stamps the job's call with the job
            task = group.create_task(self._guarded(job, claim.call))
            self._running[job.id] = task
            task.add_done_callback(lambda done, job_id=job.id: self._finished(job_id, done))
        return self.poll_interval_s

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_s)

    @property
    def backoff(self) -> Backoff:
        settings = self.settings
        return Backoff(settings.retry_backoff_s, settings.retry_backoff_max_s, settings.max_attempts)

    async def _keep_leases(self) -> None:
        """Renews the leases of the jobs being rendered; stops a job whose lease is gone (its owner
        cancelled it, or the pool was cut off long enough for another to take it over)."""
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            rendering = set(self._running)
            try:
                async with self.db.transaction() as session:
                    held = await repo.renew_leases(session, self.owner, rendering, utcnow() + self.lease)
            except Exception:
                log.warning("worker pool: could not renew job leases; trying again", exc_info=True)
                stop_if_cancelled()
                continue
            for job_id in rendering - held:
                log.info("job %s is no longer leased to this worker; stopping it", job_id)
                self.abort(job_id)

    async def _recover_forever(self) -> None:
        while True:
            try:
                await self.recover()
            except Exception:
                log.warning("worker pool: could not look for abandoned jobs; trying again", exc_info=True)
                stop_if_cancelled()
            await asyncio.sleep(self.settings.lease_s / 2)

    async def recover(self) -> None:
        """Jobs whose worker died (its lease lapsed) go back to the queue, or are refunded once out of
        attempts. Slots long gone from the provider window are forgotten on the way."""
        async with self.db.transaction() as session:
            await repo.forget_provider_calls(session, utcnow(), self._dispatch.limits)
            expired = await repo.expired_leases(session, utcnow())
            # Accounts first, in id order, as the intake locks them: a refund after the queue's row
            # would otherwise deadlock against an intake batch on PostgreSQL.
            await credits.lock_all(
                session,
                [
                    account_id
                    for job in expired
                    if self.backoff.exhausted(job.attempts)
                    for account_id in (job.account_id, job.wallet_id)
                ],
            )
            for job in expired:
                if not self.backoff.exhausted(job.attempts):
                    await repo.transition(
                        session, job.id, from_statuses=[JobStatus.RUNNING], to=JobStatus.QUEUED
                    )
                    log.info("job %s re-queued after an interrupted run", job.id)
                elif await repo.transition(
                    session,
                    job.id,
                    from_statuses=[JobStatus.RUNNING],
                    to=JobStatus.FAILED,
                    error_code="interrupted",
                    finished_at=utcnow(),
                ):
                    refunded = job.cost if job.hold_id and await credits.refund(session, job.hold_id) else 0
                    notice = replies.failed(Translator(job.language), job, "interrupted", refunded=refunded)
                    await self._report(session, job, [notice])
        self.notifier.wake()
        self.wake()

    def _finished(self, job_id: int, task: asyncio.Task[None]) -> None:
        if self._running.get(job_id) is task:
            del self._running[job_id]
            self._aborted.discard(job_id)
        self._wake.set()

    async def _claim(self) -> repo.Claim:
        async with self.db.transaction() as session:
            return await repo.claim_next(
                session,
                owner=self.owner,
                lease=self.lease,
                max_running_per_account=self.settings.max_running_jobs_per_user,
                trial_wait_multiple=self.settings.trial_wait_multiple,
                now=utcnow(),
                routes=self._dispatch.routes(),
                limits=self._dispatch.limits,
            )

    def _wait_until(self, moment: datetime | None) -> float:
        if moment is None:
            return self.poll_interval_s
        return min(self.poll_interval_s, max(0.0, (moment - utcnow()).total_seconds()))

    async def _guarded(self, job: Job, call: Call) -> None:
        try:
            await self._run(job, call)
        except asyncio.CancelledError:
            if job.id not in self._aborted:
                self._interrupted.add(job.id)
                raise
        except Exception:
            reference = new_reference()
            log.exception("job %s crashed [ref %s]", job.id, reference, extra=_fields(job, reference))
            try:
                await self._fail(job, "internal", reference)
            except Exception:  # still `running`: once its lease lapses, a pool re-queues or refunds it
                log.exception(
                    "job %s could not be closed [ref %s]", job.id, reference, extra=_fields(job, reference)
                )

    async def _run(self, job: Job, call: Call) -> None:
        """Calls the provider at once (the claim stamped the job's call in its endpoint's window as it
        committed) and tells the chat the job started meanwhile; every later message waits for that
        one, so the chat sees them in order."""
        t = Translator(job.language)
        announced = asyncio.create_task(self._tell(job, [replies.started(t, job)]))
        announced.add_done_callback(_retrieved)
        try:
            await self._render(job, t, announced, call)
        finally:
            announced.cancel()  # stopped or aborted before it went: it is worth nothing now

    async def _render(self, job: Job, t: Translator, announced: asyncio.Task[None], call: Call) -> None:
        references: tuple[bytes, ...] = ()
        if job.references:
            references = tuple([await self.storage.read(key) for key in job.references])
        request = RenderRequest(
            prompt=job.provider_prompt,
            width=job.width,
            height=job.height,
            model=job.model,
            quality=job.quality,
            n=job.n,
            references=references,
            safety_identifier=safety_identifier(job.account_id),
            partial_images=self.settings.partial_images,
            style=job.style,
            caption=job.prompt,
            seed=job.id,
            action=job.action,
        )

        async def on_partial(index: int, data: bytes) -> None:
            key = await self.storage.save_preview(job.id, index, data)
            await asyncio.wait({announced})
            await self._tell(job, [replies.partial(t, job, index, key)])

        rendered = await self._dispatch.render(job, request, on_partial, call)
        await asyncio.wait({announced})
        await self._conclude(job, rendered.outcome, rendered.call)

    async def _conclude(self, job: Job, outcome: RenderResult | Exception, call: Call) -> None:
        if isinstance(outcome, RenderResult):
            await self._succeed(job, outcome, call)
        elif isinstance(outcome, ContentBlocked):
            log.info("job %s blocked by the provider's safety system", job.id, extra=_fields(job))
            await self._fail(job, "blocked", strike=True)
        elif isinstance(outcome, PermanentProviderError):
            reference = new_reference()
            log.error(
                "job %s failed at the provider [ref %s]: %s",
                job.id,
                reference,
                outcome,
                extra=_fields(job, reference),
            )
            await self._fail(job, "provider", reference)
        else:
            retry_after = outcome.retry_after if isinstance(outcome, TransientProviderError) else None
            log.warning(
                "job %s attempt %s failed: %s",
                job.id,
                job.attempts,
                type(outcome).__name__,
                extra=_fields(job),
            )
            await self._retry_or_fail(job, retry_after)

    async def _succeed(self, job: Job, result: RenderResult, call: Call) -> None:
        outputs = [await self.storage.save_output(job.id, i, png) for i, png in enumerate(result.images)]
        async with self.db.transaction() as session:
            await self._dispatch.succeeded(session, call)  # with the result: no transaction of its own
            balances = await repo.succeed(
                session, job.id, owner=self.owner, attempt=job.attempts, outputs=outputs, now=utcnow()
            )
            if balances is None:
                return  # cancelled while rendering (the cancel refunded it), or taken over
            if job.hold_id:
                await credits.settle(session, job.hold_id)
            balance = credits.Balance(*balances)
            await self._report(
                session, job, replies.result(Translator(job.language), job, outputs, balance, self.styles)
            )
        self.notifier.wake()
        self._observe(job, JobStatus.SUCCEEDED)
        log.info("job %s succeeded", job.id, extra=_fields(job))

    async def _retry_or_fail(self, job: Job, retry_after: float | None) -> None:
        too_long = retry_after is not None and retry_after > self.settings.timeout_s
        if self.backoff.exhausted(job.attempts) or too_long:
            await self._fail(job, "temporary")
            return
        async with self.db.transaction() as session:
            requeued = await repo.transition(
                session,
                job.id,
                from_statuses=[JobStatus.RUNNING],
                lease_owner=self.owner,
                attempt=job.attempts,
                to=JobStatus.QUEUED,
                not_before=utcnow() + self.backoff.delay(job.attempts, at_least=retry_after or 0.0),
            )
        if requeued:
            await self._tell(job, [replies.retrying(Translator(job.language), job)])

    async def _fail(self, job: Job, code: str, reference: str | None = None, *, strike: bool = False) -> None:
        async with self.db.transaction() as session:
            # The account before the queue's row, as the intake locks them: else a deadlock (PostgreSQL).
            await credits.lock_all(session, (job.account_id, job.wallet_id))  # and the group wallet paying
            if not await repo.transition(
                session,
                job.id,
                from_statuses=[JobStatus.RUNNING],
                lease_owner=self.owner,
                attempt=job.attempts,
                to=JobStatus.FAILED,
                error_code=code,
                error_ref=reference,
                finished_at=utcnow(),
            ):
                return
            refunded = job.cost if job.hold_id and await credits.refund(session, job.hold_id) else 0
            if strike:
                await repo.add_strike(session, job.account_id, "provider")
            notice = replies.failed(
                Translator(job.language), job, code, refunded=refunded, reference=reference
            )
            await self._report(session, job, [notice])
        self.notifier.wake()
        self._observe(job, JobStatus.FAILED)

    def _observe(self, job: Job, state: JobStatus) -> None:
        """A job this pool brought to its final state: how long it took from its submission."""
        self.telemetry.job_finished(state, (utcnow() - job.created_at).total_seconds())

    async def _report(self, session: AsyncSession, job: Job, messages: list[Reply]) -> None:
        """The job's outcome, queued in the transaction that settles or refunds it."""
        await self.notifier.enqueue(session, ChatRef.parse(job.chat), messages, key=f"job:{job.id}:outcome")

    async def _tell(self, job: Job, messages: list[Reply]) -> None:
        """Progress: best effort, worthless once late."""
        await self.notifier.send(ChatRef.parse(job.chat), messages)


def _fields(job: Job, reference: str | None = None) -> dict[str, object]:
    """What structured logs carry as fields of a job's records."""
    return {"job_id": job.id} if reference is None else {"job_id": job.id, "ref": reference}


def _retrieved(task: asyncio.Task[None]) -> None:
    """Progress is best effort: a message that could not go is only logged."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("a progress message failed: %s", type(error).__name__)
