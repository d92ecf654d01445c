"""What the offline renderer draws: a small scene chosen from the prompt's words, in English or Chinese.

The words pick the time of day, the weather, the ground (sea, mountains, city, forest, desert, snow) and
a subject (an animal or a building) and its colour; the seed places everything. The same words and seed
always give the same scene; a prompt with none of these words still gets hills under a sky.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from PIL import Image, ImageDraw

RGB = tuple[int, int, int]

# Each entry: the words (ASCII ones match at a word's start, others anywhere) that call it up.
WORDS: dict[str, tuple[str, ...]] = {
    "night": ("night", "midnight", "star", "moon", "夜", "星", "月"),
    "dusk": ("dusk", "sunset", "sunrise", "dawn", "evening", "黄昏", "日落", "夕阳", "日出", "傍晚"),
    "snow": ("snow", "winter", "ice", "frost", "雪", "冬", "冰"),
    "rain": ("rain", "storm", "雨", "暴风"),
    "sea": ("sea", "ocean", "wave", "beach", "lake", "river", "coast", "海", "浪", "湖", "河", "江"),
    "mountains": ("mountain", "hill", "cliff", "peak", "valley", "山", "峰", "谷"),
    "city": ("city", "town", "street", "skyline", "building", "tokyo", "城", "街", "楼", "东京", "都市"),
    "forest": ("forest", "tree", "wood", "jungle", "森", "林", "树"),
    "desert": ("desert", "sand", "dune", "沙"),
    "flowers": ("flower", "garden", "blossom", "rose", "花"),
    "animal": (
        "fox",
        "cat",
        "dog",
        "wolf",
        "bear",
        "deer",
        "rabbit",
        "horse",
        "tiger",
        "lion",
        "kitten",
        "puppy",
        "狐",
        "猫",
        "狗",
        "狼",
        "熊",
        "鹿",
        "兔",
        "马",
        "虎",
        "狮",
    ),
    "bird": ("bird", "eagle", "owl", "crow", "dragon", "鸟", "鹰", "龙"),
    "tower": ("lighthouse", "tower", "castle", "house", "temple", "church", "灯塔", "塔", "城堡", "房", "庙"),
}
COLOURS: dict[RGB, tuple[str, ...]] = {
    (214, 58, 38): ("red", "crimson", "红"),
    (240, 130, 40): ("orange", "橙", "橘"),
    (244, 204, 64): ("yellow", "gold", "黄", "金"),
    (70, 170, 80): ("green", "绿"),
    (52, 110, 210): ("blue", "蓝"),
    (130, 80, 190): ("purple", "violet", "紫"),
    (240, 140, 180): ("pink", "粉"),
    (245, 245, 245): ("white", "白"),
    (30, 30, 34): ("black", "黑"),
}


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    return any(
        re.search(rf"\b{word}", text) if word.isascii() else word in text  # "red" is not in "covered"
        for word in words
    )


@dataclass(frozen=True, slots=True)
class Scene:
    """The elements the prompt's words asked for."""

    elements: frozenset[str]
    colour: RGB | None  # the subject's colour, when a colour word is in the prompt

    @classmethod
    def of(cls, words: str) -> Scene:
        text = words.lower()
        elements = frozenset(name for name, keys in WORDS.items() if _mentions(text, keys))
        colour = next((rgb for rgb, keys in COLOURS.items() if _mentions(text, keys)), None)
        return cls(elements, colour)

    def sky(self, top: RGB, bottom: RGB) -> tuple[RGB, RGB]:
        if "night" in self.elements:
            return (8, 12, 36), (44, 52, 96)
        if "dusk" in self.elements:
            return (58, 42, 96), (246, 150, 86)
        if "snow" in self.elements:
            return (150, 172, 200), (232, 238, 244)
        return top, bottom


def paint_scene(
    layer: Image.Image, scene: Scene, colours: list[RGB], rng: random.Random, outline: RGB | None
) -> None:
    """Draws the scene on a transparent RGBA layer (small: it is scaled up afterwards)."""
    w, h = layer.size
    draw = ImageDraw.Draw(layer)
    short = min(w, h)
    el = scene.elements
    horizon = h * rng.uniform(0.58, 0.66)
    if "night" in el:
        for _ in range(int(w * h / 300) + 8):
            x, y = rng.uniform(0, w), rng.uniform(0, horizon * 0.9)
            r = rng.choice((0.5, 0.8, 1.2))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 230, rng.randint(140, 255)))
    # The sun, or the moon at night: a disc and, for the moon, the sky's colour biting a crescent.
    orb_r = rng.uniform(0.06, 0.1) * short
    ox, oy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.12, 0.32) * h
    orb = (250, 246, 220, 255) if "night" in el else (*colours[-1], 235)
    draw.ellipse((ox - orb_r, oy - orb_r, ox + orb_r, oy + orb_r), fill=orb)
    if "night" in el:
        bite = orb_r * 0.8
        box = (ox - bite + orb_r * 0.5, oy - bite - orb_r * 0.2, ox + bite + orb_r * 0.5, oy + bite)
        draw.ellipse(box, fill=(0, 0, 0, 0))  # drawing replaces pixels: the sky shows through
    else:
        for _ in range(rng.randint(2, 4)):  # clouds
            cx, cy = rng.uniform(0, w), rng.uniform(0.08, 0.4) * h
            cw, ch = rng.uniform(0.12, 0.25) * w, rng.uniform(0.03, 0.06) * h
            draw.ellipse((cx - cw, cy - ch, cx + cw, cy + ch), fill=(255, 255, 255, 120))
    _ground(draw, scene, colours, rng, (w, h), horizon, outline)
    _subject(draw, scene, colours, rng, (w, h), horizon, outline)
    if "snow" in el:
        for _ in range(int(w * h / 120) + 10):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.choice((0.6, 1.0, 1.5))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 220))
    if "rain" in el:
        for _ in range(int(w * h / 200) + 10):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            draw.line((x, y, x - 2, y + 7), fill=(200, 215, 235, 150), width=1)


def _ground(
    draw: ImageDraw.ImageDraw,
    scene: Scene,
    colours: list[RGB],
    rng: random.Random,
    size: tuple[int, int],
    horizon: float,
    outline: RGB | None,
) -> None:
    w, h = size
    el = scene.elements
    if "mountains" in el:
        for layer in range(3):
            base = horizon + layer * h * 0.03
            peak_x, peak_h = rng.uniform(0, w), rng.uniform(0.2, 0.38) * h
            half = rng.uniform(0.3, 0.55) * w
            shade = tuple(max(0, c - 30 * (2 - layer)) for c in colours[layer % len(colours)])
            peak = (peak_x, base - peak_h)
            draw.polygon(
                [(peak_x - half, base), peak, (peak_x + half, base)], fill=(*shade, 255), outline=outline
            )
            if "snow" in el:
                cap = peak_h * 0.3
                left, right = (
                    (peak_x - half * 0.3, base - peak_h + cap),
                    (peak_x + half * 0.3, base - peak_h + cap),
                )
                draw.polygon([left, peak, right], fill=(250, 250, 255, 255))
    if "city" in el:
        x = 0.0
        while x < w:
            bw, bh = rng.uniform(0.05, 0.11) * w, rng.uniform(0.12, 0.42) * h
            top = horizon - bh
            draw.rectangle((x, top, x + bw, horizon + 2), fill=(*_dark(colours[0]), 255), outline=outline)
            for wy in range(int(top) + 3, int(horizon) - 2, 4):
                for wx in range(int(x) + 2, int(x + bw) - 2, 4):
                    if rng.random() < 0.45:
                        draw.rectangle((wx, wy, wx + 1, wy + 1), fill=(255, 214, 120, 255))
            x += bw + rng.uniform(0, 0.02) * w
    ground = (236, 240, 246) if "snow" in el else (222, 190, 130) if "desert" in el else colours[0]
    low, high = (0.0, 0.02) if "sea" in el or "city" in el else (-0.04, 0.05)
    line = [(i * w / 10, horizon + h * rng.uniform(low, high)) for i in range(11)]
    draw.polygon([(0, h), *line, (w, h)], fill=(*ground, 255), outline=outline)
    if "sea" in el:
        sea_top = horizon + h * 0.02
        draw.rectangle((0, sea_top, w, h), fill=(34, 92, 150, 255))
        for row in range(int(sea_top) + 3, h, 5):
            for _ in range(max(1, w // 24)):
                x = rng.uniform(0, w)
                draw.arc((x, row, x + 8, row + 3), 180, 360, fill=(190, 225, 245, 200))
    if "forest" in el:
        for _ in range(max(6, w // 8)):
            x, base = rng.uniform(0, w), horizon + rng.uniform(-0.01, 0.12) * h
            th, tw = rng.uniform(0.08, 0.18) * h, rng.uniform(0.02, 0.04) * w
            green = (*_dark((40, 110, 60)), 255)
            draw.polygon([(x - tw, base), (x, base - th), (x + tw, base)], fill=green, outline=outline)
            if "snow" in el:
                draw.polygon(
                    [(x - tw * 0.4, base - th * 0.6), (x, base - th), (x + tw * 0.4, base - th * 0.6)],
                    fill=(250, 250, 255, 255),
                )
    if "flowers" in el:
        for _ in range(max(10, w // 3)):
            x, y = rng.uniform(0, w), rng.uniform(horizon + 0.03 * h, h)
            r = rng.uniform(0.6, 1.6)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(*rng.choice(list(COLOURS)[:7]), 255))


def _dark(colour: RGB) -> RGB:
    r, g, b = (c * 2 // 5 for c in colour)
    return r, g, b


def _subject(
    draw: ImageDraw.ImageDraw,
    scene: Scene,
    colours: list[RGB],
    rng: random.Random,
    size: tuple[int, int],
    horizon: float,
    outline: RGB | None,
) -> None:
    """An animal, a bird or a tower standing on the horizon, in the prompt's colour if it names one."""
    w, h = size
    el = scene.elements
    fill = (*(scene.colour or colours[-1]), 255)
    s = min(w, h) * rng.uniform(0.16, 0.22)
    x, ground = rng.uniform(0.3, 0.7) * w, horizon + h * 0.12
    if "tower" in el:
        draw.polygon(
            [
                (x - s * 0.25, ground),
                (x - s * 0.15, ground - s * 1.6),
                (x + s * 0.15, ground - s * 1.6),
                (x + s * 0.25, ground),
            ],
            fill=fill,
            outline=outline,
        )
        draw.rectangle(
            (x - s * 0.2, ground - s * 1.85, x + s * 0.2, ground - s * 1.6), fill=(255, 236, 150, 255)
        )
        draw.polygon(
            [(x - s * 0.25, ground - s * 1.85), (x, ground - s * 2.1), (x + s * 0.25, ground - s * 1.85)],
            fill=(*_dark(fill[:3]), 255),
        )
        x = rng.choice((0.2, 0.8)) * w  # an animal keeps clear of the tower
    if "animal" in el:
        body = (x - s * 0.6, ground - s * 0.55, x + s * 0.4, ground - s * 0.05)
        draw.ellipse(body, fill=fill, outline=outline)
        draw.polygon(
            [
                (x - s * 0.5, ground - s * 0.3),
                (x - s * 1.1, ground - s * 0.6),
                (x - s * 0.9, ground - s * 0.15),
            ],
            fill=fill,
            outline=outline,
        )  # the tail
        head = (x + s * 0.2, ground - s * 0.85, x + s * 0.65, ground - s * 0.4)
        draw.ellipse(head, fill=fill, outline=outline)
        for ear in (0.27, 0.47):
            ex = x + s * ear
            draw.polygon(
                [
                    (ex, ground - s * 0.75),
                    (ex + s * 0.08, ground - s * 1.02),
                    (ex + s * 0.16, ground - s * 0.75),
                ],
                fill=fill,
                outline=outline,
            )
        for leg in (-0.4, -0.2, 0.1, 0.25):
            draw.rectangle(
                (x + s * leg, ground - s * 0.15, x + s * (leg + 0.07), ground + s * 0.05), fill=fill
            )
        draw.ellipse(
            (x + s * 0.5, ground - s * 0.68, x + s * 0.55, ground - s * 0.63), fill=(20, 20, 20, 255)
        )
    if "bird" in el:
        bx, by = rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.35) * h
        for side in (-1, 1):
            draw.polygon(
                [(bx, by), (bx + side * s * 0.6, by - s * 0.25), (bx + side * s * 0.3, by + s * 0.05)],
                fill=fill,
                outline=outline,
            )
