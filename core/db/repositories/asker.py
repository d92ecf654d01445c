"""Who is asking, in one statement: the account behind a platform identity, its privacy state and,
for a request that may charge, its standing (freeze, purchases, plan, strikes, queue, balance)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, bindparam, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import models
from core.db.statuses import JobStatus
from core.db.types import UTCDateTime

# Core statements on the tables: the ORM would add its own compile step to every request.
Account = models.Account.__table__.c
DeletionRequest = models.DeletionRequest.__table__.c
Identity = models.Identity.__table__.c
Job = models.Job.__table__.c
Payment = models.Payment.__table__.c
PrivacyProfile = models.PrivacyProfile.__table__.c
SafetyStrike = models.SafetyStrike.__table__.c
Subscription = models.Subscription.__table__.c

GIVING_CREDITS = ("active", "trialing", "past_due")  # a subscription in these states gives credits
ERASING = "pending"


@dataclass(frozen=True, slots=True)
class AskerRow:
    account_id: int
    language: str | None
    preferences: dict[str, Any]
    terms_version: str | None
    policy_version: str | None
    analytics: bool
    marketing: bool
    direct_chat: str | None
    erasing: bool


@dataclass(frozen=True, slots=True)
class Standing:
    """What decides whether the account may be charged for a generation now."""

    frozen: str | None
    balance_subscription: int
    balance_one_time: int
    bought_pack: bool
    plan: str | None  # the plan of the newest subscription that gives credits
    cooldown_strike: datetime | None  # the strike whose ageing ends a safety cooldown, if one is on
    queued: int


def _base() -> Select[Any]:
    erasing = exists().where(DeletionRequest.account_id == Account.id, DeletionRequest.status == ERASING)
    return (
        select(
            Account.id,
            Account.language,
            Account.preferences,
            PrivacyProfile.terms_version,
            PrivacyProfile.policy_version,
            PrivacyProfile.analytics,
            PrivacyProfile.marketing,
            PrivacyProfile.direct_chat,
            erasing.label("erasing"),
        )
        .select_from(models.Identity.__table__)
        .join(models.Account.__table__, Account.id == Identity.account_id)
        .outerjoin(models.PrivacyProfile.__table__, PrivacyProfile.account_id == Account.id)
    )


_ONE = (Identity.platform == bindparam("platform")) & (Identity.platform_user_id == bindparam("user_id"))
_MANY = tuple_(Identity.platform, Identity.platform_user_id).in_(bindparam("identities", expanding=True))


@cache
def _statement(many: bool, standing: bool, strikes_for_cooldown: int) -> Select[Any]:
    """The read of askers, one or `many` (then each row ends with the identity it answers), with their
    standing or without; `strikes_for_cooldown` is a setting, fixed per process, so each statement
    is built once."""
    statement = _with_standing(strikes_for_cooldown) if standing else _base()
    if many:
        return statement.where(_MANY).add_columns(Identity.platform, Identity.platform_user_id)
    return statement.where(_ONE)


def _with_standing(strikes_for_cooldown: int) -> Select[Any]:
    bought = exists().where(Payment.account_id == Account.id, Payment.kind == "pack")
    plan = (
        select(Subscription.plan)
        .where(Subscription.account_id == Account.id, Subscription.status.in_(GIVING_CREDITS))
        .order_by(Subscription.updated_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    cooldown_strike = (
        select(SafetyStrike.created_at)
        .where(
            SafetyStrike.account_id == Account.id,
            SafetyStrike.created_at >= bindparam("strikes_since", type_=UTCDateTime),
        )
        .order_by(SafetyStrike.created_at.desc())
        .limit(1)
        .offset(max(strikes_for_cooldown - 1, 0))
        .scalar_subquery()
    )
    queued = (
        select(func.count(Job.id))
        .where(Job.account_id == Account.id, Job.status == JobStatus.QUEUED)
        .scalar_subquery()
    )
    return _base().add_columns(
        Account.frozen_reason,
        Account.balance_subscription,
        Account.balance_one_time,
        bought.label("bought_pack"),
        plan.label("plan"),
        cooldown_strike.label("cooldown_strike"),
        queued.label("queued"),
    )


Found = tuple[AskerRow, Standing | None]


async def who_asks(
    session: AsyncSession,
    platform: str,
    user_id: str,
    *,
    standing_since: datetime | None = None,
    strikes_for_cooldown: int = 0,
) -> Found | None:
    """The asker, None before their first contact; with their standing when `standing_since` (the
    start of the safety-strike window) is given."""
    statement = _statement(False, standing_since is not None, strikes_for_cooldown)
    params: dict[str, Any] = {"platform": platform, "user_id": user_id, "strikes_since": standing_since}
    row = (await session.execute(statement, params)).one_or_none()
    return None if row is None else _found(row, standing_since is not None, strikes_for_cooldown)


async def who_ask(
    session: AsyncSession,
    identities: Collection[tuple[str, str]],
    *,
    standing_since: datetime | None = None,
    strikes_for_cooldown: int = 0,
) -> dict[tuple[str, str], Found]:
    """`who_asks` for many (platform, user id) at once, in one statement: those known, by identity."""
    standing = standing_since is not None
    statement = _statement(True, standing, strikes_for_cooldown)
    params: dict[str, Any] = {"identities": sorted(identities), "strikes_since": standing_since}
    rows = await session.execute(statement, params)
    return {(row[-2], row[-1]): _found(row, standing, strikes_for_cooldown) for row in rows}


def _found(row: Row[Any], standing: bool, strikes_for_cooldown: int) -> Found:
    asker = AskerRow(
        row[0],
        row[1],
        dict(row[2] or {}),
        row[3],
        row[4],
        bool(row[5]),
        bool(row[6]),
        row[7],
        bool(row[8]),
    )
    if not standing:
        return asker, None
    frozen, subscription, one_time, bought, plan, strike, queued = row[9:16]
    cooldown = strike if strikes_for_cooldown > 0 else None
    return asker, Standing(frozen, subscription, one_time, bool(bought), plan, cooldown, int(queued))
