"""The command line's tests run it in-process, configured from the environment alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness import DatabaseTarget


@pytest.fixture
def cli_env(database: DatabaseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DatabaseTarget:
    """The CLI's configuration comes from the environment only: this test's database and data folder."""
    for name in list(os.environ):
        if name.startswith("IMAGE2BOT_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray ./config.toml
    monkeypatch.setenv("IMAGE2BOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IMAGE2BOT_DATABASE__URL", database.url)
    if database.schema:
        monkeypatch.setenv("IMAGE2BOT_DATABASE__SCHEMA", database.schema)
    monkeypatch.setenv("IMAGE2BOT_GENERATION__LOCAL_STEP_DELAY_S", "0")
    monkeypatch.setenv("LANG", "C")
    return database
