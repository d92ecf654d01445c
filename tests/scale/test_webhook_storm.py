"""Stripe's retries hitting two `web` processes on one database at once: each purchase is credited
once, with one notice, however many copies of its events arrive and whichever process takes them.
The plan's invoice is shaped as Stripe sends it today (decimal strings on its lines)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from core.db.models import LedgerEntry, StripeEvent
from core.db.session import Database
from core.i18n import translate
from core.policy import CreditSettings
from tests.cli import TIMEOUT_S, free_port
from tests.core.payments.conftest import WEBHOOK_SECRET, shop_settings
from tests.fakes.stripe_api import StripeAPIDouble, event, sign_webhook
from tests.fakes.stripe_api import stripe_api_fixture as stripe_api  # noqa: F401  (a fixture)
from tests.harness import DatabaseTarget, assert_books_balance, harness_for
from tests.platforms.console.test_console_e2e import _env
from tests.scale.conftest import healthy, processes

# Many processes share one PostgreSQL database in production; SQLite is for one process.
pytestmark = [pytest.mark.parametrize("database", ["postgresql"], indirect=True), pytest.mark.spawns]

BUYERS = ("alice", "bob")
SUBSCRIBER = "carol"
COPIES = 10  # of each event, to each process
INVOICE_COPIES = 5  # of the plan's invoice, to each process
PACK_CREDITS = 500
PLAN_CREDITS = 1000


async def test_a_webhook_storm_across_two_web_processes_credits_each_purchase_once(
    database: DatabaseTarget,
    tmp_path: Path,
    stripe_api: StripeAPIDouble,  # noqa: F811
) -> None:
    async with harness_for(
        database, tmp_path, run_workers=False, drain_outbox=False, stripe=shop_settings(stripe_api)
    ) as shop:
        sessions = []
        for buyer in BUYERS:
            [link] = await shop.say("/buy starter", buyer)
            sessions.extend(s for s in stripe_api.checkout_sessions.values() if s["url"] in link.text)
        [link] = await shop.say("/buy pro", SUBSCRIBER)
        [plan] = [s for s in stripe_api.checkout_sessions.values() if s["url"] in link.text]
        ports = [free_port(), free_port()]
        env = _env(
            database,
            IMAGE2BOT_STRIPE__ENABLED="true",
            IMAGE2BOT_STRIPE__API_KEY=stripe_api.api_key,
            IMAGE2BOT_STRIPE__WEBHOOK_SECRET=WEBHOOK_SECRET,
            IMAGE2BOT_STRIPE__API_BASE=stripe_api.base_url,
        )
        setups = [("web", {**env, "IMAGE2BOT_WEB__PORT": str(port)}) for port in ports]
        async with processes(tmp_path, *setups) as served:
            await asyncio.gather(*(healthy(port) for port in ports))
            payloads = []
            for session in sessions:
                completed = stripe_api.complete_session(session["id"])
                # Stripe's retries of one event, and the same news under a second event id
                payloads.append(json.dumps(event("checkout.session.completed", completed)).encode())
                payloads.append(json.dumps(event("checkout.session.completed", completed)).encode())
            subscribed = stripe_api.complete_session(plan["id"])
            invoice = stripe_api.pay_invoice(subscribed["subscription"])
            plan_payloads = [
                json.dumps(event("checkout.session.completed", subscribed)).encode(),
                json.dumps(event("invoice.paid", invoice)).encode(),
            ]
            async with aiohttp.ClientSession() as http:

                async def post(port: int, payload: bytes) -> int:
                    headers = {"Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET)}
                    async with http.post(
                        f"http://127.0.0.1:{port}/stripe/webhook", data=payload, headers=headers
                    ) as response:
                        return response.status

                posts = [post(port, payload) for payload in payloads for port in ports for _ in range(COPIES)]
                posts += [
                    post(port, payload)
                    for payload in plan_payloads
                    for port in ports
                    for _ in range(INVOICE_COPIES)
                ]
                assert set(await asyncio.gather(*posts)) == {200}
            await all_handled(shop.app.db, len(payloads) + len(plan_payloads))
        for process in served:
            assert process.returncode == 0, process.log
            assert "Traceback" not in process.log, process.log[-4000:]

        await shop.app.notifier.drain()  # the notices wait for a process with this chat's door
        trial = CreditSettings().trial
        notice = translate("en", "payment.received", credits=PACK_CREDITS, balance=trial + PACK_CREDITS)
        for buyer in BUYERS:
            assert (await shop.balance(buyer)).total == trial + PACK_CREDITS
            received = [reply for reply in shop.chat.sent[buyer] if reply.text.startswith(notice)]
            assert len(received) == 1
        async with shop.app.db.transaction() as session:
            purchases = await session.scalar(
                select(func.count(LedgerEntry.id)).where(LedgerEntry.kind == "purchase")
            )
        assert purchases == len(BUYERS)
        subscriber = await shop.balance(SUBSCRIBER)
        assert subscriber.subscription == PLAN_CREDITS
        cycle = translate(
            "en", "payment.cycle", plan="Pro monthly", credits=PLAN_CREDITS, balance=trial + PLAN_CREDITS
        )
        assert [reply.text.startswith(cycle) for reply in shop.chat.sent[SUBSCRIBER]].count(True) == 1
        await assert_books_balance(shop.app.db)


async def all_handled(db: Database, expected: int) -> None:
    """Waits until `expected` distinct events are stored and every one of them is handled."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            async with db.transaction() as session:
                stored, handled = (
                    await session.execute(
                        select(func.count(StripeEvent.id), func.count(StripeEvent.handled_at))
                    )
                ).one()
            if stored == expected == handled:
                return
            await asyncio.sleep(0.2)
