"""The chat platforms' doors, built from settings. Each SDK is imported only when its platform is on,
so a process starts fast with the doors it serves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import tls
from bot.config import Settings
from bot.web import TELEGRAM_UPDATE_MAX_BYTES, WECOM_CALLBACK_MAX_BYTES, WebServer
from core.commands.router import Core
from core.db.session import Database
from core.inbound import DatabaseInboundLog
from core.payments.stars import StarsPurchases
from core.platform_state import DatabaseStateStore
from core.send_budget import Pace, send_budget, token_key
from core.status_boards import SharedBoards

if TYPE_CHECKING:
    from platforms.discord.adapter import DiscordAdapter
    from platforms.telegram.adapter import TelegramAdapter
    from platforms.wecom.adapter import WeComAdapter


def build_discord(settings: Settings, core: Core) -> DiscordAdapter:
    from platforms.discord.adapter import DiscordAdapter

    discord = settings.discord
    assert discord.token is not None  # checked by the settings
    return DiscordAdapter(
        core,
        token=discord.token.get_secret_value(),
        api_base_url=discord.api_base_url,
        guild_ids=discord.guild_ids,
        sync_commands=discord.sync_commands,
        shard_count=discord.shard_count,
        shard_ids=discord.shard_ids,
    )


def build_wecom(settings: Settings, core: Core, web: WebServer | None, db: Database) -> WeComAdapter:
    from platforms.wecom.adapter import WeComAdapter

    wecom = settings.wecom
    assert wecom.corp_id is not None
    assert wecom.agent_id is not None
    assert wecom.secret is not None
    assert wecom.token is not None
    assert wecom.encoding_aes_key is not None  # all checked by the settings
    adapter = WeComAdapter(
        core,
        corp_id=wecom.corp_id,
        agent_id=wecom.agent_id,
        secret=wecom.secret.get_secret_value(),
        token=wecom.token.get_secret_value(),
        encoding_aes_key=wecom.encoding_aes_key.get_secret_value(),
        api_base_url=wecom.api_base_url,
        request_timeout_s=wecom.request_timeout_s,
        state=DatabaseStateStore(db),
        inbound=DatabaseInboundLog(db),
        kf_open_kfid=wecom.kf.open_kfid if wecom.kf.enabled else None,
    )
    if web is not None:
        web.add_post(wecom.callback_path, adapter.handle_callback, max_body=WECOM_CALLBACK_MAX_BYTES)
        web.add_get(wecom.callback_path, adapter.handle_callback)
    return adapter


def build_telegram(
    settings: Settings, core: Core, web: WebServer | None, db: Database, stars: StarsPurchases | None
) -> TelegramAdapter:
    from platforms.telegram.adapter import TelegramAdapter, Webhook

    telegram = settings.telegram
    assert telegram.token is not None  # checked by the settings
    webhook = None
    if telegram.mode == "webhook":
        assert web is not None
        assert settings.web.public_url
        assert telegram.webhook_secret is not None
        url = settings.web.public_url.rstrip("/") + telegram.webhook_path
        webhook = Webhook(url=url, secret=telegram.webhook_secret.get_secret_value())
    token = telegram.token.get_secret_value()
    pace = Pace(telegram.messages_per_second, telegram.chat_interval_s, telegram.group_interval_s)
    adapter = TelegramAdapter(
        core,
        token=token,
        budget=send_budget(db, token_key("telegram", token), pace),
        base_url=telegram.base_url,
        base_file_url=telegram.file_url,
        webhook=webhook,
        default_language=settings.bot.default_language,
        stars=stars,
        ssl_context=tls.httpx_context(),
        shared_boards=SharedBoards(db) if _shares_status(telegram.shared_status, db) else None,
    )
    if web is not None and webhook is not None:
        web.add_post(telegram.webhook_path, adapter.handle_webhook, max_body=TELEGRAM_UPDATE_MAX_BYTES)
    if stars is not None:
        stars.renewals = adapter.stars_renewals
    return adapter


def _shares_status(setting: str, db: Database) -> bool:
    """Whether the chats' status messages are kept in the database, for every process on the token
    (on PostgreSQL, where several may run), or in this process alone (SQLite: one process)."""
    return setting == "on" or (setting == "auto" and not db.is_sqlite)
