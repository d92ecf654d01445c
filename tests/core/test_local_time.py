"""Dates, times, zones and statuses as users read them: the one helper every command formats through."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import core
from core.errors import UserError
from core.i18n import LANGUAGES, Translator, catalog, translate
from core.i18n.local_time import Clock, parse_zone, zone_of
from core.i18n.statuses import TABLES, status_text

WINTER = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/shanghai", "Asia/Shanghai"),
        ("ASIA/SHANGHAI", "Asia/Shanghai"),
        ("Shanghai", "Asia/Shanghai"),
        ("北京", "Asia/Shanghai"),
        ("北京时间", "Asia/Shanghai"),
        ("beijing", "Asia/Shanghai"),
        ("tokyo", "Asia/Tokyo"),
        ("new york", "America/New_York"),
        ("New_York", "America/New_York"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("GMT", "UTC"),
        ("UTC+8", "UTC+8"),
        ("utc+08:00", "UTC+8"),
        ("GMT+8", "UTC+8"),
        ("+8", "UTC+8"),
        ("UTC-3:30", "UTC-3:30"),
        ("UTC+0545", "UTC+5:45"),
        ("UTC+14", "UTC+14"),
        ("UTC-12", "UTC-12"),
        ("UTC+0", "UTC"),
        ("Europe/London", "Europe/London"),
    ],
)
def test_zones_are_understood_however_they_are_spelled(typed: str, zone: str) -> None:
    assert parse_zone(typed) == zone


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [
        ("Asia/Shangai", "Asia/Shanghai"),
        ("asia/shanghia", "Asia/Shanghai"),
        ("Europe/Londn", "Europe/London"),
        ("tokio", "Asia/Tokyo"),
        ("Mars/Olympus", None),
        ("pst", None),  # one letter from the old `EST`, which it does not mean
        ("UTC+15", None),
        ("UTC-13", None),
        ("UTC+5:20", None),
        ("x" * 500, None),
    ],
)
def test_an_unknown_zone_is_refused_with_the_nearest_name(typed: str, suggestion: str | None) -> None:
    with pytest.raises(UserError) as refused:
        parse_zone(typed)
    if suggestion is None:
        assert refused.value.code == "unknown_zone"
    else:
        assert (refused.value.code, refused.value.params["suggestion"]) == (
            "unknown_zone_suggest",
            suggestion,
        )
    assert len(str(refused.value.params["value"])) <= 64


@pytest.mark.parametrize(
    ("language", "zone", "moment", "day"),
    [
        ("en", "UTC", "Dec 5, 2026, 3:00\u202fAM", "Dec 5, 2026"),
        ("en", "Asia/Shanghai", "Dec 5, 2026, 11:00\u202fAM", "Dec 5, 2026"),
        ("en", "America/New_York", "Dec 4, 2026, 10:00\u202fPM", "Dec 4, 2026"),
        ("en", "UTC+5:30", "Dec 5, 2026, 8:30\u202fAM", "Dec 5, 2026"),
        ("zh-CN", "Asia/Shanghai", "2026年12月5日 11:00", "2026年12月5日"),
        ("zh-CN", "UTC", "2026年12月5日 03:00", "2026年12月5日"),
        ("zh-CN", "UTC-8", "2026年12月4日 19:00", "2026年12月4日"),
    ],
)
def test_a_moment_reads_in_the_language_and_the_zone(language: str, zone: str, moment: str, day: str) -> None:
    clock = Clock(language, zone)
    assert clock.moment(WINTER) == moment
    assert clock.day(WINTER) == day


def test_the_zone_is_named_with_its_offset_of_the_day() -> None:
    assert Clock("en", "Europe/London").zone_label(WINTER) == "Europe/London (UTC+0)"
    assert Clock("en", "Europe/London").zone_label(SUMMER) == "Europe/London (UTC+1)"
    assert Clock("zh-CN", "Asia/Kolkata").zone_label(WINTER) == "Asia/Kolkata (UTC+5:30)"
    assert Clock("en", "UTC-3:30").zone_label(WINTER) == "UTC-3:30"
    assert Clock("en", "UTC").zone_label(WINTER) == "UTC"


def test_the_zone_follows_the_language_until_one_is_chosen() -> None:
    assert zone_of({}, "zh-CN") == "Asia/Shanghai"
    assert zone_of({}, "en") == "UTC"
    assert zone_of({"tz": "Europe/Paris"}, "zh-CN") == "Europe/Paris"
    assert zone_of({"tz": "UTC+5:30"}, "en") == "UTC+5:30"
    assert zone_of({"tz": "Not/AZone"}, "zh-CN") == "Asia/Shanghai", "a stored value no longer known"
    assert zone_of({"tz": "UTC+99"}, "en") == "UTC"


@pytest.mark.parametrize("kind", list(TABLES), ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_status_a_user_reads_is_in_both_catalogs(kind: type, language: str) -> None:
    t = Translator(language)
    for member in kind:
        assert f"{TABLES[kind]}.{member.value}" in catalog(language), (kind.__name__, member)
        worded = status_text(t, kind, member.value)
        assert worded.strip()
        if language == "zh-CN":
            assert not re.search("[A-Za-z]", worded), worded


def test_a_status_stripe_added_later_is_shown_as_it_came() -> None:
    [kind] = [kind for kind in TABLES if kind.__name__ == "SubscriptionStatus"]
    assert status_text(Translator("zh-CN"), kind, "some_new_state") == "some_new_state"
    assert status_text(Translator("zh-CN"), kind, "past_due") == "付款逾期"


ZONE_EXAMPLES = {
    "local_time.",
    "error.unknown_zone",
    "options.settings.value",
    "help.text",
    "error.settings_usage",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_claims_a_time_is_utc(language: str) -> None:
    """Times are shown in the reader's zone: `UTC` appears only where zones are named as examples."""
    naming = {key for key, message in catalog(language).items() if "UTC" in message}
    assert {key for key in naming if not key.startswith(tuple(ZONE_EXAMPLES))} == set()


def test_commands_format_dates_only_through_the_clock() -> None:
    commands = Path(core.__file__).parent / "commands"
    formatted = {
        path.name
        for path in commands.glob("*.py")
        if re.search(r"%[YmdHM]|strftime|isoformat", path.read_text(encoding="utf-8"))
    }
    assert formatted == set()


@pytest.mark.parametrize(
    ("wait", "english", "chinese"),
    [
        (timedelta(hours=23, minutes=59, seconds=59), "23 hours, 59 minutes", "23小时59分钟"),
        (timedelta(hours=30, minutes=5), "30 hours, 5 minutes", "30小时5分钟"),
        (timedelta(hours=1), "1 hour", "1小时"),
        (timedelta(minutes=59), "59 minutes", "59分钟"),
        (timedelta(seconds=3), "1 minute", "1分钟"),
    ],
)
def test_a_wait_is_worded_in_the_readers_language(wait: timedelta, english: str, chinese: str) -> None:
    assert translate("en", "error.export_too_soon", wait=wait).endswith(f" in {english}.")
    assert f"：{chinese} 后" in translate("zh-CN", "error.export_too_soon", wait=wait)
