"""Resolution tiers, aspect ratios and the pixel sizes they map to. Pure functions, no I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

from core.errors import UserError

MAX_EDGE = 3840
"""No generated edge may be longer than this, whatever the tier."""

STEP = 16
"""Both edges are multiples of this."""

RATIO_TOLERANCE = Fraction(1, 100)
"""The size's W/H may differ from the requested r by at most a factor of 1 + this, either way.

That is |W/H - r| / r <= 1% *and* |H/W - 1/r| / (1/r) <= 1%, so the 1% promise holds whichever
orientation it is measured in, and portrait sizes can simply be landscape sizes transposed.
"""

MAX_RATIO_TERM = 10_000
"""W and H of a user's "W:H" above this are rejected as malformed."""


class Tier(StrEnum):
    K1 = "1k"
    K2 = "2k"
    K4 = "4k"

    @property
    def budget(self) -> int:
        """The most pixels (W·H) an image of this tier may have."""
        return PIXEL_BUDGETS[self]


PIXEL_BUDGETS: dict[Tier, int] = {
    Tier.K1: 1_048_576,  # 1024²
    Tier.K2: 4_194_304,  # 2048²
    Tier.K4: 8_294_400,  # 3840×2160
}


def tier_for_pixels(pixels: int) -> Tier:
    """The smallest tier whose budget holds `pixels` (4k for anything larger)."""
    return next((tier for tier in Tier if pixels <= tier.budget), Tier.K4)


def lower_tier(first: Tier, second: Tier) -> Tier:
    return min(first, second, key=lambda tier: tier.budget)


def parse_tier(text: str) -> Tier:
    """Parse "1k", "2K", " 4k " into a Tier; anything else is the user's mistake."""
    try:
        return Tier(text.strip().lower())
    except ValueError:
        raise UserError("bad_resolution", value=text) from None


MIN_RATIO = (1, 3)
MAX_RATIO = (3, 1)

_RATIO_RE = re.compile(r"\s*(\d{1,9})\s*:\s*(\d{1,9})\s*", re.ASCII)


@dataclass(frozen=True)
class AspectRatio:
    """A width:height ratio as the user wrote it (16:9 stays 16:9, 32:18 stays 32:18)."""

    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"aspect ratio terms must be positive, got {self.width}:{self.height}")

    @property
    def value(self) -> float:
        return self.width / self.height

    def __str__(self) -> str:
        return f"{self.width}:{self.height}"

    def transposed(self) -> AspectRatio:
        return AspectRatio(self.height, self.width)

    def reduced(self) -> AspectRatio:
        g = math.gcd(self.width, self.height)
        return AspectRatio(self.width // g, self.height // g)

    @property
    def in_range(self) -> bool:
        """Within 1:3 .. 3:1, both ends included."""
        (lo_w, lo_h), (hi_w, hi_h) = MIN_RATIO, MAX_RATIO
        return self.width * lo_h >= lo_w * self.height and self.width * hi_h <= hi_w * self.height

    @classmethod
    def parse(cls, text: str) -> AspectRatio:
        match = _RATIO_RE.fullmatch(text)
        if match is None:
            raise UserError("bad_ratio", value=text)
        width, height = int(match[1]), int(match[2])
        if not (0 < width <= MAX_RATIO_TERM and 0 < height <= MAX_RATIO_TERM):
            raise UserError("bad_ratio", value=text)
        ratio = cls(width, height)
        if not ratio.in_range:
            raise _out_of_range(text)
        return ratio


def _out_of_range(value: str) -> UserError:
    return UserError(
        "ratio_out_of_range",
        value=value,
        min=f"{MIN_RATIO[0]}:{MIN_RATIO[1]}",
        max=f"{MAX_RATIO[0]}:{MAX_RATIO[1]}",
    )


def size_for(tier: Tier, ratio: AspectRatio) -> tuple[int, int]:
    """The largest W×H of `tier` matching `ratio` within 1%, both edges multiples of 16, none above 3840.

    Largest by pixel count; ties go to the ratio closest to the requested one. Portrait sizes are
    the landscape ones transposed (see RATIO_TOLERANCE for why that keeps the 1% promise).
    """
    if not ratio.in_range:
        raise _out_of_range(str(ratio))
    reduced = ratio.reduced()
    if reduced.width >= reduced.height:
        return _landscape_size(Tier(tier), reduced.width, reduced.height)
    width, height = _landscape_size(Tier(tier), reduced.height, reduced.width)
    return height, width


@lru_cache(maxsize=1024)
def _landscape_size(tier: Tier, a: int, b: int) -> tuple[int, int]:
    """Best size for r = a/b >= 1 (a, b coprime); exact integer arithmetic throughout."""
    budget = tier.budget
    grow = 1 + RATIO_TOLERANCE  # W/H must lie in [r / grow, r * grow]
    best: tuple[int, Fraction, int] | None = None  # (area, -ratio error factor, width)
    for width in range(STEP, MAX_EDGE + 1, STEP):
        # Tallest H within the budget, the edge cap and W/H >= r / grow  <=>  H <= W·b·grow / a.
        h_ratio_cap = width * b * grow.numerator // (a * grow.denominator)
        height = min(MAX_EDGE, budget // width, h_ratio_cap) // STEP * STEP
        if height <= 0 or (best is not None and width * height < best[0]):
            continue
        # How far W/H = W·b / (a·H) is from r, as a factor >= 1; the cap above bounds the low side.
        error = Fraction(max(width * b, a * height), min(width * b, a * height))
        if error > grow:
            continue
        key = (width * height, -error, width)
        if best is None or key > best:
            best = key
    if best is None:  # unreachable for ratios in 1:3..3:1, kept as a loud guard
        raise ValueError(f"no {tier} size for ratio {a}:{b}")
    area, _, width = best
    return width, area // width


def nearest_fixed_size(width: int, height: int, allowed: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """For models with fixed sizes: the allowed size closest in aspect ratio, then in pixel count."""
    if not allowed:
        raise ValueError("no allowed sizes")
    target_log = math.log(width / height)
    area = width * height
    return min(allowed, key=lambda s: (abs(math.log(s[0] / s[1]) - target_log), abs(s[0] * s[1] - area)))


_SIZE_RE = re.compile(r"\s*(\d{1,9})\s*[x×]\s*(\d{1,9})\s*", re.ASCII | re.IGNORECASE)


def parse_size(text: str) -> tuple[int, int]:
    """Parse "1536x1024" into (1536, 1024); raises ValueError on anything else."""
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a WIDTHxHEIGHT size: {text!r}")
    width, height = int(match[1]), int(match[2])
    if width <= 0 or height <= 0:
        raise ValueError(f"size edges must be positive: {text!r}")
    return width, height
