"""`[[providers]]` in the settings: several endpoints, checked once at start with messages naming the
key; the single `[openai]` section and the offline renderer read as one entry; keys never logged."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.providers import build_pool, provider_entries
from core.generation.providers.local import LocalProvider
from core.generation.providers.openai import OpenAIProvider

TWO = """
[[providers]]
name = "main"
api_key = "sk-main-secret"
weight = 3
images_per_minute = 5

[[providers]]
name = "compatible"
kind = "openai"
api_key = "sk-compatible-secret"
base_url = "http://127.0.0.1:9/v1"
models = ["gpt-image-2", "gpt-image-1.5", "gpt-image-1"]
concurrent = 2
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("IMAGE2BOT_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_providers_become_endpoints_with_their_limits_and_no_key_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(config(tmp_path, TWO))
    caplog.set_level(logging.DEBUG)
    pool = build_pool(settings)
    try:
        main, compatible = pool.endpoints
        assert (main.name, main.weight, main.images_per_minute, main.concurrent) == ("main", 3, 5, 0)
        assert main.serves("anything")  # no models listed: every model
        assert (compatible.name, compatible.concurrent, compatible.serves("dall-e-3")) == (
            "compatible",
            2,
            False,
        )
        assert all(isinstance(endpoint.provider, OpenAIProvider) for endpoint in pool.endpoints)
    finally:
        await pool.close()
    assert "image provider main" in caplog.text
    assert "secret" not in caplog.text
    assert "secret" not in repr(settings.providers)


def test_the_single_openai_section_is_one_entry_with_the_generation_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    [entry] = provider_entries(load_settings(generation={"provider_images_per_minute": 7}))
    assert (entry.name, entry.kind, entry.images_per_minute) == ("openai", "openai", 7)
    assert entry.api_key is not None
    assert entry.api_key.get_secret_value() == "sk-env"


async def test_without_key_or_entries_the_offline_renderer_is_the_one_endpoint() -> None:
    pool = build_pool(load_settings())
    [endpoint] = pool.endpoints
    assert (endpoint.name, endpoint.images_per_minute) == ("local", 0)
    assert isinstance(endpoint.provider, LocalProvider)
    await pool.close()


def test_generation_provider_local_forces_the_offline_renderer_over_the_entries(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, '[generation]\nprovider = "local"\n' + TWO))
    assert [entry.kind for entry in provider_entries(settings)] == ["local"]


def test_providers_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "IMAGE2BOT_PROVIDERS", '[{"name": "a", "api_key": "sk-a"}, {"name": "b", "kind": "local"}]'
    )
    assert [entry.name for entry in provider_entries(load_settings())] == ["a", "b"]


def test_an_azure_entry_checks_no_prompts_unless_told_and_others_do(tmp_path: Path) -> None:
    """Azure serves no moderations endpoint: checking prompts there would refuse every request."""
    toml = (
        '[[providers]]\nname = "az"\nkind = "azure"\napi_key = "k"\nbase_url = "https://x"\n'
        'api_version = "2025-04-01-preview"\n[[providers]]\nname = "oa"\napi_key = "sk"\n'
    )
    entries = {entry.name: entry for entry in provider_entries(load_settings(config(tmp_path, toml)))}
    assert (entries["az"].moderation, entries["oa"].moderation) == (False, True)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param('[[providers]]\nname = "a"\n', ["providers.0", "'a'", "api_key"], id="key"),
        pytest.param(
            '[[providers]]\nname = "a"\nkind = "local"\n[[providers]]\nname = "a"\nkind = "local"\n',
            ["providers", "once", "'a'"],
            id="unique",
        ),
        pytest.param('[[providers]]\nname = "A b"\nkind = "local"\n', ["providers.0.name"], id="name"),
        pytest.param(
            '[[providers]]\nname = "a"\nkind = "local"\nmodels = ["gpt-image-2"]\n',
            ["providers", "gpt-image-1.5", "models"],
            id="unserved-model",
        ),
        pytest.param(
            '[[providers]]\nname = "az"\nkind = "azure"\napi_key = "k"\nbase_url = "https://x"\n',
            ["providers.0", "api_version"],
            id="azure",
        ),
        pytest.param(
            '[[providers]]\nname = "az"\nkind = "azure"\napi_key = "k"\nbase_url = "https://x"\n'
            'api_version = "2025-04-01-preview"\nmoderation = true\n',
            ["providers.0", "'az'", "moderation"],
            id="azure-moderation",
        ),
        pytest.param(
            '[[providers]]\nname = "a"\nkind = "local"\nweight = 0\n', ["providers.0.weight"], id="weight"
        ),
        pytest.param(
            '[[providers]]\nname = "a"\nkind = "local"\nimages_per_minute = -1\n',
            ["providers.0.images_per_minute"],
            id="rate",
        ),
        pytest.param('[[providers]]\nname = "a"\nkind = "bing"\n', ["providers.0.kind"], id="kind"),
    ],
)
def test_invalid_providers_name_the_key(tmp_path: Path, toml: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(config(tmp_path, toml))
    for part in expected:
        assert part in str(error.value)
