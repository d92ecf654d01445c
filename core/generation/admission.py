"""Everything decided before a generation is charged, in one place, from one read of the account's
standing: a pure function, so each rule is tested without a database.

The write that follows (core.generation.jobs) takes the credits conditionally, so what changed since
the read (a concurrent request, a freeze) is still refused there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from core.credits import Balance
from core.db.repositories.asker import Standing
from core.errors import UserError
from core.generation.sizes import Tier
from core.groups import WalletCharge
from core.payments import freezes
from core.payments.service import TIER_ORDER

STRIKE_WINDOW = timedelta(hours=24)  # safety strikes older than this no longer count


def balance(standing: Standing) -> Balance:
    return Balance(standing.balance_subscription, standing.balance_one_time)


def refusal(
    standing: Standing,
    *,
    tier: Tier,
    allowed: Tier,
    unlocking: Callable[[Tier], str],
    now: datetime,
) -> UserError | None:
    """Why this account may not order a picture at `tier` at all now, if it may not: a freeze, a
    resolution its purchases do not unlock (`unlocking` names what would), a safety cooldown."""
    if standing.frozen:
        return freezes.refusal(standing.frozen)
    if TIER_ORDER.index(tier) > TIER_ORDER.index(allowed):
        return UserError("resolution_locked", res=tier.value.upper(), items=unlocking(tier))
    if standing.cooldown_strike is not None:
        return UserError("safety_cooldown", wait=standing.cooldown_strike + STRIKE_WINDOW - now)
    return None


def unaffordable(standing: Standing, *, cost: int, max_queued: int, group: bool = False) -> UserError | None:
    """Why this request cannot be queued now, if it cannot: too few credits (the group wallet's, when
    `group`: the standing then carries its balance), a full queue."""
    if refused := short_of_credits(
        standing.balance_subscription + standing.balance_one_time, cost, group=group
    ):
        return refused
    if standing.queued >= max_queued:
        return UserError("queue_full", limit=max_queued)
    return None


def short_of_credits(total: int, cost: int, *, group: bool) -> UserError | None:
    """The refusal when `total` credits (a group wallet's, when `group`) do not pay `cost`."""
    if total >= cost:
        return None
    if group:
        return UserError("group_insufficient_credits", balance=total, cost=cost)
    return UserError("insufficient_credits", balance=total, cost=cost)


def over_group_limits(
    charge: WalletCharge, *, used_by_member: int, used_by_group: int, images: int
) -> UserError | None:
    """Why a group wallet may not pay for `images` more today, if it may not: the member's daily quota
    is used up, or the group's daily cap (both count today's images, refunded ones not)."""
    if charge.member_quota is not None and used_by_member + images > charge.member_quota:
        return UserError("group_quota", quota=charge.member_quota, used=used_by_member, reset=charge.resets)
    if charge.daily_cap is not None and used_by_group + images > charge.daily_cap:
        return UserError("group_cap", cap=charge.daily_cap, used=used_by_group, reset=charge.resets)
    return None
