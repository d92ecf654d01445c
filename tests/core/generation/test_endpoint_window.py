"""The provider window per endpoint, in the database every worker process shares: each endpoint's
images per minute and concurrent calls, the models it serves, and its breaker's single probe."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core.db.models import ProviderBreaker, ProviderCall
from core.db.repositories import endpoints
from core.db.repositories import jobs as repo
from core.db.repositories.endpoints import Call, Route
from core.db.session import Database
from core.db.types import utcnow
from tests.core.generation.test_account_queues import LEASE, new_accounts, submit

A3 = Route("a", images_per_minute=3)
B3 = Route("b", images_per_minute=3)


async def claim(db: Database, routes: list[Route], now: datetime | None = None) -> repo.Claim:
    async with db.transaction() as session:
        return await repo.claim_next(
            session, owner="w", lease=LEASE, max_running_per_account=5, now=now or utcnow(), routes=routes
        )


async def finish(db: Database, call: Call, *, failed: bool = False) -> None:
    async with db.transaction() as session:
        await endpoints.finished(
            session,
            call,
            "server_error" if failed else endpoints.OK,
            utcnow(),
            failure=failed,
            threshold=1,
            open_for=timedelta(hours=1),
        )


async def test_two_endpoints_of_r_images_a_minute_start_2r_images_in_a_window(db: Database) -> None:
    accounts = await new_accounts(db, 8)
    for account in accounts:
        await submit(db, account)
    now = utcnow()
    used = []
    for _ in range(6):
        claimed = await claim(db, [A3, B3], now)
        assert claimed.call is not None
        used.append(claimed.call.endpoint)
    assert used == ["a", "a", "a", "b", "b", "b"]
    full = await claim(db, [A3, B3], now)
    assert full.job is None
    assert full.wake_at == now + repo.PROVIDER_WINDOW * (1 + repo.WINDOW_SLACK)
    later = await claim(db, [A3, B3], full.wake_at + timedelta(seconds=1))
    assert later.call is not None
    assert later.call.endpoint == "a"


async def test_a_job_only_goes_to_an_endpoint_that_serves_its_model(db: Database) -> None:
    [account] = await new_accounts(db, 1)
    await submit(db, account)  # gpt-image-2
    other_model = Route("old", models=("gpt-image-1",))
    assert (await claim(db, [other_model])).job is None
    claimed = await claim(db, [other_model, Route("new", models=("gpt-image-2",))])
    assert claimed.call is not None
    assert claimed.call.endpoint == "new"


async def test_an_endpoint_takes_no_more_calls_at_once_than_its_limit(db: Database) -> None:
    accounts = await new_accounts(db, 3)
    for account in accounts:
        await submit(db, account)
    single, spare = Route("single", concurrent=1), Route("spare")
    first = await claim(db, [single, spare])
    second = await claim(db, [single, spare])
    assert first.call is not None
    assert first.call.endpoint == "single"
    assert second.call is not None
    assert second.call.endpoint == "spare"
    await finish(db, first.call)
    third = await claim(db, [single, spare])
    assert third.call is not None
    assert third.call.endpoint == "single"
    async with db.read() as session:
        outcomes = (await session.execute(select(ProviderCall.endpoint, ProviderCall.outcome))).all()
    assert sorted(outcomes, key=str) == sorted([("single", "ok"), ("spare", None), ("single", None)], key=str)


async def test_an_open_breaker_lets_exactly_one_probe_through_once_its_time_is_up(db: Database) -> None:
    accounts = await new_accounts(db, 5)
    for account in accounts:
        await submit(db, account)
    a, b = Route("a"), Route("b")
    failing = await claim(db, [a, b])
    assert failing.call is not None
    assert failing.call.endpoint == "a"
    await finish(db, failing.call, failed=True)  # threshold 1: open for an hour
    assert (await claim(db, [a, b])).call == Call(failing.call.id + 1, "b", probe=False)

    async with db.transaction() as session:  # an hour later
        row = await session.get(ProviderBreaker, "a")
        assert row is not None
        assert row.open_until is not None
        row.open_until = utcnow() - timedelta(seconds=1)
    probe = await claim(db, [a, b])
    meanwhile = await claim(db, [a, b])
    assert probe.call is not None
    assert (probe.call.endpoint, probe.call.probe) == ("a", True)
    assert meanwhile.call is not None
    assert meanwhile.call.endpoint == "b"

    await finish(db, probe.call)
    async with db.read() as session:
        assert (await endpoints.breakers(session))["a"].state(utcnow()) == "closed"
    back = await claim(db, [a, b])
    assert back.call is not None
    assert (back.call.endpoint, back.call.probe) == ("a", False)
