"""The one protocol every image provider speaks, and the outcomes the worker understands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RenderRequest:
    """Everything a provider needs for one generation; `prompt` already carries the style."""

    prompt: str
    width: int
    height: int
    model: str
    quality: str = "auto"
    n: int = 1
    references: tuple[bytes, ...] = ()  # PNG bytes; when present the provider edits instead of generating
    safety_identifier: str = ""  # a hash of the account id, never the raw id
    partial_images: int = 0
    style: str = "none"
    # What the job is, for renderers that draw it themselves (the offline one); a real model needs only
    # `prompt`. `caption` is the user's own words, without the style's or an action's wording; `seed`
    # tells a reroll from its original; `action` is an ActionKind value for upscale and vary.
    caption: str = ""
    seed: int = 0
    action: str | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


OnPartial = Callable[[int, bytes], Awaitable[None]]
"""Called with (partial index, image bytes) for each progress preview."""


@dataclass(frozen=True, slots=True)
class RenderResult:
    images: tuple[bytes, ...]  # PNG bytes, one per requested image
    usage: dict[str, object] = field(default_factory=dict)


class ProviderError(Exception):
    """Base for provider failures; the worker maps each subclass to an outcome. `code` names the
    failure for the operators' metrics, from a fixed set (never the provider's free text)."""

    code = "provider_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ContentBlocked(ProviderError):
    """The provider's safety system refused the prompt or references: refund, strike, no retry."""

    code = "moderation_blocked"


class TransientProviderError(ProviderError):
    """Rate limit, 5xx, timeout, dropped stream: worth retrying with backoff, then refund."""

    code = "transient"

    def __init__(self, message: str, retry_after: float | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """Anything else (bad request, malformed response): refund at once with a reference id."""

    code = "rejected"


class PromptChecker(Protocol):
    """What the intake needs: one provider, or a pool of them (`providers.pool`)."""

    async def check_prompt(self, prompt: str, safety_identifier: str) -> bool:
        """True when the prompt may be generated. Runs before credits are reserved."""
        ...

    async def close(self) -> None: ...


class ImageProvider(PromptChecker, Protocol):
    name: str

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        """Produce `request.n` images of exactly the requested size, or raise a ProviderError."""
        ...
