"""The PostgreSQL schemas the tests run in: each test gets a migrated schema no other test uses.

Migrating takes longer than most tests, so each test process migrates a schema once and empties it for
the next test. The creating, emptying and dropping go through one connection that lives on a thread
of its own for the whole session: no connection is opened per test, and a schema given back is emptied
while the next test already runs (in another schema).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Engine, event

from core.db.models import Base

T = TypeVar("T")

# Without the wait for the disk at each commit (`synchronous_commit = off`): a commit is visible to
# every other connection at once, as before; only a crash of the PostgreSQL server itself could lose
# the last moments of work, and no test crashes it. It spares each test's commits a disk flush.
ASYNC_COMMIT = {"synchronous_commit": "off"}


class PostgresAdmin:
    """One connection to the test database, driven by an event loop on a thread of its own.

    Work is queued from any thread and runs one piece at a time, in order."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-admin", daemon=True)
        self._thread.start()
        self._connection: asyncpg.Connection | None = None
        self._turn: asyncio.Lock | None = None

    def submit(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(self._run(work), self._loop)

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`work`, awaited from the caller's own event loop."""
        return await asyncio.wrap_future(self.submit(work))

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self._dsn, server_settings=ASYNC_COMMIT)
            return await work(self._connection)

    def close(self) -> None:
        async def disconnect(connection: asyncpg.Connection) -> None:
            await connection.close()

        if self._connection is not None:
            self.submit(disconnect).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def new_schema_name() -> str:
    return f"t_{secrets.token_hex(6)}"


async def create_schema(admin: PostgresAdmin) -> str:
    schema = new_schema_name()

    async def create(connection: asyncpg.Connection) -> None:
        await connection.execute(f"CREATE SCHEMA {schema}")

    await admin.run(create)
    return schema


async def drop_schema(admin: PostgresAdmin, schema: str) -> None:
    await admin.run(_dropping(schema))


def _dropping(schema: str) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    async def drop(connection: asyncpg.Connection) -> None:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    return drop


class PostgresSchemas:
    """Migrated schemas for the tests of one process: taken by a test, emptied when it gives it back."""

    def __init__(self, admin: PostgresAdmin, migrate: Callable[[str], Awaitable[None]]) -> None:
        self._admin = admin
        self._migrate = migrate
        self._emptying: list[concurrent.futures.Future[str | None]] = []
        self._all_schemas: list[str] = []

    async def take_schema(self) -> str:
        """An empty, migrated schema: one given back before (waiting for it to be emptied), else a new one."""
        while self._emptying:
            schema = await asyncio.wrap_future(self._emptying.pop(0))
            if schema is not None:
                return schema
        schema = await create_schema(self._admin)
        self._all_schemas.append(schema)
        await self._migrate(schema)
        return schema

    def give_back(self, schema: str) -> None:
        """Empties the schema for the next test, in the background; one that cannot be emptied is dropped.

        Row by row rather than TRUNCATE: on tables this small it is several times faster. The sequences
        start again from their first value, as in a freshly migrated schema."""
        self._emptying.append(self._admin.submit(self._emptier(schema)))

    def _emptier(self, schema: str) -> Callable[[asyncpg.Connection], Awaitable[str | None]]:
        children_first = reversed(Base.metadata.sorted_tables)
        statements = [f'DELETE FROM {schema}."{table.name}"' for table in children_first]
        statements.append(
            "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
            f"FROM pg_sequences WHERE schemaname = '{schema}' AND last_value IS NOT NULL"
        )
        script = ";".join(statements)

        async def empty(connection: asyncpg.Connection) -> str | None:
            try:
                await connection.execute(script)  # one round trip, one transaction
            except asyncpg.PostgresError:
                await _dropping(schema)(connection)
                self._all_schemas.remove(schema)
                return None
            return schema

        return empty

    def drop_all(self) -> None:
        for emptying in self._emptying:
            emptying.result()
        for schema in self._all_schemas:
            self._admin.submit(_dropping(schema)).result()


def _async_commit(dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
    if dialect.name == "postgresql":
        params["server_settings"] = {**params.get("server_settings", {}), **ASYNC_COMMIT}


@contextmanager
def commits_without_flush() -> Iterator[None]:
    """Every engine this process opens on PostgreSQL while the block runs commits with `ASYNC_COMMIT`
    (the bot processes that tests start commit as configured)."""
    event.listen(Engine, "do_connect", _async_commit)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", _async_commit)
