"""Accounts: who a platform user is, their language and their defaults."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.db.models import Account
from core.db.repositories import abuse
from core.db.repositories import accounts as repo
from core.db.session import Database
from core.messages import UserRef

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    language: str | None
    preferences: dict[str, Any] = field(default_factory=dict)
    created: bool = False

    @property
    def safety_identifier(self) -> str:
        return safety_identifier(self.id)


def safety_identifier(account_id: int) -> str:
    """What the image provider sees of an account: a stable hash, never the id itself."""
    return hashlib.sha256(f"image2bot-account:{account_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Trial:
    credits: int = 0  # granted now
    refused: bool = False  # not granted: one of the account's identities had a trial before


class Accounts:
    def __init__(self, db: Database, *, trial_credits: int, admins: list[str]) -> None:
        self._db = db
        self._trial = trial_credits
        self._admins = frozenset(admins)

    async def lookup(self, session: AsyncSession, user: UserRef) -> AccountView | None:
        """The user's account, read in the caller's unit of work; None before their first contact."""
        account = await repo.find_by_identity(session, user.platform, user.user_id)
        return _view(account) if account is not None else None

    async def resolve(self, user: UserRef) -> AccountView:
        """The user's account; the first contact creates it (the trial comes with accepting the terms).
        Every later message only reads."""
        async with self._db.read() as session:
            found = await self.lookup(session, user)
        if found is not None:
            return found
        async with self._db.transaction() as session:
            account = await repo.create_with_identity(session, user.platform, user.user_id)
            if account is None:  # a concurrent first message created it
                account = await repo.find_by_identity(session, user.platform, user.user_id)
                assert account is not None
                return _view(account)
            log.info("new account %s for a %s user", account.id, user.platform)
            return _view(account, created=True)

    async def grant_trial(self, session: AsyncSession, account_id: int, identity_hashes: list[str]) -> Trial:
        """The trial credits, once per account and once per platform identity, ever: `identity_hashes`
        are the keyed hashes of the account's identities (see core.privacy.identities)."""
        if not self._trial:
            return Trial()
        if await abuse.had_trial(session, identity_hashes):
            return Trial(refused=True)
        await abuse.record_trial(session, identity_hashes)
        granted = await credits.grant(
            session, account_id, self._trial, kind=credits.EntryKind.TRIAL, key=f"trial:{account_id}"
        )
        return Trial(self._trial if granted else 0)

    async def find(self, platform: str, platform_user_id: str) -> AccountView | None:
        async with self._db.transaction() as session:
            account = await repo.find_by_identity(session, platform, platform_user_id)
            return None if account is None else _view(account)

    async def set_language(self, account_id: int, language: str) -> None:
        async with self._db.transaction() as session:
            await repo.set_language(session, account_id, language)

    async def set_preferences(self, account_id: int, preferences: dict[str, Any]) -> None:
        async with self._db.transaction() as session:
            await repo.set_preferences(session, account_id, preferences)

    def is_admin(self, user: UserRef) -> bool:
        return user.identity in self._admins


def _view(account: Account, *, created: bool = False) -> AccountView:
    return AccountView(
        id=account.id, language=account.language, preferences=dict(account.preferences or {}), created=created
    )
