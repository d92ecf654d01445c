"""What every bad-input test checks besides the reply: nothing charged, nothing queued, nothing crashed.

`no_crash` (used by every test here) fails a test when anything logged an error whose traceback runs
through our code (`core`, `bot`, `platforms`) or when one of our own loggers reported an error: the
way a door swallows an exception (python-telegram-bot's error handler, discord.py's `on_error`,
aiohttp's "Error handling request") is always a log record.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

import bot as bot_package
import core
import platforms
from bot.app import App
from core.db.models import Account, CreditHold, Job, LedgerEntry
from tests.harness import assert_ledger_consistent

OUR_CODE = tuple(str(Path(package.__file__).parent) for package in (core, bot_package, platforms))
OUR_LOGGERS = ("core", "bot", "platforms")


def _ours(record: logging.LogRecord) -> bool:
    if record.name.split(".")[0] in OUR_LOGGERS:
        return True
    if record.exc_info is None or record.exc_info[2] is None:
        return False
    return any(frame.filename.startswith(OUR_CODE) for frame in traceback.extract_tb(record.exc_info[2]))


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _ours(record):
            self.records.append(record)


@pytest.fixture(autouse=True)
def no_crash(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked xfail documents a crash that is known (and reported): its log is its failure."""
    collector = _Collector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield
    finally:
        root.removeHandler(collector)
    if request.node.get_closest_marker("xfail") is None:
        assert [f"{record.name}: {record.getMessage()}" for record in collector.records] == []


@dataclass(frozen=True)
class Ledger:
    """What money and work look like: every balance and ledger line, open holds, unfinished jobs."""

    balances: tuple[tuple[int, int, int], ...]
    entries: int
    open_holds: int
    jobs: int


async def ledger(app: App) -> Ledger:
    await assert_ledger_consistent(app)
    async with app.db.transaction() as session:
        accounts = (await session.scalars(select(Account).order_by(Account.id))).all()
        return Ledger(
            balances=tuple((a.id, a.balance_subscription, a.balance_one_time) for a in accounts),
            entries=await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
            open_holds=await session.scalar(
                select(func.count()).select_from(CreditHold).where(CreditHold.status == "held")
            )
            or 0,
            jobs=await session.scalar(select(func.count()).select_from(Job)) or 0,
        )
