"""Fixtures of the privacy tests: the real app with the acceptance gate on, as in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.harness import DatabaseTarget, Harness, harness_for

GATED = {"require_acceptance": True, "terms_version": "t1", "policy_version": "p1"}


# Runs a test with the images in the local folder and again in an S3 bucket (`storage_settings`).
EITHER_STORE = pytest.mark.parametrize("storage_settings", ["local", "s3"], indirect=True)


@pytest.fixture
def storage_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """`[storage]` beyond the data folder: none (the local folder) unless a test asks for "s3"."""
    if getattr(request, "param", "local") == "s3":
        return dict(request.getfixturevalue("s3_storage"))
    return {}


@pytest_asyncio.fixture
async def gated(
    database: DatabaseTarget, tmp_path: Path, storage_settings: dict[str, Any]
) -> AsyncIterator[Harness]:
    """New users must /accept before anything else; workers run (drawing no previews, for speed)."""
    async with harness_for(
        database, tmp_path, privacy=GATED, generation={"partial_images": 0}, storage=storage_settings
    ) as running:
        yield running
