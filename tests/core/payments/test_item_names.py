"""Packs and plans are named in the buyer's language: in the catalogue and its buttons, in the
subscription's status, in the notice of a renewal and in the list of purchases."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.i18n import translate
from core.payments.catalogue import Pack
from tests.core.payments.conftest import Shop, shop_settings
from tests.core.payments.test_plans import subscribe
from tests.fakes.stripe_api import StripeAPIDouble
from tests.harness import DatabaseTarget, harness_for

NAMES = {
    "en": ("Starter", "Pro monthly"),
    "zh-CN": ("入门包", "专业版（月付）"),
}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_the_catalogue_and_its_buttons_name_items_in_the_buyers_language(
    shop: Shop, language: str
) -> None:
    await shop.harness.say(f"/language {language}")
    [reply] = await shop.harness.say("/buy")
    pack, plan = NAMES[language]
    assert f"• {pack}" in reply.text
    assert reply.choices[0][0].label == pack
    assert reply.choices[3][0].label == plan
    other_pack, _ = NAMES["zh-CN" if language == "en" else "en"]
    assert other_pack not in reply.text


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_plan_its_renewal_notice_and_the_purchases_are_named_in_the_buyers_language(
    shop: Shop, language: str
) -> None:
    await shop.harness.say(f"/language {language}")
    completed = await subscribe(shop)
    await shop.deliver("invoice.paid", shop.stripe.pay_invoice(completed["subscription"]))
    _, plan = NAMES[language]

    balance = (await shop.balance()).total
    renewal = translate(language, "payment.cycle", plan=plan, credits=1000, balance=balance)
    notices = [reply.text for reply in shop.harness.chat.sent["alice"]]
    assert any(notice.startswith(renewal) for notice in notices), notices
    [status] = await shop.harness.say("/subscription")
    assert plan in status.text
    [purchases] = await shop.harness.say("/invoices")
    assert plan in purchases.text
    assert " · pro · " not in purchases.text, "the item's id is not its name"


async def test_operators_name_their_items_per_language_and_a_missing_language_falls_back(
    database: DatabaseTarget, tmp_path: Path, stripe_api: StripeAPIDouble
) -> None:
    packs = [{"id": "mini", "name": "Mini", "names": {"zh-CN": "迷你包"}, "credits": 100, "amount": 199}]
    settings = shop_settings(stripe_api, packs=packs, plans=[])
    async with harness_for(database, tmp_path, stripe=settings) as harness:
        [english] = await harness.say("/buy", "ann")
        await harness.say("/language zh-CN", "bo")
        [chinese] = await harness.say("/buy", "bo")
    assert english.choices[0][0].label == "Mini"
    assert chinese.choices[0][0].label == "迷你包"


def test_a_name_in_a_language_the_bot_does_not_speak_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="unknown languages"):
        Pack(id="mini", name="Mini", names={"fr": "Petit"}, credits=100, amount=199)
