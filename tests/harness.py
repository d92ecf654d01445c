"""Drives the real application in-process: settings -> bot.app.build -> core, workers and a test chat."""

from __future__ import annotations

import asyncio
import atexit
import functools
import shutil
import socket
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bot.app import App, build
from bot.config import Settings, load_settings
from core import credits
from core.db import migrate
from core.db.models import Account, CreditHold, Job, LedgerEntry
from core.db.session import Database
from core.generation.providers.base import ImageProvider
from core.messages import ActionKind, ActionPress, Attachment, ChatRef, Incoming, Reply, Stage, UserRef
from tests.fakes.chat import RecordingChat

FAST_GENERATION = {
    "local_step_delay_s": 0.0,
    "partial_images": 0,  # previews cost more than the picture itself: tests of previews ask for them
    "provider_images_per_minute": 0,  # the provider's rate window has tests of its own
    "retry_backoff_s": 0.01,
    "retry_backoff_max_s": 0.05,
}


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    url: str
    schema: str | None = None

    def settings(self) -> dict[str, Any]:
        return {"url": self.url, "schema": self.schema}

    def open(self) -> Database:
        """The same database the bot under test uses, for reading what it did."""
        return Database(self.url, schema=self.schema)


def postgres_answers() -> bool:
    """Whether the local PostgreSQL server (127.0.0.1:5432) accepts connections."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


async def migrate_database(target: DatabaseTarget) -> None:
    db = target.open()
    try:
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()


@functools.cache
def _migrated_sqlite_template() -> Path:
    """Migrating takes longer than most tests: each test process migrates one SQLite file, once."""
    folder = Path(tempfile.mkdtemp(prefix="image2bot-migrated-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    template = folder / "image2bot.db"
    with ThreadPoolExecutor(1) as thread:  # callable from inside a running event loop as well
        thread.submit(
            asyncio.run, migrate_database(DatabaseTarget(f"sqlite+aiosqlite:///{template}"))
        ).result()
    return template


def sqlite_target(data_dir: Path) -> DatabaseTarget:
    """The migrated SQLite database of `data_dir`: a copy of the template unless it exists already
    (a test that restarts the bot on the same folder keeps its data)."""
    path = data_dir / "image2bot.db"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_migrated_sqlite_template(), path)
    return DatabaseTarget(f"sqlite+aiosqlite:///{path}")


def make_settings(database: DatabaseTarget, data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Test users have accepted the terms (their first command records it) unless a test passes its own
    `privacy` section: the acceptance gate has tests of its own (tests/core/privacy)."""
    generation = {**FAST_GENERATION, **sections.pop("generation", {})}
    privacy = {"require_acceptance": False, **sections.pop("privacy", {})}
    return load_settings(
        None,
        storage={"data_dir": data_dir, **sections.pop("storage", {})},
        database=database.settings(),
        console={"enabled": False},
        generation={"provider": "local", **generation},
        privacy=privacy,
        **sections,
    )


class Harness:
    """A user's-eye view of the bot: say things, press buttons, read what the chat received."""

    def __init__(self, app: App, chat: RecordingChat) -> None:
        self.app = app
        self.chat = chat

    @staticmethod
    def user(name: str = "alice", locale: str | None = None) -> UserRef:
        return UserRef("test", name, display_name=name, locale=locale)

    async def say(
        self,
        message: str,
        user: str = "alice",
        *,
        locale: str | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> list[Reply]:
        incoming = Incoming(self.user(user, locale), ChatRef("test", "private", user), message, attachments)
        return await self.app.core.dispatch(incoming)

    async def press(self, job: int, kind: ActionKind, user: str = "alice", index: int = 1) -> list[Reply]:
        press = ActionPress(self.user(user), ChatRef("test", "private", user), job, kind, index)
        return await self.app.core.on_action(press)

    async def imagine(self, message: str, user: str = "alice") -> int:
        """Submits `/imagine ...` and returns the new job id (fails the test when refused)."""
        replies = await self.say(f"/imagine {message}", user)
        assert replies[0].stage == Stage.QUEUED, replies[0].text
        assert replies[0].job is not None
        return replies[0].job

    async def balance(self, user: str = "alice") -> credits.Balance:
        account = await self.app.core.services.accounts.find("test", user)
        assert account is not None, f"{user} has no account"
        async with self.app.db.transaction() as session:
            return await credits.balance(session, account.id)

    async def job(self, job_id: int) -> Job:
        job = await self.app.core.services.jobs.get(job_id)
        assert job is not None
        return job

    async def jobs_of(self, account_id: int, limit: int = 500) -> list[Job]:
        """The account's jobs, newest first."""
        async with self.app.db.read() as session:
            return await self.app.core.services.jobs.recent(session, account_id, limit)

    async def assert_ledger_consistent(self) -> None:
        await assert_ledger_consistent(self.app)


async def assert_ledger_consistent(app: App) -> None:
    await assert_books_balance(app.db)


async def assert_books_balance(db: Database) -> None:
    """The money invariants: balances equal their entries and are never negative; every hold is
    closed at most once, and closed holds have exactly one settle or refund per bucket.

    Read from one snapshot: with jobs still running, PostgreSQL's default isolation would let a hold
    settled between two of these queries look like a broken invariant."""
    async with db.transaction() as session:
        if not db.is_sqlite:  # SQLite's write transaction is one snapshot already
            await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        accounts = (await session.scalars(select(Account))).all()
        for account in accounts:
            sums = dict(
                (
                    await session.execute(
                        select(LedgerEntry.bucket, func.sum(LedgerEntry.delta))
                        .where(LedgerEntry.account_id == account.id)
                        .group_by(LedgerEntry.bucket)
                    )
                ).all()
            )
            assert account.balance_subscription == sums.get("subscription", 0) >= 0
            assert account.balance_one_time == sums.get("one_time", 0) >= 0
        closings = Counter(
            int(key.split(":")[1])
            for key in await session.scalars(
                select(LedgerEntry.idempotency_key).where(LedgerEntry.kind.in_(["settle", "refund"]))
            )
        )
        for hold in (await session.scalars(select(CreditHold))).all():
            buckets = (hold.subscription_amount > 0) + (hold.one_time_amount > 0)
            expected_closings = 0 if hold.status == "held" else buckets
            assert closings[hold.id] == expected_closings, (hold.id, hold.status, closings[hold.id])
        for job in (await session.scalars(select(Job))).all():
            hold = await session.get(CreditHold, job.hold_id) if job.hold_id else None
            expected = {"succeeded": "settled", "failed": "refunded", "cancelled": "refunded"}
            if job.status in expected:
                assert hold is not None, job.id
                assert hold.status == expected[job.status], (job.id, job.status)
            else:
                assert hold is not None, job.id
                assert hold.status == "held", (job.id, job.status)


@asynccontextmanager
async def harness_for(
    database: DatabaseTarget,
    data_dir: Path,
    *,
    run_workers: bool = True,
    drain_outbox: bool = True,
    provider: ImageProvider | None = None,
    **sections: dict[str, Any],
) -> AsyncIterator[Harness]:
    app = build(make_settings(database, data_dir, **sections), provider=provider)
    chat = RecordingChat()
    app.notifier.register(chat)
    await app.prepare()
    app.notifier.outbox_backoff_s = app.notifier.backoff_s = 0.01
    background = [asyncio.create_task(app.notifier.run())] if drain_outbox else []
    if run_workers:
        background.append(asyncio.create_task(app.worker.run()))
    try:
        yield Harness(app, chat)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await app.close()


@contextmanager
def harness_on_own_loop(
    data_dir: Path, **sections: dict[str, Any]
) -> Iterator[tuple[asyncio.Runner, Harness]]:
    """A harness on SQLite, without workers, living on an event loop of its own for a whole module.

    For hypothesis tests: they are synchronous, so each example drives the loop with `runner.run`.
    """
    database = sqlite_target(data_dir)
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        harness = runner.run(
            stack.enter_async_context(harness_for(database, data_dir, run_workers=False, **sections))
        )
        try:
            yield runner, harness
        finally:
            runner.run(stack.aclose())
