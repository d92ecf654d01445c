"""What can be bought: one-time packs and subscription plans, as the operator configures them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from core.generation.sizes import Tier
from core.policy import Section

ItemId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class Pack(Section):
    """Credits bought once; they never expire."""

    id: ItemId
    name: str
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


class Plan(Section):
    """A subscription: `credits_per_cycle` each billing cycle, unused ones do not roll over."""

    id: ItemId
    name: str
    credits_per_cycle: PositiveInt
    price_id: str | None = None  # a recurring Stripe Price; or amount + currency + interval
    interval: Literal["month", "year"] = "month"
    amount: PositiveInt | None = None  # shown to users; charged too when there is no price_id
    currency: str = "usd"
    max_res: Tier = Tier.K4

    @model_validator(mode="after")
    def _priced(self) -> Plan:
        if self.price_id is None and self.amount is None:
            raise ValueError(f"plan {self.id}: set price_id, or amount (with currency and interval)")
        return self


DEFAULT_PACKS = [
    Pack(id="starter", name="Starter", credits=500, amount=999),
    Pack(id="creator", name="Creator", credits=1200, amount=1999),
    Pack(id="studio", name="Studio", credits=3500, amount=4999),
]
DEFAULT_PLANS = [
    Plan(id="pro", name="Pro monthly", credits_per_cycle=1000, amount=1499, interval="month"),
    Plan(
        id="pro-annual",
        name="Pro annual (2 months free)",
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
