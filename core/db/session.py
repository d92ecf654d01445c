"""The engine and the transaction boundary."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

READ_ONLY = "image2bot_read_only"  # an execution option: this transaction only reads (SQLite)


log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 0.5
TRUNCATE_ATTEMPTS = 100  # with TRUNCATE_RETRY_S: readers have 5 s to finish their snapshot
TRUNCATE_RETRY_S = 0.05
READ_BEGIN, WRITE_BEGIN = "BEGIN", "BEGIN IMMEDIATE"
BUSY_TIMEOUT_MS = 30_000


class Database:
    """One per process. `transaction()` and `read()` are the only ways in: short, explicit units of work.

    SQLite allows one writer at a time, so on SQLite transactions start with BEGIN IMMEDIATE (other
    processes wait on the busy timeout) and this process queues its own writers on an asyncio lock
    instead of letting them spin inside SQLite's busy handler; they write on a connection of their
    own, never waiting behind readers for one of the pool's. A `read()` takes neither: it starts with
    a deferred BEGIN and reads its snapshot beside the writer (WAL); on PostgreSQL it is READ ONLY.

    SQLite's own checkpoints run inside the commit that fills the log to 1,000 pages, which then holds
    the writer for 50 to 200 ms while every page goes to the database file. Here they are switched
    off, and after a commit a passive checkpoint runs beside the writers, on a connection of its own,
    at most one at a time and one every `CHECKPOINT_EVERY_S`.
    """

    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if schema and not self.is_sqlite:
            connect_args["server_settings"] = {"search_path": schema}
        options: dict[str, Any] = {
            "echo": echo,
            "pool_pre_ping": not self.is_sqlite,
            "connect_args": connect_args,
            "hide_parameters": True,  # database errors end up in logs: never with prompts or identities
        }
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._writer_engine = self.engine
        if self.is_sqlite:
            _configure_sqlite(self.engine)
            if parsed.database not in (None, "", ":memory:"):
                # One writer at a time, on a connection of its own: it never waits behind readers
                # for one of the pool's.
                self._writer_engine = create_async_engine(url, pool_size=1, max_overflow=0, **options)
                _configure_sqlite(self._writer_engine)
        self._sessions = async_sessionmaker(self._writer_engine, expire_on_commit=False)
        reading = {READ_ONLY: True} if self.is_sqlite else {"postgresql_readonly": True}
        self._readers = async_sessionmaker(self.engine.execution_options(**reading), expire_on_commit=False)
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None
        self._checkpointing: asyncio.Task[None] | None = None
        self._checkpointed_at = 0.0

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every engine of this database (on SQLite the writers have one of their own): what an event
        listener that must see every statement listens to."""
        if self._writer_engine is self.engine:
            return (self.engine,)
        return (self.engine, self._writer_engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Commits when the block ends normally, rolls back when it raises."""
        guard: AbstractAsyncContextManager[Any] = self._sqlite_writer or nullcontext()
        async with guard, self._sessions() as session, session.begin():
            yield session
        if self.is_sqlite:
            self._checkpoint_soon()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work: never waits for the writer, and a write inside it is an error
        (PostgreSQL refuses it; on SQLite the tests would see the writer lock taken)."""
        async with self._readers() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """Raises when the database cannot answer a trivial query."""
        async with self.transaction() as session:
            await session.execute(text("SELECT 1"))

    async def checkpoint(self) -> None:
        """SQLite: moves the write-ahead log into the database file and empties it, so rows just erased
        (overwritten with zeros by secure_delete) leave no older copy in the log. No-op elsewhere."""
        if not self.is_sqlite:
            return
        guard: AbstractAsyncContextManager[Any] = self._sqlite_writer or nullcontext()
        async with guard, self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            # A reader still in an older snapshot (a read whose COMMIT is on its way) keeps the log
            # from being emptied: SQLite then says "busy", and the checkpoint is tried again shortly.
            for _ in range(TRUNCATE_ATTEMPTS):
                cursor = await raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy = (await cursor.fetchone() or (0,))[0]
                await cursor.close()
                if not busy:
                    return
                await asyncio.sleep(TRUNCATE_RETRY_S)
            log.warning("sqlite: the write-ahead log could not be emptied; the next erasure tries again")

    def _checkpoint_soon(self) -> None:
        """A passive checkpoint beside the writers, unless one runs or ran a moment ago."""
        now = time.monotonic()
        if now - self._checkpointed_at < CHECKPOINT_EVERY_S:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._checkpointed_at = now
        self._checkpointing = asyncio.create_task(self._checkpoint_passively())

    async def _checkpoint_passively(self) -> None:
        try:
            async with self.engine.connect() as connection:
                raw = await connection.get_raw_connection()
                cursor = await raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                await cursor.close()
        except Exception:  # the next commit tries again; the log only grows meanwhile
            log.warning("sqlite: a checkpoint failed", exc_info=True)

    async def dispose(self) -> None:
        if self._checkpointing is not None:
            with suppress(Exception):
                await self._checkpointing
        await self.engine.dispose()
        if self._writer_engine is not self.engine:
            await self._writer_engine.dispose()


class _SqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, with fewer trips to its thread. Each trip waits for a turn of the event
    loop, which takes tens of milliseconds under a burst, and on SQLite every other writer waits
    meanwhile:
    - a transaction's BEGIN goes with its first statement; a transaction that ran nothing costs none;
    - a transaction that only read ends without waiting: its COMMIT is queued on the connection's
      thread, ahead of whatever the connection's next user sends;
    - a write transaction runs on the caller's thread: it takes SQLite's write lock there when the
      lock is free, and its statements never wait for a lock and are short (upkeep writes in
      batches). Only when another process holds the lock does the first statement wait for it in
      the connection's thread.

    It also rolls back whatever transaction is open before it closes. SQLAlchemy closes a connection
    whose statement a cancellation interrupted. SQLite defers that close while any statement of the
    connection is still referenced (by the traceback of the cancellation, say) and keeps its
    transaction meanwhile, and with it the write lock: every later writer would wait out the busy
    timeout, again and again. A rollback first releases the lock."""

    _begin: str | None = None  # a BEGIN not sent yet
    _reading = False  # in a transaction that has only read so far
    _writing = False  # in a write transaction that holds the lock
    _ending: asyncio.Future[Any] | None = None  # a read's COMMIT, queued on the connection's thread

    async def close(self) -> None:
        if self._connection is not None and self._running:
            with suppress(sqlite3.Error, ValueError):
                await self.rollback()
        await super().close()

    def cursor(self) -> _OneTripCursor:  # type: ignore[override]
        return _OneTripCursor(self)

    def begin_later(self, sql: str) -> None:
        self._begin = sql
        self._reading = sql == READ_BEGIN

    async def run(self, sql: str, parameters: Any, *, many: bool) -> _Outcome:
        if self._begin == WRITE_BEGIN and self._lock_if_free():
            self._begin, self._writing = None, True
        if self._writing:
            return _run(self._conn, None, sql, parameters, many=many)
        begin, self._begin = self._begin, None
        if self._reading and sql.lstrip()[:6].upper() != "SELECT":
            self._reading = False
        outcome: _Outcome = await self._execute(_run, self._conn, begin, sql, parameters, many=many)
        self._writing = begin == WRITE_BEGIN
        return outcome

    def _lock_if_free(self) -> bool:
        """Takes the write lock here and now, unless another process holds it (or the connection's
        thread still ends a read: then the thread takes the lock, after it)."""
        if self._ending is not None and not self._ending.done():
            return False
        connection = self._conn
        connection.execute("PRAGMA busy_timeout=0")
        try:
            connection.execute(WRITE_BEGIN)
        except sqlite3.OperationalError:  # locked: the thread waits for it instead
            return False
        finally:
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    async def commit(self) -> None:
        if self._begin is not None:
            self._begin = None
        elif self._writing:
            self._writing = False
            self._conn.commit()
        elif self._reading and self._connection is not None:
            self._reading = False
            self._ending = asyncio.get_running_loop().create_future()
            self._ending.add_done_callback(_retrieved)  # a read's COMMIT cannot fail: nobody waits
            self._tx.put_nowait((self._ending, self._connection.commit))
        else:
            await super().commit()

    async def rollback(self) -> None:
        """Nothing to roll back costs no trip to the connection's thread (the pool rolls back every
        connection it takes back, most of them already committed)."""
        self._begin, self._reading = None, False
        if self._writing:
            self._writing = False
            self._conn.rollback()
        elif self._connection is not None and self._connection.in_transaction:
            await super().rollback()

    def stop(self) -> asyncio.Future[Any] | None:
        if self._connection is not None and self._running:  # a forced close skips close() above
            self._tx.put_nowait((None, self._connection.rollback))
        return super().stop()


class _OneTripCursor:
    """The cursor SQLAlchemy gets from `_SqliteConnection`: a statement runs, its rows are fetched
    and its SQLite cursor is closed in one trip to the connection's thread, where aiosqlite's own
    cursor takes a trip for each (about four per statement, each a thread hand-off both ways).
    Every row is fetched at once, as SQLAlchemy's adapter does with aiosqlite's cursor anyway."""

    arraysize = 1

    def __init__(self, connection: _SqliteConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> _OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Any = None) -> _OneTripCursor:
        if sql in (READ_BEGIN, WRITE_BEGIN):
            self._connection.begin_later(sql)
            return self
        return await self._run(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Any) -> _OneTripCursor:
        return await self._run(sql, parameters, many=True)

    async def _run(self, sql: str, parameters: Any, *, many: bool) -> _OneTripCursor:
        outcome = await self._connection.run(sql, parameters, many=many)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = size or self.arraysize
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = []


_Outcome = tuple[Any, int, int | None, list[Any]]


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _run(
    connection: sqlite3.Connection, begin: str | None, sql: str, parameters: Any, *, many: bool
) -> _Outcome:
    """In the connection's thread: the transaction's BEGIN when it waits, then the statement, its
    rows and what SQLAlchemy reads off the cursor."""
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _connect_sqlite(database: str, **kwargs: Any) -> aiosqlite.Connection:
    kwargs["check_same_thread"] = False  # a write transaction's statements run on the event loop's thread
    connection = _SqliteConnection(partial(sqlite3.connect, database, **kwargs), iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy does: an unclosed connection never holds up exit
    return connection


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "do_connect")
    def _on_do_connect(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        params["async_creator_fn"] = _connect_sqlite

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left in free pages
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # `Database` checkpoints beside the writers
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        reading = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql(READ_BEGIN if reading else WRITE_BEGIN)
