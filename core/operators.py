"""The people who run the service from the web admin: who they are, how they sign in, how long it lasts.

Passwords are kept as argon2 hashes; a second factor (TOTP) is asked for when the operator has one,
and each of its codes signs in once (a code seen over a shoulder or in a proxy's log is spent).
Sign-in failures are counted in the database, per name and per client address, so every web process
refuses the same guesser: after `MAX_FAILURES` failures within `FAILURE_WINDOW` the next attempt is
refused without its password being checked. An attempt counts as a failure from the moment it begins
(until it proves right), so guesses sent all at once are held to the same limit.

A session is a random token held by the browser; only its SHA-256 is stored, with the CSRF token its
forms carry. It ends on sign-out, after `idle` without a request, or `lifetime` after sign-in,
whichever comes first.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import locks
from core.db.repositories import operators as repo
from core.db.repositories import support as audit_repo
from core.db.session import Database
from core.db.types import utcnow

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=1)
SIGN_IN_LOCK = "operator-sign-in"
TOUCH_EVERY = timedelta(minutes=1)  # a session's last request is written at most this often
MIN_PASSWORD_LENGTH = 10
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ISSUER = "image2bot"

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked when the name is unknown, so that a wrong name takes as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


class SignInRefused(Exception):
    """`throttled`: too many failures a moment ago (nothing was checked); `invalid`: wrong name, password
    or code, or a disabled operator (the browser is not told which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OperatorError(ValueError):
    """A name taken or malformed, a password too short, an unknown operator: said to whoever asked."""


@dataclass(frozen=True, slots=True)
class OperatorInfo:
    name: str
    two_factor: bool
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A request's signed-in operator and the CSRF token every form of the session carries."""

    operator: str
    csrf_token: str

    @property
    def actor(self) -> str:
        """How audit rows name this operator."""
        return f"operator:{self.operator}"


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str  # for the browser's cookie only; the database keeps its hash
    signed_in: SignedIn


@dataclass(frozen=True, slots=True)
class NewOperator:
    name: str
    totp_secret: str | None

    @property
    def totp_uri(self) -> str | None:
        """The otpauth:// address an authenticator app reads (as a QR code or pasted)."""
        if self.totp_secret is None:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.name, issuer_name=ISSUER)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Operators:
    def __init__(
        self,
        db: Database,
        *,
        lifetime: timedelta = timedelta(hours=12),
        idle: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._lifetime = lifetime
        self._idle = idle
        self._clock = clock

    async def add(self, name: str, password: str, *, totp: bool, actor: str) -> NewOperator:
        if not NAME.fullmatch(name):
            raise OperatorError(
                "a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if len(password) < MIN_PASSWORD_LENGTH:
            raise OperatorError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        secret = pyotp.random_base32() if totp else None
        async with self._db.transaction() as session:
            if await repo.by_name(session, name) is not None:
                raise OperatorError(f"an operator named {name} exists already")
            await repo.add(session, name, password_hash, secret)
            await audit_repo.audit(
                session,
                actor=actor,
                action="operator_added",
                account_id=None,
                details={"operator": name, "two_factor": totp},
            )
        return NewOperator(name, secret)

    async def roster(self) -> list[OperatorInfo]:
        async with self._db.read() as session:
            return [
                OperatorInfo(row.name, row.totp_secret is not None, row.created_at, row.disabled_at)
                for row in await repo.every(session)
            ]

    async def disable(self, name: str, *, actor: str) -> bool:
        """Signs the operator out everywhere and refuses its sign-ins; False when disabled already."""
        async with self._db.transaction() as session:
            operator = await repo.by_name(session, name)
            if operator is None:
                raise OperatorError(f"no operator named {name}")
            if operator.disabled_at is not None:
                return False
            await repo.disable(session, operator.id, self._clock())
            await audit_repo.audit(
                session, actor=actor, action="operator_disabled", account_id=None, details={"operator": name}
            )
        return True

    async def sign_in(self, name: str, password: str, code: str, *, address: str) -> NewSession:
        name, address = name[:64], address[:64]
        now = self._clock()
        async with self._db.transaction() as session:
            # Attempts are counted before they are checked, one at a time: a burst of guesses sent at
            # once gets no more than MAX_FAILURES checks. The slow password check runs after.
            await locks.serialize(session, SIGN_IN_LOCK)
            by_name, by_address = await repo.failures_since(
                session, name=name, address=address, since=now - FAILURE_WINDOW
            )
            if by_name >= MAX_FAILURES or by_address >= MAX_FAILURES:
                raise SignInRefused("throttled")
            await self._prune(session, now)
            attempt = await repo.record_failure(session, name=name, address=address, at=now)
            operator = await repo.by_name(session, name)
        usable = operator is not None and operator.disabled_at is None
        stored = operator.password_hash if usable and operator is not None else _dummy_hash()
        right = await asyncio.to_thread(_verify, stored, password) and usable
        step = None
        if right and operator is not None and operator.totp_secret is not None:
            step = _totp_step(operator.totp_secret, code, now)
            right = step is not None
        if not right or operator is None:
            raise SignInRefused("invalid")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        async with self._db.transaction() as session:
            if step is not None and not await repo.use_totp_step(session, operator.id, step):
                replayed = True  # the code signed someone in already: a copy of it signs no one in
            else:
                replayed = False
                await repo.forget_failure(session, attempt)
                await self._open(session, operator.id, name, token, csrf, now)
        if replayed:
            raise SignInRefused("invalid")
        return NewSession(token, SignedIn(name, csrf))

    async def _open(
        self, session: AsyncSession, operator_id: int, name: str, token: str, csrf: str, now: datetime
    ) -> None:
        await repo.open_session(
            session,
            token_hash=_token_hash(token),
            operator_id=operator_id,
            csrf_token=csrf,
            now=now,
            expires_at=now + self._lifetime,
        )
        await audit_repo.audit(
            session, actor=f"operator:{name}", action="operator_signed_in", account_id=None, details={}
        )

    async def _prune(self, session: AsyncSession, now: datetime) -> None:
        """Sessions that ended and failures too old to count go, a little at every sign-in attempt."""
        await repo.prune(session, now=now, idle_before=now - self._idle, failed_before=now - FAILURE_WINDOW)

    async def session(self, token: str) -> SignedIn | None:
        """The operator a browser's token signs in, or None (unknown, expired, idle, disabled)."""
        token_hash = _token_hash(token)
        now = self._clock()
        async with self._db.read() as session:
            found = await repo.signed_in(session, token_hash)
        if found is None:
            return None
        row, operator = found
        if operator.disabled_at is not None:
            return None
        if row.expires_at <= now or row.last_seen_at < now - self._idle:
            async with self._db.transaction() as session:
                await repo.close_session(session, token_hash)
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            async with self._db.transaction() as session:
                await repo.seen(session, token_hash, now)
        return SignedIn(operator.name, row.csrf_token)

    async def sign_out(self, token: str) -> None:
        async with self._db.transaction() as session:
            found = await repo.signed_in(session, _token_hash(token))
            if found is None:
                return
            await repo.close_session(session, _token_hash(token))
            await audit_repo.audit(
                session,
                actor=f"operator:{found[1].name}",
                action="operator_signed_out",
                account_id=None,
                details={},
            )


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code `code` is (the current one or a neighbour, for clocks that
    differ a little), or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code.strip()):
            return step
    return None


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
