"""Payments, built from settings: the catalogue, Stripe when it is on, and its webhook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.config import Settings
from core.db.session import Database
from core.notifier import Notifier
from core.payments.catalogue import Catalogue
from core.payments.prices import PriceBook
from core.payments.service import Payments
from core.payments.webhook_errors import InvalidWebhook
from core.payments.webhooks import StripeEvents
from core.telemetry import Telemetry


def build_payments(
    settings: Settings, db: Database, notifier: Notifier, telemetry: Telemetry
) -> tuple[Payments, StripeEvents | None]:
    stripe_settings = settings.stripe
    catalogue = Catalogue(stripe_settings.packs, stripe_settings.plans)
    gateway = None
    if stripe_settings.enabled:
        assert stripe_settings.api_key is not None
        assert stripe_settings.webhook_secret is not None
        from core.payments.stripe_gateway import StripeGateway  # the Stripe SDK loads only with Stripe on

        gateway = StripeGateway(
            api_key=stripe_settings.api_key.get_secret_value(),
            webhook_secret=stripe_settings.webhook_secret.get_secret_value(),
            api_base=stripe_settings.api_base,
            allow_promotion_codes=stripe_settings.allow_promotion_codes,
        )
    payments = Payments(
        db=db,
        catalogue=catalogue,
        gateway=gateway,
        prices=PriceBook(catalogue, gateway),
        checkout_mode=stripe_settings.checkout,
        success_url=stripe_settings.success_url,
        cancel_url=stripe_settings.cancel_url,
        free_max_res=settings.credits.free_max_res,
        sold_in_chat_on=frozenset({"telegram"}) if settings.telegram.stars else frozenset(),
    )
    if gateway is None:
        return payments, None
    events = StripeEvents(
        db,
        gateway,
        catalogue,
        notifier,
        settings.bot.default_language,
        telemetry=telemetry,
        referrals=settings.referrals,
    )
    return payments, events


def stripe_webhook(events: StripeEvents) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Stripe's POST: 400 unless signed with our secret (nothing stored), else stored and 200 at once."""

    async def receive(request: web.Request) -> web.Response:
        payload = await request.read()
        try:
            await events.receive(payload, request.headers.get("Stripe-Signature", ""))
        except InvalidWebhook:
            return web.Response(status=400)
        return web.Response(status=200)

    return receive
