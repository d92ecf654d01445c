"""Prices read from Stripe for items that name a Stripe Price, written the buyer's locale's way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from core.payments.prices import format_money
from tests.core.payments.conftest import shop_settings
from tests.fakes.stripe_api import StripeAPIDouble
from tests.harness import DatabaseTarget, Harness, harness_for

PACKS = [
    {"id": "dollars", "name": "Dollars", "credits": 500, "price_id": "price_usd"},
    {"id": "yen", "name": "Yen", "credits": 600, "price_id": "price_jpy"},
    {"id": "won", "name": "Won", "credits": 700, "price_id": "price_krw"},
]
PLANS = [{"id": "pro", "name": "Pro", "credits_per_cycle": 1000, "price_id": "price_pro"}]


@pytest_asyncio.fixture
async def priced(
    database: DatabaseTarget, tmp_path: Path, stripe_api: StripeAPIDouble
) -> AsyncIterator[Harness]:
    stripe_api.add_price("price_usd", 999, "usd")
    stripe_api.add_price("price_jpy", 1000, "jpy")
    stripe_api.add_price("price_krw", 10000, "krw")
    stripe_api.add_price("price_pro", 1499, "usd", recurring_interval="month")
    settings = shop_settings(stripe_api, packs=PACKS, plans=PLANS)
    async with harness_for(database, tmp_path, stripe=settings) as harness:
        yield harness


async def test_buy_shows_the_prices_stripe_holds_in_english_and_chinese(
    priced: Harness, stripe_api: StripeAPIDouble
) -> None:
    assert await priced.app.core.services.payments.prices.refresh()
    assert len(stripe_api.of("GET", "/v1/prices/price_usd")) == 1

    [english] = await priced.say("/buy")
    [chinese] = await priced.say("/buy", "li", locale="zh-CN")

    for line in (
        "Dollars: 500 credits, $9.99 — /buy dollars",
        "Yen: 600 credits, ¥1,000 — /buy yen",
        "Won: 700 credits, ₩10,000 — /buy won",
        "Pro: 1000 credits every month, $14.99/month — /buy pro",
    ):
        assert line in english.text, english.text
    for line in (
        "Dollars：500 积分，US$9.99 — /buy dollars",
        "Yen：600 积分，JP¥1,000 — /buy yen",
        "Won：700 积分，₩10,000 — /buy won",
    ):
        assert line in chinese.text, chinese.text
    assert "100.00" not in english.text + chinese.text


async def test_while_stripe_cannot_be_reached_items_show_without_a_price(
    priced: Harness, stripe_api: StripeAPIDouble
) -> None:
    stripe_api.fail_next("/v1/prices", 429, times=4)  # not retried by the SDK: no waiting here
    assert not await priced.app.core.services.payments.prices.refresh()

    [reply] = await priced.say("/buy")

    assert "Dollars: 500 credits — /buy dollars" in reply.text
    assert "Pro: 1000 credits every month — /buy pro" in reply.text
    assert ", —" not in reply.text
    assert "/month —" not in reply.text


@pytest.mark.parametrize(
    ("amount", "currency", "language", "shown"),
    [
        (999, "usd", "en", "$9.99"),
        (1000, "jpy", "en", "¥1,000"),
        (10000, "krw", "en", "₩10,000"),
        (999, "usd", "zh-CN", "US$9.99"),
        (1000, "jpy", "zh-CN", "JP¥1,000"),
        (10000, "krw", "zh-CN", "₩10,000"),
        (4999, "eur", "en", "€49.99"),
    ],
)
def test_amounts_are_written_with_the_currency_s_own_minor_units(
    amount: int, currency: str, language: str, shown: str
) -> None:
    assert format_money(amount, currency, language) == shown
