"""Fixtures of the growth tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.core.payments.conftest import shop  # noqa: F401  (a fixture)
from tests.fakes.stripe_api import stripe_api_fixture as stripe_api  # noqa: F401  (a fixture)
from tests.harness import DatabaseTarget, Harness, harness_for


@pytest_asyncio.fixture
async def idle(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    """The real core with no worker: submitted jobs stay queued."""
    async with harness_for(database, tmp_path, run_workers=False) as running:
        yield running
