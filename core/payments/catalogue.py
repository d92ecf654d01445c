"""What can be bought: one-time packs and subscription plans, as the operator configures them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from core.generation.sizes import Tier
from core.i18n import LANGUAGES
from core.policy import Section

ItemId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
ItemName = Annotated[str, Field(min_length=1, max_length=64)]


class _Named(Section):
    """An item shown to buyers: `name`, or its name in the buyer's language from `names`."""

    id: ItemId
    name: ItemName
    names: dict[str, ItemName] = Field(default_factory=dict)  # {"zh-CN": "入门包"}

    @field_validator("names")
    @classmethod
    def _known_languages(cls, names: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(names) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"names in unknown languages {unknown}: use {', '.join(LANGUAGES)}")
        return names

    def localized(self, language: str) -> str:
        return self.names.get(language) or self.name


class Pack(_Named):
    """Credits bought once; they never expire."""

    credits: PositiveInt
    price_id: str | None = None  # a Stripe Price; or amount + currency
    amount: PositiveInt | None = None  # minor units: 999 = 9.99
    currency: str = "usd"
    payment_link: str | None = None
    stars: PositiveInt | None = None  # the price in Telegram Stars, when sold there

    @model_validator(mode="after")
    def _priced(self) -> Pack:
        if self.price_id is None and self.amount is None and self.payment_link is None:
            raise ValueError(f"pack {self.id}: set price_id, amount (with currency) or payment_link")
        return self


class Plan(_Named):
    """A subscription: `credits_per_cycle` each billing cycle, unused ones do not roll over."""

    credits_per_cycle: PositiveInt
    price_id: str | None = None  # a recurring Stripe Price; or amount + currency + interval
    interval: Literal["month", "year"] = "month"
    amount: PositiveInt | None = None  # shown to users; charged too when there is no price_id
    currency: str = "usd"
    max_res: Tier = Tier.K4
    # The monthly price in Telegram Stars, when sold there as a Stars subscription (Telegram's
    # subscriptions last 30 days and cost at most 10,000 Stars).
    stars: Annotated[int, Field(gt=0, le=10000)] | None = None

    @model_validator(mode="after")
    def _priced(self) -> Plan:
        if self.price_id is None and self.amount is None:
            raise ValueError(f"plan {self.id}: set price_id, or amount (with currency and interval)")
        if self.stars is not None and self.interval != "month":
            raise ValueError(f"plan {self.id}: a Stars price renews every 30 days: set interval = month")
        return self


DEFAULT_PACKS = [
    Pack(id="starter", name="Starter", names={"zh-CN": "入门包"}, credits=500, amount=999),
    Pack(id="creator", name="Creator", names={"zh-CN": "创作者包"}, credits=1200, amount=1999),
    Pack(id="studio", name="Studio", names={"zh-CN": "工作室包"}, credits=3500, amount=4999),
]
DEFAULT_PLANS = [
    Plan(
        id="pro",
        name="Pro monthly",
        names={"zh-CN": "专业版（月付）"},
        credits_per_cycle=1000,
        amount=1499,
        interval="month",
    ),
    Plan(
        id="pro-annual",
        name="Pro annual (2 months free)",
        names={"zh-CN": "专业版（年付，赠送 2 个月）"},
        credits_per_cycle=12000,
        amount=14990,
        interval="year",
    ),
]


class Catalogue:
    def __init__(self, packs: list[Pack], plans: list[Plan]) -> None:
        self.packs = packs
        self.plans = plans
        ids = [item.id for item in [*packs, *plans]]
        if len(ids) != len(set(ids)):
            raise ValueError("pack and plan ids must be unique")

    def find(self, item_id: str) -> Pack | Plan | None:
        return next((item for item in [*self.packs, *self.plans] if item.id == item_id.lower()), None)

    def plan_by_price(self, price_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.price_id == price_id), None)

    def __bool__(self) -> bool:
        return bool(self.packs or self.plans)
