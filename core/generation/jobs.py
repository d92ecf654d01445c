"""Submitting and cancelling generations: validate, reserve credits and queue in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.accounts import AccountView
from core.db.models import Job
from core.db.repositories import jobs as repo
from core.db.repositories.asker import Standing
from core.db.session import Database
from core.db.statuses import ACTIVE_JOBS, JobLane, JobStatus
from core.db.types import utcnow
from core.errors import UserError
from core.generation import admission
from core.generation.intake import Intake, Order
from core.generation.providers.base import PromptChecker, ProviderError
from core.generation.references import References
from core.generation.sizes import (
    AspectRatio,
    Tier,
    lower_tier,
    nearest_fixed_size,
    size_for,
    tier_for_pixels,
)
from core.generation.storage import Storage
from core.generation.styles import StyleBook
from core.groups import WalletCharge
from core.messages import ChatRef, UserRef
from core.policy import CreditSettings, GenerationSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImagineSpec:
    """What the user asked for, after parsing and defaults."""

    prompt: str
    ratio: AspectRatio
    tier: Tier
    style: str
    model: str
    n: int = 1
    references: tuple[str, ...] = ()  # stored reference paths, relative to the data dir
    parent_id: int | None = None
    action: str | None = None
    instruction: str | None = None  # wraps the styled prompt ("{prompt}") for upscale and vary


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: int
    position: int
    cost: int
    balance: credits.Balance
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Cancelled:
    job_id: int
    refunded: int
    balance: credits.Balance


class WorkerControl(Protocol):
    def wake(self) -> None: ...

    def abort(self, job_id: int) -> None: ...


@dataclass(slots=True)
class JobService:
    db: Database
    provider: PromptChecker
    storage: Storage
    generation: GenerationSettings
    pricing: CreditSettings
    styles: StyleBook
    worker: WorkerControl
    references: References = field(init=False)
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        self.references = References(self.storage, self.generation.max_concurrent_decodes)
        self.intake = Intake(
            self.db, max_queued=self.generation.max_queued_jobs_per_user, on_queued=self.worker.wake
        )

    def price(self, tier: Tier, n: int) -> int:
        return self.pricing.prices.for_tier(tier) * n

    def size(self, model: str, tier: Tier, ratio: AspectRatio) -> tuple[int, int]:
        width, height = size_for(tier, ratio)
        if fixed := self.generation.fixed_sizes_for(model):
            return nearest_fixed_size(width, height, fixed)
        return width, height

    async def submit(
        self,
        account: AccountView,
        user: UserRef,
        chat: ChatRef,
        language: str,
        spec: ImagineSpec,
        standing: Standing,
        *,
        request_key: str | None = None,
        wallet: WalletCharge | None = None,
    ) -> Submitted:
        """Refuses before anything is reserved, or reserves the cost and queues the job in one
        transaction. The caller has already refused what refuses the account itself (a freeze, the
        tier, a safety cooldown: core.generation.admission) from `standing`, the account as read for
        this request.

        `request_key` names the chat message asking: the same message delivered again gets the job it
        already made, not a second one. With a `wallet`, a group wallet pays (within its limits) and
        `standing` carries the wallet's balance. Requests that arrive together are written together
        (core.generation.intake).
        """
        provider_prompt = self.check(spec, standing, group=wallet is not None)
        await self._moderate(account, provider_prompt)  # before anything is reserved, outside the write
        tier, width, height, cost = self._priced(spec)
        job = {
            "identity": user.identity,
            "chat": chat.serialize(),
            "language": language,
            "prompt": spec.prompt,
            "provider_prompt": provider_prompt,
            "style": spec.style,
            "ratio": str(spec.ratio),
            "tier": tier.value,
            "width": width,
            "height": height,
            "model": spec.model,
            "quality": self.generation.quality,
            "n": spec.n,
            "parent_id": spec.parent_id,
            "action": spec.action,
            "lane": JobLane.PAID if standing.bought_pack or standing.plan else JobLane.TRIAL,
        }
        order = Order(account.id, cost, job, spec.references, request_key, wallet)
        try:
            queued = await self.intake.queue(order)
        except IntegrityError:
            if request_key is None or (earlier := await self._earlier(request_key)) is None:
                raise
            return earlier  # the same message, delivered again
        return Submitted(queued.job_id, queued.position, cost, queued.balance, width, height)

    def check(self, spec: ImagineSpec, standing: Standing, *, group: bool = False) -> str:
        """Refuses, from the standing and reserving nothing, what `submit` would refuse before costly
        work (moderation; downloading and decoding references); returns the prompt the provider gets.
        The write still decides: it takes the credits only if they are there."""
        provider_prompt = self._validate(spec)
        *_, cost = self._priced(spec)
        if refused := admission.unaffordable(
            standing, cost=cost, max_queued=self.generation.max_queued_jobs_per_user, group=group
        ):
            raise refused
        return provider_prompt

    def _priced(self, spec: ImagineSpec) -> tuple[Tier, int, int, int]:
        """(tier charged, width, height, cost): a fixed-size model may draw less than the tier asked
        for, and pixels not drawn are never charged."""
        width, height = self.size(spec.model, spec.tier, spec.ratio)
        tier = lower_tier(spec.tier, tier_for_pixels(width * height))
        return tier, width, height, self.price(tier, spec.n)

    async def _earlier(self, request_key: str) -> Submitted | None:
        async with self.db.transaction() as session:
            job = await repo.by_request(session, request_key)
            return None if job is None else await self._submitted(session, job)

    @staticmethod
    async def _submitted(session: AsyncSession, job: Job) -> Submitted:
        position = await repo.queue_position(session, job.id) if job.status == JobStatus.QUEUED else 0
        balance = await credits.balance(session, job.wallet_id or job.account_id)
        return Submitted(job.id, position, job.cost, balance, job.width, job.height)

    async def cancel(self, account_id: int, job_id: int | None) -> Cancelled:
        """Cancels a queued or running job of this account and refunds it."""
        async with self.db.transaction() as session:
            job = await (
                repo.latest_active(session, account_id) if job_id is None else repo.get(session, job_id)
            )
            # Before the queue's row, in id order as the intake: no deadlock. A group wallet paying
            # for the job is locked with the account: the refund goes back to it.
            await credits.lock_all(session, (account_id, job.wallet_id if job is not None else None))
            if job is None or job.account_id != account_id:
                if job_id is None:
                    raise UserError("nothing_to_cancel")
                raise UserError("job_not_found", job=job_id)
            was_running = job.status == JobStatus.RUNNING
            if not await repo.transition(
                session, job.id, from_statuses=ACTIVE_JOBS, to=JobStatus.CANCELLED, finished_at=utcnow()
            ):
                raise UserError("job_not_cancellable", job=job.id, status=job.status)
            refunded = job.cost if job.hold_id and await credits.refund(session, job.hold_id) else 0
            balance = await credits.balance(session, job.wallet_id or account_id)
        if was_running:
            self.worker.abort(job.id)
        log.info("job %s cancelled by its owner", job.id)
        return Cancelled(job.id, refunded, balance)

    async def get(self, job_id: int) -> Job | None:
        async with self.db.read() as session:
            return await repo.get(session, job_id)

    @staticmethod
    async def recent(session: AsyncSession, account_id: int, limit: int = 10) -> list[Job]:
        """The account's newest jobs (read in the caller's unit of work)."""
        return await repo.recent(session, account_id, limit)

    def _validate(self, spec: ImagineSpec) -> str:
        prompt = spec.prompt.strip()
        if not prompt:
            raise UserError("empty_prompt")
        if len(prompt) > self.generation.max_prompt_chars:
            raise UserError("prompt_too_long", length=len(prompt), limit=self.generation.max_prompt_chars)
        if not 1 <= spec.n <= self.generation.max_images_per_request:
            raise UserError("bad_count", value=spec.n, limit=self.generation.max_images_per_request)
        if spec.model not in self.generation.models:
            raise UserError("unknown_model", value=spec.model, models=", ".join(self.generation.models))
        style = self.styles.get(spec.style)
        if style is None:
            raise UserError("unknown_style", value=spec.style, styles=", ".join(self.styles.names()))
        styled = style.apply(prompt)
        return spec.instruction.replace("{prompt}", styled) if spec.instruction else styled

    async def _moderate(self, account: AccountView, prompt: str) -> None:
        try:
            allowed = await self.provider.check_prompt(prompt, account.safety_identifier)
        except ProviderError:
            log.warning("prompt check unavailable", exc_info=True)
            raise UserError("moderation_unavailable") from None
        if not allowed:
            await self.record_strike(account.id, "moderation")
            raise UserError("prompt_blocked")

    async def record_strike(self, account_id: int, source: str) -> None:
        async with self.db.transaction() as session:
            await repo.add_strike(session, account_id, source)
