"""PostgreSQL: after `/delete` and the VACUUM that follows it, no row version of the erased rows is left
in the tables the erasure touched (read page by page with `pageinspect`), nor in their indexes; a wave
of erasures is vacuumed once per interval, not once per request."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db.repositories import erasure
from core.db.repositories.erasure import ERASED_TABLES
from core.db.session import Database
from core.privacy.vacuum import Vacuum
from tests.conftest import POSTGRES_DSN
from tests.core.privacy.conftest import GATED
from tests.core.privacy.helpers import en
from tests.core.privacy.test_erasure import EMAIL, PROMPT, USER, a_full_life, code_from
from tests.harness import DatabaseTarget, harness_for, migrate_database, postgres_answers

SECRETS = (PROMPT, EMAIL, USER, "Heronsdottir")
TOUCHED = tuple(table.__tablename__ for table in ERASED_TABLES)


@pytest_asyncio.fixture
async def own_database() -> AsyncIterator[DatabaseTarget]:
    """A PostgreSQL database of this test's own: VACUUM keeps row versions an older transaction of the
    same database might still see, and in the shared test database other tests' transactions are
    always running."""
    if not postgres_answers():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    name = f"t_vacuum_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        url = make_url(POSTGRES_DSN).set(drivername="postgresql+asyncpg", database=name)
        target = DatabaseTarget(url.render_as_string(hide_password=False))
        await migrate_database(target)
        yield target
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def rests(db: Database, tables: tuple[str, ...]) -> dict[str, list[str]]:
    """Per table: which SECRETS a stored row version (live or dead) of it or of its indexes holds."""
    found: dict[str, list[str]] = {}
    async with db.transaction() as session:
        await session.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
        for table in tables:
            indexes = await session.scalars(
                text("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = CAST(:t AS regclass)"),
                {"t": table},
            )
            items = [_HEAP_ITEMS.format(relation=table)]
            items += [_INDEX_ITEMS.format(relation=index) for index in indexes]
            for secret in SECRETS:
                hits = await session.scalar(
                    text(" UNION ALL ".join(items).join(("SELECT count(*) FROM (", ") AS items"))).bindparams(
                        needle=secret.encode()
                    )
                )
                if hits:
                    found.setdefault(table, []).append(secret)
    return found


# Every stored tuple of every page; `position` finds the secret's UTF-8 bytes in it.
_HEAP_ITEMS = (
    "SELECT 1 FROM generate_series(0, pg_relation_size('{relation}') / 8192 - 1) AS page, "
    "LATERAL heap_page_items(get_raw_page('{relation}', page::int)) AS item "
    "WHERE item.t_data IS NOT NULL AND position(:needle IN item.t_data) > 0"
)
_INDEX_ITEMS = (  # page 0 is the B-tree's metapage
    "SELECT 1 FROM generate_series(1, pg_relation_size('{relation}') / 8192 - 1) AS page, "
    "LATERAL bt_page_items(get_raw_page('{relation}', page::int)) AS item "
    "WHERE position(:needle IN decode(replace(item.data, ' ', ''), 'hex')) > 0"
)


@pytest.mark.postgres
async def test_after_delete_and_its_vacuum_no_row_version_of_the_erased_rows_is_left(
    own_database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(own_database, tmp_path, privacy=GATED) as alive:
        await a_full_life(alive)
        before = await rests(alive.app.db, TOUCHED)
    assert {"jobs", "identities", "privacy_profiles", "stripe_events"} <= set(before)  # the probe sees them

    # No workers or outbox now: nothing else of the bot runs a transaction beside the erasure.
    async with harness_for(
        own_database, tmp_path, privacy=GATED, run_workers=False, drain_outbox=False
    ) as bot:
        code = await code_from(bot)
        [done] = await bot.say(f"/delete {code}", USER)
        assert done.text == en("privacy.delete.done")
        assert await rests(bot.app.db, TOUCHED) == {}
        await bot.assert_ledger_consistent()


async def test_a_wave_of_erasures_is_vacuumed_at_once_then_once_per_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vacuumed: list[Sequence[str]] = []

    async def vacuum(_engine: AsyncEngine, tables: Sequence[str]) -> None:
        vacuumed.append(tables)

    monkeypatch.setattr(erasure, "vacuum", vacuum)
    db = Database("postgresql+asyncpg://nobody@127.0.0.1/never-connected")
    try:
        coalesced = Vacuum(db, interval_s=0.05)
        await coalesced.after_erasure(["jobs"])  # the first after a quiet spell: at once
        for tables in (["jobs", "identities"], ["deliveries"], ["jobs"]):
            await coalesced.after_erasure(tables)
        assert vacuumed == [["jobs"]]
        await coalesced.settled()
        assert vacuumed == [["jobs"], ["deliveries", "identities", "jobs"]]
    finally:
        await db.dispose()
    sqlite = Database("sqlite+aiosqlite://")
    await Vacuum(sqlite).after_erasure(["jobs"])  # secure_delete and a truncated log do it there
    assert len(vacuumed) == 2
    await sqlite.dispose()
