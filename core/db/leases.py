"""Claims, leases and backoff: the one mechanism behind every background loop.

Any number of processes share the database, so the work of a background loop is claimed before it is
done: a row (a job, a reply in the outbox, a Stripe event) or a whole loop (the retention purge, the
broadcast sender, through a named lease in `leases`). A claim names its owner (`core.instance`) and
holds until a moment; the owner renews it while the work goes on. A process that dies stops renewing,
its claims lapse, and any other process may take the work over, so the work itself must be safe to
do twice or be checked against the claim when it is recorded. A failed attempt waits out a capped
exponential `Backoff` before it is due again, and after its last attempt it is given up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Column, ColumnElement, Table, and_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import upsert
from core.db.models import NamedLease
from core.db.session import Database
from core.db.types import utcnow

Bound = BindParameter[Any]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits `base_s` after the first failure, twice as long after each next one, never more than
    `max_s`; after `max_attempts` failures the work is given up."""

    base_s: float
    max_s: float
    max_attempts: int

    def delay(self, attempts: int, *, at_least: float = 0.0) -> timedelta:
        """How long to wait after `attempts` failures; `at_least` is what the other side asked for
        (asking sooner only wastes an attempt)."""
        seconds = min(self.base_s * 2 ** max(0, attempts - 1), self.max_s)
        return timedelta(seconds=max(seconds, at_least))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


@dataclass(frozen=True, slots=True)
class Lease:
    """The two columns in which a table keeps a row's claim: who holds it and until when."""

    owner: Column[Any]  # the process's name (`core.instance.process_name`), or NULL
    until: Column[Any]  # a UTC moment, or NULL

    def free(self, now: datetime | Bound) -> ColumnElement[bool]:
        """Nobody holds the row, or its claim has lapsed."""
        return or_(self.until.is_(None), self.until <= now)

    def held_by(self, owner: str | Bound) -> ColumnElement[bool]:
        return self.owner == owner

    def held_elsewhere(self, owner: str | Bound, now: datetime | Bound) -> ColumnElement[bool]:
        """Another process holds the row and its claim has not lapsed."""
        return and_(self.owner != owner, self.until > now)

    def take(self, owner: str | Bound, until: datetime | Bound) -> dict[str, Any]:
        """The values that claim a row for `owner` until `until` (values, or bound parameters of a
        statement built once)."""
        return {self.owner.key: owner, self.until.key: until}

    def cleared(self) -> dict[str, Any]:
        """The values that end a claim (the work was done, given up or handed back)."""
        return {self.owner.key: None, self.until.key: None}


async def renew(
    session: AsyncSession,
    table: Table,
    lease: Lease,
    owner: str,
    ids: list[Any],
    until: datetime,
    *conditions: ColumnElement[bool],
) -> set[Any]:
    """Extends `owner`'s claims on the rows `ids`; returns the ids it still holds (the others were
    taken over, or their work ended)."""
    if not ids:
        return set()
    key = table.primary_key.columns.values()[0]
    result = await session.execute(
        update(table)
        .where(key.in_(ids), lease.held_by(owner), *conditions)
        .values({lease.until.key: until})
        .returning(key)
    )
    return set(result.scalars())


async def release(
    session: AsyncSession, table: Table, lease: Lease, owner: str, *conditions: ColumnElement[bool]
) -> None:
    """Hands back every claim `owner` holds on `table` (a process stopping, or done for now)."""
    await session.execute(update(table).where(lease.held_by(owner), *conditions).values(lease.cleared()))


NAMED = NamedLease.__table__
_NAMED_LEASE = Lease(NAMED.c.owner, NAMED.c.until)


async def take_turn(db: Database, name: str, owner: str, hold: timedelta) -> bool:
    """Whether `owner` runs a periodic pass now: it takes the named lease for `hold`, unless another
    process holds it (that one ran less than `hold` ago)."""
    now = utcnow()
    async with db.transaction() as session:
        return await acquire(session, name, owner, now + hold, now)


async def acquire(session: AsyncSession, name: str, owner: str, until: datetime, now: datetime) -> bool:
    """Takes the named lease for `owner` until `until`, or renews it; False while another process
    holds it. A loop that one process at a time should run holds one while it works."""
    statement = (
        upsert.insert(session, NAMED)
        .values(name=name, **_NAMED_LEASE.take(owner, until))
        .on_conflict_do_update(
            index_elements=[NAMED.c.name],
            set_=_NAMED_LEASE.take(owner, until),
            where=or_(_NAMED_LEASE.held_by(owner), _NAMED_LEASE.free(now)),
        )
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def give_up(session: AsyncSession, name: str, owner: str) -> None:
    """Ends `owner`'s hold on the named lease before it lapses, so another process may take it."""
    await release(session, NAMED, _NAMED_LEASE, owner, NAMED.c.name == name)
