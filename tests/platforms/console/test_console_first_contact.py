"""First contact through the console door, which has no buttons: the welcome and the reminders say
"type /accept", never "press the button", in English and in Chinese."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from core.i18n import translate
from platforms.console.adapter import ConsoleAdapter
from tests.harness import harness_for, sqlite_target

GATED = {"require_acceptance": True, "terms_version": "t1", "policy_version": "p1"}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_the_console_is_told_to_type_accept(tmp_path: Path, language: str) -> None:
    stdout = io.StringIO()
    stdin = io.StringIO("/imagine a red fox\n/balance\n/terms\n/accept\n")
    async with harness_for(sqlite_target(tmp_path), tmp_path, run_workers=False, privacy=GATED) as harness:
        adapter = ConsoleAdapter(
            harness.app.core,
            user="newcomer",
            json_output=True,
            stdin=stdin,
            stdout=stdout,
            interactive=True,
            locale=language,
        )
        async with asyncio.timeout(20):
            await adapter.start()
    welcome, reminder, summary, how, accepted = [
        json.loads(line)["text"] for line in stdout.getvalue().splitlines()
    ]

    def t(key: str, **params: object) -> str:
        return translate(language, key, **params)

    typed = t("privacy.how_typed")
    assert welcome == t(
        "privacy.prompt",
        terms_version="t1",
        terms_url="https://getimage2.com/terms",
        policy_version="p1",
        policy_url="https://getimage2.com/privacy",
        min_age=13,
        how=typed,
    )
    assert reminder == t("privacy.reminder", how=typed)
    assert "https://getimage2.com/terms" in summary
    assert how == t("privacy.terms_accept", min_age=13, how=typed)
    for told in (welcome, reminder, how):
        assert "/accept" in told
        assert t("privacy.how_button") not in told
    assert accepted.startswith(t("privacy.accept.done", terms_version="t1", policy_version="p1"))
