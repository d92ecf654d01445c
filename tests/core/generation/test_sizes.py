from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import UserError
from core.generation.sizes import (
    MAX_EDGE,
    PIXEL_BUDGETS,
    AspectRatio,
    Tier,
    nearest_fixed_size,
    parse_size,
    parse_tier,
    size_for,
)

REQUIRED = [
    ("1k", "1:1", (1024, 1024)),
    ("1k", "16:9", (1360, 768)),
    ("1k", "3:2", (1248, 832)),
    ("1k", "4:3", (1184, 880)),
    ("1k", "21:9", (1536, 656)),
    ("1k", "9:16", (768, 1360)),
    ("2k", "1:1", (2048, 2048)),
    ("2k", "16:9", (2720, 1536)),
    ("4k", "1:1", (2880, 2880)),
    ("4k", "16:9", (3840, 2160)),
    ("4k", "21:9", (3840, 1648)),
    ("4k", "2:3", (2352, 3520)),
]


@pytest.mark.parametrize(("tier", "ratio", "expected"), REQUIRED)
def test_required_sizes(tier: str, ratio: str, expected: tuple[int, int]) -> None:
    assert size_for(parse_tier(tier), AspectRatio.parse(ratio)) == expected


@pytest.mark.parametrize(("tier", "ratio", "expected"), REQUIRED)
def test_required_sizes_other_orientation(tier: str, ratio: str, expected: tuple[int, int]) -> None:
    flipped = AspectRatio.parse(ratio).transposed()
    assert size_for(Tier(tier), flipped) == (expected[1], expected[0])


def test_unreduced_ratio_gives_the_same_size_but_keeps_its_numbers() -> None:
    ratio = AspectRatio.parse("32:18")
    assert str(ratio) == "32:18"
    assert size_for(Tier.K1, ratio) == size_for(Tier.K1, AspectRatio(16, 9))


# --- tiers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tier"), [("1k", Tier.K1), ("1K", Tier.K1), (" 2k ", Tier.K2), ("4K", Tier.K4)]
)
def test_parse_tier(text: str, tier: Tier) -> None:
    assert parse_tier(text) is tier


@pytest.mark.parametrize("text", ["", "3k", "1080p", "k1", "1 k", "4kk", "2048"])
def test_parse_tier_rejects(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_tier(text)
    assert caught.value.code == "bad_resolution"
    assert caught.value.params == {"value": text}


def test_tier_budgets() -> None:
    assert Tier.K1.budget == 1_048_576
    assert Tier.K2.budget == 4_194_304
    assert Tier.K4.budget == 8_294_400
    assert str(Tier.K2) == "2k"


# --- aspect ratios -------------------------------------------------------------------------------


def test_aspect_ratio_basics() -> None:
    ratio = AspectRatio.parse(" 16 : 9 ")
    assert ratio == AspectRatio(16, 9)
    assert str(ratio) == "16:9"
    assert ratio.value == pytest.approx(16 / 9)
    assert ratio.transposed() == AspectRatio(9, 16)


@pytest.mark.parametrize("text", ["1:3", "3:1", "1:1", "300:100", "100:300"])
def test_range_is_inclusive(text: str) -> None:
    assert AspectRatio.parse(text).in_range


BAD_RATIOS = ["", "16", "16:", ":9", "16/9", "16:9:1", "a:b", "0:1", "1:0", "-1:2", "1.5:1", "10001:10000"]


@pytest.mark.parametrize("text", [*BAD_RATIOS, "\u0661\u0666:\u0669"])  # Arabic-Indic digits
def test_bad_ratio(text: str) -> None:
    with pytest.raises(UserError) as caught:
        AspectRatio.parse(text)
    assert caught.value.code == "bad_ratio"
    assert caught.value.params == {"value": text}


@pytest.mark.parametrize("text", ["4:1", "1:4", "301:100", "100:301", "10000:1"])
def test_ratio_out_of_range(text: str) -> None:
    with pytest.raises(UserError) as caught:
        AspectRatio.parse(text)
    assert caught.value.code == "ratio_out_of_range"
    assert caught.value.params == {"value": text, "min": "1:3", "max": "3:1"}


def test_size_for_rejects_out_of_range_ratio() -> None:
    with pytest.raises(UserError) as caught:
        size_for(Tier.K1, AspectRatio(4, 1))
    assert caught.value.code == "ratio_out_of_range"


# --- properties ----------------------------------------------------------------------------------

terms = st.integers(min_value=1, max_value=100)
in_range = st.tuples(terms, terms).filter(lambda wh: 3 * wh[0] >= wh[1] and wh[0] <= 3 * wh[1])
out_of_range = st.tuples(terms, terms).filter(lambda wh: 3 * wh[0] < wh[1] or wh[0] > 3 * wh[1])


@settings(max_examples=200, deadline=None)
@given(wh=in_range, tier=st.sampled_from(list(Tier)))
def test_size_properties(wh: tuple[int, int], tier: Tier) -> None:
    w, h = wh
    ratio = AspectRatio.parse(f"{w}:{h}")
    width, height = size_for(tier, ratio)
    assert width % 16 == 0
    assert height % 16 == 0
    assert 0 < width <= MAX_EDGE
    assert 0 < height <= MAX_EDGE
    assert width * height <= PIXEL_BUDGETS[tier]
    requested = w / h
    assert abs(width / height - requested) / requested <= 0.01 + 1e-12
    assert abs(height / width - 1 / requested) * requested <= 0.01 + 1e-12
    if w != h:
        landscape, portrait = (ratio, ratio.transposed()) if w > h else (ratio.transposed(), ratio)
        lw, lh = size_for(tier, landscape)
        assert size_for(tier, portrait) == (lh, lw)


@settings(max_examples=200, deadline=None)
@given(wh=out_of_range)
def test_out_of_range_properties(wh: tuple[int, int]) -> None:
    text = f"{wh[0]}:{wh[1]}"
    with pytest.raises(UserError) as caught:
        AspectRatio.parse(text)
    assert caught.value.code == "ratio_out_of_range"


@settings(max_examples=200, deadline=None)
@given(wh=in_range, tier=st.sampled_from(list(Tier)))
def test_no_larger_size_fits(wh: tuple[int, int], tier: Tier) -> None:
    """Independent search: no size within 1% of the ratio in both orientations has more pixels."""
    w, h = wh
    width, height = size_for(tier, AspectRatio(w, h))
    r = w / h
    for cand_w in range(16, MAX_EDGE + 1, 16):
        lowest = max(16, math.floor(cand_w / (r * 1.02) / 16) * 16)
        for cand_h in range(lowest, min(MAX_EDGE, math.ceil(cand_w / (r * 0.98))) + 1, 16):
            q = cand_w / cand_h
            fits = cand_w * cand_h <= PIXEL_BUDGETS[tier] and max(q / r, r / q) <= 1.01 - 1e-12
            assert not fits or cand_w * cand_h <= width * height, (cand_w, cand_h)


# --- fixed sizes ---------------------------------------------------------------------------------

FIXED = [(1024, 1024), (1536, 1024), (1024, 1536)]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1360, 768), (1536, 1024)),
        ((768, 1360), (1024, 1536)),
        ((2880, 2880), (1024, 1024)),
        ((1184, 880), (1536, 1024)),
        ((880, 1184), (1024, 1536)),
        ((1100, 1000), (1024, 1024)),
    ],
)
def test_nearest_fixed_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert nearest_fixed_size(*size, FIXED) == expected


def test_nearest_fixed_size_ties_go_to_closest_pixel_count() -> None:
    allowed = [(512, 512), (1024, 1024), (2048, 2048)]
    assert nearest_fixed_size(1100, 1100, allowed) == (1024, 1024)
    assert nearest_fixed_size(1800, 1800, allowed) == (2048, 2048)


def test_nearest_fixed_size_compares_log_ratios() -> None:
    # From 1:1, 19:10 is closer than 1:2 in log terms, though farther in plain W/H difference.
    assert nearest_fixed_size(1000, 1000, [(1000, 2000), (1900, 1000)]) == (1900, 1000)


def test_nearest_fixed_size_needs_choices() -> None:
    with pytest.raises(ValueError, match="no allowed sizes"):
        nearest_fixed_size(1, 1, [])


@pytest.mark.parametrize(
    ("text", "expected"), [("1536x1024", (1536, 1024)), (" 1024X1536 ", (1024, 1536)), ("16×16", (16, 16))]
)
def test_parse_size(text: str, expected: tuple[int, int]) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "1536", "1536x", "x1024", "0x10", "10x0", "a x b", "15.5x2", "1x2x3"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)
