"""Prometheus metrics for one App: the core's telemetry as counters and histograms, and the figures
read from the database at scrape time (the same in every process).

Each App has a registry of its own (several apps in one process never collide). A scrape reads the
database at most once per `cache_s`, for `timeout_s` at most: a slow database costs the scrape its
database figures (`image2bot_database_figures_ok 0`), never the scrape itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from core.credits import EntryKind
from core.db.statuses import JobStatus
from core.live_figures import Figures, Snapshot

log = logging.getLogger(__name__)

# From a quick answer to a long render with retries: a real generation takes 20 s to several minutes.
JOB_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
# One call at a provider endpoint: a refusal in milliseconds to a render of several minutes.
CALL_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
BREAKER_STATES = ("closed", "open", "half_open", "probing")
KNOWN_JOB_STATES = frozenset(JobStatus)
KNOWN_LEDGER_KINDS = frozenset(EntryKind)


class Metrics:
    """The core's `Telemetry`, counted with prometheus-client, and the page a scrape reads."""

    def __init__(self, figures: Figures, *, cache_s: float, timeout_s: float) -> None:
        self.registry = CollectorRegistry()
        self._commands = Counter(
            "image2bot_commands",
            "Messages and button presses that reached the core, by platform and command",
            ["platform", "command"],
            registry=self.registry,
        )
        self._job_duration = Histogram(
            "image2bot_job_duration_seconds",
            "Time from a job's submission to its final state, by that state (observed by its worker)",
            ["state"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self._provider_calls = Counter(
            "image2bot_provider_calls",
            "Renders started at the image provider",
            ["provider"],
            registry=self.registry,
        )
        self._provider_errors = Counter(
            "image2bot_provider_errors",
            "Renders that failed at the image provider, by error code",
            ["provider", "code"],
            registry=self.registry,
        )
        self._provider_seconds = Histogram(
            "image2bot_provider_call_seconds",
            "Calls at each image provider endpoint by result (ok or the error code), and how long they took",
            ["provider", "result"],
            buckets=CALL_BUCKETS,
            registry=self.registry,
        )
        self._breakers = Gauge(
            "image2bot_provider_breaker",
            "1 for each endpoint's circuit breaker state, as this process last saw it",
            ["provider", "state"],
            registry=self.registry,
        )
        self._webhooks = Counter(
            "image2bot_webhook_events",
            "Webhook deliveries by source, event type and result",
            ["source", "type", "result"],
            registry=self.registry,
        )
        self._database = DatabaseFigures(figures, cache_s=cache_s, timeout_s=timeout_s)
        self.registry.register(self._database)

    def command(self, platform: str, command: str) -> None:
        self._commands.labels(platform, command).inc()

    def job_finished(self, state: str, seconds: float) -> None:
        self._job_duration.labels(state).observe(max(0.0, seconds))

    def provider_call(self, provider: str, error: str | None, seconds: float) -> None:
        self._provider_calls.labels(provider).inc()
        if error is not None:
            self._provider_errors.labels(provider, error).inc()
        self._provider_seconds.labels(provider, error or "ok").observe(max(0.0, seconds))

    def provider_state(self, provider: str, state: str) -> None:
        for known in BREAKER_STATES:
            self._breakers.labels(provider, known).set(1 if known == state else 0)

    def webhook_event(self, source: str, kind: str, result: str) -> None:
        self._webhooks.labels(source, kind, result).inc()

    async def page(self) -> bytes:
        """The text exposition of every metric, with the database figures refreshed when due."""
        await self._database.refresh()
        return generate_latest(self.registry)


class DatabaseFigures(Collector):
    """Gauges read from the database: refreshed (asynchronously, bounded) before a scrape collects."""

    def __init__(self, figures: Figures, *, cache_s: float, timeout_s: float) -> None:
        self._figures = figures
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self._snapshot: Snapshot | None = None
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:  # scrapes arriving together share one read
            if self._read_at is not None and time.monotonic() - self._read_at < self._cache_s:
                return
            try:
                async with asyncio.timeout(self._timeout_s):
                    self._snapshot = await self._figures.read()
            except Exception as error:
                log.warning("metrics: the database figures could not be read (%s)", type(error).__name__)
                self._snapshot = None
            self._read_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot
        ok = GaugeMetricFamily(
            "image2bot_database_figures_ok", "1 when the database figures below are current"
        )
        ok.add_metric([], 1 if snapshot is not None else 0)
        yield ok
        if snapshot is None:
            return
        jobs = GaugeMetricFamily("image2bot_jobs", "Jobs in the database by state", labels=["state"])
        by_state = dict.fromkeys(sorted(KNOWN_JOB_STATES), 0)
        for state, count in snapshot.jobs.items():
            key = state if state in KNOWN_JOB_STATES else "other"
            by_state[key] = by_state.get(key, 0) + count
        for state, count in by_state.items():
            jobs.add_metric([state], count)
        yield jobs
        yield _gauge(
            "image2bot_queue_depth", "Jobs waiting in the queue", snapshot.jobs.get(JobStatus.QUEUED, 0)
        )
        yield _gauge(
            "image2bot_queue_oldest_wait_seconds",
            "How long the longest-waiting queued job has waited (0: none waits)",
            snapshot.oldest_queued_s,
        )
        yield _gauge("image2bot_outbox_pending", "Deliveries waiting in the outbox", snapshot.outbox_pending)
        yield _gauge(
            "image2bot_outbox_oldest_pending_seconds",
            "Age of the oldest pending delivery (0: none pending)",
            snapshot.outbox_oldest_s,
        )
        credits = GaugeMetricFamily(
            "image2bot_credits_by_kind", "Sum of ledger deltas by entry kind", labels=["kind"]
        )
        by_kind: dict[str, int] = {}
        for kind, total in snapshot.credits.items():
            key = kind if kind in KNOWN_LEDGER_KINDS else "other"
            by_kind[key] = by_kind.get(key, 0) + total
        for kind, total in sorted(by_kind.items()):
            credits.add_metric([kind], total)
        yield credits


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge
