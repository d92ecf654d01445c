"""What things cost, as the buyer reads it: amounts of catalogue items that name a Stripe Price (read
from Stripe at start and refreshed), formatted for the buyer's language by Babel."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency

from core.payments.catalogue import Catalogue, Pack, Plan

if TYPE_CHECKING:
    from core.payments.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)

REFRESH_EVERY_S = 3600.0
RETRY_AFTER_S = 60.0

# Stripe counts these currencies in whole units (https://docs.stripe.com/currencies#zero-decimal):
# an `amount` of 1000 JPY is ¥1,000, not ¥10.00.
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)

STARS = "xtr"  # Telegram Stars: whole stars, not an ISO currency

Price = tuple[int, str]  # (amount in Stripe's minor units, currency code)


def format_money(amount: int, currency: str, language: str) -> str:
    """`$9.99`, `¥1,000`, `₩10,000`, `US$9.99` in zh-CN: the locale's own way of writing the amount."""
    code = currency.lower()
    if code == STARS:
        return f"⭐{amount}"
    value = Decimal(amount) if code in ZERO_DECIMAL else Decimal(amount) / 100
    return format_currency(value, code.upper(), locale=_locale(language))


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language, sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale("en")


class PriceBook:
    """Prices of the catalogue. An item with an amount of its own shows that amount; one that names a
    Stripe Price shows what Stripe charges for it, once read. Stripe being away never blocks `/buy`:
    the item is shown without a price until the next refresh reads it."""

    def __init__(self, catalogue: Catalogue, gateway: StripeGateway | None) -> None:
        self._catalogue = catalogue
        self._gateway = gateway
        self._read: dict[str, Price] = {}

    @property
    def price_ids(self) -> list[str]:
        items: list[Pack | Plan] = [*self._catalogue.packs, *self._catalogue.plans]
        return sorted({item.price_id for item in items if item.price_id})

    def of(self, item: Pack | Plan) -> Price | None:
        if item.price_id and item.price_id in self._read:
            return self._read[item.price_id]
        if item.amount is not None:
            return item.amount, item.currency
        return None

    def shown(self, item: Pack | Plan, language: str) -> str | None:
        price = self.of(item)
        return format_money(*price, language) if price else None

    async def refresh(self) -> bool:
        """Reads every Stripe Price the catalogue names; True when all were read."""
        if self._gateway is None:
            return True
        complete = True
        for price_id in self.price_ids:
            try:
                price = await self._gateway.price(price_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Stripe away, or the price id is wrong: shown without a price
                log.warning("stripe: price %s could not be read (%s)", price_id, type(error).__name__)
                complete = False
                continue
            if price is None:
                log.warning("stripe: price %s has no fixed amount; it is shown without one", price_id)
                self._read.pop(price_id, None)
            else:
                self._read[price_id] = price
        return complete

    async def run(self) -> None:
        """Refreshes hourly, or every minute while a price could not be read."""
        while True:
            complete = await self.refresh()
            await asyncio.sleep(REFRESH_EVERY_S if complete else RETRY_AFTER_S)
