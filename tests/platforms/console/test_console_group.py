"""The console has no groups: `/group` there answers that it works in a group chat, in either language."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from core.i18n import translate
from platforms.console.adapter import ConsoleAdapter
from tests.harness import harness_for, sqlite_target


@pytest.mark.parametrize(("language", "typed"), [("en", "/group wallet on\n"), ("zh-CN", "/群组\n")])
async def test_group_in_the_console_says_it_works_in_a_group(
    tmp_path: Path, language: str, typed: str
) -> None:
    stdout = io.StringIO()
    async with harness_for(sqlite_target(tmp_path), tmp_path, run_workers=False) as harness:
        adapter = ConsoleAdapter(
            harness.app.core,
            user="solo",
            stdin=io.StringIO(typed),
            stdout=stdout,
            interactive=False,
            locale=language,
        )
        harness.app.notifier.register(adapter)
        async with asyncio.timeout(30):
            await adapter.start()
    assert translate(language, "error.group_only") in stdout.getvalue()
