"""Out of the box the workers start no more images a minute than the lowest paid OpenAI tier allows for
the gpt-image models (5), rather than as many as they can."""

from __future__ import annotations

from pathlib import Path

from core.messages import ReplyType
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


async def test_the_offline_renderer_is_never_held_to_a_provider_s_pace(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    generation = {"provider_images_per_minute": DEFAULT}  # as configured for OpenAI, renderer local
    async with harness_for(database, tmp_path, generation=generation) as harness:
        jobs = [await harness.imagine("a kite", user) for user in ("ann", "ben", "cy", "dee", "eve", "fay")]
        finals = [await harness.chat.wait_final(job) for job in jobs]
    assert [final.type for final in finals] == [ReplyType.ACTIONS] * 6, "six within a minute"
