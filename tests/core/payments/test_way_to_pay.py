"""Where more credits come from: `/buy` with a button when the shop is open, else an honest word on
where help is. Nobody is sent to "the administrator"."""

from __future__ import annotations

from pathlib import Path

from core.i18n import translate
from core.messages import Choice, Reply
from tests.core.payments.conftest import shop_settings
from tests.fakes.stripe_api import StripeAPIDouble
from tests.harness import DatabaseTarget, Harness, harness_for

NO_TRIAL = {"trial": 5}  # less than one image


async def balance_and_refusal(harness: Harness, locale: str | None = None) -> tuple[Reply, Reply]:
    [balance] = await harness.say("/balance", locale=locale)
    [refused] = await harness.say("/imagine a cat", locale=locale)
    assert refused.error
    return balance, refused


async def test_with_stripe_on_balance_and_not_enough_credits_lead_to_buy(
    database: DatabaseTarget, tmp_path: Path, stripe_api: StripeAPIDouble
) -> None:
    async with harness_for(database, tmp_path, stripe=shop_settings(stripe_api), credits=NO_TRIAL) as harness:
        for locale, language in ((None, "en"), ("zh-CN", "zh-CN")):
            balance, refused = await balance_and_refusal(harness, locale)
            buy = ((Choice(translate(language, "action.buy"), "/buy"),),)
            assert balance.text.splitlines()[-1] == translate(language, "credits.buy")
            assert balance.choices == buy
            needs = translate(language, "error.insufficient_credits", cost=10, balance=5)
            assert refused.text == needs + "\n" + translate(language, "credits.buy")
            assert refused.choices == buy
        assert (await harness.balance()).total == 5


async def test_with_stripe_off_nobody_is_sent_to_the_administrator(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, credits=NO_TRIAL) as harness:
        contact = harness.app.core.services.privacy.settings.contact
        for locale, language in ((None, "en"), ("zh-CN", "zh-CN")):
            balance, refused = await balance_and_refusal(harness, locale)
            [bought] = await harness.say("/buy", locale=locale)
            where = (
                translate(language, "buy.unavailable")
                + " "
                + translate(language, "credits.help", contact=contact)
            )
            assert balance.text.splitlines()[-1] == where
            assert refused.text.endswith("\n" + where)
            assert bought.text == where
            assert (balance.choices, refused.choices) == ((), ())
            for reply in (balance, refused, bought):
                assert "administrator" not in reply.text
                assert "管理员" not in reply.text
