"""One job's calls to the provider endpoints: the endpoint its claim chose first, then, when a call
fails in a way another endpoint may not (429, 5xx, timeout, broken stream), another endpoint that
serves its model, before the worker retries later or refunds. A safety block or a rejected request is
never sent elsewhere. Each call's end moves its endpoint's circuit breaker, in the database.

With one endpoint there is nowhere else to go: its breaker never opens, and the worker's retries with
backoff handle its failures as they always did.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job
from core.db.repositories import endpoints
from core.db.repositories import jobs as repo
from core.db.repositories.endpoints import Call, Limits, Route
from core.db.session import Database
from core.db.types import utcnow
from core.generation.providers.base import (
    ContentBlocked,
    OnPartial,
    PermanentProviderError,
    RenderRequest,
    RenderResult,
    TransientProviderError,
)
from core.generation.providers.pool import ProviderPool
from core.policy import GenerationSettings
from core.telemetry import Telemetry

log = logging.getLogger(__name__)

Outcome = RenderResult | ContentBlocked | TransientProviderError | PermanentProviderError | TimeoutError


@dataclass(frozen=True, slots=True)
class Rendered:
    outcome: Outcome
    call: Call  # the call that gave it: a result's is recorded with the result (`succeeded`)


@dataclass(slots=True)
class Dispatcher:
    db: Database
    pool: ProviderPool
    settings: GenerationSettings
    telemetry: Telemetry

    @property
    def limits(self) -> Limits:
        """A call lasts `timeout_s` at most: one still marked running after that lost its worker."""
        horizon = timedelta(seconds=self.settings.timeout_s * 1.5 + 5)
        return Limits(call_horizon=horizon, probe_stale=horizon)

    def routes(self, exclude: Iterable[str] = ()) -> list[Route]:
        """The endpoints to try, heavier ones more often first."""
        return [
            Route(
                endpoint.name,
                endpoint.images_per_minute,
                endpoint.concurrent,
                tuple(sorted(endpoint.models)) if endpoint.models else None,
            )
            for endpoint in self.pool.order(exclude)
        ]

    async def render(self, job: Job, request: RenderRequest, on_partial: OnPartial, call: Call) -> Rendered:
        """The first call's outcome that is final, or the last failure once no endpoint is left. A
        failure's end is recorded here; a result's in the transaction that stores it (`succeeded`)."""
        tried: list[str] = []
        while True:
            outcome = await self._call(call, request, on_partial)
            if isinstance(outcome, RenderResult):
                return Rendered(outcome, call)
            tried.append(call.endpoint)
            failover = isinstance(outcome, TransientProviderError | TimeoutError)
            async with self.db.transaction() as session:
                if failover:  # the claims' lock before the breaker's row, as a claim takes them
                    await repo.serialize_claims(session)
                now = utcnow()
                breaker = await endpoints.finished(
                    session,
                    call,
                    error_code(outcome),
                    now,
                    failure=failover,
                    threshold=self.settings.breaker_failures if len(self.pool.endpoints) > 1 else 0,
                    open_for=timedelta(seconds=self.settings.breaker_open_s),
                )
                following = None
                if failover:
                    following = await repo.reroute(session, job, self.routes(tried), now, self.limits)
            self.telemetry.provider_state(call.endpoint, breaker.state(utcnow()))
            if following is None:
                return Rendered(outcome, call)
            log.info(
                "job %s: endpoint %s failed (%s); moving to %s",
                job.id,
                call.endpoint,
                error_code(outcome),
                following.endpoint,
                extra={"job_id": job.id},
            )
            call = following

    async def succeeded(self, session: AsyncSession, call: Call) -> None:
        """In the transaction that stores a result: its call ended well, which may close a breaker."""
        now = utcnow()
        breaker = await endpoints.finished(
            session,
            call,
            endpoints.OK,
            now,
            failure=False,
            threshold=self.settings.breaker_failures,
            open_for=timedelta(seconds=self.settings.breaker_open_s),
        )
        self.telemetry.provider_state(call.endpoint, breaker.state(now))

    async def _call(self, call: Call, request: RenderRequest, on_partial: OnPartial) -> Outcome:
        endpoint = self.pool.get(call.endpoint)
        started = time.monotonic()
        outcome: Outcome
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                outcome = await endpoint.provider.render(request, on_partial)
        except (ContentBlocked, TransientProviderError, PermanentProviderError, TimeoutError) as exc:
            outcome = exc
        except asyncio.CancelledError:
            await asyncio.shield(self._abandon(call))
            raise
        error = None if isinstance(outcome, RenderResult) else error_code(outcome)
        self.telemetry.provider_call(endpoint.name, error, time.monotonic() - started)
        return outcome

    async def _abandon(self, call: Call) -> None:
        """A call cut off (the job was cancelled, or the pool stops) no longer counts as running."""
        try:
            async with self.db.transaction() as session:
                await endpoints.abandoned(session, call, utcnow())
        except Exception:
            log.warning("could not close an abandoned provider call; it lapses on its own")


def error_code(outcome: Exception) -> str:
    return "timeout" if isinstance(outcome, TimeoutError) else getattr(outcome, "code", "provider_error")
