"""Fixtures of the command tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.harness import DatabaseTarget, Harness, harness_for


@pytest_asyncio.fixture
async def idle(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    """The real core with no worker: submitted jobs stay queued."""
    async with harness_for(database, tmp_path, run_workers=False) as running:
        yield running
