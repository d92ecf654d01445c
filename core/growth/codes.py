"""Credit codes: operators create them, `/redeem CODE` credits each account once.

A code is stored as its SHA-256 and a short prefix, so a copy of the database lists no usable code.
A redemption locks the account (one at a time per account, in every process), counts one use with a
conditional UPDATE (never more than `uses`, however many processes race) and grants through the
ledger keyed by code and account. Redemptions that credit nothing are counted per account: past a
few an hour, redeeming pauses, with a refusal that does not say whether the code exists.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.db.models import RedeemCode
from core.db.repositories import growth as repo
from core.db.repositories import support as audit_repo
from core.db.session import Database
from core.db.types import utcnow
from core.policy import CodeSettings

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed without doubt
GROUPS = 3
GROUP_CHARS = 4
PREFIX_CHARS = 4
MIN_CODE_CHARS = PREFIX_CHARS + 1  # a code is more than the prefix that lists it
MAX_CODE_CHARS = 64
MAX_USES = 1_000_000
FAILURE_WINDOW = timedelta(hours=1)
LIST_LIMIT = 200


class CodeState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    USED_UP = "used_up"
    DISABLED = "disabled"


class Outcome(StrEnum):
    """What one `/redeem` came to; all but REDEEMED count as a failure."""

    REDEEMED = "redeemed"
    UNKNOWN = "unknown"
    ALREADY = "already"
    EXPIRED = "expired"
    USED_UP = "used_up"


@dataclass(frozen=True, slots=True)
class CodeView:
    id: int
    prefix: str
    credits: int
    uses: int
    used: int
    expires_at: datetime | None
    disabled_at: datetime | None
    created_by: str
    created_at: datetime

    @property
    def last_day(self) -> date | None:
        """The last day it works: it expires at the end of that day (UTC)."""
        return (self.expires_at - timedelta(days=1)).date() if self.expires_at else None

    def state(self, now: datetime) -> CodeState:
        if self.disabled_at is not None:
            return CodeState.DISABLED
        if self.expires_at is not None and self.expires_at <= now:
            return CodeState.EXPIRED
        return CodeState.USED_UP if self.used >= self.uses else CodeState.ACTIVE

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "credits": self.credits,
            "uses": self.uses,
            "used": self.used,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "state": self.state(now).value,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Redemption:
    outcome: Outcome
    credits: int = 0
    balance: int = 0
    expired_at: datetime | None = None  # EXPIRED: when, unless an operator disabled it


def normalize(code: str) -> str:
    """How a code is compared: without case, spaces or dashes (`abcd-efgh` is `ABCDEFGH`)."""
    return "".join(char for char in code.upper() if char.isalnum())


def digest(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


def end_of(last_day: date) -> datetime:
    """When a code whose last day is `last_day` expires: the end of that day (UTC)."""
    return datetime.combine(last_day + timedelta(days=1), time(), UTC)


def new_code() -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_CHARS))
    return "-".join(chars[start : start + GROUP_CHARS] for start in range(0, len(chars), GROUP_CHARS))


def _view(row: RedeemCode) -> CodeView:
    return CodeView(
        row.id,
        row.prefix,
        row.credits,
        row.uses,
        row.used,
        row.expires_at,
        row.disabled_at,
        row.created_by,
        row.created_at,
    )


class Paused(Exception):
    """Too many codes that credited nothing this hour: redeeming resumes at `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"redeeming paused until {until.isoformat()}")
        self.until = until


class InvalidCode(ValueError):
    """An operator's chosen code that cannot be one (too short, too long, or taken)."""


class Codes:
    def __init__(self, db: Database, settings: CodeSettings) -> None:
        self.db = db
        self.settings = settings

    async def create(
        self,
        *,
        credits_each: int,
        uses: int,
        actor: str,
        expires_at: datetime | None = None,
        code: str | None = None,
    ) -> tuple[str, CodeView]:
        """A new code (drawn at random unless given) and its view; audited. The code itself is shown
        this once and never stored."""
        if credits_each <= 0 or uses <= 0:
            raise ValueError("a code grants positive credits a positive number of times")
        plain = code or new_code()
        folded = normalize(plain)
        if not MIN_CODE_CHARS <= len(folded) <= MAX_CODE_CHARS:
            raise InvalidCode(f"a code has {MIN_CODE_CHARS} to {MAX_CODE_CHARS} letters and digits")
        async with self.db.transaction() as session:
            if await repo.code_by_digest(session, digest(folded)) is not None:
                raise InvalidCode("that code exists already")
            row = await repo.add_code(
                session,
                digest=digest(folded),
                prefix=folded[:PREFIX_CHARS],
                credits=credits_each,
                uses=uses,
                expires_at=expires_at,
                created_by=actor,
            )
            details = {"code": row.id, "prefix": row.prefix, "credits": credits_each, "uses": uses}
            if expires_at is not None:
                details["expires_at"] = expires_at.isoformat()
            await audit_repo.audit(
                session, actor=actor, action="code_create", account_id=None, details=details
            )
            view = _view(row)
        return plain, view

    async def list(self, limit: int = LIST_LIMIT) -> list[CodeView]:
        async with self.db.read() as session:
            return [_view(row) for row in await repo.codes(session, limit=limit)]

    async def disable(self, code_id: int, *, actor: str) -> bool:
        """False when there is no such code or it was disabled already; audited when it was not."""
        async with self.db.transaction() as session:
            if not await repo.disable_code(session, code_id, utcnow()):
                return False
            await audit_repo.audit(
                session, actor=actor, action="code_disable", account_id=None, details={"code": code_id}
            )
        return True

    async def redeem(self, account_id: int, code: str) -> Redemption:
        """Credits the code to the account once, or says why not, in one transaction; raises Paused
        after too many redemptions that credited nothing."""
        now = utcnow()
        async with self.db.transaction() as session:
            await credits.lock(session, account_id)  # one redemption at a time per account
            until = await paused_until(session, account_id, self.settings, now)
            if until is not None:
                raise Paused(until)
            outcome = await self._redeem(session, account_id, code, now)
            if outcome.outcome != Outcome.REDEEMED:
                await record_failure(session, account_id, now)
            return outcome

    @staticmethod
    async def _redeem(session: AsyncSession, account_id: int, code: str, now: datetime) -> Redemption:
        folded = normalize(code)
        row = await repo.code_by_digest(session, digest(folded)) if len(folded) <= MAX_CODE_CHARS else None
        if row is None:
            return Redemption(Outcome.UNKNOWN)
        key = f"code:{row.id}:{account_id}"
        if await credits.key_used(session, key):
            return Redemption(Outcome.ALREADY)
        view = _view(row)
        state = view.state(now)
        if state in (CodeState.EXPIRED, CodeState.DISABLED):
            return Redemption(
                Outcome.EXPIRED, expired_at=view.expires_at if state == CodeState.EXPIRED else None
            )
        if state == CodeState.USED_UP or not await repo.use_code(session, row.id, now):
            return Redemption(Outcome.USED_UP)
        await credits.grant(
            session,
            account_id,
            row.credits,
            kind=credits.EntryKind.CODE,
            key=key,
            reference=f"code:{row.id}",
        )
        balance = await credits.balance(session, account_id)
        return Redemption(Outcome.REDEEMED, credits=row.credits, balance=balance.total)


async def paused_until(
    session: AsyncSession, account_id: int, settings: CodeSettings, now: datetime
) -> datetime | None:
    """When the account may redeem again, if it typed too many codes that credited nothing this hour.
    Read with the account's row locked, so processes racing for the same account agree."""
    failures = await repo.failures_since(session, account_id, now - FAILURE_WINDOW)
    if len(failures) < settings.failures_per_hour:
        return None
    return failures[len(failures) - settings.failures_per_hour] + FAILURE_WINDOW


async def record_failure(session: AsyncSession, account_id: int, now: datetime) -> None:
    """Counts a redemption that credited nothing; those older than the window are let go."""
    await repo.forget_failures_before(session, account_id, now - FAILURE_WINDOW)
    await repo.add_failure(session, account_id, now)
