"""A hand-written image provider whose renders wait until the test lets them finish."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field

from PIL import Image

from core.generation.providers.base import OnPartial, RenderRequest, RenderResult

WAIT_LIMIT_S = 10.0


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class GatedProvider:
    name: str = "gated"
    started: list[str] = field(default_factory=list)  # prompts, in the order renders began
    running: int = 0
    most_running: int = 0
    _gates: dict[str, asyncio.Event] = field(default_factory=dict)
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def check_prompt(self, prompt: str, safety_identifier: str) -> bool:
        return True

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        gate = self._gates.setdefault(request.prompt, asyncio.Event())
        async with self._progress:
            self.started.append(request.prompt)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self._progress.notify_all()
        try:
            await on_partial(0, png(16, 16))
            await gate.wait()
        finally:
            async with self._progress:
                self.running -= 1
                self._progress.notify_all()
        return RenderResult(images=tuple(png(request.width, request.height) for _ in range(request.n)))

    def release(self, prompt: str) -> None:
        self._gates.setdefault(prompt, asyncio.Event()).set()

    async def wait_started(self, count: int) -> None:
        async with asyncio.timeout(WAIT_LIMIT_S), self._progress:
            await self._progress.wait_for(lambda: len(self.started) >= count)

    async def wait_idle(self) -> None:
        """Until no render is running: each has returned or was cancelled."""
        async with asyncio.timeout(WAIT_LIMIT_S), self._progress:
            await self._progress.wait_for(lambda: self.running == 0)

    async def close(self) -> None:
        return None
