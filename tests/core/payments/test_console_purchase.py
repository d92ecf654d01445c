"""The acceptance path in the console: `/buy` posts the Checkout URL Stripe made; the signed
`checkout.session.completed`, posted three times at once, raises the balance once; a forged one gets 400."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from core.i18n import translate
from tests.cli import console, free_port
from tests.core.payments.conftest import WEBHOOK_SECRET
from tests.fakes.stripe_api import StripeAPIDouble, event, sign_webhook
from tests.harness import DatabaseTarget
from tests.platforms.console.test_console_e2e import _env

pytestmark = pytest.mark.spawns


async def test_buy_in_the_console_and_a_webhook_credits_once(
    database: DatabaseTarget, tmp_path: Path, stripe_api: StripeAPIDouble
) -> None:
    port = free_port()
    env = _env(
        database,
        IMAGE2BOT_STRIPE__ENABLED="true",
        IMAGE2BOT_STRIPE__API_KEY=stripe_api.api_key,
        IMAGE2BOT_STRIPE__WEBHOOK_SECRET=WEBHOOK_SECRET,
        IMAGE2BOT_STRIPE__API_BASE=stripe_api.base_url,
        IMAGE2BOT_WEB__PORT=str(port),
        IMAGE2BOT_PRIVACY__REQUIRE_ACCEPTANCE="false",
    )
    async with console("alice", cwd=tmp_path, env=env) as chat:
        chat.say("/balance", "/buy starter")
        balance = await chat.reply()
        link = await chat.reply()
        [session] = list(stripe_api.checkout_sessions.values())
        assert session["url"] in link
        assert session["metadata"]["item"] == "starter"
        assert session["client_reference_id"]

        payload = json.dumps(event("checkout.session.completed", stripe_api.complete_session(session["id"])))
        url = f"http://127.0.0.1:{port}/stripe/webhook"
        async with aiohttp.ClientSession() as http:

            async def post(signature: str) -> int:
                headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
                async with http.post(url, data=payload, headers=headers) as response:
                    return response.status

            assert await post(sign_webhook(payload.encode(), "whsec_forged")) == 400
            good = sign_webhook(payload.encode(), WEBHOOK_SECRET)
            assert await asyncio.gather(post(good), post(good), post(good)) == [200, 200, 200]

        before = int(balance.split()[1])
        assert await chat.reply() == translate(
            "en", "payment.received", credits=500, balance=before + 500
        ) + "\n" + (translate("en", "payment.support_hint"))
        chat.say("/balance")
        assert (await chat.reply()).startswith(translate("en", "balance.total", total=before + 500))
