"""Fixtures of the privacy tests: the real app with the acceptance gate on, as in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.harness import DatabaseTarget, Harness, harness_for

GATED = {"require_acceptance": True, "terms_version": "t1", "policy_version": "p1"}


@pytest_asyncio.fixture
async def gated(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    """New users must /accept before anything else; workers run (drawing no previews, for speed)."""
    async with harness_for(database, tmp_path, privacy=GATED, generation={"partial_images": 0}) as running:
        yield running
