"""The composition root: the only place that knows every concrete part and wires them together."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum

from bot import ops
from bot.config import Settings
from bot.doors import build_discord, build_telegram, build_wecom
from bot.metrics import Metrics
from bot.payments import build_payments, stripe_webhook
from bot.privacy import build_privacy, connect_doors
from bot.providers import build_pool
from bot.storage import build_storage
from bot.web import STRIPE_EVENT_MAX_BYTES, WebServer
from core.accounts import Accounts
from core.commands.context import Services
from core.commands.router import Core
from core.db import migrate, signals
from core.db.session import Database
from core.generation.content_rules import ContentRules
from core.generation.jobs import JobService
from core.generation.providers.base import ImageProvider, PromptChecker
from core.generation.providers.local import LocalProvider
from core.generation.providers.pool import ProviderPool
from core.generation.storage import Storage
from core.generation.styles import StyleBook
from core.generation.worker import WorkerPool
from core.groups import GroupWallets
from core.growth.codes import Codes
from core.growth.referrals import Referrals
from core.heartbeat import Heartbeat
from core.live_figures import Figures
from core.messages import ChatRef
from core.notifier import Notifier
from core.payments.stars import StarsPurchases
from core.payments.stars_plans import StarsSubscriptions
from core.payments.webhooks import StripeEvents
from core.policy import GenerationSettings
from core.support import CONTACT_QR, SupportDesk
from platforms.base import Adapter
from platforms.console.adapter import ConsoleAdapter

log = logging.getLogger(__name__)

SHUTDOWN_DELIVERY_S = 5.0


class Role(StrEnum):
    """What one process does; any number of processes share one database.

    `all` does everything (the single-machine default). `gateway` runs the chat doors (Telegram
    polling, Discord, the console) and delivers replies; `worker` renders jobs; `web` serves webhooks
    (Stripe, WeCom, Telegram in webhook mode) and handles what they bring.
    """

    ALL = "all"
    GATEWAY = "gateway"
    WORKER = "worker"
    WEB = "web"

    @property
    def doors(self) -> bool:
        return self in (Role.ALL, Role.GATEWAY)

    @property
    def renders(self) -> bool:
        return self in (Role.ALL, Role.WORKER)

    @property
    def serves_web(self) -> bool:
        return self in (Role.ALL, Role.WEB)


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """How the console door runs: as identity `console:<user>`, JSON or text, in the foreground or not."""

    user: str
    json_output: bool = False
    foreground: bool = False


@dataclass(slots=True)
class App:
    settings: Settings
    db: Database
    storage: Storage
    provider: PromptChecker
    notifier: Notifier
    worker: WorkerPool
    core: Core
    adapters: list[Adapter]
    web: WebServer | None
    console: ConsoleAdapter | None = None
    console_foreground: bool = False
    stripe_events: StripeEvents | None = None
    role: Role = Role.ALL
    metrics: Metrics | None = None
    ops_web: WebServer | None = None  # health and metrics where no web server runs
    heartbeat: Heartbeat | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def prepare(self) -> None:
        """Creates the data folders (or checks the bucket), stores the contact QR for every process to
        send, and applies pending migrations when configured to."""
        await self.storage.prepare()
        if (qr := self.settings.support.contact_qr_path) is not None:
            if await asyncio.to_thread(qr.is_file):
                await self.storage.store.put(CONTACT_QR, await asyncio.to_thread(qr.read_bytes))
            else:
                log.warning("support.contact_qr_path names no file: /support shows no QR code")
        if self.settings.database.auto_migrate:
            await migrate.upgrade(self.db.engine)
        if self.role.renders:
            await self.core.services.privacy.eraser.resume()  # erasures a crash interrupted

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Serves until `stop()`, or until the console's input ends when the console is the main door."""
        await self.prepare()
        tasks: list[asyncio.Task[None]] = []
        try:
            async with asyncio.TaskGroup() as group:
                wake_on: dict[str, Callable[[], None]] = {}
                if self.heartbeat is not None:
                    tasks.append(group.create_task(self.heartbeat.run(), name="heartbeat"))
                if self.role.renders:
                    tasks.append(group.create_task(self.worker.run(), name="worker"))
                    privacy = self.core.services.privacy
                    tasks.append(group.create_task(privacy.retention.run(), name="retention-purge"))
                    tasks.append(group.create_task(privacy.unkept.run(), name="unkept-erasure"))
                    tasks.append(group.create_task(privacy.broadcasts.run(), name="broadcasts"))
                    if self.settings.telegram.stars:
                        lapses = StarsSubscriptions(self.core.services.stars).run()
                        tasks.append(group.create_task(lapses, name="stars-lapses"))
                    wake_on[signals.JOBS] = self.worker.wake
                if self.notifier.has_senders:
                    tasks.append(group.create_task(self.notifier.run(), name="outbox"))
                    wake_on[signals.OUTBOX] = self.notifier.wake
                if self.stripe_events is not None:
                    tasks.append(group.create_task(self.stripe_events.run(), name="stripe-events"))
                    prices = self.core.services.payments.prices
                    if prices.price_ids:
                        tasks.append(group.create_task(prices.run(), name="stripe-prices"))
                tasks.append(group.create_task(signals.listen(self.db, wake_on), name="wake-ups"))
                if self.web is not None:
                    await self.web.start()
                if self.ops_web is not None:
                    await self.ops_web.start()
                tasks.extend(group.create_task(self._serve(adapter)) for adapter in self.adapters)
                await self._stop.wait()
                await self._last_deliveries()
                for adapter in self.adapters:
                    await adapter.stop()
                # A query cut short here leaves its connection to be discarded; the pool reports each
                # as an error, but nothing is lost (jobs interrupted now are recovered at the next start).
                logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
                for task in tasks:
                    task.cancel()
        finally:
            await self.close()

    async def _last_deliveries(self) -> None:
        """Lets a delivery in flight be recorded as sent (so it is not repeated at the next start) and
        sends what is due, for a few seconds at most: what is left waits in the outbox."""
        if not self.notifier.has_senders:
            return
        with suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_DELIVERY_S):
                await self.notifier.drain()

    async def close(self) -> None:
        if self.web is not None:
            await self.web.stop()
        if self.ops_web is not None:
            await self.ops_web.stop()
        await self.provider.close()
        if (stripe := self.core.services.payments.gateway) is not None:
            await stripe.close()
        await self.db.dispose()

    async def _serve(self, adapter: Adapter) -> None:
        await adapter.start()
        if adapter is self.console and (self.console_foreground or len(self.adapters) == 1):
            self.stop()


def build(
    settings: Settings,
    console: ConsoleOptions | None = None,
    *,
    provider: ImageProvider | ProviderPool | None = None,
    role: Role = Role.ALL,
) -> App:
    """Wires the application for `role`; `provider` replaces the configured image provider (tests,
    embedding)."""
    db = settings.open_database()
    storage = build_storage(settings.storage)
    provider = provider or build_pool(settings)
    notifier = Notifier(db, claim_s=settings.bot.delivery_claim_s)
    styles = StyleBook(settings.styles)
    metrics = Metrics(
        Figures(db), cache_s=settings.ops.metrics_cache_s, timeout_s=settings.ops.check_timeout_s
    )
    worker = WorkerPool(
        db, provider, storage, notifier, styles, worker_settings(settings, provider), telemetry=metrics
    )
    support = SupportDesk(
        db=db,
        notifier=notifier,
        staff=frozenset(f"wecom:{agent}" for agent in settings.support.wecom_agents),
        staff_chats=support_chats(settings),
        admins=frozenset(settings.bot.admins),
        staff_language=settings.bot.default_language,
        contact_qr=CONTACT_QR if settings.support.contact_qr_path else None,
        hours=settings.support.hours,
        contact=settings.privacy.contact,
        web_desk=settings.admin.enabled,
    )
    payments, stripe_events = build_payments(settings, db, notifier, metrics)
    if not role.serves_web:
        stripe_events = None  # stored and handled by the web processes
    accounts = Accounts(db, trial_credits=settings.credits.trial, admins=settings.bot.admins)
    privacy = build_privacy(
        settings, db=db, accounts=accounts, storage=storage, notifier=notifier, worker=worker
    )
    stars = StarsPurchases(
        db, accounts, notifier, payments.catalogue, settings.bot.default_language, settings.referrals
    )
    services = Services(
        db=db,
        accounts=accounts,
        jobs=JobService(db, provider, storage, settings.generation, settings.credits, styles, worker),
        storage=storage,
        styles=styles,
        generation=settings.generation,
        pricing=settings.credits,
        default_language=settings.bot.default_language,
        notifier=notifier,
        support=support,
        payments=payments,
        stars=stars,
        privacy=privacy,
        groups=GroupWallets(db),
        codes=Codes(db, settings.codes),
        referrals=Referrals(db, settings.referrals, settings.codes),
        content_rules=ContentRules(settings.moderation),
    )
    core = Core(services, metrics)
    adapters: list[Adapter] = []
    console_adapter = None
    if console is None and role.doors and console_door_enabled(settings):
        console = ConsoleOptions(user=settings.console.user or default_console_user())
    if console is not None:
        console_adapter = ConsoleAdapter(
            core, user=console.user, json_output=console.json_output, locale=_terminal_locale()
        )
        adapters.append(console_adapter)
    serve_web = role is Role.WEB or (role.serves_web and settings.web_needed)
    web = build_web(settings) if serve_web else None
    telegram_by_webhook = settings.telegram.mode == "webhook"
    if settings.telegram.enabled and (role.doors or (web is not None and telegram_by_webhook)):
        adapters.append(build_telegram(settings, core, web, db, stars if settings.telegram.stars else None))
    if settings.discord.enabled and role.doors:
        adapters.append(build_discord(settings, core))
    kf_sender = None
    if settings.wecom.enabled and (role.doors or web is not None):
        wecom = build_wecom(settings, core, web, db)
        adapters.append(wecom)
        kf_sender = wecom.kf
    if web is not None and stripe_events is not None:
        web.add_post(
            settings.stripe.webhook_path, stripe_webhook(stripe_events), max_body=STRIPE_EVENT_MAX_BYTES
        )
    connect_doors(privacy, settings, [*adapters, kf_sender] if kf_sender else adapters, web)
    if web is not None and settings.admin.enabled:
        from bot import admin_web  # templates and password hashing: only where the web server runs

        admin_web.mount(web, services, settings)
    for adapter in adapters:
        notifier.register(adapter)
    if kf_sender is not None:
        notifier.register(kf_sender)  # customer-service chats: a sender, served by the WeCom adapter
    ops_web = ops.listener(settings) if web is None and settings.ops.enabled else None
    if (operators := web or ops_web) is not None:
        ops.mount(operators, ops.readiness(settings, db, adapters), metrics)
    heartbeat = None
    if role.renders:
        heartbeat = Heartbeat(
            db, worker.owner, role.value, settings.ops.heartbeat_s, settings.ops.ready_worker_stale_s
        )
    return App(
        settings=settings,
        db=db,
        storage=storage,
        provider=provider,
        notifier=notifier,
        worker=worker,
        core=core,
        adapters=adapters,
        web=web,
        console=console_adapter,
        console_foreground=console.foreground if console else False,
        stripe_events=stripe_events,
        role=role,
        metrics=metrics,
        ops_web=ops_web,
        heartbeat=heartbeat,
    )


def build_web(settings: Settings) -> WebServer:
    web = settings.web
    return WebServer(
        host=web.host,
        port=web.port,
        max_connections=web.max_connections,
        header_timeout_s=web.header_timeout_s,
        body_timeout_s=web.body_timeout_s,
    )


def console_door_enabled(settings: Settings) -> bool:
    """`[console] enabled`, or by default: on exactly when no chat platform is enabled."""
    if settings.console.enabled is not None:
        return settings.console.enabled
    return not (settings.telegram.enabled or settings.discord.enabled or settings.wecom.enabled)


def support_chats(settings: Settings) -> tuple[ChatRef, ...]:
    """Where tickets go: the WeCom agents' app chats, or one WeCom group chat."""
    if not settings.wecom.enabled:
        if settings.support.wecom_agents or settings.support.wecom_chat_id:
            log.warning(
                "support staff are configured in WeCom, but [wecom] is not enabled: tickets are only stored"
            )
        return ()
    chats = [ChatRef("wecom", "user", agent) for agent in settings.support.wecom_agents]
    if settings.support.wecom_chat_id:
        chats.append(ChatRef("wecom", "group", settings.support.wecom_chat_id))
    return tuple(chats)


def worker_settings(settings: Settings, provider: ImageProvider | ProviderPool) -> GenerationSettings:
    """The offline renderer has no provider's rate limit to respect: the images-per-minute window is
    off for it, so a demo is never held to a paid tier's pace."""
    if isinstance(provider, LocalProvider):
        return settings.generation.model_copy(update={"provider_images_per_minute": 0})
    return settings.generation


def default_console_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def _terminal_locale() -> str | None:
    value = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG")
    if not value or value in ("C", "POSIX") or value.startswith("C."):
        return None
    return value.split(".")[0]
