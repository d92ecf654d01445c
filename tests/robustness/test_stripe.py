"""Garbage posted to the Stripe webhook route (mounted as bot/app.py mounts it): a 4xx, nothing stored,
no traceback. Signed garbage too: only Stripe and we know the secret, but a 500 makes Stripe retry
for days, and a stored event that is not an event would fail in the background again and again."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from core.db.models import StripeEvent
from tests.core.payments.conftest import WEBHOOK_SECRET, shop_settings
from tests.fakes.stripe_api import StripeAPIDouble, sign_webhook
from tests.fakes.stripe_api import stripe_api_fixture as stripe_api  # noqa: F401  (a fixture)
from tests.harness import Harness, harness_for, sqlite_target

WEB_MAX_BYTES = 25 * 1024 * 1024  # bot.web.WebServer's client_max_size


@asynccontextmanager
async def webhook(tmp_path: Path, api: StripeAPIDouble) -> AsyncIterator[tuple[Harness, str]]:
    database = sqlite_target(tmp_path)
    async with harness_for(database, tmp_path, stripe=shop_settings(api), web={"port": 0}) as harness:
        assert harness.app.web is not None
        await harness.app.web.start()
        yield harness, f"http://127.0.0.1:{harness.app.web.port}/stripe/webhook"


async def post(url: str, payload: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"} | ({"Stripe-Signature": signature} if signature else {})
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=io.BytesIO(payload), headers=headers) as answer,
    ):
        return answer.status


async def stored(harness: Harness) -> int:
    async with harness.app.db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(StripeEvent)) or 0


UNSIGNED: list[tuple[bytes, str | None]] = [
    (b"", None),
    (b"\xff\xfe garbage", "t=1,v1=00"),
    (b"{}", "garbage"),
    (b"{}", "t=soon,v1=" + "0" * 64),
    (b"{}", ",".join(["t=1"] * 10_000)),
]


async def test_unsigned_and_badly_signed_garbage_is_refused(
    tmp_path: Path,
    stripe_api: StripeAPIDouble,  # noqa: F811
) -> None:
    async with webhook(tmp_path, stripe_api) as (harness, url):
        for payload, signature in UNSIGNED:
            assert await post(url, payload, signature) == 400, (payload[:20], (signature or "")[:20])
        assert await post(url, b"{" + b" " * WEB_MAX_BYTES + b"}", "t=1,v1=00") == 413
        assert await stored(harness) == 0


async def test_a_signature_header_that_is_not_ascii_is_refused(
    tmp_path: Path,
    stripe_api: StripeAPIDouble,  # noqa: F811
) -> None:
    async with webhook(tmp_path, stripe_api) as (harness, url):
        assert await post(url, b"{}", f"t={int(time.time())},v1=" + "é" * 64) == 400
        assert await stored(harness) == 0


SIGNED_NOT_EVENTS: list[Any] = [
    [],
    None,
    "evt_1",
    {},
    {"id": 5, "type": "checkout.session.completed"},
    {"id": "evt_2"},
    {"id": "evt_3", "type": ["a"]},
    {"id": "evt_4", "type": "customer.created", "created": "soon"},
]


async def test_signed_json_that_is_not_an_event_is_refused(
    tmp_path: Path,
    stripe_api: StripeAPIDouble,  # noqa: F811
) -> None:
    async with webhook(tmp_path, stripe_api) as (harness, url):
        statuses = []
        for body in SIGNED_NOT_EVENTS:
            payload = json.dumps(body).encode()
            statuses.append(await post(url, payload, sign_webhook(payload, WEBHOOK_SECRET)))
        assert statuses == [400] * len(SIGNED_NOT_EVENTS)
        assert await stored(harness) == 0
