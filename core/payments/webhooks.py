"""Stripe webhooks: verified and stored at once, handled in the background exactly once.

The HTTP handler only verifies the signature and stores the event (unique by id), so Stripe gets its
200 in milliseconds and a duplicate is a no-op. `run` handles stored events in Stripe's order, each
in one transaction that locks it (several processes may share the database), retries failures with
backoff, and reconciles with Stripe's list of completed Checkout Sessions at start and hourly, for
the events a webhook never delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.db.repositories import payments as repo
from core.db.session import Database
from core.db.types import utcnow
from core.notifier import Notifier
from core.payments import events
from core.payments.catalogue import Catalogue
from core.payments.event_context import EventContext, Lookups, NotYet
from core.payments.stripe_gateway import StripeGateway
from core.waiting import stop_if_cancelled, until_woken

log = logging.getLogger(__name__)

BACKOFF_S = 5.0
BACKOFF_MAX_S = 3600.0
RECONCILE_EVERY_S = 3600.0
RECONCILE_WINDOW_S = 3 * 24 * 3600
BATCH = 100
MAX_ATTEMPTS = 12  # about four hours of retrying: then the event is set aside, logged as an error


@dataclass
class StripeEvents:
    db: Database
    gateway: StripeGateway
    catalogue: Catalogue
    notifier: Notifier
    default_language: str
    poll_interval_s: float = 5.0
    _wake: asyncio.Event | None = None

    async def receive(self, payload: bytes, signature: str) -> bool:
        """Verifies and stores one delivery; raises InvalidWebhook. True when the event is new."""
        event = self.gateway.verify(payload, signature)
        async with self.db.transaction() as session:
            stored = await repo.store_event(session, event)
        if stored:
            self._wakeup().set()
        return stored

    async def run(self) -> None:
        """Handles stored events until cancelled; reconciles at start and every hour."""
        next_reconcile = 0.0
        while True:
            self._wakeup().clear()
            try:
                if time.monotonic() >= next_reconcile:
                    await self.reconcile()
                    next_reconcile = time.monotonic() + RECONCILE_EVERY_S
                await self.process_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # Stripe or the database is away for a moment: the next round retries
                log.exception("stripe: handling events failed; trying again shortly")
                stop_if_cancelled()
            await until_woken(self._wakeup(), self.poll_interval_s)

    async def process_due(self) -> int:
        """Handles every event that is due once; returns how many were handled."""
        async with self.db.transaction() as session:
            due = await repo.due_events(session, utcnow(), BATCH)
        handled = 0
        for event_id in due:
            handled += await self._handle(event_id)
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

    async def _handle(self, event_id: str) -> int:
        try:
            async with self.db.transaction() as session:
                payload = await repo.pending_payload(session, event_id)
            if payload is None:
                return 0  # handled meanwhile
            found = await events.look_up(self.gateway, payload)  # Stripe answers with no lock held
            async with self.db.transaction() as session:
                event = await repo.claim_event(session, event_id)
                if event is None:
                    return 0  # another process has it, or it is done
                await events.handle(self._context(session, found), event.payload)
                await repo.mark_handled(session, event_id, utcnow())
            return 1
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._failed(event_id, error)
            return 0

    async def _failed(self, event_id: str, error: Exception) -> None:
        async with self.db.transaction() as session:
            attempts = await repo.event_attempts(session, event_id) + 1
            delay = min(BACKOFF_S * 2 ** (attempts - 1), BACKOFF_MAX_S)
            await repo.mark_failed(
                session,
                event_id,
                attempts=attempts,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
                error=f"{type(error).__name__}: {error}",
            )
            if attempts >= MAX_ATTEMPTS:
                await repo.mark_handled(session, event_id, utcnow())
        if attempts >= MAX_ATTEMPTS:
            log.error(
                "stripe: gave up event %s after %d attempts (%s)", event_id, attempts, type(error).__name__
            )
            return
        level = logging.INFO if isinstance(error, NotYet) else logging.ERROR
        log.log(
            level,
            "stripe: event %s not handled (%s); retrying in %.0fs",
            event_id,
            type(error).__name__,
            delay,
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
        )

    def _wakeup(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake
