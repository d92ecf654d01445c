"""The message catalogs: complete in both languages, and covering every message the code can send."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import core
from core import i18n
from core.commands.account import STATUS_ICONS
from core.credits import Bucket, EntryKind
from core.i18n import LANGUAGES, catalog, normalize_language, translate

CORE = Path(core.__file__).parent
USER_ERROR = re.compile(r"UserError\(\s*\"([a-z_]+)\"")
FAILED_CODE = re.compile(r"(?:_fail\(\s*job,\s*|replies\.failed\(.*?)\"([a-z_]+)\"")
LITERAL_KEY = re.compile(r"\bt\(\s*\"([a-z0-9_]+(?:\.[a-z0-9_]+)+)\"")


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def core_sources() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in sorted(CORE.rglob("*.py"))}


def test_both_catalogs_have_the_same_keys() -> None:
    english, chinese = set(catalog("en")), set(catalog("zh-CN"))
    assert english - chinese == set(), "missing in zh-CN"
    assert chinese - english == set(), "missing in en"
    assert len(english) > 50


@pytest.mark.parametrize("key", sorted(catalog("en")))
def test_both_translations_of_a_key_have_the_same_placeholders(key: str) -> None:
    assert placeholders(catalog("zh-CN")[key]) == placeholders(catalog("en")[key])


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_formats_cleanly_when_its_placeholders_are_filled(language: str) -> None:
    for key, template in catalog(language).items():
        filled = translate(language, key, **dict.fromkeys(placeholders(template), "X"))
        assert "{" not in filled, (key, filled)
        assert "}" not in filled, (key, filled)
        assert filled.strip(), key


def test_every_user_error_raised_in_core_has_a_message() -> None:
    codes = {
        code: path.relative_to(CORE.parent)
        for path, source in core_sources().items()
        for code in USER_ERROR.findall(source)
    }
    assert {"not_a_command", "insufficient_credits", "ratio_out_of_range", "bad_job_id"} <= set(codes)
    for language in LANGUAGES:
        missing = {
            code: str(where) for code, where in codes.items() if f"error.{code}" not in catalog(language)
        }
        assert missing == {}, language


def test_the_internal_error_message_exists_and_shows_the_reference() -> None:
    for language in LANGUAGES:
        assert "ABCD1234" in translate(language, "error.internal", ref="ABCD1234")


def test_every_job_failure_code_in_the_worker_has_a_message() -> None:
    source = (CORE / "generation" / "worker.py").read_text(encoding="utf-8")
    codes = set(FAILED_CODE.findall(source))
    assert {"interrupted", "internal", "blocked", "temporary", "provider"} <= codes
    for language in LANGUAGES:
        assert {code for code in codes if f"job.failed.{code}" not in catalog(language)} == set(), language


def test_every_literal_key_in_core_exists() -> None:
    keys = {key for source in core_sources().values() for key in LITERAL_KEY.findall(source)}
    assert {"history.empty", "cancel.done", "job.queued", "settings.current"} <= keys
    for language in LANGUAGES:
        assert keys - set(catalog(language)) == set(), language


def test_keys_built_from_values_exist() -> None:
    """`status.{job.status}`, `ledger.{entry.kind}` and `ledger.bucket.{bucket}` are built at run time."""
    built = (
        {f"status.{status}" for status in STATUS_ICONS}
        | {f"ledger.{kind.value}" for kind in EntryKind}
        | {f"ledger.bucket.{bucket.value}" for bucket in Bucket}
    )
    for language in LANGUAGES:
        assert built - set(catalog(language)) == set(), language


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("EN", "en"),
        ("zh", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("zh_CN", "zh-CN"),
        ("zh-cn", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("fr", None),
        ("fr-FR", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_language(locale: str | None, language: str | None) -> None:
    assert normalize_language(locale) == language


def test_a_key_missing_in_chinese_falls_back_to_english(monkeypatch: pytest.MonkeyPatch) -> None:
    missing_in_chinese = set(catalog("en")) - set(catalog("zh-CN"))
    for key in missing_in_chinese:  # none today: the catalogs are complete
        assert translate("zh-CN", key) == translate("en", key)

    # The fallback itself, with a Chinese catalog that lacks one message.
    real = i18n.catalog

    def without_help(language: str) -> dict[str, str]:
        messages = dict(real(language))
        if language == "zh-CN":
            del messages["help.text"]
        return messages

    monkeypatch.setattr(i18n, "catalog", without_help)
    assert translate("zh-CN", "help.text", k1=1, k2=2, k4=4) == real("en")["help.text"].format(
        k1=1, k2=2, k4=4
    )
    assert translate("zh-CN", "balance.recent") == real("zh-CN")["balance.recent"]


def test_an_unknown_key_is_an_error_for_the_programmer() -> None:
    with pytest.raises(KeyError, match=r"no\.such\.key"):
        translate("en", "no.such.key")


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_left_unfilled_stay_visible(language: str) -> None:
    message = translate(language, "cancel.done", job=5)
    assert "#5" in message
    assert "{credits}" in message
    assert "{balance}" in message


def test_extra_params_are_ignored() -> None:
    assert translate("en", "balance.recent", unused=1) == catalog("en")["balance.recent"]


def test_values_with_braces_are_not_formatted_again() -> None:
    message = translate("en", "error.unknown_command", command="/{balance}")
    assert "/{balance}" in message


@pytest.mark.parametrize("key", ["language.set", "language.current"])
def test_the_language_placeholder_can_be_filled(key: str) -> None:
    assert "English" in translate("en", key, language="English", options="en")
