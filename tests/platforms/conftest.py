"""The chat doors turn platform updates into calls on the core and replies into platform calls: nothing
in them depends on the database, which the core's tests cover on SQLite and PostgreSQL alike. Their
tests run on SQLite; each door's `image2bot run` acceptance test runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import DATABASES, PostgresSchemas, database_of_kind
from tests.harness import DatabaseTarget

BOTH_DATABASES = pytest.mark.parametrize("database", DATABASES, indirect=True)


@pytest_asyncio.fixture(params=["sqlite"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schemas: PostgresSchemas
) -> AsyncIterator[DatabaseTarget]:
    async with database_of_kind(request.param, tmp_path, postgres_schemas) as target:
        yield target
