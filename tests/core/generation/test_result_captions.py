"""A result's caption states what the request cost: for several images, the price of the set and how
many images it bought, so that "20 credits" under each of two images is not read as 20 each."""

from __future__ import annotations

import pytest

from core.i18n import translate
from core.messages import ReplyType
from tests.harness import Harness

FOR_THE_SET = {"en": "· 20 credits for 2 images ·", "zh-CN": "· 2 张共 20 积分 ·"}
FOR_ONE = {"en": "· 10 credits ·", "zh-CN": "· 10 积分 ·"}


async def captions(harness: Harness, request: str, language: str) -> list[str]:
    [queued] = await harness.say(f"/imagine {request}", locale=language)
    assert queued.job is not None, queued.text
    await harness.chat.wait_final(queued.job)
    return [reply.text for reply in harness.chat.for_job(queued.job) if reply.type == ReplyType.IMAGE]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_each_image_of_a_set_says_what_the_set_cost(harness: Harness, language: str) -> None:
    first, second = await captions(harness, "tiny robots --n 2", language)

    for index, caption in enumerate((first, second), start=1):
        assert FOR_THE_SET[language] in caption
        assert FOR_ONE[language].replace("10", "20") not in caption
        assert caption.endswith(translate(language, "job.image_index", index=index, n=2))
    [single] = await captions(harness, "one robot", language)
    assert FOR_ONE[language] in single
    assert translate(language, "job.image_index", index=1, n=1) not in single
