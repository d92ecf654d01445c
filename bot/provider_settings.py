"""`[[providers]]`: several image provider endpoints, each with its own key, base URL, models, weight
and limits; and how the single `[openai]` section (or the offline renderer) reads as one of them."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from core.policy import Section

NAME = r"^[a-z0-9][a-z0-9_.-]{0,31}$"


class OpenAISettings(Section):
    """`[openai]`: the single endpoint, when no `[[providers]]` are listed."""

    api_key: SecretStr | None = Field(default=None, validate_default=True)
    base_url: str | None = None
    moderation: bool = True

    @field_validator("api_key", mode="before")
    @classmethod
    def _fall_back_to_env(cls, value: Any) -> Any:
        return value or os.environ.get("OPENAI_API_KEY") or None


class ProviderEntry(Section):
    """One endpoint. `models` empty: it serves every model; limits of 0: none."""

    name: str = Field(pattern=NAME, description="unique; shown in metrics and `admin providers`")
    kind: Literal["openai", "azure", "local"] = "openai"
    api_key: SecretStr | None = None
    base_url: str | None = Field(
        default=None, description="openai: any OpenAI-compatible API; azure: required"
    )
    api_version: str | None = Field(default=None, description="azure only, e.g. 2025-04-01-preview")
    models: list[str] = Field(default_factory=list)
    weight: Annotated[float, Field(gt=0)] = 1.0
    images_per_minute: Annotated[int, Field(ge=0)] = 0
    concurrent: Annotated[int, Field(ge=0)] = 0
    moderation: bool = Field(default=True, description="default off for kind 'azure', which refuses it")

    @model_validator(mode="before")
    @classmethod
    def _azure_moderates_itself(cls, data: Any) -> Any:
        """Azure OpenAI filters content itself and serves no moderations endpoint: off unless set."""
        if isinstance(data, dict) and data.get("kind") == "azure" and "moderation" not in data:
            return {**data, "moderation": False}
        return data

    @model_validator(mode="after")
    def _complete(self) -> ProviderEntry:
        if self.kind in ("openai", "azure") and self.api_key is None:
            raise ValueError(f"provider {self.name!r} is of kind {self.kind!r}: set its api_key")
        if self.kind == "azure" and (self.base_url is None or self.api_version is None):
            raise ValueError(f"provider {self.name!r} is of kind 'azure': set its base_url and api_version")
        if self.kind == "azure" and self.moderation:
            raise ValueError(
                f"provider {self.name!r} is of kind 'azure': remove moderation = true, Azure serves no"
                " moderation endpoint (it filters content itself)"
            )
        if self.kind != "azure" and self.api_version is not None:
            raise ValueError(f"provider {self.name!r}: api_version is for kind 'azure' only")
        return self


def check_entries(entries: list[ProviderEntry], models: list[str]) -> None:
    """Names are unique and every model a user may ask for is served by some entry."""
    names = [entry.name for entry in entries]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"providers: each name may be used once, not {twice}")
    if unserved := [m for m in models if not any(not e.models or m in e.models for e in entries)]:
        raise ValueError(f"providers: no entry serves generation.models {unserved} (list them in its models)")
