"""Plans paid in Telegram Stars: the subscription link, the first payment and each renewal refreshing
the plan's credits once, a refund taking back what is left of that period's credits, the plan ending
when Telegram stops renewing it, and the paid lane it opens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio

from core import credits
from core.db.statuses import JobLane
from core.i18n import translate
from core.payments.stars_plans import StarsSubscriptions
from tests.fakes.telegram_api import TelegramBotAPIDouble, refunded_payment, successful_payment
from tests.harness import DatabaseTarget
from tests.platforms.conftest import BOTH_DATABASES
from tests.platforms.telegram.conftest import ALICE, TRIAL, TelegramBot, open_telegram_bot

PLANS = [
    {
        "id": "pro",
        "name": "Pro monthly",
        "names": {"zh-CN": "专业版"},
        "credits_per_cycle": 1000,
        "amount": 1499,
        "interval": "month",
        "stars": 750,
    },
    {"id": "team", "name": "Team", "credits_per_cycle": 5000, "amount": 4999},  # not sold in Stars
]
PACKS = [{"id": "starter", "name": "Starter", "credits": 500, "amount": 999}]
PERIOD = 2592000


@pytest_asyncio.fixture
async def shop(
    database: DatabaseTarget, tmp_path: Path, api: TelegramBotAPIDouble
) -> AsyncIterator[TelegramBot]:
    stripe = {"packs": PACKS, "plans": PLANS}
    async with open_telegram_bot(database, tmp_path, api, stars=True, stripe=stripe) as bot:
        yield bot


async def pay(bot: TelegramBot, charge_id: str, expires_at: int, *, first: bool = False) -> None:
    payment = successful_payment(
        "stars-plan:pro", 750, charge_id, expires_at=expires_at, first_recurring=first
    )
    await bot.say(None, successful_payment=payment)


async def refund(bot: TelegramBot, charge_id: str) -> None:
    await bot.say(None, refunded_payment=refunded_payment("stars-plan:pro", 750, charge_id))


async def buckets(bot: TelegramBot) -> credits.Balance:
    account = await bot.harness.app.core.services.accounts.find("telegram", str(ALICE))
    assert account is not None
    async with bot.harness.app.db.transaction() as session:
        return await credits.balance(session, account.id)


async def spend(bot: TelegramBot) -> int:
    """Orders one image; returns its job id (its credits come from the plan's bucket first)."""
    await bot.say("/imagine a lighthouse at dusk")
    account = await bot.harness.app.core.services.accounts.find("telegram", str(ALICE))
    assert account is not None
    [job, *_] = await bot.harness.jobs_of(account.id)
    return job.id


def texts(bot: TelegramBot) -> list[str]:
    return [str(call.fields.get("text")) for call in bot.api.of("sendMessage", ALICE)]


async def test_buy_offers_the_plan_in_stars_and_a_press_sends_a_subscription_link(shop: TelegramBot) -> None:
    api = shop.api
    await shop.say("/buy")
    offer = api.of("sendMessage", ALICE)[-1]
    assert offer.fields["text"] == translate("en", "stars.offer")
    plan_button = offer.buttons()[-1]
    assert plan_button["text"] == translate(
        "en", "stars.plan_button", name="Pro monthly", credits=1000, stars=750
    )
    assert len(offer.buttons()) == 1, "only the plan has a Stars price"

    await shop.press(str(plan_button["callback_data"]), message_id=offer.message_id)

    [link] = api.of("createInvoiceLink")
    assert (link.fields["currency"], link.fields["subscription_period"]) == ("XTR", PERIOD)
    assert link.fields["prices"] == [{"label": "Pro monthly", "amount": 750}]
    assert link.fields["payload"] == "stars-plan:pro"
    message = api.of("sendMessage", ALICE)[-1]
    assert message.fields["text"] == translate(
        "en", "stars.plan_offer", name="Pro monthly", credits=1000, stars=750
    )
    [button] = message.buttons()
    assert button["url"] == link.result
    assert api.of("sendInvoice") == [], "a subscription is sold only through its link"


async def test_buy_with_the_plan_sends_its_subscription_link_and_refuses_what_stars_do_not_buy(
    shop: TelegramBot,
) -> None:
    await shop.say("/buy pro")
    [link] = shop.api.of("createInvoiceLink")
    assert link.fields["payload"] == "stars-plan:pro"
    [button] = shop.api.of("sendMessage", ALICE)[-1].buttons()
    assert button["url"] == link.result

    await shop.say("/buy team")
    assert texts(shop)[-1] == translate("en", "error.unknown_item", value="team", items="pro")
    assert len(shop.api.of("createInvoiceLink")) == 1


async def test_pre_checkout_approves_the_plan_at_its_stars_price_only(shop: TelegramBot) -> None:
    for amount in (750, 700):
        query = {
            "id": f"pc{amount}",
            "from": {"id": ALICE, "is_bot": False, "first_name": "A", "language_code": "en"},
            "currency": "XTR",
            "total_amount": amount,
            "invoice_payload": "stars-plan:pro",
        }
        await shop.deliver({"update_id": shop.api.next_update_id(), "pre_checkout_query": query})
    assert [answer.fields["ok"] for answer in shop.api.of("answerPreCheckoutQuery")] == [True, False]


@BOTH_DATABASES
async def test_the_first_payment_and_each_renewal_refresh_the_plan_once_however_often_reported(
    shop: TelegramBot,
) -> None:
    await shop.say("/balance")
    trial_job = await spend(shop)
    first_end = int(time.time()) + PERIOD

    await asyncio.gather(*(pay(shop, "charge-1", first_end, first=True) for _ in range(3)))
    assert (await buckets(shop)).subscription == 1000
    paid_job = await spend(shop)
    cost = 1000 - (await buckets(shop)).subscription
    assert cost > 0

    await asyncio.gather(*(pay(shop, "charge-2", first_end + PERIOD) for _ in range(3)))
    assert (await buckets(shop)).subscription == 1000, "the renewal refreshed the bucket"
    await spend(shop)
    await pay(shop, "charge-2", first_end + PERIOD)  # delivered once more, later
    await pay(shop, "charge-1", first_end, first=True)
    assert (await buckets(shop)).subscription == 1000 - cost, "a repeat refreshes nothing"

    await shop.harness.app.notifier.drain()
    cycle = translate("en", "payment.cycle", plan="Pro monthly", credits=1000, balance=TRIAL - cost + 1000)
    assert [text.split("\n")[0] for text in texts(shop)].count(cycle) == 2, "one notice per charge"
    await shop.harness.assert_ledger_consistent()
    lanes = [(await shop.harness.job(job)).lane for job in (trial_job, paid_job)]
    assert lanes == [JobLane.TRIAL, JobLane.PAID]


async def test_subscription_shows_the_stars_plan_and_its_renewal_date(shop: TelegramBot) -> None:
    expires = datetime(2031, 3, 4, 12, tzinfo=UTC)
    await pay(shop, "charge-1", int(expires.timestamp()), first=True)
    await shop.say("/subscription")
    status = texts(shop)[-1]
    assert status.startswith(
        translate(
            "en", "subscription.status", plan="Pro monthly", status="active", end="Mar 4, 2031", credits=1000
        )
    )
    assert translate("en", "subscription.stars") in status
    [cancel] = shop.api.of("sendMessage", ALICE)[-1].buttons()
    assert cancel["text"] == translate("en", "action.cancel_renewal")


async def test_cancelling_asks_telegram_to_stop_renewing_and_the_plan_stays_until_its_end(
    shop: TelegramBot,
) -> None:
    expires = datetime(2031, 3, 4, 12, tzinfo=UTC)
    await pay(shop, "charge-1", int((expires - timedelta(days=30)).timestamp()), first=True)
    await pay(shop, "charge-2", int(expires.timestamp()))
    shop.api.fail_next("editUserStarSubscription", 400, "Bad Request: SUBSCRIPTION_NOT_FOUND")
    await shop.say("/subscription cancel")
    assert texts(shop)[-1].startswith(translate("en", "error.payment_unavailable").split("\n")[0][:20])

    await shop.say("/subscription cancel")

    edits = shop.api.of("editUserStarSubscription")
    assert [
        (e.fields["user_id"], e.fields["telegram_payment_charge_id"], e.fields["is_canceled"]) for e in edits
    ] == [
        (ALICE, "charge-2", True),
        (ALICE, "charge-2", True),
    ]
    assert texts(shop)[-1] == translate("en", "subscription.cancelled", end="Mar 4, 2031")
    await shop.say("/subscription")
    assert translate("en", "subscription.ends", end="Mar 4, 2031") in texts(shop)[-1]
    assert shop.api.of("sendMessage", ALICE)[-1].buttons() == []
    assert (await buckets(shop)).subscription == 1000, "the plan's credits stay until its end"


async def test_a_refund_takes_back_what_is_left_of_that_period_once(shop: TelegramBot) -> None:
    first_end = int(time.time()) + PERIOD
    await pay(shop, "charge-1", first_end, first=True)
    await pay(shop, "charge-2", first_end + PERIOD)
    await spend(shop)
    left = (await buckets(shop)).subscription
    one_time = (await buckets(shop)).one_time

    await asyncio.gather(refund(shop, "charge-2"), refund(shop, "charge-2"))
    stars = shop.harness.app.core.services.stars
    assert await stars.reclaim("charge-2") == 0, "staff's refund of the same charge takes nothing more"
    assert await stars.reclaim("charge-1") == 0, "an older period's credits expired with it"

    assert await buckets(shop) == credits.Balance(0, one_time)
    await shop.harness.app.notifier.drain()
    refunded = translate("en", "payment.refunded", credits=left, balance=one_time)
    assert [text.split("\n")[0] for text in texts(shop)].count(refunded) == 1
    await shop.harness.assert_ledger_consistent()


async def test_a_plan_telegram_stopped_renewing_ends_after_its_period(shop: TelegramBot) -> None:
    expires = datetime.now(UTC) + timedelta(days=30)
    await pay(shop, "charge-1", int(expires.timestamp()), first=True)
    plans = StarsSubscriptions(shop.harness.app.core.services.stars)

    assert await plans.end_lapsed(expires) == 0, "a renewal may still come"
    assert await plans.end_lapsed(expires + timedelta(hours=2)) == 1
    assert await plans.end_lapsed(expires + timedelta(hours=3)) == 0

    assert (await buckets(shop)).subscription == 0
    await shop.say("/subscription")
    assert texts(shop)[-1] == translate("en", "subscription.none")
    await pay(shop, "charge-9", int((expires + timedelta(days=40)).timestamp()), first=True)
    assert (await buckets(shop)).subscription == 1000, "subscribing again starts a new plan"
    await shop.harness.assert_ledger_consistent()
