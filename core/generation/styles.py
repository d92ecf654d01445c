"""Styles wrap the user's prompt in a template; `none` sends the prompt as written."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Style(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    labels: dict[str, str] = Field(default_factory=dict)
    template: str = "{prompt}"

    @field_validator("template")
    @classmethod
    def _has_prompt(cls, template: str) -> str:
        if "{prompt}" not in template:
            raise ValueError("the template must contain {prompt}")
        return template

    def apply(self, prompt: str) -> str:
        # str.replace, not str.format: a prompt may contain braces of its own.
        return self.template.replace("{prompt}", prompt)

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels.get("en") or self.name


def _style(name: str, en: str, zh: str, template: str) -> Style:
    return Style(name=name, labels={"en": en, "zh-CN": zh}, template=template)


DEFAULT_STYLES: tuple[Style, ...] = (
    _style(
        "photo",
        "Photo",
        "照片",
        "{prompt}. Photorealistic photograph, natural light, sharp focus, realistic textures.",
    ),
    _style(
        "anime", "Anime", "动漫", "{prompt}. Anime illustration, clean line art, cel shading, vibrant colors."
    ),
    _style(
        "cinema",
        "Cinema",
        "电影",
        "{prompt}. Cinematic film still, dramatic lighting, anamorphic lens, color graded.",
    ),
    _style(
        "illustration",
        "Illustration",
        "插画",
        "{prompt}. Detailed digital illustration, expressive brushwork, rich palette.",
    ),
    _style(
        "3d",
        "3D render",
        "3D 渲染",
        "{prompt}. 3D render, soft global illumination, physically based materials.",
    ),
    _style(
        "watercolor",
        "Watercolor",
        "水彩",
        "{prompt}. Watercolor painting on textured paper, soft washes, visible pigment blooms.",
    ),
    _style(
        "pixel",
        "Pixel art",
        "像素",
        "{prompt}. Pixel art, limited palette, crisp pixels, retro game aesthetic.",
    ),
    _style("none", "None (as written)", "无（按原文）", "{prompt}"),
)


class StyleBook:
    """The configured styles by name."""

    def __init__(self, styles: list[Style]) -> None:
        self._by_name = {style.name: style for style in styles}

    def get(self, name: str) -> Style | None:
        return self._by_name.get(name.lower())

    def label_of(self, name: str, language: str) -> str:
        """A style as a user reads it: its label in their language (one since removed: its name)."""
        style = self.get(name)
        return style.label(language) if style else name

    def find(self, word: str) -> Style | None:
        """The style a user means by `word`: its name or its label in any language, whatever the case
        or spacing (`动漫`, `Pixel Art`, `3d渲染`)."""
        wanted = _folded(word)
        by_name = next((style for style in self._by_name.values() if wanted == _folded(style.name)), None)
        by_label = (
            style
            for style in self._by_name.values()
            if any(wanted == _folded(label) for label in style.labels.values())
        )
        return by_name or next(by_label, None)

    def words(self) -> list[str]:
        """Every name and label a style may be asked for by, names first."""
        labels = [label for style in self._by_name.values() for label in style.labels.values()]
        return list(dict.fromkeys([*self._by_name, *labels]))

    def names(self) -> list[str]:
        return list(self._by_name)

    def all(self) -> list[Style]:
        return list(self._by_name.values())


def _folded(word: str) -> str:
    return "".join(word.casefold().split())
