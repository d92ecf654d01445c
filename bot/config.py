"""Typed settings: built-in defaults, then config.toml, then IMAGE2BOT_* environment variables.

Validated once at start; a wrong key or value stops the start with a message naming the key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.provider_settings import OpenAISettings, ProviderEntry, check_entries
from bot.web import BODY_TIMEOUT_S, HEADER_TIMEOUT_S, MAX_CONNECTIONS
from core.db.session import Database
from core.generation.content_rules import ModerationSettings
from core.generation.styles import DEFAULT_STYLES, Style
from core.i18n import LANGUAGES
from core.payments.catalogue import DEFAULT_PACKS, DEFAULT_PLANS, Catalogue, Pack, Plan
from core.policy import CodeSettings, CreditSettings, GenerationSettings, ReferralSettings, Section
from core.privacy.settings import PrivacySettings

CONFIG_ENV = "IMAGE2BOT_CONFIG"
DEFAULT_CONFIG_FILE = Path("config.toml")


class StorageSettings(Section):
    """Where images and exports are kept: the local `data_dir` (one machine), or an S3-compatible
    bucket that every process reads (several machines). Without keys, boto3's own chain applies
    (AWS_* variables, ~/.aws, an instance role)."""

    data_dir: Path = Path("data")
    backend: Literal["local", "s3"] = "local"
    bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    prefix: str = Field(default="", pattern=r"^([^/\s][^\s]*/)?$")
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None

    @model_validator(mode="after")
    def _s3_complete(self) -> StorageSettings:
        if self.backend == "s3" and self.bucket is None:
            raise ValueError('storage.bucket is required with backend = "s3"')
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("set storage.access_key_id and storage.secret_access_key together")
        return self


class DatabaseSettings(Section):
    url: str | None = Field(default=None, description="default: SQLite file under data_dir")
    # "schema" would shadow a pydantic method, hence the alias
    db_schema: str | None = Field(default=None, alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    auto_migrate: bool = True
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _supported(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        return url


class BotSettings(Section):
    default_language: str = "en"
    admins: list[str] = Field(default_factory=list)
    delivery_claim_s: Annotated[float, Field(gt=0)] = 60.0

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("admins")
    @classmethod
    def _identities(cls, value: list[str]) -> list[str]:
        for identity in value:
            platform, _, user_id = identity.partition(":")
            if not platform or not user_id:
                raise ValueError(f"{identity!r} is not an identity like 'telegram:123'")
        return value


class WebSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    public_url: str | None = None
    # Reverse proxies (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    max_connections: Annotated[int, Field(ge=1)] = MAX_CONNECTIONS
    header_timeout_s: Annotated[float, Field(gt=0)] = HEADER_TIMEOUT_S
    body_timeout_s: Annotated[float, Field(gt=0)] = BODY_TIMEOUT_S


class AdminSettings(Section):
    """The operators' web admin under /admin, served wherever the web server runs."""

    enabled: bool = True
    session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 12.0
    idle_minutes: Annotated[float, Field(gt=0)] = 30.0


class OpsSettings(Section):
    """Health checks and metrics: /healthz, /readyz and /metrics are served on the web server where it
    runs, else (when `enabled`) on a listener of their own at host:port."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464
    heartbeat_s: Annotated[float, Field(gt=0)] = 5.0
    ready_worker_stale_s: Annotated[float, Field(gt=0)] = 30.0
    ready_outbox_overdue_s: Annotated[float, Field(gt=0)] = 300.0
    check_timeout_s: Annotated[float, Field(gt=0)] = 3.0
    metrics_cache_s: Annotated[float, Field(ge=0)] = 5.0

    @model_validator(mode="after")
    def _stale_after_beats(self) -> OpsSettings:
        if self.ready_worker_stale_s <= self.heartbeat_s:
            raise ValueError("ready_worker_stale_s must be longer than heartbeat_s")
        return self


class LoggingSettings(Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        default=None, description="default: INFO; WARNING for a console chat whose logs go to stderr"
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class TelegramSettings(Section):
    enabled: bool = False
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str | None = Field(default=None, description="default: base_url with /bot -> /file/bot")
    mode: Literal["polling", "webhook"] = "polling"
    webhook_secret: SecretStr | None = None
    webhook_path: str = Field(default="/telegram/webhook", pattern=r"^/\S*$")
    stars: bool = False
    messages_per_second: float = Field(default=30.0, gt=0)
    chat_interval_s: float = Field(default=1.0, ge=0)
    group_interval_s: float = Field(default=3.0, ge=0)
    shared_status: Literal["auto", "on", "off"] = Field(
        default="auto", description="auto: on with PostgreSQL, off with SQLite (one process)"
    )

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("use 1-256 characters from A-Z, a-z, 0-9, _ and -")
        return value

    @property
    def file_url(self) -> str:
        if self.base_file_url:
            return self.base_file_url
        root, _, last = self.base_url.rstrip("/").rpartition("/")
        return f"{root}/file/{last}"


class DiscordSettings(Section):
    enabled: bool = False
    token: SecretStr | None = None
    api_base_url: str = "https://discord.com/api/v10"
    guild_ids: list[int] = Field(default_factory=list)
    sync_commands: bool = True
    # Sharding: the gateway split into shard_count connections; this process runs shard_ids (all when unset)
    shard_count: Annotated[int, Field(ge=1)] | None = None
    shard_ids: list[Annotated[int, Field(ge=0)]] | None = Field(default=None, min_length=1)

    @field_validator("shard_ids")
    @classmethod
    def _shards_exist(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if value is None or "shard_count" not in info.data:  # a shard_count error is reported already
            return value
        count = info.data["shard_count"]
        if count is None:
            raise ValueError("set discord.shard_count too (the shards of every process together)")
        if outside := [shard for shard in value if shard >= count]:
            raise ValueError(f"shards are numbered 0 to {count - 1} (shard_count {count}): not {outside}")
        if len(set(value)) != len(value):
            raise ValueError("each shard may be listed once")
        return value


class WeComKfSettings(Section):
    enabled: bool = False
    open_kfid: str | None = None


class WeComSettings(Section):
    enabled: bool = False
    corp_id: str | None = None
    agent_id: int | None = None
    secret: SecretStr | None = None
    token: SecretStr | None = None
    encoding_aes_key: SecretStr | None = None
    api_base_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    callback_path: str = Field(default="/wecom/callback", pattern=r"^/\S*$")
    request_timeout_s: Annotated[float, Field(gt=0)] = 10
    kf: WeComKfSettings = Field(default_factory=WeComKfSettings)

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]{43}", value.get_secret_value()):
            raise ValueError("WeCom's EncodingAESKey is 43 letters and digits")
        return value


class SupportSettings(Section):
    wecom_agents: list[str] = Field(default_factory=list)
    wecom_chat_id: str | None = None
    contact_qr_path: Path | None = None
    hours: str = ""


class StripeSettings(Section):
    enabled: bool = False
    api_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    api_base: str | None = Field(default=None, description="default: Stripe's own")
    webhook_path: str = Field(default="/stripe/webhook", pattern=r"^/\S*$")
    success_url: str = "https://t.me/"
    cancel_url: str = "https://t.me/"
    checkout: Literal["session", "payment_link"] = "session"
    allow_promotion_codes: bool = False  # Stripe's own promotion codes, entered on the Checkout page
    packs: list[Pack] = Field(default_factory=lambda: list(DEFAULT_PACKS))
    plans: list[Plan] = Field(default_factory=lambda: list(DEFAULT_PLANS))

    @model_validator(mode="after")
    def _catalogue(self) -> StripeSettings:
        Catalogue(self.packs, self.plans)  # unique ids
        if self.checkout == "payment_link" and self.plans:
            raise ValueError("plans need checkout = 'session' (a payment link cannot subscribe an account)")
        return self


class ConsoleSettings(Section):
    enabled: bool | None = Field(default=None, description="default: on when no other platform is")
    user: str | None = Field(default=None, description="default: the OS user")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="IMAGE2BOT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    storage: StorageSettings = Field(default_factory=StorageSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    credits: CreditSettings = Field(default_factory=CreditSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    providers: list[ProviderEntry] = Field(default_factory=list)
    styles: list[Style] = Field(default_factory=lambda: list(DEFAULT_STYLES))
    bot: BotSettings = Field(default_factory=BotSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    wecom: WeComSettings = Field(default_factory=WeComSettings)
    support: SupportSettings = Field(default_factory=SupportSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    codes: CodeSettings = Field(default_factory=CodeSettings)
    referrals: ReferralSettings = Field(default_factory=ReferralSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)

    @field_validator("providers")
    @classmethod
    def _providers_serve(cls, entries: list[ProviderEntry], info: ValidationInfo) -> list[ProviderEntry]:
        if entries and "generation" in info.data:  # a generation error is reported already
            check_entries(entries, info.data["generation"].models)
        return entries

    @field_validator("styles")
    @classmethod
    def _unique_styles(cls, styles: list[Style]) -> list[Style]:
        names = [style.name for style in styles]
        if len(set(names)) != len(names):
            raise ValueError("style names must be unique")
        if "none" not in names:
            raise ValueError("a style named 'none' (the prompt as written) is required")
        return styles

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = init_settings.init_kwargs.pop("_config_file", None)  # type: ignore[attr-defined]
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @model_validator(mode="after")
    def _provider_has_key(self) -> Settings:
        if self.generation.provider == "openai" and self.openai.api_key is None and not self.providers:
            raise ValueError(
                "generation.provider is 'openai': set openai.api_key or OPENAI_API_KEY, or list [[providers]]"
            )
        return self

    @model_validator(mode="after")
    def _platforms_complete(self) -> Settings:
        if self.telegram.enabled and self.telegram.token is None:
            raise ValueError("telegram.enabled: set telegram.token (from @BotFather)")
        if self.telegram.enabled and self.telegram.mode == "webhook":
            if self.telegram.webhook_secret is None:
                raise ValueError("telegram.mode is 'webhook': set telegram.webhook_secret")
            if not self.web.public_url:
                raise ValueError(
                    "telegram.mode is 'webhook': set web.public_url (the https address Telegram calls)"
                )
        if self.discord.enabled and self.discord.token is None:
            raise ValueError("discord.enabled: set discord.token (from the Developer Portal)")
        wecom = self.wecom
        if wecom.enabled:
            missing = [
                f"wecom.{key}"
                for key in ("corp_id", "agent_id", "secret", "token", "encoding_aes_key")
                if getattr(wecom, key) is None
            ]
            if missing:
                raise ValueError(f"wecom.enabled: set {', '.join(missing)}")
            if wecom.kf.enabled and not wecom.kf.open_kfid:
                raise ValueError("wecom.kf.enabled: set wecom.kf.open_kfid")
        if self.stripe.enabled:
            missing = [
                f"stripe.{key}" for key in ("api_key", "webhook_secret") if getattr(self.stripe, key) is None
            ]
            if missing:
                raise ValueError(f"stripe.enabled: set {', '.join(missing)}")
        return self

    @property
    def web_needed(self) -> bool:
        """The web app runs when asked to, or when a platform receives its events through it."""
        telegram_webhook = self.telegram.enabled and self.telegram.mode == "webhook"
        return self.web.enabled or telegram_webhook or self.wecom.enabled or self.stripe.enabled

    def open_database(self) -> Database:
        """The engine for these settings (nothing connects until first use)."""
        return Database(self.database_url, echo=self.database.echo, schema=self.database.db_schema)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{self.storage.data_dir / 'image2bot.db'}"

    @property
    def provider_name(self) -> Literal["openai", "local"]:
        if self.generation.provider == "auto":
            return "openai" if self.openai.api_key or self.providers else "local"
        return self.generation.provider


class ConfigError(Exception):
    """The configuration cannot be used; the message names every offending key."""


def config_path(explicit: str | Path | None) -> Path | None:
    """--config, else IMAGE2BOT_CONFIG, else ./config.toml when present, else built-in defaults."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(explicit: str | Path | None = None, **overrides: Any) -> Settings:
    path = config_path(explicit)
    if path is not None and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        return Settings(_config_file=path, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except ValueError as exc:  # a TOML syntax error
        raise ConfigError(f"{path}: {exc}") from None


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = f" ({path} and IMAGE2BOT_* variables)" if path else " (IMAGE2BOT_* variables)"
    lines = [f"invalid configuration{where}:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(root)"
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)
