"""/buy in a chat: the catalogue, a Checkout Session made for this account, plans and invoices."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.i18n import translate
from tests.core.payments.conftest import Shop, shop_settings
from tests.fakes.stripe_api import StripeAPIDouble
from tests.harness import DatabaseTarget, harness_for


async def test_buy_lists_packs_and_plans_with_a_button_each(shop: Shop) -> None:
    [reply] = await shop.harness.say("/buy")
    assert reply.private
    assert "Starter: 500 credits, $9.99 — /buy starter" in reply.text
    assert (
        "Pro annual (2 months free): 12000 credits every year, $149.90/year — /buy pro-annual" in reply.text
    )
    assert translate("en", "payment.support_hint") in reply.text
    assert [row[0].command for row in reply.choices] == [
        "/buy starter",
        "/buy creator",
        "/buy studio",
        "/buy pro",
        "/buy pro-annual",
    ]


async def test_buying_a_pack_posts_the_checkout_url_stripe_made_for_this_account(shop: Shop) -> None:
    session = await shop.buy("starter")
    account = await shop.harness.app.core.services.accounts.find("test", "alice")
    assert account is not None
    assert session["mode"] == "payment"
    assert session["metadata"] == {
        "account_id": str(account.id),
        "item": "starter",
        "chat": "test:private:alice",
    }
    assert session["client_reference_id"]
    assert len(session["client_reference_id"]) >= 20, "an opaque, unguessable reference"
    assert session["amount_total"] == 999
    [request] = shop.stripe.of("POST", "/v1/checkout/sessions")
    assert request.idempotency_key


async def test_a_plan_checks_out_as_a_subscription_carrying_the_account_on_the_subscription(
    shop: Shop,
) -> None:
    session = await shop.buy("pro")
    assert session["mode"] == "subscription"
    [request] = shop.stripe.of("POST", "/v1/checkout/sessions")
    assert request.params["subscription_data"]["metadata"] == session["metadata"]


async def test_an_unknown_item_is_explained_and_nothing_is_created(shop: Shop) -> None:
    [reply] = await shop.harness.say("/buy gold")
    assert reply.error
    assert "starter" in reply.text
    assert shop.stripe.of("POST", "/v1/checkout/sessions") == []


async def test_when_stripe_is_down_the_user_is_told_and_nothing_is_charged(shop: Shop) -> None:
    shop.stripe.fail_next("/v1/checkout/sessions", 500, times=5)
    [reply] = await shop.harness.say("/buy starter")
    assert reply.text == translate("en", "error.payment_unavailable")


async def test_payment_links_carry_an_opaque_client_reference(
    database: DatabaseTarget, tmp_path: Path, stripe_api: StripeAPIDouble
) -> None:
    packs = [
        {"id": "starter", "name": "Starter", "credits": 500, "payment_link": "https://buy.stripe.com/t_1"}
    ]
    settings = shop_settings(stripe_api, checkout="payment_link", packs=packs, plans=[])
    async with harness_for(database, tmp_path, stripe=settings) as harness:
        [reply] = await harness.say("/buy starter")
    assert "https://buy.stripe.com/t_1?client_reference_id=" in reply.text
    assert stripe_api.requests == []


async def test_without_stripe_buy_says_how_to_get_credits(database: DatabaseTarget, tmp_path: Path) -> None:
    async with harness_for(database, tmp_path) as harness:
        [reply] = await harness.say("/buy")
    assert reply.text.startswith(translate("en", "buy.unavailable"))


async def test_free_accounts_are_held_to_the_free_resolution_and_nothing_is_reserved(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, credits={"free_max_res": "2k"}) as harness:
        await harness.say("/balance")
        before = await harness.balance()
        [reply] = await harness.say("/imagine a castle --res 4k")
        assert reply.error
        assert "/buy starter" in reply.text
        assert await harness.balance() == before


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_buy_states_the_refund_policy_with_the_catalogue_and_with_a_payment_link(
    shop: Shop, language: str
) -> None:
    refunds = translate(language, "buy.refunds")
    [catalogue] = await shop.harness.say("/buy", locale=language)
    assert refunds in catalogue.text
    [link] = await shop.harness.say("/buy starter", locale=language)
    assert "https://" in link.text
    assert refunds in link.text


async def test_stripe_promotion_codes_are_offered_on_checkout_only_when_switched_on(
    database: DatabaseTarget, tmp_path: Path, stripe_api: StripeAPIDouble
) -> None:
    for allowed, shown in ((False, None), (True, True)):
        settings = shop_settings(stripe_api, allow_promotion_codes=allowed)
        async with harness_for(database, tmp_path, stripe=settings) as harness:
            await harness.say("/buy starter")
        request = stripe_api.of("POST", "/v1/checkout/sessions")[-1]
        assert request.params.get("allow_promotion_codes") == ("true" if allowed else None)
        assert request.response["allow_promotion_codes"] is shown
