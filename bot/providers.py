"""The image providers from the settings: `[[providers]]`, else the single `[openai]` section as one
entry, else the offline renderer (what `make run` uses without any key)."""

from __future__ import annotations

import logging

from bot import tls
from bot.config import Settings
from bot.provider_settings import ProviderEntry
from core.generation.providers.base import ImageProvider
from core.generation.providers.local import LocalProvider
from core.generation.providers.pool import Endpoint, ProviderPool

log = logging.getLogger(__name__)


def provider_entries(settings: Settings) -> list[ProviderEntry]:
    """The endpoints to use: `generation.provider = "local"` forces the offline renderer."""
    generation = settings.generation
    if generation.provider != "local" and settings.providers:
        return settings.providers
    if settings.provider_name == "openai" and settings.openai.api_key is not None:
        return [
            ProviderEntry(
                name="openai",
                kind="openai",
                api_key=settings.openai.api_key,
                base_url=settings.openai.base_url,
                moderation=settings.openai.moderation,
                images_per_minute=generation.provider_images_per_minute,
            )
        ]
    return [ProviderEntry(name="local", kind="local")]


def build_pool(settings: Settings) -> ProviderPool:
    entries = provider_entries(settings)
    endpoints = [
        Endpoint(
            entry.name,
            _provider(entry, settings),
            frozenset(entry.models),
            entry.weight,
            entry.images_per_minute,
            entry.concurrent,
        )
        for entry in entries
    ]
    for entry in entries:  # names, kinds and figures only: never a key
        log.info(
            "image provider %s: %s, models %s, weight %g, %s images/min, %s at once",
            entry.name,
            entry.kind,
            ", ".join(entry.models) or "all",
            entry.weight,
            entry.images_per_minute or "unlimited",
            entry.concurrent or "unlimited",
        )
    return ProviderPool(endpoints)


def _provider(entry: ProviderEntry, settings: Settings) -> ImageProvider:
    if entry.kind == "local":
        log.warning(
            "image provider %s: the offline demo renderer: images are drawn locally, not generated",
            entry.name,
        )
        return LocalProvider(step_delay_s=settings.generation.local_step_delay_s)
    from core.generation.providers.openai import OpenAIProvider  # the SDK takes a second to import

    assert entry.api_key is not None  # checked with the settings
    return OpenAIProvider(
        api_key=entry.api_key.get_secret_value(),
        base_url=entry.base_url,
        moderation=entry.moderation,
        timeout_s=settings.generation.timeout_s,
        ssl_context=tls.httpx2_context(),
        azure_api_version=entry.api_version if entry.kind == "azure" else None,
    )
