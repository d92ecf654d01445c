"""Settings: built-in defaults, then a TOML file, then IMAGE2BOT_* environment variables, checked once."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.app import console_door_enabled
from bot.config import ConfigError, Settings, TelegramSettings, load_settings
from core.db import migrate

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
# A documented key that is unset by default: "# key = value" on a line of its own.
COMMENTED_KEY = re.compile(r"^# ([A-Za-z_][A-Za-z0-9_]*) = (.+)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IMAGE2BOT_* or OPENAI_API_KEY from the outside, and no ./config.toml but the test's own."""
    for name in list(os.environ):
        if name.startswith("IMAGE2BOT_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def dotted_keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in table.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= dotted_keys(value, f"{prefix}{key}.")
    return keys


# --- the example file -------------------------------------------------------------------------------


def test_example_config_equals_the_built_in_defaults() -> None:
    example = load_settings(EXAMPLE)

    assert example.model_dump() == Settings().model_dump()


def test_example_config_documents_every_key_including_the_unset_ones(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = write(tmp_path / "all.toml", COMMENTED_KEY.sub(r"\1 = \2", text))
    documented = dotted_keys(tomllib.loads(uncommented.read_text(encoding="utf-8")))
    defaults = dotted_keys(Settings().model_dump(mode="json", by_alias=True))

    assert defaults - documented == set()
    assert documented - defaults == set()
    # the commented-out examples are themselves valid settings
    every = load_settings(uncommented)
    unset_by_default = [
        every.database.url,
        every.database.db_schema,
        every.openai.api_key,
        every.openai.base_url,
        every.web.public_url,
        every.console.enabled,
        every.console.user,
        every.telegram.token,
        every.telegram.base_file_url,
        every.telegram.webhook_secret,
        every.discord.token,
        every.discord.shard_count,
        every.discord.shard_ids,
        every.wecom.corp_id,
        every.wecom.agent_id,
        every.wecom.secret,
        every.wecom.token,
        every.wecom.encoding_aes_key,
        every.wecom.kf.open_kfid,
        every.support.wecom_chat_id,
        every.support.contact_qr_path,
    ]
    assert None not in unset_by_default


# --- where values come from -----------------------------------------------------------------------


def test_values_from_the_toml_file_are_used(tmp_path: Path) -> None:
    config = write(
        tmp_path / "bot.toml",
        '[storage]\ndata_dir = "/srv/image2bot"\n'
        '[database]\nurl = "postgresql+asyncpg://bot@db/image2bot"\nschema = "bot"\n'
        "[credits]\ntrial = 5\n[credits.prices]\n2k = 25\n"
        '[generation]\nconcurrency = 3\nquality = "high"\n'
        '[[styles]]\nname = "none"\n'
        '[bot]\ndefault_language = "zh-CN"\n',
    )

    settings = load_settings(config)

    assert settings.storage.data_dir == Path("/srv/image2bot")
    assert settings.database_url == "postgresql+asyncpg://bot@db/image2bot"
    assert settings.database.db_schema == "bot"
    assert settings.credits.trial == 5
    assert (settings.credits.prices.k1, settings.credits.prices.k2) == (10, 25)
    assert (settings.generation.concurrency, settings.generation.quality) == (3, "high")
    assert [style.name for style in settings.styles] == ["none"]
    assert settings.bot.default_language == "zh-CN"


def test_environment_variables_override_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        tmp_path / "bot.toml",
        '[database]\nurl = "sqlite+aiosqlite:///from-file.db"\n'
        '[generation]\nconcurrency = 3\nquality = "low"\n'
        '[bot]\nadmins = ["discord:2"]\n',
    )
    monkeypatch.setenv("IMAGE2BOT_DATABASE__URL", "postgresql+asyncpg://bot@db/from-env")
    monkeypatch.setenv("IMAGE2BOT_GENERATION__CONCURRENCY", "7")
    monkeypatch.setenv("IMAGE2BOT_BOT__ADMINS", '["telegram:1"]')

    settings = load_settings(config)

    assert settings.database_url == "postgresql+asyncpg://bot@db/from-env"
    assert settings.generation.concurrency == 7
    assert settings.bot.admins == ["telegram:1"]
    assert settings.generation.quality == "low"  # keys the environment does not name stay as filed


def test_provider_auto_is_local_without_a_key_and_openai_with_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().provider_name == "local"

    monkeypatch.setenv("IMAGE2BOT_OPENAI__API_KEY", "sk-test")
    settings = load_settings()

    assert settings.provider_name == "openai"
    assert settings.openai.api_key is not None
    assert settings.openai.api_key.get_secret_value() == "sk-test"


def test_provider_auto_uses_a_key_from_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "bot.toml", '[openai]\napi_key = "sk-file"\n')

    assert load_settings(config).provider_name == "openai"


def test_openai_api_key_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")

    settings = load_settings()

    assert settings.openai.api_key is not None
    assert settings.openai.api_key.get_secret_value() == "sk-env"
    assert settings.provider_name == "openai"


def test_provider_openai_accepts_the_key_from_openai_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "bot.toml", '[generation]\nprovider = "openai"\n')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")

    assert load_settings(config).provider_name == "openai"


def test_openai_api_key_variable_fills_an_empty_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "bot.toml", '[openai]\napi_key = ""\n')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")

    settings = load_settings(config)

    assert settings.openai.api_key is not None
    assert settings.openai.api_key.get_secret_value() == "sk-env"


def test_explicit_path_beats_the_variable_which_beats_config_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = write(tmp_path / "explicit.toml", "[credits]\ntrial = 3\n")
    from_env = write(tmp_path / "from-env.toml", "[credits]\ntrial = 2\n")
    local = write(tmp_path / "config.toml", "[credits]\ntrial = 1\n")
    monkeypatch.setenv("IMAGE2BOT_CONFIG", str(from_env))

    assert load_settings(explicit).credits.trial == 3
    assert load_settings().credits.trial == 2
    monkeypatch.delenv("IMAGE2BOT_CONFIG")
    assert load_settings().credits.trial == 1
    local.unlink()
    assert load_settings().credits.trial == 40


# --- wrong input stops the start, naming the key -----------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param("[generation]\nconcurency = 3\n", ["generation.concurency", "unknown key"], id="key"),
        pytest.param('[telegramm]\ntoken = "x"\n', ["telegramm", "unknown key"], id="section"),
        pytest.param(
            '[generation]\nconcurrency = "many"\n', ["generation.concurrency", "integer"], id="type"
        ),
        pytest.param(
            "[generation]\npartial_images = 9\n",
            ["generation.partial_images", "less than or equal to 3"],
            id="range",
        ),
        pytest.param(
            '[database]\nurl = "mysql://bot@db/image2bot"\n',
            ["database.url", "postgresql+asyncpg://"],
            id="database-url",
        ),
        pytest.param('[database]\nschema = "Robert; DROP"\n', ["database.schema"], id="database-schema"),
        pytest.param(
            '[[styles]]\nname = "none"\ntemplate = "a cat"\n',
            ["styles.0.template", "{prompt}"],
            id="style-template",
        ),
        pytest.param('[[styles]]\nname = "photo"\n', ["styles", "'none'"], id="style-none-missing"),
        pytest.param(
            '[generation]\nmodel = "dall-e-3"\n',
            ["generation.model", "'dall-e-3'", "generation.models"],
            id="model",
        ),
        pytest.param(
            '[generation]\nprovider = "openai"\n',
            ["generation.provider", "openai.api_key"],
            id="openai-without-key",
        ),
        pytest.param('[bot]\nadmins = ["telegram"]\n', ["bot.admins", "'telegram'"], id="admins"),
        pytest.param('[bot]\ndefault_language = "fr"\n', ["bot.default_language", "zh-CN"], id="language"),
        pytest.param("[web]\nport = 70000\n", ["web.port"], id="port"),
        pytest.param("[credits.prices]\n1k = 0\n", ["credits.prices.1k"], id="price"),
        pytest.param(
            "[privacy.retention]\nunkept_hours = 0\n",
            ["privacy.retention.unkept_hours", "greater than or equal to 1"],
            id="unkept-hours",
        ),
    ],
)
def test_invalid_configuration_names_the_key(tmp_path: Path, toml: str, expected: list[str]) -> None:
    config = write(tmp_path / "bot.toml", toml)

    with pytest.raises(ConfigError) as error:
        load_settings(config)

    message = str(error.value)
    assert str(config) in message
    for part in expected:
        assert part in message


def test_an_invalid_environment_variable_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGE2BOT_GENERATION__CONCURRENCY", "0")

    with pytest.raises(ConfigError, match=r"generation\.concurrency"):
        load_settings()


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "bot.toml", "[generation]\nconcurrency = 3\n[bot\n")

    with pytest.raises(ConfigError) as error:
        load_settings(config)

    assert str(config) in str(error.value)
    assert "line 3" in str(error.value)


def test_a_missing_config_file_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError, match="config file not found") as error:
        load_settings(missing)

    assert str(missing) in str(error.value)


def test_a_missing_file_named_by_the_variable_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE2BOT_CONFIG", str(tmp_path / "gone.toml"))

    with pytest.raises(ConfigError, match=r"gone\.toml"):
        load_settings()


# --- the default database ------------------------------------------------------------------------


def test_default_database_is_a_sqlite_file_under_the_data_dir() -> None:
    assert Settings().database_url == "sqlite+aiosqlite:///" + str(Path("data") / "image2bot.db")


async def test_the_default_database_file_is_created_under_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "state"
    monkeypatch.setenv("IMAGE2BOT_STORAGE__DATA_DIR", str(data_dir))
    settings = load_settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{data_dir / 'image2bot.db'}"

    db = settings.open_database()
    try:
        await migrate.upgrade(db.engine)
        assert not await migrate.pending(db.engine)
    finally:
        await db.dispose()

    assert (data_dir / "image2bot.db").is_file()


# --- platforms -------------------------------------------------------------------------------------


def test_telegram_needs_a_token_and_webhook_mode_needs_a_secret_and_a_public_url() -> None:
    with pytest.raises(ConfigError, match=r"telegram\.token"):
        load_settings(None, telegram={"enabled": True})
    with pytest.raises(ConfigError, match=r"telegram\.webhook_secret"):
        load_settings(None, telegram={"enabled": True, "token": "1:a", "mode": "webhook"})
    with pytest.raises(ConfigError, match=r"web\.public_url"):
        load_settings(
            None, telegram={"enabled": True, "token": "1:a", "mode": "webhook", "webhook_secret": "s"}
        )
    with pytest.raises(ConfigError, match=r"telegram.webhook_secret: .*A-Z"):
        load_settings(None, telegram={"webhook_secret": "has spaces"})
    webhook = load_settings(
        None,
        telegram={"enabled": True, "token": "1:a", "mode": "webhook", "webhook_secret": "s"},
        web={"public_url": "https://bot.example.com"},
    )
    assert webhook.web_needed, "the web server runs for the webhook without being asked"


def test_telegram_files_come_from_the_same_server_as_the_api_unless_told_otherwise() -> None:
    assert TelegramSettings().file_url == "https://api.telegram.org/file/bot"
    assert TelegramSettings(base_url="http://127.0.0.1:8081/bot").file_url == "http://127.0.0.1:8081/file/bot"
    assert TelegramSettings(base_file_url="http://files/bot").file_url == "http://files/bot"


def test_the_console_chat_is_off_once_a_platform_is_on_unless_asked_for() -> None:
    assert console_door_enabled(load_settings(None))
    assert not console_door_enabled(load_settings(None, telegram={"enabled": True, "token": "1:a"}))
    assert not console_door_enabled(load_settings(None, discord={"enabled": True, "token": "t"}))
    both = load_settings(None, telegram={"enabled": True, "token": "1:a"}, console={"enabled": True})
    assert console_door_enabled(both)
