"""A bot selling credits through Stripe, against the local Stripe API double, with its web server up."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.__main__ import main
from core import credits
from core.payments.webhooks import StripeEvents
from tests.fakes.stripe_api import StripeAPIDouble, event, sign_webhook
from tests.fakes.stripe_api import stripe_api_fixture as stripe_api  # noqa: F401  (a fixture)
from tests.harness import DatabaseTarget, Harness, harness_for

WEBHOOK_SECRET = "whsec_test_secret"


@dataclass
class Shop:
    harness: Harness
    stripe: StripeAPIDouble
    http: aiohttp.ClientSession

    @property
    def events(self) -> StripeEvents:
        assert self.harness.app.stripe_events is not None
        return self.harness.app.stripe_events

    @property
    def webhook_url(self) -> str:
        assert self.harness.app.web is not None
        return f"http://127.0.0.1:{self.harness.app.web.port}/stripe/webhook"

    async def post(self, payload: bytes, signature: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        async with self.http.post(self.webhook_url, data=payload, headers=headers) as response:
            return response.status

    async def deliver(
        self, kind: str, obj: dict[str, Any], *, times: int = 1, event_id: str | None = None
    ) -> str:
        """Posts one signed event `times` times at once, then lets the bot handle what it stored."""
        envelope = event(kind, obj, event_id=event_id)
        payload = json.dumps(envelope).encode()
        statuses = await asyncio.gather(
            *(self.post(payload, sign_webhook(payload, WEBHOOK_SECRET)) for _ in range(times))
        )
        assert set(statuses) == {200}
        await self.settle()
        return str(envelope["id"])

    async def settle(self) -> None:
        await self.events.process_due()
        await self.harness.app.notifier.drain()

    async def buy(self, item: str, user: str = "alice") -> dict[str, Any]:
        """`/buy <item>`: the Checkout Session the bot created for it."""
        [reply] = await self.harness.say(f"/buy {item}", user)
        [session] = [s for s in self.stripe.checkout_sessions.values() if s["url"] in reply.text]
        return session

    async def balance(self, user: str = "alice") -> credits.Balance:
        return await self.harness.balance(user)


def shop_settings(stripe: StripeAPIDouble, **stripe_settings: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "api_key": stripe.api_key,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": stripe.base_url,
        **stripe_settings,
    }


@pytest_asyncio.fixture
async def shop(database: DatabaseTarget, tmp_path: Path, stripe_api: StripeAPIDouble) -> AsyncIterator[Shop]:  # noqa: F811
    async with (
        harness_for(database, tmp_path, stripe=shop_settings(stripe_api), web={"port": 0}) as harness,
        aiohttp.ClientSession() as http,
    ):
        assert harness.app.web is not None
        await harness.app.web.start()
        yield Shop(harness, stripe_api, http)


@dataclass
class Operator:
    """`image2bot <argv>` as an operator runs it against the shop's database: in-process, through the
    real entry point (in a thread: `main` runs an event loop of its own)."""

    shop: Shop
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    async def run(self, *argv: str) -> tuple[int, str, str]:
        settings = self.shop.harness.app.settings
        for name in [name for name in os.environ if name.startswith("IMAGE2BOT_")]:
            self.monkeypatch.delenv(name)
        assert settings.database.url is not None
        self.monkeypatch.setenv("IMAGE2BOT_DATABASE__URL", settings.database.url)
        if settings.database.db_schema:
            self.monkeypatch.setenv("IMAGE2BOT_DATABASE__SCHEMA", settings.database.db_schema)
        self.monkeypatch.setenv("IMAGE2BOT_STORAGE__DATA_DIR", str(settings.storage.data_dir))
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def operator(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restored_logging: None
) -> Operator:
    return Operator(shop, monkeypatch, capsys)
