"""The operator's content rules: a blocked word or pattern is refused before anything is reserved, in
the asker's language, without repeating what matched; per chat rules add to the global ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import ConfigError, load_settings
from core.db.models import CreditHold, Job, LedgerEntry
from core.db.session import Database
from core.generation.content_rules import ContentRules, ModerationSettings
from core.i18n import translate
from core.messages import ChatRef, Incoming, Stage
from tests.harness import DatabaseTarget, harness_for

GROUP = ChatRef("telegram", "supergroup", "-100123")
RULES = {
    "blocked_words": ["Forbidden Fruit"],
    "blocked_patterns": [r"\bcasino\s*\d+"],
    "chats": {GROUP.serialize(): {"blocked_words": ["spoiler"]}},
}


def test_words_and_patterns_match_without_case_and_chat_rules_stay_in_their_chat() -> None:
    rules = ContentRules(ModerationSettings.model_validate(RULES))
    private = ChatRef("telegram", "private", "42")
    assert rules.blocks("a FORBIDDEN fruit on a table", private)
    assert rules.blocks("neon sign: Casino 77", private)
    assert not rules.blocks("a casino at night", private)
    assert rules.blocks("a SPOILER of the finale", GROUP)
    assert not rules.blocks("a spoiler of the finale", private)
    assert not ContentRules().blocks("anything at all", private)


@pytest.mark.parametrize(
    "moderation",
    [
        {"blocked_patterns": ["(unclosed"]},
        {"blocked_patterns": ["a" * 201]},
        {"chats": {"not-a-chat": {"blocked_words": ["x"]}}},
        {"blocked_words": [""]},
    ],
)
def test_a_rule_that_cannot_work_stops_the_start_naming_its_key(moderation: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="moderation"):
        load_settings(None, moderation=moderation)


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.read() as session:
        return (
            await session.scalar(select(func.count()).select_from(LedgerEntry)),
            await session.scalar(select(func.count()).select_from(CreditHold)),
            await session.scalar(select(func.count()).select_from(Job)),
        )


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_blocked_prompt_is_refused_before_any_reserve_in_the_askers_language(
    database: DatabaseTarget, tmp_path: Path, language: str
) -> None:
    async with harness_for(database, tmp_path, run_workers=False, moderation=RULES) as harness:
        await harness.say("/balance", locale=language)
        before = await counts(harness.app.db)
        balance = await harness.balance()
        [refused] = await harness.say("/imagine forbidden FRUIT, still life", locale=language)
        assert refused.error
        assert refused.text == translate(language, "error.content_blocked")
        assert "fruit" not in refused.text.casefold()
        group_ask = Incoming(harness.user("alice", language), GROUP, "/imagine a spoiler poster")
        [in_group] = await harness.app.core.dispatch(group_ask)
        assert in_group.text == translate(language, "error.content_blocked")
        assert await counts(harness.app.db) == before  # no entry, no hold, no job
        assert await harness.balance() == balance
        [allowed] = await harness.say("/imagine a spoiler poster", locale=language)  # a private chat
        assert allowed.stage == Stage.QUEUED
