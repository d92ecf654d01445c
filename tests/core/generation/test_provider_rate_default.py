"""Out of the box the workers start no more images a minute than the lowest paid OpenAI tier allows for
the gpt-image models (5), rather than as many as they can."""

from __future__ import annotations

from pathlib import Path

from core.policy import GenerationSettings
from tests.core.generation.test_leases import claim
from tests.harness import DatabaseTarget, harness_for

DEFAULT = GenerationSettings().provider_images_per_minute


async def test_by_default_a_sixth_image_within_a_minute_waits(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    assert DEFAULT == 5
    async with harness_for(database, tmp_path, run_workers=False) as harness:
        for user in ("ann", "ben", "cy", "dee", "eve", "fay"):
            await harness.imagine("a kite", user)
        started = [await claim(harness, f"worker:{n}", per_minute=DEFAULT) for n in range(6)]
        assert [job is not None for job in started] == [True] * 5 + [False]
        assert await claim(harness, "worker:later", per_minute=DEFAULT, later_s=62) is not None
