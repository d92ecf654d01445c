"""3. Provider saturation: the worker pool against a provider that allows R images a minute (429 with
`retry-after` beyond) and takes 20 s a picture, with `[generation] provider_images_per_minute = R`.

Time runs 20 times faster than in production so the run takes seconds: the provider's minute and
the bot's rolling window (`core.db.repositories.jobs.PROVIDER_WINDOW`, patched in this process) are
3 s, a picture takes 1 s, and the retry backoff and timeout are divided by 20 too. Counts are not
scaled: R images per (scaled) minute.

A backlog of jobs from users asking for different amounts is queued first, heaviest users first (so
a first-come-first-served pool would make the light users wait for everyone), then the pool starts.
Reported: images the provider accepted during the first five windows / (5 R); the share of provider
calls answered 429; and fairness, the worst ratio over users of the time until their last image
to their fair share (their finish time under an equal split of the provider's rate among the users
still waiting, plus one picture's latency).

`saturation_pool` (`run_pool`) does the same against two endpoints of R images a minute each, listed
as `[[providers]]` with `images_per_minute = R`, twice the backlog and twice the worker concurrency:
the figures are then against 2R.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import Figure
from bench.doubles import RemoteDoubles
from core.db.models import Job
from core.db.repositories import jobs as jobs_repo
from core.db.session import Database
from core.policy import GenerationSettings
from tests.harness import DatabaseTarget, harness_for

SCALE = 20
WINDOW_S = 60 / SCALE
LATENCY_S = 20 / SCALE
RATE = 10  # images per (scaled) minute
MEASURED_WINDOWS = 5
DEMANDS = [4] * 8 + [3] * 8 + [1] * 8  # images per user: 64, six windows' worth and more
TARGET_THROUGHPUT = 0.95
TARGET_429 = 0.01
TARGET_FAIRNESS = 2.0
FINISH_TIMEOUT_S = 120
OVER = ("succeeded", "failed", "cancelled")


def doubles_options(endpoints: int = 1) -> dict[str, Any]:
    return {
        "openai_rate": RATE,
        "openai_window_s": WINDOW_S,
        "openai_latency_s": LATENCY_S,
        "openai_endpoints": endpoints,
    }


async def run(doubles: RemoteDoubles) -> list[Figure]:
    return await _measure(doubles, endpoints=1)


async def run_pool(doubles: RemoteDoubles) -> list[Figure]:
    return await _measure(doubles, endpoints=2)


async def _measure(doubles: RemoteDoubles, endpoints: int) -> list[Figure]:
    if not hasattr(jobs_repo, "PROVIDER_WINDOW"):
        raise RuntimeError("core.db.repositories.jobs.PROVIDER_WINDOW is gone: update bench/saturation.py")
    production_window = jobs_repo.PROVIDER_WINDOW
    jobs_repo.PROVIDER_WINDOW = timedelta(seconds=WINDOW_S)
    demands = DEMANDS * endpoints
    concurrency = GenerationSettings().concurrency * endpoints
    try:
        finished, started_wall = await _drain_backlog(doubles, endpoints, demands, concurrency)
    finally:
        jobs_repo.PROVIDER_WINDOW = production_window
    stats = await doubles.openai_stats()
    each = stats["endpoints"][:endpoints]
    accepted = sorted(at for endpoint in each for at in endpoint["accepted"])
    rejected = [at for endpoint in each for at in endpoint["rejected"]]
    rate = RATE * endpoints
    start = accepted[0]
    in_windows = sum(1 for at in accepted if at < start + MEASURED_WINDOWS * WINDOW_S)
    throughput = in_windows / (MEASURED_WINDOWS * rate)
    calls = len(accepted) + len(rejected)
    share_429 = len(rejected) / calls
    fairness, worst = _fairness(finished, started_wall, rate)
    details = {
        "scale": f"1/{SCALE}: window {WINDOW_S} s, picture {LATENCY_S} s",
        "endpoints": endpoints,
        "rate_per_window": rate,
        "concurrency": concurrency,
        "users": len(demands),
        "images": sum(demands),
        "accepted_in_measured_windows": in_windows,
        "accepted_by_endpoint": [len(endpoint["accepted"]) for endpoint in each],
        "provider_calls": calls,
        "answered_429": len(rejected),
        "worst_user": worst,
    }
    key, what = ("saturation", "R") if endpoints == 1 else ("saturation_pool", f"{endpoints}R")
    title = f"Provider saturation: throughput / R (R={RATE}/min, 1/{SCALE} time)"
    if endpoints > 1:
        title = f"Provider pool saturation: {endpoints} endpoints, throughput / {what} (R={RATE}/min each)"
    return [
        Figure(
            key=f"{key}_throughput",
            title=f"3. {title}",
            value=f"{throughput:.2f}",
            target=f">= {TARGET_THROUGHPUT}",
            met=throughput >= TARGET_THROUGHPUT,
            details=details,
        ),
        Figure(
            key=f"{key}_429",
            title="   429 answers / provider calls",
            value=f"{share_429:.1%} ({len(rejected)} of {calls})",
            target=f"<= {TARGET_429:.0%}",
            met=share_429 <= TARGET_429,
        ),
        Figure(
            key=f"{key}_fairness",
            title="   fairness: worst user's wait / fair share",
            value=f"{fairness:.2f}",
            target=f"<= {TARGET_FAIRNESS:.0f}",
            met=fairness <= TARGET_FAIRNESS,
        ),
    ]


async def _drain_backlog(
    doubles: RemoteDoubles, endpoints: int, demands: list[int], concurrency: int
) -> tuple[dict[str, list[float]], float]:
    """Queues every user's jobs, starts the pool, waits for the last image: when each user's images
    were finished (epoch seconds), and when the pool started. One endpoint: the `[openai]` section;
    more: `[[providers]]`."""
    defaults = GenerationSettings()
    scaled = {
        "provider": "openai",
        "provider_images_per_minute": RATE,
        "concurrency": concurrency,
        "max_queued_jobs_per_user": max(demands),
        "retry_backoff_s": defaults.retry_backoff_s / SCALE,
        "retry_backoff_max_s": defaults.retry_backoff_max_s / SCALE,
        "timeout_s": defaults.timeout_s / SCALE,
    }
    sections: dict[str, Any] = {"openai": {"api_key": "sk-bench", "base_url": doubles.urls["openai"]}}
    if endpoints > 1:
        urls = doubles.urls["openai_endpoints"][:endpoints]
        sections = {
            "providers": [
                {"name": f"endpoint-{i}", "api_key": "sk-bench", "base_url": url, "images_per_minute": RATE}
                for i, url in enumerate(urls, 1)
            ]
        }
    with tempfile.TemporaryDirectory() as tmp:
        database = DatabaseTarget(f"sqlite+aiosqlite:///{Path(tmp) / 'image2bot.db'}")
        async with harness_for(
            database,
            Path(tmp),
            run_workers=False,
            generation=scaled,
            credits={"trial": 10 * max(demands)},
            **sections,
        ) as harness:
            for number, wanted in enumerate(demands):
                for take in range(wanted):
                    await harness.imagine(f"a kite over the dunes, take {take}", user=f"user{number}")
            started_wall = time.time()
            pool = asyncio.create_task(harness.app.worker.run())
            try:
                await _until_done(harness.app.db, sum(demands))
                async with harness.app.db.transaction() as session:
                    rows = (await session.execute(select(Job.identity, Job.status, Job.finished_at))).all()
            finally:
                pool.cancel()
                with suppress(asyncio.CancelledError):
                    await pool
    failed = [row for row in rows if row.status != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} jobs did not succeed: {sorted({row.status for row in failed})}")
    finished: dict[str, list[float]] = {}
    for identity, _status, at in rows:
        finished.setdefault(identity, []).append(at.timestamp())
    return finished, started_wall


async def _until_done(db: Database, count: int) -> None:
    """Until `count` jobs are over (looked at twice a second: a cheap query next to the pool's work)."""
    async with asyncio.timeout(FINISH_TIMEOUT_S):
        while True:
            async with db.transaction() as session:
                done = await session.scalar(select(func.count(Job.id)).where(Job.status.in_(OVER)))
            if (done or 0) >= count:
                return
            await asyncio.sleep(0.5)


def _fairness(
    finished: dict[str, list[float]], started: float, per_window: int
) -> tuple[float, dict[str, float]]:
    """The worst (wait / fair share) over users, and that user's figures."""
    rate = per_window / WINDOW_S
    demands = sorted((len(times), identity) for identity, times in finished.items())
    worst: tuple[float, dict[str, float]] = (0.0, {})
    served_before = 0
    for position, (wanted, identity) in enumerate(demands):
        still_waiting = len(demands) - position
        fair = LATENCY_S + (served_before + still_waiting * wanted) / rate
        served_before += wanted
        wait = max(finished[identity]) - started
        ratio = wait / fair
        if ratio > worst[0]:
            worst = (ratio, {"images": wanted, "wait_s": wait, "fair_share_s": fair})
    return worst
