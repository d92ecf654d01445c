"""`image2bot admin providers [--json]`: each configured image provider endpoint with its breaker's
state, its calls of the last minutes (errors by code, mean latency) and its last error. Read from
the database every worker process writes to; never a key."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.providers import provider_entries
from core.db import migrate
from core.db.repositories import endpoints
from core.db.repositories import jobs as jobs_repo
from core.db.types import utcnow


def add_commands(admin: Any) -> None:
    providers = admin.add_parser(
        "providers", help="image provider endpoints: breaker state, recent errors and latency"
    )
    providers.add_argument("--json", action="store_true")
    providers.set_defaults(handler=_providers)


async def _providers(settings: Settings, args: argparse.Namespace) -> int:
    rows = await overview(settings)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print("\n".join(_lines(rows)))
    return 0


async def overview(settings: Settings) -> list[dict[str, Any]]:
    """One row per configured endpoint, in the configuration's order."""
    db = settings.open_database()
    try:
        if await migrate.pending(db.engine):
            await migrate.upgrade(db.engine)
        now = utcnow()
        recent = 2 * jobs_repo.PROVIDER_WINDOW * (1 + jobs_repo.WINDOW_SLACK)
        async with db.read() as session:
            breakers = await endpoints.breakers(session)
            activity = await endpoints.activity(session, now - recent)
    finally:
        await db.dispose()
    rows = []
    for entry in provider_entries(settings):
        breaker = breakers.get(entry.name, endpoints.CLOSED)
        seen = activity.get(entry.name, endpoints.Activity(0, 0, {}, None))
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "models": entry.models or "all",
                "weight": entry.weight,
                "images_per_minute": entry.images_per_minute,
                "concurrent": entry.concurrent,
                "state": breaker.state(now),
                "failures_in_a_row": breaker.failures,
                "open_until": _when(breaker.open_until),
                "last_error": breaker.last_error,
                "last_error_at": _when(breaker.last_error_at),
                "recent_seconds": int(recent.total_seconds()),
                "recent_calls": seen.calls,
                "running": seen.running,
                "recent_errors": seen.errors,
                "mean_latency_s": None if seen.mean_latency_s is None else round(seen.mean_latency_s, 2),
            }
        )
    return rows


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for row in rows:
        models = row["models"] if isinstance(row["models"], str) else ", ".join(row["models"])
        limit = f"{row['images_per_minute']}/min" if row["images_per_minute"] else "no rate limit"
        lines.append(f"{row['name']} ({row['kind']}): {row['state']}, weight {row['weight']:g}, {limit}")
        lines.append(f"  models: {models}")
        errors = ", ".join(f"{code} {count}" for code, count in sorted(row["recent_errors"].items()))
        latency = "-" if row["mean_latency_s"] is None else f"{row['mean_latency_s']:.1f} s"
        lines.append(
            f"  last {row['recent_seconds']} s: {row['recent_calls']} calls, {row['running']} running, "
            f"errors: {errors or 'none'}, mean latency {latency}"
        )
        if row["last_error"]:
            lines.append(f"  last error: {row['last_error']} at {row['last_error_at']}")
        if row["state"] == "open":
            lines.append(f"  out until {row['open_until']}, then one probe call")
    return lines
