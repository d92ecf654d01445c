"""What refuses a generation before anything is charged, decided from the account's standing alone:
no database, no clock but the one given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.db.repositories.asker import Standing
from core.errors import UserError
from core.generation import admission
from core.generation.sizes import Tier

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FREE = Standing(
    frozen=None,
    balance_subscription=0,
    balance_one_time=40,
    bought_pack=False,
    plan=None,
    cooldown_strike=None,
    queued=0,
)


def refusal(standing: Standing, tier: Tier = Tier.K1, allowed: Tier = Tier.K2) -> UserError | None:
    return admission.refusal(
        standing, tier=tier, allowed=allowed, unlocking=lambda _tier: "/buy pro", now=NOW
    )


def test_an_account_in_good_standing_is_let_through() -> None:
    assert refusal(FREE) is None
    assert admission.unaffordable(FREE, cost=40, max_queued=3) is None


def test_a_freeze_refuses_first_and_says_why() -> None:
    frozen = replace(FREE, frozen="dispute_lost", cooldown_strike=NOW)
    refused = refusal(frozen, tier=Tier.K4)
    assert refused is not None
    assert refused.code == "account_frozen_lost"


def test_a_resolution_above_what_the_account_unlocked_names_what_would_unlock_it() -> None:
    refused = refusal(FREE, tier=Tier.K4, allowed=Tier.K2)
    assert refused is not None
    assert (refused.code, refused.params) == ("resolution_locked", {"res": "4K", "items": "/buy pro"})
    assert refusal(FREE, tier=Tier.K2, allowed=Tier.K2) is None


@pytest.mark.parametrize(
    ("strike_age", "wait"),
    [
        (timedelta(minutes=1), timedelta(hours=23, minutes=59)),
        (timedelta(hours=23, minutes=30), timedelta(minutes=30)),
    ],
)
def test_a_safety_cooldown_lasts_until_the_deciding_strike_ages_out(
    strike_age: timedelta, wait: timedelta
) -> None:
    refused = refusal(replace(FREE, cooldown_strike=NOW - strike_age))
    assert refused is not None
    assert (refused.code, refused.params) == ("safety_cooldown", {"wait": wait})


def test_too_few_credits_across_both_buckets_is_refused_with_the_total() -> None:
    split = replace(FREE, balance_subscription=15, balance_one_time=4)
    refused = admission.unaffordable(split, cost=20, max_queued=3)
    assert refused is not None
    assert (refused.code, refused.params) == ("insufficient_credits", {"balance": 19, "cost": 20})
    assert admission.unaffordable(split, cost=19, max_queued=3) is None


def test_a_full_queue_is_refused_once_it_holds_the_limit() -> None:
    assert admission.unaffordable(replace(FREE, queued=2), cost=10, max_queued=3) is None
    refused = admission.unaffordable(replace(FREE, queued=3), cost=10, max_queued=3)
    assert refused is not None
    assert (refused.code, refused.params) == ("queue_full", {"limit": 3})
