"""Accounts and the identities that point at them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Account, Identity


async def find_by_identity(session: AsyncSession, platform: str, platform_user_id: str) -> Account | None:
    return await session.scalar(
        select(Account)
        .join(Identity, Identity.account_id == Account.id)
        .where(Identity.platform == platform, Identity.platform_user_id == platform_user_id)
    )


async def get(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)


async def create_with_identity(session: AsyncSession, platform: str, platform_user_id: str) -> Account | None:
    """A new account for a new identity; None when another request created the identity first."""
    try:
        async with session.begin_nested():
            account = Account(preferences={})
            session.add(account)
            await session.flush()
            session.add(Identity(account_id=account.id, platform=platform, platform_user_id=platform_user_id))
            await session.flush()
    except IntegrityError:
        return None
    return account


async def identities(session: AsyncSession, account_id: int) -> list[Identity]:
    result = await session.scalars(
        select(Identity).where(Identity.account_id == account_id).order_by(Identity.id)
    )
    return list(result)


async def set_language(session: AsyncSession, account_id: int, language: str) -> None:
    await session.execute(update(Account).where(Account.id == account_id).values(language=language))


async def set_preferences(session: AsyncSession, account_id: int, preferences: dict[str, Any]) -> None:
    await session.execute(update(Account).where(Account.id == account_id).values(preferences=preferences))
