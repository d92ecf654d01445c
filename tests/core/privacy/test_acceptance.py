"""First use: the terms and privacy policy are accepted before the first image or purchase, and again
after they change. Through the real core, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.db.models import ConsentRecord, SupportTicket
from core.i18n import translate
from core.messages import ChatRef, Choice, Incoming, Stage, UserRef
from tests.core.privacy.conftest import GATED
from tests.core.privacy.helpers import account_id, en
from tests.harness import DatabaseTarget, Harness, harness_for


def prompt(renewed: bool = False, terms: str = "t1", policy: str = "p1", language: str = "en") -> str:
    return translate(
        language,
        "privacy.prompt_changed" if renewed else "privacy.prompt",
        terms_version=terms,
        terms_url=TERMS_URL,
        policy_version=policy,
        policy_url=POLICY_URL,
        min_age=13,
        how=translate(language, "privacy.how_button"),
    )


def accept_button(language: str = "en") -> tuple[tuple[Choice, ...], ...]:
    return ((Choice(translate(language, "privacy.accept_button", min_age=13), "/accept"),),)


TERMS_URL = "https://getimage2.com/terms"
POLICY_URL = "https://getimage2.com/privacy"
ACCEPT_BUTTON = accept_button()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_first_contact_is_one_compact_welcome_then_one_line_reminders(
    gated: Harness, language: str
) -> None:
    locale = "zh-CN" if language == "zh-CN" else None
    reminder = translate(language, "privacy.reminder", how=translate(language, "privacy.how_button"))

    [welcome] = await gated.say("/balance", locale=locale)
    assert welcome.text == prompt(language=language)
    assert (welcome.text.count(TERMS_URL), welcome.text.count(POLICY_URL)) == (1, 1)
    assert len(welcome.text.splitlines()) == 3
    for later in ("/imagine a red fox", "/buy", "/history"):
        [reply] = await gated.say(later, locale=locale)
        assert reply.text == reminder, later
        assert "\n" not in reply.text
        assert reply.choices == accept_button(language)
    [again] = await gated.say("/start", locale=locale)  # asking for the welcome shows it again
    assert again.text == prompt(language=language)

    summary, how = await gated.say("/terms", locale=locale)
    assert (summary.text.count(TERMS_URL), summary.text.count(POLICY_URL)) == (1, 1)
    assert how.text == translate(
        language, "privacy.terms_accept", min_age=13, how=translate(language, "privacy.how_button")
    )
    assert TERMS_URL not in how.text  # the links once, not twice
    assert how.choices == accept_button(language)


async def test_a_new_user_can_read_and_accept_but_not_generate_or_buy_before_accepting(
    gated: Harness,
) -> None:
    [first] = await gated.say("/imagine a red fox")
    assert first.text == prompt()
    for refused in ("/balance", "/buy", "/history", "/settings ar 16:9"):
        [reply] = await gated.say(refused)
        assert reply.text == en("privacy.reminder", how=en("privacy.how_button")), refused
        assert reply.choices == ACCEPT_BUTTON
    assert (await gated.balance()).total == 0
    assert await gated.jobs_of(await account_id(gated)) == []

    [help_] = await gated.say("/help")
    assert help_.text == en("help.text", k1=10, k2=20, k4=40)
    [privacy] = await gated.say("/privacy")
    assert "/export" in privacy.text
    assert "/delete" in privacy.text
    assert "support@getimage2.com" in privacy.text
    assert [choice.command for row in privacy.choices for choice in row] == [
        "/export",
        "/profile",
        "/consent",
        "/link",
        "/delete",
        "/privacy keep on",
        "/privacy keep off",
    ]
    summary, how = await gated.say("/terms")
    assert "https://getimage2.com/terms" in summary.text
    assert how.text == en("privacy.terms_accept", min_age=13, how=en("privacy.how_button"))
    [language] = await gated.say("/language zh-CN")
    assert language.text == translate("zh-CN", "language.set", language="简体中文")
    [support] = await gated.say("/support I cannot read the terms")
    assert "#1" in support.text  # a person stays reachable
    async with gated.app.db.transaction() as session:
        assert len((await session.scalars(select(SupportTicket))).all()) == 1
    assert (await gated.balance()).total == 0


async def test_accepting_records_versions_time_and_platform_and_grants_the_trial_once(gated: Harness) -> None:
    [accepted] = await gated.say("/accept")
    assert accepted.text == "\n".join(
        [
            en("privacy.accept.done", terms_version="t1", policy_version="p1"),
            en("privacy.accept.trial", credits=40),
        ]
    )
    [again] = await gated.say("/accept")
    assert again.text == en("privacy.accept.already")
    assert (await gated.balance()).total == 40
    job = await gated.imagine("a red fox")
    assert job > 0

    async with gated.app.db.transaction() as session:
        [record] = (await session.scalars(select(ConsentRecord))).all()
    assert (record.kind, record.granted, record.terms_version, record.policy_version) == (
        "terms",
        True,
        "t1",
        "p1",
    )
    assert (record.platform, record.min_age, record.source) == ("test", 13, "user")
    assert record.account_id == await account_id(gated)
    assert record.created_at is not None
    await gated.assert_ledger_consistent()


async def test_the_accept_button_and_typed_accept_do_the_same(gated: Harness) -> None:
    [gate] = await gated.say("/imagine a cat")
    [[button]] = gate.choices
    [accepted] = await gated.say(button.command, "alice")
    assert accepted.text.startswith(en("privacy.accept.done", terms_version="t1", policy_version="p1"))
    assert (await gated.imagine("a cat")) > 0


async def test_a_new_version_asks_everyone_to_accept_again_at_their_next_command(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, privacy=GATED) as before:
        await before.say("/accept")
        assert (await before.balance()).total == 40

    async with harness_for(database, tmp_path, privacy={**GATED, "policy_version": "p2"}) as after:
        [reply] = await after.say("/balance")
        assert reply.text == prompt(renewed=True, policy="p2")
        [accepted] = await after.say("/accept")
        assert accepted.text == "\n".join(
            [en("privacy.accept.done", terms_version="t1", policy_version="p2"), en("privacy.accept.ready")]
        )
        assert (await after.balance()).total == 40  # no second trial
        [balance] = await after.say("/balance")
        assert balance.text.startswith(en("balance.total", total=40))
        async with after.app.db.transaction() as session:
            versions = [
                (r.terms_version, r.policy_version) for r in (await session.scalars(select(ConsentRecord)))
            ]
        assert versions == [("t1", "p1"), ("t1", "p2")]


async def test_support_staff_answer_tickets_without_accepting_anything(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    wecom = {
        "enabled": True,
        "corp_id": "corp",
        "agent_id": 1000002,
        "secret": "s",
        "token": "t",
        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    }
    async with harness_for(
        database, tmp_path, privacy=GATED, wecom=wecom, support={"wecom_agents": ["lisi"]}
    ) as harness:
        await harness.say("/support where are my images")
        staff = UserRef("wecom", "lisi")
        [answer] = await harness.app.core.dispatch(
            Incoming(staff, ChatRef("wecom", "user", "lisi"), "#1 on it")
        )
        assert answer.text == en("support.staff.sent", ticket=1, who="test:alice")


async def test_an_operator_may_record_acceptance_implicitly(database: DatabaseTarget, tmp_path: Path) -> None:
    async with harness_for(database, tmp_path, privacy={"require_acceptance": False}) as harness:
        [queued] = await harness.say("/imagine a red fox")
        assert queued.stage == Stage.QUEUED
        async with harness.app.db.transaction() as session:
            [record] = (await session.scalars(select(ConsentRecord))).all()
        assert (record.kind, record.source) == ("terms", "implied")
