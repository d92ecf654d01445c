"""Stripe webhooks: verified and stored at once, handled in the background exactly once.

The HTTP handler only verifies the signature and stores the event (unique by id), so Stripe gets its
200 in milliseconds and a duplicate is a no-op. `run` handles stored events in Stripe's order: a few
at a time are claimed for this process (`core.db.leases`: several processes may share the database),
each is handled in one transaction that marks it handled only while the claim is still this
process's, and a failure is retried with backoff. It also reconciles with Stripe's list of completed
Checkout Sessions at start and hourly, for the events a webhook never delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.db.leases import Backoff
from core.db.repositories import payments as repo
from core.db.session import Database
from core.db.types import utcnow
from core.instance import process_name
from core.notifier import Notifier
from core.payments import events
from core.payments.catalogue import Catalogue
from core.payments.event_context import EventContext, Lookups, NotYet
from core.payments.webhook_errors import InvalidWebhook
from core.policy import ReferralSettings
from core.telemetry import NO_TELEMETRY, Telemetry
from core.waiting import stop_if_cancelled, until_woken

if TYPE_CHECKING:
    from core.payments.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)

BACKOFF = Backoff(5.0, 3600.0, 12)  # about four hours of retrying: then the event is set aside, logged
RECONCILE_EVERY_S = 3600.0
RECONCILE_WINDOW_S = 3 * 24 * 3600
BATCH = 10  # events claimed at a time
CLAIM_S = 120.0  # how long claimed events are this process's: a few look-ups at Stripe each


@dataclass
class StripeEvents:
    db: Database
    gateway: StripeGateway
    catalogue: Catalogue
    notifier: Notifier
    default_language: str
    poll_interval_s: float = 5.0
    owner: str = field(default_factory=lambda: process_name("stripe"))
    telemetry: Telemetry = NO_TELEMETRY
    referrals: ReferralSettings = field(default_factory=ReferralSettings)
    _wake: asyncio.Event | None = None

    async def receive(self, payload: bytes, signature: str) -> bool:
        """Verifies and stores one delivery; raises InvalidWebhook. True when the event is new."""
        try:
            event = self.gateway.verify(payload, signature)
        except InvalidWebhook as refused:
            self.telemetry.webhook_event("stripe", "unknown", refused.reason)
            raise
        async with self.db.transaction() as session:
            stored = await repo.store_event(session, event)
        kind = event.get("type")
        label = kind if kind in events.HANDLED else "other"
        self.telemetry.webhook_event("stripe", label, "accepted" if stored else "duplicate")
        if stored:
            self._wakeup().set()
        return stored

    async def run(self) -> None:
        """Handles stored events until cancelled; reconciles at start and every hour."""
        import stripe  # loaded with the gateway: a bot that sells nothing through Stripe never loads it

        next_reconcile = 0.0
        try:
            while True:
                self._wakeup().clear()
                try:
                    if time.monotonic() >= next_reconcile:
                        await self.reconcile()
                        next_reconcile = time.monotonic() + RECONCILE_EVERY_S
                    await self.process_due()
                except asyncio.CancelledError:
                    raise
                except stripe.APIConnectionError as error:  # an outage, not a bug: one line, no traceback
                    log.warning("stripe: not reachable (%s); trying again shortly", type(error).__name__)
                    stop_if_cancelled()
                except Exception:  # Stripe or the database is away for a moment: the next round retries
                    log.exception("stripe: handling events failed; trying again shortly")
                    stop_if_cancelled()
                await until_woken(self._wakeup(), self.poll_interval_s)
        finally:
            await asyncio.shield(self._release())

    async def _release(self) -> None:
        """Events this process claimed and did not get to handle go back at once (else they wait
        for their claims to lapse)."""
        try:
            async with self.db.transaction() as session:
                await repo.release_events(session, self.owner)
        except Exception:
            log.warning("stripe: could not hand back claimed events; their claims will lapse")

    async def process_due(self) -> int:
        """Handles every event that is due once, a few claimed at a time; returns how many were
        handled."""
        handled = 0
        while True:
            now = utcnow()
            async with self.db.transaction() as session:
                claimed = await repo.claim_due_events(
                    session, owner=self.owner, now=now, until=now + timedelta(seconds=CLAIM_S), limit=BATCH
                )
            if not claimed:
                break
            for event in claimed:
                handled += await self._handle(event)
        if handled:
            self.notifier.wake()
        return handled

    async def reconcile(self) -> int:
        """Applies completed Checkout Sessions that no webhook brought; the same keys make it safe."""
        since = int(time.time()) - RECONCILE_WINDOW_S
        applied = 0
        for session_obj in await self.gateway.completed_sessions(since):
            try:
                async with self.db.transaction() as session:
                    await events.checkout_completed(self._context(session), session_obj)
                applied += 1
            except (ValueError, NotYet):
                continue  # not one of ours, or not complete enough yet: the webhook will tell
        self.notifier.wake()
        return applied

    async def _handle(self, event: repo.ClaimedEvent) -> int:
        try:
            found = await events.look_up(self.gateway, event.payload)  # Stripe answers with no lock held
            async with self.db.transaction() as session:
                if not await repo.mark_handled(session, event.id, self.owner, utcnow()):
                    return 0  # its claim lapsed meanwhile and another process has it
                await events.handle(self._context(session, found), event.payload)
            return 1
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._failed(event, error)
            return 0

    async def _failed(self, event: repo.ClaimedEvent, error: Exception) -> None:
        attempts = event.attempts + 1
        delay = BACKOFF.delay(attempts)
        given_up = BACKOFF.exhausted(attempts)
        async with self.db.transaction() as session:
            await repo.mark_failed(
                session,
                event.id,
                self.owner,
                attempts=attempts,
                next_attempt_at=utcnow() + delay,
                error=f"{type(error).__name__}: {error}",
                given_up_at=utcnow() if given_up else None,
            )
        if given_up:
            log.error(
                "stripe: gave up event %s after %d attempts (%s)", event.id, attempts, type(error).__name__
            )
            return
        level = logging.INFO if isinstance(error, NotYet) else logging.ERROR
        log.log(
            level,
            "stripe: event %s not handled (%s); retrying in %.0fs",
            event.id,
            type(error).__name__,
            delay.total_seconds(),
            exc_info=level == logging.ERROR,
        )

    def _context(self, session: Any, found: Lookups | None = None) -> EventContext:
        return EventContext(
            session=session,
            catalogue=self.catalogue,
            notifier=self.notifier,
            default_language=self.default_language,
            support_hint="payment.support_hint",
            found=found or Lookups(),
            referrals=self.referrals,
        )

    def _wakeup(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake
