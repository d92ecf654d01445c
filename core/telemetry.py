"""What the core reports to whoever counts (the bot's Prometheus metrics), without knowing who that is.

The core calls these at the moments that matter; the default does nothing, so tests and embedders need
no metrics library. Every label value passed here comes from a fixed set (command names, job states,
error codes, event types the service handles): never a prompt, a name, an identity or a chat.
"""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def command(self, platform: str, command: str) -> None:
        """A message or button press reached the core; `command` is a known command name, `action`
        (a button), `text` (no command) or `other`."""
        ...

    def job_finished(self, state: str, seconds: float) -> None:
        """A job reached its final state `seconds` after it was submitted (observed by its worker)."""
        ...

    def provider_call(self, provider: str, error: str | None, seconds: float) -> None:
        """One render at an image provider endpoint (`provider` is its configured name), which took
        `seconds`; `error` is its failure's code (None: it succeeded)."""
        ...

    def provider_state(self, provider: str, state: str) -> None:
        """An endpoint's circuit breaker as this process last saw it: closed, open, half_open, probing."""
        ...

    def webhook_event(self, source: str, kind: str, result: str) -> None:
        """A webhook delivery: its event type (or `other`/`unknown`) and what became of it."""
        ...


class NoTelemetry:
    """Counts nothing."""

    def command(self, platform: str, command: str) -> None:
        pass

    def job_finished(self, state: str, seconds: float) -> None:
        pass

    def provider_call(self, provider: str, error: str | None, seconds: float) -> None:
        pass

    def provider_state(self, provider: str, state: str) -> None:
        pass

    def webhook_event(self, source: str, kind: str, result: str) -> None:
        pass


NO_TELEMETRY: Telemetry = NoTelemetry()
