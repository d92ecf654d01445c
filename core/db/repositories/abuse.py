"""What abuse prevention keeps: identities that had the free trial (as keyed hashes), wrong link codes,
and the server secret those hashes are keyed with."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import LinkFailure, PlatformState, TrialGrant
from core.db.types import utcnow


async def state_once(session: AsyncSession, key: str, value: str) -> str:
    """The value stored under `key`, storing `value` first when there is none (the first writer wins)."""
    found = await session.get(PlatformState, key)
    if found is not None:
        return found.value
    try:
        async with session.begin_nested():  # another process may be storing its own value right now
            session.add(PlatformState(key=key, value=value, updated_at=utcnow()))
    except IntegrityError:
        found = await session.get(PlatformState, key, populate_existing=True)
        assert found is not None
        return found.value
    return value


# --- one trial per identity ------------------------------------------------------------------------


async def had_trial(session: AsyncSession, identity_hashes: Iterable[str]) -> bool:
    hashes = sorted(set(identity_hashes))
    if not hashes:
        return False
    found = await session.scalar(select(TrialGrant.identity_hash).where(TrialGrant.identity_hash.in_(hashes)))
    return found is not None


async def record_trial(session: AsyncSession, identity_hashes: Iterable[str]) -> None:
    """Remembers these identities as having had the trial (those already remembered stay as they are)."""
    for identity_hash in sorted(set(identity_hashes)):
        if await session.get(TrialGrant, identity_hash) is not None:
            continue
        try:
            async with session.begin_nested():  # the same identity recorded by a concurrent request
                session.add(TrialGrant(identity_hash=identity_hash, granted_at=utcnow()))
        except IntegrityError:
            continue


# --- wrong link codes ------------------------------------------------------------------------------


async def link_failures_since(session: AsyncSession, identity: str, since: datetime) -> list[datetime]:
    """When `identity` typed a wrong link code after `since`, oldest first."""
    result = await session.scalars(
        select(LinkFailure.at)
        .where(LinkFailure.identity == identity, LinkFailure.at > since)
        .order_by(LinkFailure.at)
    )
    return list(result)


async def add_link_failure(session: AsyncSession, identity: str, at: datetime) -> None:
    session.add(LinkFailure(identity=identity, at=at))
    await session.flush()


async def forget_link_failures(session: AsyncSession, identities: Iterable[str]) -> None:
    """Erasure: the wrong codes these identities typed (they name the person)."""
    await session.execute(delete(LinkFailure).where(LinkFailure.identity.in_(sorted(set(identities)))))


async def forget_link_failures_before(session: AsyncSession, before: datetime) -> None:
    """Retention: wrong codes too old to count any more."""
    await session.execute(delete(LinkFailure).where(LinkFailure.at <= before))
