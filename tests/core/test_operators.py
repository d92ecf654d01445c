"""Operators of the web admin: passwords and codes, the sign-in throttle, sessions and their expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select

from core.db.models import AuditEvent, OperatorSession
from core.db.session import Database
from core.db.types import utcnow
from core.operators import MAX_FAILURES, OperatorError, Operators, SignInRefused
from tests.harness import DatabaseTarget, make_settings

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def db(database: DatabaseTarget, tmp_path: Path) -> AsyncIterator[Database]:
    opened = make_settings(database, tmp_path).open_database()
    yield opened
    await opened.dispose()


async def test_the_right_password_signs_in_and_the_session_knows_the_operator(db: Database) -> None:
    operators = Operators(db)
    await operators.add("ana", PASSWORD, totp=False, actor="cli:root")
    new = await operators.sign_in("ana", PASSWORD, "", address="10.0.0.1")
    signed_in = await operators.session(new.token)
    assert signed_in is not None
    assert (signed_in.operator, signed_in.actor) == ("ana", "operator:ana")
    assert signed_in.csrf_token == new.signed_in.csrf_token
    async with db.read() as session:
        stored = await session.scalar(select(OperatorSession.token_hash))
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert stored != new.token  # only its hash is kept
    assert actions == ["operator_added", "operator_signed_in"]


@pytest.mark.parametrize(("name", "password"), [("ana", "wrong password"), ("nobody", PASSWORD)])
async def test_a_wrong_name_or_password_is_refused(db: Database, name: str, password: str) -> None:
    operators = Operators(db)
    await operators.add("ana", PASSWORD, totp=False, actor="cli:root")
    with pytest.raises(SignInRefused) as refused:
        await operators.sign_in(name, password, "", address="10.0.0.1")
    assert refused.value.reason == "invalid"


async def test_the_sixth_attempt_in_a_minute_is_refused_even_with_the_right_password(db: Database) -> None:
    clock = Clock()
    operators = Operators(db, clock=clock)
    await operators.add("ana", PASSWORD, totp=False, actor="cli:root")
    await operators.add("bea", PASSWORD, totp=False, actor="cli:root")
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInRefused, match="invalid"):
            await operators.sign_in("ana", "guess", "", address="10.0.0.1")
    with pytest.raises(SignInRefused, match="throttled"):
        await operators.sign_in("ana", PASSWORD, "", address="10.0.0.2")  # per name
    with pytest.raises(SignInRefused, match="throttled"):
        await operators.sign_in("bea", PASSWORD, "", address="10.0.0.1")  # per address
    clock.advance(seconds=61)
    assert (await operators.sign_in("ana", PASSWORD, "", address="10.0.0.1")).signed_in.operator == "ana"


async def test_a_burst_of_guesses_sent_at_once_gets_no_more_checks_than_the_limit(db: Database) -> None:
    operators = Operators(db)
    await operators.add("ana", PASSWORD, totp=False, actor="cli:root")
    guesses = [operators.sign_in("ana", f"guess number {n}", "", address=f"10.0.1.{n}") for n in range(12)]

    outcomes = await asyncio.gather(*guesses, return_exceptions=True)

    reasons = [outcome.reason for outcome in outcomes if isinstance(outcome, SignInRefused)]
    assert sorted(reasons) == ["invalid"] * MAX_FAILURES + ["throttled"] * (12 - MAX_FAILURES)


async def test_a_second_factor_is_required_when_the_operator_has_one(db: Database) -> None:
    operators = Operators(db)
    new = await operators.add("ana", PASSWORD, totp=True, actor="cli:root")
    assert new.totp_secret is not None
    assert new.totp_uri is not None
    assert new.totp_uri.startswith("otpauth://totp/")
    with pytest.raises(SignInRefused, match="invalid"):
        await operators.sign_in("ana", PASSWORD, "", address="10.0.0.1")
    code = pyotp.TOTP(new.totp_secret).now()
    assert (await operators.sign_in("ana", PASSWORD, code, address="10.0.0.1")).signed_in.operator == "ana"
    with pytest.raises(SignInRefused, match="invalid"):  # each code signs in once
        await operators.sign_in("ana", PASSWORD, code, address="10.0.0.2")


async def test_a_code_from_a_step_before_the_last_used_one_is_refused_and_the_next_accepted(
    db: Database,
) -> None:
    clock = Clock()
    operators = Operators(db, clock=clock)
    totp = pyotp.TOTP((await operators.add("ana", PASSWORD, totp=True, actor="cli:root")).totp_secret or "")
    now = clock()
    earlier, current = totp.at(now - timedelta(seconds=30)), totp.at(now)
    assert (await operators.sign_in("ana", PASSWORD, current, address="10.0.0.1")).signed_in.operator == "ana"
    with pytest.raises(SignInRefused, match="invalid"):  # still in the window, but older than the one used
        await operators.sign_in("ana", PASSWORD, earlier, address="10.0.0.1")
    clock.advance(seconds=30)
    following = totp.at(clock())
    assert (
        await operators.sign_in("ana", PASSWORD, following, address="10.0.0.1")
    ).signed_in.operator == "ana"


async def test_sessions_end_when_idle_too_long_or_too_old_or_signed_out(db: Database) -> None:
    clock = Clock()
    operators = Operators(db, lifetime=timedelta(hours=2), idle=timedelta(minutes=30), clock=clock)
    await operators.add("ana", PASSWORD, totp=False, actor="cli:root")

    idle = await operators.sign_in("ana", PASSWORD, "", address="10.0.0.1")
    clock.advance(minutes=31)
    assert await operators.session(idle.token) is None

    busy = await operators.sign_in("ana", PASSWORD, "", address="10.0.0.1")
    for _ in range(4):  # a request every 25 minutes keeps it alive, up to its lifetime
        clock.advance(minutes=25)
        assert await operators.session(busy.token) is not None
    clock.advance(minutes=25)  # 125 minutes after sign-in
    assert await operators.session(busy.token) is None

    left = await operators.sign_in("ana", PASSWORD, "", address="10.0.0.1")
    await operators.sign_out(left.token)
    assert await operators.session(left.token) is None
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(OperatorSession)) == 0


async def test_a_disabled_operator_is_signed_out_and_cannot_sign_in(db: Database) -> None:
    operators = Operators(db)
    await operators.add("ana", PASSWORD, totp=False, actor="cli:root")
    new = await operators.sign_in("ana", PASSWORD, "", address="10.0.0.1")
    assert await operators.disable("ana", actor="cli:root") is True
    assert await operators.session(new.token) is None
    with pytest.raises(SignInRefused, match="invalid"):
        await operators.sign_in("ana", PASSWORD, "", address="10.0.0.1")
    assert await operators.disable("ana", actor="cli:root") is False
    [info] = await operators.roster()
    assert info.disabled_at is not None


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [("ana", "short", "at least 10"), ("-x", PASSWORD, "a name is"), ("ana", PASSWORD, "exists already")],
)
async def test_operators_are_refused_a_bad_name_or_password(
    db: Database, name: str, password: str, message: str
) -> None:
    operators = Operators(db)
    if message == "exists already":
        await operators.add("ana", PASSWORD, totp=False, actor="cli:root")
    with pytest.raises(OperatorError, match=message):
        await operators.add(name, password, totp=False, actor="cli:root")
