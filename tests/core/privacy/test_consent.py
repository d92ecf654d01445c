"""Optional consents: analytics (events without content, only while consenting), marketing (broadcasts
reach only those who opted in), and the profile a user can read and correct."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from core.db.models import AnalyticsEvent, ConsentRecord
from core.i18n import translate
from core.messages import ActionKind
from tests.core.privacy.helpers import accepted, account_id, en, finished, say_in_group
from tests.harness import Harness

PROMPT = "a kingfisher named Quillibert"
EMAIL = "quill@example.net"


async def events(harness: Harness) -> list[AnalyticsEvent]:
    async with harness.app.db.transaction() as session:
        return list(await session.scalars(select(AnalyticsEvent).order_by(AnalyticsEvent.id)))


async def test_analytics_are_off_by_default_and_carry_no_content_when_on(gated: Harness) -> None:
    for user in ("alice", "bob"):
        await accepted(gated, user)
    await finished(gated, "bob's own picture", "bob")
    assert await events(gated) == []  # off by default

    [on] = await gated.say("/consent analytics on")
    assert on.text == en("privacy.consent.analytics_on")
    await gated.say(f"/profile set email {EMAIL}")
    job = await finished(gated, f"{PROMPT} --ar 16:9 --res 2k")
    await gated.say(f"/imagine {PROMPT} --ar {EMAIL}")  # refused: not a ratio
    await gated.say(f"/original {job}")
    await gated.press(job, ActionKind.REROLL)

    recorded = await events(gated)
    alice = await account_id(gated)
    assert {event.account_id for event in recorded} == {alice}
    shapes = [event.properties for event in recorded]
    assert {
        "command": "imagine",
        "platform": "test",
        "success": True,
        "tier": "2k",
        "ratio": "16:9",
    } in shapes
    assert {"command": "imagine", "platform": "test", "success": False, "tier": "1k"} in shapes
    assert {"command": "action", "platform": "test", "success": True, "action": "reroll"} in shapes
    stored = repr([(event.name, event.properties) for event in recorded])
    for content in (PROMPT, "Quillibert", EMAIL, "example.net", "outputs/", ".png", "http", "alice"):
        assert content not in stored, content


async def test_withdrawing_analytics_stops_recording_at_once_and_is_recorded(gated: Harness) -> None:
    await accepted(gated)
    await gated.say("/consent analytics on")
    await gated.say("/help")
    before = len(await events(gated))
    assert before >= 1

    [off] = await gated.say("/consent analytics off")
    await gated.say("/help")
    await gated.say("/styles")

    assert off.text == en("privacy.consent.analytics_off")
    assert len(await events(gated)) == before
    async with gated.app.db.transaction() as session:
        records = (await session.scalars(select(ConsentRecord).order_by(ConsentRecord.id))).all()
    assert [(r.kind, r.granted, r.platform) for r in records] == [
        ("terms", True, "test"),
        ("analytics", True, "test"),
        ("analytics", False, "test"),
    ]
    [same] = await gated.say("/consent analytics off")
    assert same.text == en("privacy.consent.unchanged")


async def test_consent_shows_both_choices_with_buttons_and_refuses_nonsense(gated: Harness) -> None:
    await accepted(gated)
    [shown] = await gated.say("/consent")
    off = en("privacy.consent.off")
    assert shown.text == en("privacy.consent.status", analytics=off, marketing=off)
    assert [[choice.command for choice in row] for row in shown.choices] == [
        ["/consent analytics on", "/consent analytics off"],
        ["/consent marketing on", "/consent marketing off"],
    ]
    [wrong] = await gated.say("/consent cookies on")
    assert wrong.text == en("error.consent_usage")
    [wrong_switch] = await gated.say("/marketing maybe")
    assert wrong_switch.text == en("error.marketing_usage")


async def test_broadcasts_reach_only_accounts_with_marketing_on_with_an_unsubscribe_hint(
    gated: Harness,
) -> None:
    for user in ("alice", "bob", "carol"):
        await accepted(gated, user)
    [on] = await gated.say("/marketing on", "alice")
    assert on.text == en("privacy.consent.marketing_on")
    await gated.say("/marketing on", "bob")
    await gated.say("/marketing off", "bob")
    broadcasts = gated.app.core.services.privacy.broadcasts
    broadcasts.rates["test"] = 1000.0

    assert (await broadcasts.queue("New: watercolor style!", actor="cli:op"))[1] == 1
    assert await broadcasts.send_next()
    assert not await broadcasts.send_next()
    await gated.app.notifier.drain()

    hint = en("privacy.broadcast.unsubscribe")
    assert [reply.text for reply in gated.chat.sent["alice"]] == [f"New: watercolor style!\n\n{hint}"]
    assert gated.chat.sent["bob"] == []
    assert gated.chat.sent["carol"] == []

    await gated.say("/marketing off", "alice")
    await broadcasts.queue("Second news", actor="cli:op")
    await broadcasts.send_next()
    await gated.app.notifier.drain()
    assert len(gated.chat.sent["alice"]) == 1


async def test_the_profile_is_shown_and_corrected_and_the_email_never_logged(
    gated: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await accepted(gated)
    with caplog.at_level(logging.INFO):
        [saved] = await gated.say(f"/profile set email {EMAIL}")
        await gated.say("/profile set name Ann Lee")
        [shown] = await gated.say("/profile set language zh-CN")
    assert saved.private
    assert shown.text.endswith(
        translate(
            "zh-CN",
            "privacy.profile.show",
            name="Ann Lee",
            email=EMAIL,
            language="简体中文",
            identities="test:alice",
            history=translate("zh-CN", "privacy.keep.profile_on"),
        )
    )
    assert EMAIL not in caplog.text
    [bad] = await gated.say("/profile set email not-an-address")
    assert bad.error
    [cleared] = await gated.say("/profile clear email")
    assert EMAIL not in cleared.text
    [usage] = await gated.say("/profile set colour blue")
    assert usage.error
    [group] = await say_in_group(gated, "/profile")
    assert group.error
    assert EMAIL not in group.text
