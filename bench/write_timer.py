"""Times every write transaction of a `Database` while it is installed: from the moment it holds the
writer to its commit, COMMIT included, with its statements (bench/scale.py: the upkeep's longest
hold of the writer)."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App

SLOWEST = 8  # write transactions described in the details
STATEMENT_CHARS = 160
LONG_S = 0.1  # a write counted as long in the summary


@dataclass
class Write:
    """One write transaction: how long it held the writer, how much of that was COMMIT, and its
    statements with their times (for the slowest ones' details)."""

    seconds: float = 0.0
    commit: float = 0.0
    statements: list[tuple[float, str]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        slowest = max(self.statements, default=(0.0, ""))
        return {
            "ms": round(self.seconds * 1000, 1),
            "commit_ms": round(self.commit * 1000, 1),
            "statements": len(self.statements),
            "slowest_statement_ms": round(slowest[0] * 1000, 1),
            "slowest_statement": " ".join(slowest[1].split())[:STATEMENT_CHARS],
        }


class WriteTimer:
    """How long each write transaction holds the writer: `Database.transaction()` is wrapped, and the
    time runs from the moment it is entered (the writer lock taken; BEGIN IMMEDIATE goes with the
    first statement) until it has committed or rolled back. On SQLite COMMIT is where the write-ahead
    log is checkpointed into the database file once it has grown past 1,000 pages, so it counts.
    `Database.checkpoint()` (TRUNCATE, at the end of a purge or an erasure) holds the writer lock
    too: timed apart. Statements are timed on the engine's cursor events meanwhile (SQLite has one
    writer at a time: the open write is the only one)."""

    def __init__(self, app: App) -> None:
        self.writes: list[Write] = []
        self.checkpoints: list[float] = []
        self._db = app.db
        self._open: Write | None = None
        self._statement_start = 0.0
        transaction, checkpoint = app.db.transaction, app.db.checkpoint

        @asynccontextmanager
        async def timed() -> AsyncIterator[AsyncSession]:
            start = body = None
            write = Write()
            try:
                async with transaction() as session:
                    start = time.perf_counter()
                    self._open = write
                    yield session
                    body = time.perf_counter()
            finally:
                self._open = None
                if start is not None:
                    end = time.perf_counter()
                    write.seconds, write.commit = end - start, end - (body or end)
                    self.writes.append(write)

        async def timed_checkpoint() -> None:
            start = time.perf_counter()
            try:
                await checkpoint()
            finally:
                self.checkpoints.append(time.perf_counter() - start)

        app.db.transaction = timed  # type: ignore[method-assign]
        app.db.checkpoint = timed_checkpoint  # type: ignore[method-assign]
        for engine in app.db.engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._before)
            event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def remove(self) -> None:
        for name in ("transaction", "checkpoint"):
            self._db.__dict__.pop(name, None)
        for engine in self._db.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", self._before)
            event.remove(engine.sync_engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.writes.clear()
        self.checkpoints.clear()

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.writes, key=lambda write: write.seconds)
        if not ordered:
            return {"transactions": 0, "longest_ms": 0.0}
        seconds = [write.seconds for write in ordered]
        return {
            "transactions": len(ordered),
            "longest_ms": seconds[-1] * 1000,
            "median_ms": statistics.median(seconds) * 1000,
            "p99_ms": quantile(seconds, 0.99) * 1000,
            "over_100_ms": sum(value > LONG_S for value in seconds),
            "in_transactions_s": sum(seconds),
            "commit_s": sum(write.commit for write in ordered),
            "slowest": [write.describe() for write in reversed(ordered[-SLOWEST:])],
            "checkpoints_ms": [round(value * 1000, 1) for value in self.checkpoints],
        }

    def _before(self, *_args: Any) -> None:
        self._statement_start = time.perf_counter()

    def _after(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self._open is not None and not statement.startswith("BEGIN"):
            self._open.statements.append((time.perf_counter() - self._statement_start, statement))


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
