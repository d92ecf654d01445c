"""The Telegram double's payment calls, payment messages and chat members keep to Telegram's own
description (a drift check): what it builds has exactly the described fields, its answers have the
described types, and it refuses the payment calls Telegram refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from telegram import Bot, LabeledPrice

from tests.fakes import telegram_schema
from tests.fakes.telegram_api import TelegramBotAPIDouble, chat_member, refunded_payment, successful_payment

TOKEN = "123456:TEST-token-for-the-schema"
GROUP, OWNER, ADMIN, MEMBER = -100777, 1, 2, 3
MEMBER_KINDS = {
    "creator": "ChatMemberOwner",
    "administrator": "ChatMemberAdministrator",
    "member": "ChatMemberMember",
}
LINK = {
    "title": "Pro",
    "description": "1000 credits every 30 days",
    "payload": "stars-plan:pro",
    "currency": "XTR",
    "prices": [{"label": "Pro", "amount": 750}],
    "subscription_period": 2592000,
}


@pytest_asyncio.fixture
async def double() -> AsyncIterator[TelegramBotAPIDouble]:
    api = TelegramBotAPIDouble(TOKEN)
    await api.start()
    yield api
    await api.stop()


async def call(api: TelegramBotAPIDouble, method: str, fields: dict[str, Any]) -> tuple[int, Any]:
    url = f"{api.base_url}{TOKEN}/{method}"
    async with aiohttp.ClientSession() as http, http.post(url, json=fields) as response:
        return response.status, await response.json()


def test_the_checked_methods_and_payment_types_are_described() -> None:
    methods = telegram_schema.spec()["methods"]
    assert set(telegram_schema.CHECKED_METHODS) <= set(methods)
    assert telegram_schema.returns("createInvoiceLink") == ["String"]
    assert telegram_schema.returns("editUserStarSubscription") == ["Boolean"]
    assert telegram_schema.returns("refundStarPayment") == ["Boolean"]
    assert "subscription_period" in telegram_schema.fields_of("methods", "createInvoiceLink")


@pytest.mark.parametrize(
    "payment",
    [
        successful_payment("stars:starter", 350, "c1"),
        successful_payment("stars-plan:pro", 750, "c2", expires_at=1_800_000_000, first_recurring=True),
        successful_payment("stars-plan:pro", 750, "c3", expires_at=1_802_592_000),
    ],
)
def test_the_payments_the_double_builds_are_shaped_as_described(payment: dict[str, Any]) -> None:
    assert telegram_schema.shape_errors("SuccessfulPayment", payment) == []


def test_a_refund_the_double_builds_is_shaped_as_described() -> None:
    assert telegram_schema.shape_errors("RefundedPayment", refunded_payment("stars:starter", 350, "c1")) == []


async def test_a_subscription_link_is_answered_with_a_link_through_the_real_sdk(
    double: TelegramBotAPIDouble,
) -> None:
    async with Bot(TOKEN, base_url=double.base_url) as bot:
        link = await bot.create_invoice_link(
            title="Pro",
            description="1000 credits every 30 days",
            payload="stars-plan:pro",
            currency="XTR",
            prices=[LabeledPrice("Pro", 750)],
            provider_token="",
            subscription_period=2592000,
        )
        assert await bot.edit_user_star_subscription(42, "c2", is_canceled=True) is True
        assert await bot.refund_star_payment(42, "c2") is True
    assert isinstance(link, str)
    assert link.startswith("https://t.me/$")
    assert double.violations == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"subscription_period": 86400}, "subscription_period must be 2592000"),
        ({"currency": "USD", "provider_token": "tok"}, "a subscription is paid in Stars"),
        ({"prices": [{"label": "Pro", "amount": 750}, {"label": "Tax", "amount": 1}]}, "exactly one price"),
        ({"prices": [{"label": "Pro", "amount": 10001}]}, "at most 10000 Stars"),
        ({"title": "P" * 33}, "title must be 1-32 characters"),
        ({"is_subscription": True}, "unknown parameter is_subscription"),
    ],
)
async def test_a_link_telegram_would_refuse_is_refused(
    double: TelegramBotAPIDouble, change: dict[str, Any], why: str
) -> None:
    status, answer = await call(double, "createInvoiceLink", {**LINK, **change})
    assert (status, answer["ok"]) == (400, False)
    assert why in answer["description"]
    assert any(why in violation for violation in double.violations)


async def test_a_star_subscription_edit_needs_what_telegram_needs(double: TelegramBotAPIDouble) -> None:
    status, answer = await call(double, "editUserStarSubscription", {"user_id": 42, "is_canceled": True})
    assert status == 400
    assert "telegram_payment_charge_id is required" in answer["description"]


@pytest.mark.parametrize("user_id", [OWNER, ADMIN, MEMBER])
def test_each_chat_member_has_exactly_what_the_bot_api_describes(user_id: int) -> None:
    double = TelegramBotAPIDouble(TOKEN)
    double.owners[GROUP] = OWNER
    double.admins[GROUP].add(ADMIN)
    member = chat_member(double, GROUP, user_id)
    assert telegram_schema.shape_errors(MEMBER_KINDS[member["status"]], member) == []
    assert telegram_schema.shape_errors("User", member["user"]) == []


def test_get_chat_member_is_a_method_that_takes_a_chat_and_a_user() -> None:
    assert telegram_schema.fields_of("methods", "getChatMember") == {"chat_id": True, "user_id": True}
    assert telegram_schema.returns("getChatMember") == ["ChatMember"]
    assert set(MEMBER_KINDS.values()) <= set(telegram_schema.spec()["types"]["ChatMember"]["subtypes"])
