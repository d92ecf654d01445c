"""/healthz says a process is alive; /readyz whether it can work: the database answers, some worker's
heartbeat is fresh, the outbox is not stuck, and the process's doors are connected."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from bot.app import Role
from core.db.models import Delivery, Heartbeat
from core.db.repositories import deliveries, heartbeats, reachability
from core.db.statuses import DeliveryStatus
from core.db.types import utcnow
from tests.bot.ops_apps import get, role_app, running, until
from tests.harness import DatabaseTarget

TOKEN = "7012345678:AAHk3xZrT9qLmN0pQwErTyUiOpAsDfGhJkL"


async def readiness(base: str) -> tuple[int, dict[str, object]]:
    status, text = await get(f"{base}/readyz")
    return status, json.loads(text)


async def test_readyz_follows_the_workers_heartbeat(database: DatabaseTarget, tmp_path: Path) -> None:
    web = role_app(database, tmp_path, Role.WEB, web={"enabled": True, "port": 0})
    async with running(web) as base:
        status, body = await readiness(base)
        assert status == 503
        assert body["status"] == "unready"
        checks = body["checks"]
        assert isinstance(checks, dict)
        assert checks["worker"] == {"ok": False, "last_beat_s": None}
        assert checks["database"] == {"ok": True}
        assert checks["outbox"]["ok"] is True
        assert await get(f"{base}/healthz") == (200, '{"status": "ok"}')  # alive all the same

        async with running(role_app(database, tmp_path, Role.WORKER)):
            await until(lambda: _status(base, 200))
        # stopped cleanly: its row is gone, and readiness turns at once
        await until(lambda: _status(base, 503))
        async with running(role_app(database, tmp_path, Role.WORKER)):
            await until(lambda: _status(base, 200))
            status, body = await readiness(base)
        assert status == 200
        assert body["status"] == "ready"


async def test_a_worker_that_died_without_stopping_is_stale_and_pruned(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    web = role_app(database, tmp_path, Role.WEB, web={"enabled": True, "port": 0})
    async with running(web) as base:
        async with web.db.transaction() as session:  # its last beat, two seconds ago (stale after one)
            await heartbeats.beat(session, "worker:gone", "worker", utcnow() - timedelta(seconds=2))
        status, body = await readiness(base)
        assert status == 503
        assert body["checks"]["worker"]["ok"] is False
        assert body["checks"]["worker"]["last_beat_s"] >= 2

        async with running(role_app(database, tmp_path, Role.WORKER)) as worker_base:
            await until(lambda: _status(base, 200))
            assert (await readiness(worker_base))[0] == 200  # the worker's own listener says the same
            async with web.db.read() as session:
                processes = set(await session.scalars(select(Heartbeat.process)))
        assert "worker:gone" not in processes
        assert len(processes) == 1


async def test_readyz_fails_while_the_outbox_is_overdue(database: DatabaseTarget, tmp_path: Path) -> None:
    app = role_app(database, tmp_path, Role.ALL, ops={"ready_outbox_overdue_s": 60})
    async with running(app) as base:
        await until(lambda: _status(base, 200))
        async with app.db.transaction() as session:  # due two minutes ago, and no door here sends it
            await deliveries.add(session, key="notice:1", chat="nowhere:private:1", payload={"text": "hi"})
            await session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(minutes=2)))
        status, body = await readiness(base)
        assert status == 503
        assert body["checks"]["outbox"]["ok"] is False
        assert body["checks"]["outbox"]["overdue_s"] >= 120

        async with app.db.transaction() as session:
            await session.execute(update(Delivery).values(status=DeliveryStatus.SENT))
        assert (await readiness(base))[0] == 200

        async with app.db.transaction() as session:  # kept for a user who blocked the bot: held on purpose
            await deliveries.add(session, key="notice:2", chat="nowhere:private:2", payload={"text": "paid"})
            await session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(minutes=2)))
            await reachability.mark_unreachable(session, "nowhere:private:2", keep_pending=True)
        assert (await readiness(base))[0] == 200


async def test_readyz_fails_while_a_door_is_not_connected(database: DatabaseTarget, tmp_path: Path) -> None:
    """A Telegram door whose Bot API does not answer yet (it keeps trying): not ready."""
    app = role_app(
        database,
        tmp_path,
        Role.ALL,
        telegram={"enabled": True, "token": TOKEN, "base_url": "http://127.0.0.1:1/bot"},
    )
    async with running(app) as base:
        await until(lambda: _status(base, 503))
        _status_code, body = await readiness(base)
    assert body["checks"]["doors"] == {"ok": False, "telegram": False}
    assert body["checks"]["worker"]["ok"] is True


async def _status(base: str, expected: int) -> bool:
    return (await get(f"{base}/readyz"))[0] == expected
