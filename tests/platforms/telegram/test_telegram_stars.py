"""Packs paid in Telegram Stars: offer, invoice, pre-checkout, a payment credited once, a refund."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from core.db.repositories import payments as payments_repo
from core.i18n import translate
from tests.cli import run
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.console.test_console_e2e import _env
from tests.platforms.telegram.conftest import (
    ALICE,
    QUICK_PACE_ENV,
    TOKEN,
    TRIAL,
    TelegramBot,
    open_telegram_bot,
)

PACKS = [
    {
        "id": "starter",
        "name": "Starter",
        "names": {"zh-CN": "入门包"},
        "credits": 500,
        "amount": 999,
        "stars": 350,
    },
    {"id": "studio", "name": "Studio", "credits": 3500, "amount": 4999},  # not sold in Stars
]


@pytest_asyncio.fixture
async def shop(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> AsyncIterator[TelegramBot]:
    async with open_telegram_bot(database, tmp_path, api, stars=True, stripe={"packs": PACKS}) as bot:
        yield bot


def precheck(bot: TelegramBot, amount: int, payload: str = "stars:starter") -> dict[str, Any]:
    query = {
        "id": f"pc{amount}",
        "from": {"id": ALICE, "is_bot": False, "first_name": "A", "language_code": "en"},
        "currency": "XTR",
        "total_amount": amount,
        "invoice_payload": payload,
    }
    return {"update_id": bot.api.next_update_id(), "pre_checkout_query": query}


async def pay(bot: TelegramBot, charge_id: str) -> None:
    payment = {
        "currency": "XTR",
        "total_amount": 350,
        "invoice_payload": "stars:starter",
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    await bot.say(None, successful_payment=payment)


async def test_buy_offers_stars_and_a_press_sends_the_invoice(shop: TelegramBot) -> None:
    api = shop.api
    await shop.say("/balance")
    [balance] = api.of("sendMessage", ALICE)
    assert balance.fields["text"].splitlines()[-1] == translate("en", "credits.buy"), "Stars sell here"
    assert [b["text"] for b in balance.buttons()] == [translate("en", "action.buy")]
    await shop.say("/buy")
    *_, catalogue, offer = api.of("sendMessage", ALICE)
    assert catalogue.fields["text"] == translate("en", "buy.title")
    assert offer.fields["text"] == translate("en", "stars.offer")
    [button] = offer.buttons()
    assert button["text"] == translate("en", "stars.button", name="Starter", credits=500, stars=350)

    await shop.press(str(button["callback_data"]), message_id=offer.message_id)

    [invoice] = api.of("sendInvoice", ALICE)
    assert invoice.fields["currency"] == "XTR"
    assert invoice.fields["prices"] == [{"label": "Starter", "amount": 350}]
    assert invoice.fields["payload"] == "stars:starter"
    assert invoice.fields.get("provider_token", "") == ""


async def test_a_chinese_buyer_is_offered_and_invoiced_the_pack_by_its_chinese_name(
    shop: TelegramBot,
) -> None:
    api = shop.api
    await shop.say("/language zh-CN")
    await shop.say("/buy")
    offer = api.of("sendMessage", ALICE)[-1]
    [button] = offer.buttons()
    assert button["text"] == translate("zh-CN", "stars.button", name="入门包", credits=500, stars=350)

    await shop.press(str(button["callback_data"]), message_id=offer.message_id)

    [invoice] = api.of("sendInvoice", ALICE)
    assert invoice.fields["title"] == "入门包"
    assert invoice.fields["prices"] == [{"label": "入门包", "amount": 350}]


async def test_pre_checkout_is_approved_only_for_the_current_offer_and_a_free_account(
    shop: TelegramBot,
) -> None:
    api = shop.api
    await shop.deliver(precheck(shop, 350))
    await shop.deliver(precheck(shop, 100))  # a stale price
    await shop.deliver(precheck(shop, 350, payload="stars:studio"))
    answers = api.of("answerPreCheckoutQuery")
    assert [answer.fields["ok"] for answer in answers] == [True, False, False]
    assert answers[1].fields["error_message"] == translate("en", "error.stars_item_gone")

    account = await shop.harness.app.core.services.accounts.find("telegram", str(ALICE))
    assert account is not None
    async with shop.harness.app.db.transaction() as session:
        await payments_repo.set_frozen(session, account.id, "dispute")
    await shop.deliver(precheck(shop, 350))
    refused = api.of("answerPreCheckoutQuery")[-1]
    assert refused.fields["ok"] is False
    assert refused.fields["error_message"] == translate("en", "error.account_frozen")


async def test_a_successful_payment_credits_once_however_often_it_is_reported(shop: TelegramBot) -> None:
    await shop.say("/balance")
    await asyncio.gather(*(pay(shop, "charge-1") for _ in range(3)))
    await shop.harness.app.notifier.drain()
    assert await shop.balance() == TRIAL + 500
    received = translate("en", "payment.received", credits=500, balance=TRIAL + 500)
    assert [call.fields["text"] for call in shop.api.of("sendMessage", ALICE)].count(received) == 1
    await shop.harness.assert_ledger_consistent()


@pytest.mark.spawns
@BOTH_DATABASES
async def test_the_operator_refunds_stars_and_the_credits_go_back(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> None:
    async with open_telegram_bot(database, tmp_path, api, stars=True, stripe={"packs": PACKS}) as bot:
        await bot.say("/balance")
        await pay(bot, "charge-9")
        paid = await bot.balance()
    env = _env(
        database, IMAGE2BOT_TELEGRAM__TOKEN=TOKEN, IMAGE2BOT_TELEGRAM__BASE_URL=api.base_url, **QUICK_PACE_ENV
    )
    env["IMAGE2BOT_STRIPE__PACKS"] = json.dumps(PACKS)
    code, out, err = await run("admin", "refund-stars", "charge-9", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "500 credits taken back" in out
    [refund] = api.of("refundStarPayment")
    assert (refund.fields["user_id"], refund.fields["telegram_payment_charge_id"]) == (ALICE, "charge-9")
    async with open_telegram_bot(database, tmp_path, api, stars=True, stripe={"packs": PACKS}) as bot:
        assert await bot.balance() == paid - 500


async def test_paysupport_says_how_to_get_help_with_a_payment(shop: TelegramBot) -> None:
    await shop.say("/paysupport")
    assert shop.api.of("sendMessage", ALICE)[-1].fields["text"] == translate("en", "payment.paysupport")
