"""Acceptance of the terms, optional consents, the profile a user can correct, and the legal hold.

Every change is recorded: acceptances and consents as append-only consent records (versions, time,
platform), the profile in place with an audit event. The trial comes with the first acceptance, once
per account and once per platform identity, ever (core.privacy.identities).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.accounts import Accounts, Trial
from core.db.models import PrivacyProfile
from core.db.repositories import privacy as repo
from core.db.repositories import unkept
from core.db.repositories.support import audit
from core.db.session import Database
from core.db.types import utcnow
from core.privacy.identities import IdentityHasher, account_identities
from core.privacy.settings import PrivacySettings

log = logging.getLogger(__name__)


class Choice(StrEnum):
    ANALYTICS = "analytics"
    MARKETING = "marketing"


KEEP_HISTORY = "keep_history"  # the consent record of `/privacy keep on|off`


class Source(StrEnum):
    USER = "user"  # the user pressed or typed /accept
    IMPLIED = "implied"  # `require_acceptance = false`: the operator obtained it elsewhere
    CARRIED = "carried"  # /unlink: the same person, now on a fresh account


@dataclass(frozen=True, slots=True)
class PrivacyState:
    terms_version: str | None = None
    policy_version: str | None = None
    analytics: bool = False
    marketing: bool = False
    direct_chat: str | None = None
    erasing: bool = False

    def accepted(self, settings: PrivacySettings) -> bool:
        return (self.terms_version, self.policy_version) == (settings.terms_version, settings.policy_version)

    @property
    def ever_accepted(self) -> bool:
        return self.terms_version is not None


@dataclass(frozen=True, slots=True)
class Accepted:
    changed: bool  # False when the current versions were already accepted
    trial: int  # credits granted with it
    trial_refused: bool = False  # no trial: an identity of the account had one before


class Consents:
    def __init__(
        self, db: Database, accounts: Accounts, settings: PrivacySettings, identities: IdentityHasher
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._identities = identities
        self.settings = settings

    async def state(self, account_id: int) -> PrivacyState:
        async with self._db.read() as session:
            return await self.state_in(session, account_id)

    async def state_in(self, session: AsyncSession, account_id: int) -> PrivacyState:
        """The account's privacy state, read in the caller's unit of work."""
        found = await repo.profile(session, account_id)
        erasing = await repo.erasing(session, account_id)
        if found is None:
            return PrivacyState(erasing=erasing)
        return PrivacyState(
            terms_version=found.terms_version,
            policy_version=found.policy_version,
            analytics=found.analytics,
            marketing=found.marketing,
            direct_chat=found.direct_chat,
            erasing=erasing,
        )

    async def accept(
        self, account_id: int, platform: str, *, direct_chat: str | None = None, source: Source = Source.USER
    ) -> Accepted:
        """Records acceptance of the current terms and policy; grants the trial the first time."""
        settings = self.settings
        key = await self._identities.key()
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)  # concurrent first messages accept once
            profile = await repo.ensure_profile(session, account_id)
            if (profile.terms_version, profile.policy_version) == (
                settings.terms_version,
                settings.policy_version,
            ):
                return Accepted(changed=False, trial=0)
            now = utcnow()
            trial = Trial()
            if not profile.trial_granted:
                hashes = key.hashes(await account_identities(session, account_id))
                trial = await self._accounts.grant_trial(session, account_id, hashes)
            await repo.update_profile(
                session,
                account_id,
                terms_version=settings.terms_version,
                policy_version=settings.policy_version,
                accepted_at=now,
                trial_granted=True,
                **({"direct_chat": direct_chat} if direct_chat else {}),
            )
            await self._record(session, account_id, "terms", True, platform, source)
        return Accepted(changed=True, trial=trial.credits, trial_refused=trial.refused)

    async def set_choice(self, account_id: int, choice: Choice, granted: bool, platform: str) -> bool:
        """Gives or withdraws an optional consent; False when it already was as asked."""
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)
            profile = await repo.ensure_profile(session, account_id)
            if getattr(profile, choice.value) == granted:
                return False
            await repo.update_profile(session, account_id, **{choice.value: granted})
            await self._record(session, account_id, choice.value, granted, platform, Source.USER)
        log.info("a %s consent was %s", choice.value, "given" if granted else "withdrawn")
        return True

    async def set_keep_history(self, account_id: int, keep: bool, platform: str) -> bool:
        """`/privacy keep on|off`; False when it already was as asked. Off makes every job of the
        account not erased yet unkept (core.privacy.unkept), in the same transaction; on keeps only
        what comes next."""
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)  # as the intake: a job queued now sees the choice
            profile = await repo.ensure_profile(session, account_id)
            if profile.keep_history == keep:
                return False
            await repo.update_profile(session, account_id, keep_history=keep)
            if not keep:
                await unkept.unkeep_all(session, account_id)
            await self._record(session, account_id, KEEP_HISTORY, keep, platform, Source.USER)
        log.info("history keeping was turned %s", "on" if keep else "off")
        return True

    async def keeps_history(self, account_id: int) -> bool:
        async with self._db.read() as session:
            found = await repo.profile(session, account_id)
        return found is None or found.keep_history

    async def note_direct_chat(self, account_id: int, chat: str) -> None:
        """Remembers the user's private chat (broadcasts and notices go there)."""
        async with self._db.transaction() as session:
            await repo.update_profile(session, account_id, direct_chat=chat)

    async def profile(self, account_id: int) -> PrivacyProfile | None:
        async with self._db.transaction() as session:
            return await repo.profile(session, account_id)

    async def correct(self, account_id: int, field: str, value: str | None) -> None:
        """`/profile set|clear name|email`; the value is never logged."""
        assert field in ("name", "email")
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)
            await repo.ensure_profile(session, account_id)
            await repo.update_profile(session, account_id, **{field: value})
            await audit(session, actor="user", action=f"profile_{field}", account_id=account_id, details={})

    async def hold(self, account_id: int, reason: str | None, *, actor: str) -> bool:
        """Places (reason given) or lifts (None) a legal hold; False when nothing changed."""
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)
            profile = await repo.ensure_profile(session, account_id)
            if (profile.hold_reason is None) == (reason is None):
                return False
            await repo.update_profile(session, account_id, hold_reason=reason)
            action = "legal_hold" if reason else "legal_hold_lifted"
            await audit(session, actor=actor, action=action, account_id=account_id, details={})
        return True

    async def _record(
        self, session: AsyncSession, account_id: int, kind: str, granted: bool, platform: str, source: Source
    ) -> None:
        settings = self.settings
        await repo.add_consent(
            session,
            account_id=account_id,
            kind=kind,
            granted=granted,
            terms_version=settings.terms_version if kind == "terms" else None,
            policy_version=settings.policy_version,
            min_age=settings.min_age if kind == "terms" else None,
            platform=platform,
            source=source.value,
        )
