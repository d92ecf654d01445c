"""The console door in text mode reads whole in the user's language: files are marked by icons, not
English words; buttons show their translated labels; styles show by their labels."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest

from core.i18n import translate
from platforms.console.adapter import ConsoleAdapter
from tests.harness import harness_for, sqlite_target


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_result_history_and_settings_read_in_the_users_language(
    tmp_path: Path, language: str
) -> None:
    stdout = io.StringIO()
    async with harness_for(
        sqlite_target(tmp_path), tmp_path, generation={"local_step_delay_s": 0}
    ) as harness:
        # the second session starts once the first one's job has sent its result
        for typed in ("/imagine a red fox --style anime\n", "/history\n/settings\n"):
            adapter = ConsoleAdapter(
                harness.app.core,
                user="reader",
                stdin=io.StringIO(typed),
                stdout=stdout,
                interactive=False,
                locale=language,
            )
            harness.app.notifier.register(adapter)
            async with asyncio.timeout(60):
                await adapter.start()
    out = stdout.getvalue()

    def t(key: str) -> str:
        return translate(language, key)

    assert re.search(r"^🖼 \S*job-1-1\.png$", out, re.MULTILINE), out
    for english_label in ("image:", "file:", "(preview:"):
        assert english_label not in out
    assert f"{t('action.reroll')}: /action 1 reroll" in out
    assert f"{t('action.upscale_2k')}: /action 1 upscale-2k" in out
    [history] = [line for line in out.splitlines() if line.startswith("✅ #1")]
    anime = "Anime" if language == "en" else "动漫"
    assert f" · {anime} · " in history
    none = "None (as written)" if language == "en" else "无（按原文）"
    assert none in out.split(t("history.title"), 1)[1]  # /settings: the default style by its label
