"""What the business decides and the operator configures: prices, trial, generation limits.

Typed sections of the configuration that the core uses directly; `bot.config` composes them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from core.generation.sizes import Tier, parse_size


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Prices(Section):
    k1: PositiveInt = Field(10, alias="1k")
    k2: PositiveInt = Field(20, alias="2k")
    k4: PositiveInt = Field(40, alias="4k")

    def for_tier(self, tier: Tier) -> int:
        return {Tier.K1: self.k1, Tier.K2: self.k2, Tier.K4: self.k4}[tier]


class CreditSettings(Section):
    trial: Annotated[int, Field(ge=0)] = 40
    free_max_res: Tier = Tier.K4  # the highest tier for accounts that never paid
    prices: Prices = Field(default_factory=Prices)


class GenerationSettings(Section):
    provider: Literal["auto", "openai", "local"] = "auto"
    model: str = "gpt-image-2"
    models: list[str] = Field(default_factory=lambda: ["gpt-image-2", "gpt-image-1.5", "gpt-image-1"])
    fixed_sizes: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "gpt-image-1.5": ["1024x1024", "1536x1024", "1024x1536"],
            "gpt-image-1": ["1024x1024", "1536x1024", "1024x1536"],
        }
    )
    quality: Literal["auto", "low", "medium", "high"] = "auto"
    concurrency: PositiveInt = 4
    # OpenAI's usage tier 1 (the lowest paid one) for the gpt-image models: 5 images a minute
    provider_images_per_minute: Annotated[int, Field(ge=0)] = 5
    lease_s: Annotated[float, Field(gt=0)] = 30.0
    max_running_jobs_per_user: PositiveInt = 2
    max_queued_jobs_per_user: PositiveInt = 10
    # Jobs of accounts that bought something are claimed first; a trial job waits at most this many
    # times as long as the paid lane's oldest job before its lane goes first.
    trial_wait_multiple: Annotated[float, Field(ge=1)] = 3.0
    max_attempts: PositiveInt = 3
    retry_backoff_s: Annotated[float, Field(ge=0)] = 5.0
    retry_backoff_max_s: Annotated[float, Field(ge=0)] = 30.0
    partial_images: Annotated[int, Field(ge=0, le=3)] = 2
    timeout_s: Annotated[float, Field(gt=0)] = 300.0
    max_prompt_chars: PositiveInt = 4000
    max_images_per_request: Annotated[int, Field(ge=1, le=10)] = 4
    max_reference_images: Annotated[int, Field(ge=0, le=16)] = 4
    max_reference_bytes: PositiveInt = 20 * 1024 * 1024
    max_concurrent_decodes: PositiveInt = 1  # each may hold ~250 MB: core/generation/references.py
    safety_strikes: PositiveInt = 5
    local_step_delay_s: Annotated[float, Field(ge=0)] = 0.4
    # With several provider endpoints: this many failures in a row (429, 5xx, timeouts, broken
    # streams) take one out for breaker_open_s, then a single probe call decides whether it is back.
    breaker_failures: PositiveInt = 3
    breaker_open_s: Annotated[float, Field(gt=0)] = 60.0

    @field_validator("fixed_sizes")
    @classmethod
    def _sizes_parse(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for sizes in value.values():
            for size in sizes:
                parse_size(size)
        return value

    @model_validator(mode="after")
    def _default_model_allowed(self) -> GenerationSettings:
        if self.model not in self.models:
            raise ValueError(f"generation.model {self.model!r} must be one of generation.models")
        return self

    def fixed_sizes_for(self, model: str) -> list[tuple[int, int]]:
        return [parse_size(size) for size in self.fixed_sizes.get(model, [])]


class CodeSettings(Section):
    """`/redeem`: how many codes that credit nothing an account may type in an hour before it waits."""

    failures_per_hour: Annotated[int, Field(ge=1, le=100)] = 5


class ReferralSettings(Section):
    """`/invite`: what the inviter and the invitee each receive after the invitee's first purchase."""

    enabled: bool = True
    inviter_credits: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    invitee_credits: Annotated[int, Field(ge=0, le=1_000_000)] = 50
