"""`/settings tz` and the times it changes, as a user sees them, in English and Chinese.

Zones without daylight saving time, so that no offset shown depends on the day the tests run.

Runs on SQLite and PostgreSQL through the real core. Messages are compared with the catalog text.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from core.db.models import PrivacyProfile
from tests.core.commands.chat import en, error, says, zh
from tests.harness import Harness

ACCEPTED = datetime(2026, 12, 4, 18, 15, tzinfo=UTC)  # Dec 5, 02:15 in China


def zone_line(zone: str, chosen: bool = True, language: str = "en") -> str:
    key = "local_time.setting" if chosen else "local_time.setting_default"
    return (en if language == "en" else zh)(key, zone=zone)


@pytest.mark.parametrize(
    ("message", "zone"),
    [
        ("/settings tz Asia/Shanghai", "Asia/Shanghai (UTC+8)"),
        ("/settings tz asia/kolkata", "Asia/Kolkata (UTC+5:30)"),
        ("/settings tz UTC+8", "UTC+8"),
        ("/settings --tz GMT-3:30", "UTC-3:30"),
        ("/settings timezone hong kong", "Asia/Hong_Kong (UTC+8)"),
        ("/settings 时区 北京", "Asia/Shanghai (UTC+8)"),
    ],
)
async def test_a_zone_is_saved_and_shown(idle: Harness, message: str, zone: str) -> None:
    saved = await says(idle, message)
    assert saved.startswith(en("settings.saved"))
    assert saved.endswith(zone_line(zone))
    assert (await says(idle, "/settings")).endswith(zone_line(zone))


async def test_a_bad_zone_is_explained_and_nothing_changes(idle: Harness) -> None:
    await says(idle, "/settings tz Asia/Singapore")
    assert await says(idle, "/settings tz Asia/Singapor") == error(
        "unknown_zone_suggest", value="Asia/Singapor", suggestion="Asia/Singapore"
    )
    assert await says(idle, "/settings tz UTC+15") == error("unknown_zone", value="UTC+15")
    assert await says(idle, "/settings tz", "li", locale="zh-Hans") == error("settings_usage", "zh-CN")
    assert await says(idle, "/settings tzz UTC") == error(
        "unknown_setting_suggest", name="tzz", suggestion="tz"
    )
    assert (await says(idle, "/settings")).endswith(zone_line("Asia/Singapore (UTC+8)"))


async def test_a_reset_of_the_defaults_keeps_the_zone(idle: Harness) -> None:
    await says(idle, "/settings tz Asia/Tokyo")
    await says(idle, "/settings ar 16:9")
    assert await says(idle, "/settings reset") == en("settings.reset")
    shown = await says(idle, "/settings")
    untouched = await says(idle, "/settings", "bob")
    assert shown.splitlines()[:-1] == untouched.splitlines()[:-1], "the defaults are back"
    assert shown.endswith(zone_line("Asia/Tokyo (UTC+9)"))


async def test_the_default_zone_follows_the_language(idle: Harness) -> None:
    assert (await says(idle, "/settings", "li", locale="zh-Hans")).endswith(
        zone_line("Asia/Shanghai (UTC+8)", chosen=False, language="zh-CN")
    )
    assert (await says(idle, "/settings", "ann", locale="en-US")).endswith(zone_line("UTC", chosen=False))
    await says(idle, "/language zh-CN", "ann")
    assert (await says(idle, "/settings", "ann")).endswith(
        zone_line("Asia/Shanghai (UTC+8)", chosen=False, language="zh-CN")
    )


async def test_terms_say_when_they_were_accepted_in_local_time(idle: Harness) -> None:
    await says(
        idle, "/balance", "li", locale="zh-Hans"
    )  # the harness's users accept with their first command
    async with idle.app.db.transaction() as session:
        await session.execute(update(PrivacyProfile).values(accepted_at=ACCEPTED))

    chinese = (await says(idle, "/terms", "li", locale="zh-Hans")).splitlines()[-1]
    assert chinese == zh("privacy.accepted_on", date="2026年12月5日 02:15", zone="Asia/Shanghai (UTC+8)")
    await says(idle, "/settings tz America/Bogota", "li", locale="zh-Hans")
    later = (await says(idle, "/terms", "li", locale="zh-Hans")).splitlines()[-1]
    assert later == zh("privacy.accepted_on", date="2026年12月4日 13:15", zone="America/Bogota (UTC-5)")
