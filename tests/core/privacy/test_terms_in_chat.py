"""The whole promise in chat: `/terms` names the three things the service does not guarantee, the advice
to review images before publishing them and the refund policy (which `/buy` states as well:
tests/core/payments/test_buying.py); `/privacy` names international transfers."""

from __future__ import annotations

import pytest

from core.i18n import translate
from tests.harness import Harness

NOT_GUARANTEED = {
    "en": ("always available", "meets your needs", "infringes no one's rights", "review an image"),
    "zh-CN": ("始终可用", "符合你的需求", "不侵犯任何第三方权利", "请先审核图片"),
}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_terms_state_the_non_guarantees_the_review_advice_and_the_refund_policy(
    harness: Harness, language: str
) -> None:
    [summary] = await harness.say("/terms", locale=language)

    for promise in NOT_GUARANTEED[language]:
        assert promise in summary.text
    assert translate(language, "buy.refunds") in summary.text


@pytest.mark.parametrize(
    ("language", "transfers"), [("en", "including the United States"), ("zh-CN", "包括美国")]
)
async def test_privacy_names_international_transfers(harness: Harness, language: str, transfers: str) -> None:
    [info, *_] = await harness.say("/privacy", locale=language)
    assert transfers in info.text
