"""/subscription as a reader in China sees it: the plan's state in Chinese, its end date in China's time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.i18n import translate
from tests.core.payments.conftest import Shop
from tests.core.payments.test_plans import subscribe


def chinese_day(unix: int) -> str:
    local = datetime.fromtimestamp(unix, ZoneInfo("Asia/Shanghai"))
    return f"{local.year}年{local.month}月{local.day}日"


async def test_the_subscription_reads_in_chinese_with_a_local_end_date(shop: Shop) -> None:
    completed = await subscribe(shop)
    invoice = shop.stripe.pay_invoice(completed["subscription"])
    await shop.deliver("invoice.paid", invoice)
    [line] = invoice["lines"]["data"]
    await shop.harness.say("/language zh-CN")

    [status] = await shop.harness.say("/subscription")
    first = status.text.splitlines()[0]
    assert f" · {translate('zh-CN', 'subscription.states.active')} · " in first
    assert translate("zh-CN", "subscription.states.active") == "生效中"
    assert chinese_day(line["period"]["end"]) in first, first

    [cancelled] = await shop.harness.say("/subscription cancel")
    end = chinese_day(line["period"]["end"])
    assert cancelled.text == translate("zh-CN", "subscription.cancelled", end=end)
