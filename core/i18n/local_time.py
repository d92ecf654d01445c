"""Dates and times as a user reads them: in their language (Babel) and in their time zone.

Stored times are UTC. A user's zone is `Account.preferences["tz"]`: an IANA name (`Asia/Shanghai`) or a
fixed offset written `UTC+8` / `UTC-3:30`; unset, it follows the language (Chinese: China's time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.lists import format_list
from babel.units import format_unit

from core.commands.suggest import closest
from core.errors import UserError

ZONE_KEY = "tz"
ZONE_BY_LANGUAGE = {"en": "UTC", "zh-CN": "Asia/Shanghai"}
DEFAULT_ZONE = "UTC"
BABEL_LOCALES = {"en": "en", "zh-CN": "zh_Hans_CN"}
# Names people use that are no IANA name; a city's own name (`tokyo`, `new york`) is understood anyway.
ZONE_WORDS = {
    "beijing": "Asia/Shanghai",
    "china": "Asia/Shanghai",
    "北京": "Asia/Shanghai",
    "上海": "Asia/Shanghai",
    "中国": "Asia/Shanghai",
    "北京时间": "Asia/Shanghai",
    "香港": "Asia/Hong_Kong",
    "台北": "Asia/Taipei",
    "东京": "Asia/Tokyo",
    "gmt": "UTC",
    "z": "UTC",
}
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$")
LARGEST_OFFSET = {"+": timedelta(hours=14), "-": timedelta(hours=12)}
OFFSET_MINUTES = (0, 30, 45)
SHOWN_CHARS = 64  # the longest IANA name has 32: anything longer is not one, and is not echoed whole


@dataclass(frozen=True, slots=True)
class Clock:
    """How one user reads times: `language` for the words, `zone` (a stored zone value) for the hour."""

    language: str
    zone: str

    @property
    def tz(self) -> tzinfo:
        return zone_info(self.zone)

    def moment(self, when: datetime) -> str:
        """`Dec 5, 2026, 11:00 AM` / `2026年12月5日 11:00`, in the user's zone."""
        local = when.astimezone(self.tz)
        locale = _locale(self.language)
        return (
            get_datetime_format("medium", locale=locale)
            .replace("{1}", format_date(local, "medium", locale=locale))
            .replace("{0}", format_time(local, "short", locale=locale))
        )

    def day(self, when: datetime) -> str:
        """`Dec 5, 2026` / `2026年12月5日`: the date in the user's zone."""
        return format_date(when.astimezone(self.tz), "medium", locale=_locale(self.language))

    def zone_label(self, now: datetime | None = None) -> str:
        """`Asia/Shanghai (UTC+8)`, `UTC+5:30`, `UTC`: the zone and its offset now."""
        if self.zone == DEFAULT_ZONE or self.zone.startswith("UTC"):
            return self.zone
        offset = (now or datetime.now(UTC)).astimezone(self.tz).utcoffset() or timedelta()
        return f"{self.zone} ({offset_name(offset)})"


def duration(delta: timedelta, language: str) -> str:
    """A wait in whole minutes, at least one: `1 hour, 5 minutes` / `1小时5分钟`."""
    hours, minutes = divmod(max(1, int(delta.total_seconds() // 60)), 60)
    locale = _locale(language)
    parts = [format_unit(hours, "duration-hour", locale=locale)] if hours else []
    if minutes or not hours:
        parts.append(format_unit(minutes, "duration-minute", locale=locale))
    return format_list(parts, style="unit", locale=locale)


def zone_of(preferences: dict[str, object], language: str) -> str:
    """The zone a user chose, else the one of their language."""
    chosen = preferences.get(ZONE_KEY)
    if isinstance(chosen, str) and _known(chosen):
        return chosen
    return ZONE_BY_LANGUAGE.get(language, DEFAULT_ZONE)


def parse_zone(typed: str) -> str:
    """The zone value for what a user typed: an IANA name in any case, a city, `UTC+8`, `GMT-3:30`.
    Anything else is refused, with the nearest name when one is close."""
    words = " ".join(typed.split())[:SHOWN_CHARS]
    folded = words.casefold()
    if folded in ZONE_WORDS:
        return ZONE_WORDS[folded]
    offset = _OFFSET.match(folded)
    if offset:
        return _offset_zone(words, *offset.groups())
    names = _names()
    key = folded.replace(" ", "_")
    if key in names:
        return names[key]
    meant = closest(key, _suggestible())
    if meant is None:
        raise UserError("unknown_zone", value=words)
    raise UserError("unknown_zone_suggest", value=words, suggestion=names[meant])


def offset_name(offset: timedelta) -> str:
    """`UTC+8`, `UTC-3:30`, `UTC+0`."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_info(zone: str) -> tzinfo:
    """The tzinfo of a stored zone value."""
    if zone.startswith(("UTC+", "UTC-")):
        hours, _, minutes = zone[4:].partition(":")
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-delta if zone[3] == "-" else delta)
    return ZoneInfo(zone)


def _offset_zone(typed: str, sign: str, hours: str, minutes: str | None) -> str:
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if int(minutes or 0) not in OFFSET_MINUTES or delta > LARGEST_OFFSET[sign]:
        raise UserError("unknown_zone", value=typed)
    return offset_name(-delta if sign == "-" else delta) if delta else DEFAULT_ZONE


def _known(zone: str) -> bool:
    if zone.startswith(("UTC+", "UTC-")):
        try:
            return parse_zone(zone) == zone
        except UserError:
            return False
    return _names().get(zone.casefold()) == zone


@cache
def _names() -> dict[str, str]:
    """Every IANA name by its folded spelling, and a city by its own name where only one zone has it."""
    zones = sorted(available_timezones())
    cities: dict[str, list[str]] = {}
    for zone in zones:
        if "/" in zone and not zone.startswith("Etc/"):
            cities.setdefault(zone.rsplit("/", 1)[1].casefold(), []).append(zone)
    names = {city: found[0] for city, found in cities.items() if len(found) == 1}
    names.update({zone.casefold(): zone for zone in zones})
    return names


@cache
def _suggestible() -> tuple[str, ...]:
    """What a near miss may be taken for: `Area/City` names and cities, not the old abbreviations
    (`pst` is one letter from `EST`, and meant something else)."""
    return tuple(name for name, zone in _names().items() if "/" in zone and not zone.startswith("Etc/"))


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(BABEL_LOCALES.get(language, "en"))
