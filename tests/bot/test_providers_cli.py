"""`image2bot admin providers`: each configured endpoint with its breaker's state, its recent errors
and latency, read from the database the workers write (SQLite and PostgreSQL); never a key."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from core.db.repositories import endpoints
from core.db.types import utcnow
from tests.bot.test_cli import run, run_json
from tests.harness import DatabaseTarget

pytestmark = pytest.mark.usefixtures("restored_logging")

PROVIDERS = [
    {"name": "main", "api_key": "sk-main-secret", "weight": 3, "images_per_minute": 5},
    {"name": "spare", "api_key": "sk-spare-secret", "base_url": "http://127.0.0.1:9/v1"},
]


async def calls(database: DatabaseTarget) -> None:
    """`main` failed twice in a row (its breaker opened at the second); `spare` answered in 4 s."""
    db = database.open()
    try:
        now = utcnow()
        async with db.transaction() as session:
            for _ in range(2):
                call = await endpoints.stamp(session, "main", 1, now - timedelta(seconds=10), probe=False)
                await endpoints.finished(
                    session,
                    call,
                    "rate_limited",
                    now,
                    failure=True,
                    threshold=2,
                    open_for=timedelta(minutes=1),
                )
            call = await endpoints.stamp(session, "spare", 1, now - timedelta(seconds=4), probe=False)
            await endpoints.finished(
                session, call, endpoints.OK, now, failure=False, threshold=2, open_for=timedelta(minutes=1)
            )
            await endpoints.stamp(session, "spare", 1, now, probe=False)  # still running
    finally:
        await db.dispose()


def test_admin_providers_shows_state_recent_errors_and_latency(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cli_env: DatabaseTarget
) -> None:
    monkeypatch.setenv("IMAGE2BOT_PROVIDERS", json.dumps(PROVIDERS))
    assert run(capsys, "migrate")[0] == 0
    asyncio.run(calls(cli_env))

    main, spare = run_json(capsys, "admin", "providers", "--json")
    assert (main["name"], main["state"], main["failures_in_a_row"]) == ("main", "open", 2)
    assert (main["recent_calls"], main["recent_errors"], main["last_error"]) == (
        2,
        {"rate_limited": 2},
        "rate_limited",
    )
    assert (main["weight"], main["images_per_minute"], main["models"]) == (3, 5, "all")
    assert (spare["state"], spare["recent_calls"], spare["running"]) == ("closed", 2, 1)
    assert spare["mean_latency_s"] == pytest.approx(4, abs=0.5)
    assert spare["recent_errors"] == {}

    code, out, _ = run(capsys, "admin", "providers")
    assert code == 0
    assert "main (openai): open, weight 3, 5/min" in out
    assert "errors: rate_limited 2" in out
    assert "spare (openai): closed" in out
    assert "secret" not in out
