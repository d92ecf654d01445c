"""Stored Stripe events are claimed before they are handled (`core.db.leases`): an event another
process holds is left to it, and taken over once that process gives it back or its claim lapses."""

from __future__ import annotations

import json
from datetime import timedelta

from core.db.repositories import payments as repo
from core.db.types import utcnow
from tests.core.payments.conftest import WEBHOOK_SECRET, Shop
from tests.fakes.stripe_api import event, sign_webhook


async def stored_purchase(shop: Shop) -> None:
    session = await shop.buy("starter")
    payload = json.dumps(event("checkout.session.completed", shop.stripe.complete_session(session["id"])))
    assert await shop.post(payload.encode(), sign_webhook(payload.encode(), WEBHOOK_SECRET)) == 200


async def claim_for_another_process(shop: Shop, *, for_: timedelta) -> None:
    now = utcnow()
    async with shop.harness.app.db.transaction() as session:
        claimed = await repo.claim_due_events(
            session, owner="another process", now=now, until=now + for_, limit=10
        )
    assert len(claimed) == 1


async def test_an_event_another_process_claimed_is_handled_once_it_is_given_back(shop: Shop) -> None:
    await shop.harness.say("/balance")
    before = (await shop.balance()).total
    await stored_purchase(shop)
    await claim_for_another_process(shop, for_=timedelta(minutes=2))

    assert await shop.events.process_due() == 0
    assert (await shop.balance()).total == before

    async with shop.harness.app.db.transaction() as session:
        await repo.release_events(session, "another process")  # it stopped before handling it
    assert await shop.events.process_due() == 1
    assert (await shop.balance()).total == before + 500
    await shop.harness.assert_ledger_consistent()


async def test_an_event_whose_claim_lapsed_is_taken_over(shop: Shop) -> None:
    await shop.harness.say("/balance")
    before = (await shop.balance()).total
    await stored_purchase(shop)
    await claim_for_another_process(shop, for_=timedelta(seconds=-1))  # that process died

    assert await shop.events.process_due() == 1
    assert (await shop.balance()).total == before + 500
