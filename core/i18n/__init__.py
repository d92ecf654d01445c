"""Message catalogs: every user-facing string, in English and Simplified Chinese.

Catalogs are TOML files next to this module (`en.toml`, `zh-CN.toml`); nested tables become dotted
keys (`[error] bad_ratio = ...` is `error.bad_ratio`). Placeholders use `{name}`.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any, Protocol, runtime_checkable

from core.i18n.local_time import duration

LANGUAGES: tuple[str, ...] = ("en", "zh-CN")
FALLBACK = "en"


def normalize_language(locale: str | None) -> str | None:
    """Maps a platform locale (`zh`, `zh-Hans`, `zh_CN`, `en-US`) to a catalog language, or None."""
    if not locale:
        return None
    lowered = locale.replace("_", "-").lower()
    for language in LANGUAGES:
        if lowered == language.lower():
            return language
    primary = lowered.split("-")[0]
    if primary == "zh":
        return "zh-CN"
    return primary if primary in LANGUAGES else None


@cache
def catalog(language: str) -> dict[str, str]:
    raw = resources.files(__package__).joinpath(f"{language}.toml").read_text(encoding="utf-8")
    return dict(_flatten(tomllib.loads(raw)))


def _flatten(table: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            items.extend(_flatten(value, f"{name}."))
        else:
            items.append((name, str(value)))
    return items


@runtime_checkable
class Localized(Protocol):
    """A value shown differently per language (an item's name): given as a parameter, `translate`
    shows it in the message's language, so a message queued for someone reads right in theirs."""

    def localized(self, language: str) -> str: ...


class _KeepMissing(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translate(language: str, key: str, /, **params: object) -> str:
    """The message for `key` in `language` (English when missing there), with `params` filled in; a
    `timedelta` is worded as a duration in that language."""
    template = catalog(language).get(key) or catalog(FALLBACK).get(key)
    if template is None:
        raise KeyError(f"no message {key!r} in the catalogs")
    shown = {name: _shown(value, language) for name, value in params.items()}
    return template.format_map(_KeepMissing(shown))


def _shown(value: object, language: str) -> object:
    """A parameter as the message's language shows it: a localized name, a worded duration."""
    if isinstance(value, Localized):
        return value.localized(language)
    if isinstance(value, timedelta):
        return duration(value, language)
    return value


class Translator:
    """`translate` bound to one language, handed to handlers as `t`."""

    def __init__(self, language: str) -> None:
        self.language = language

    def __call__(self, key: str, /, **params: object) -> str:
        return translate(self.language, key, **params)
