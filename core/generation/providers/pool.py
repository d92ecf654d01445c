"""Several image provider endpoints as one: each with the models it serves, a weight and its limits.

The pool only knows the endpoints and the order to try them in (by weight, at random); which one a job
may use now (its window, its concurrent calls, its circuit breaker) is decided in the database, where
every worker process sees the same figures (`core.db.repositories.endpoints`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.generation.providers.base import ImageProvider, TransientProviderError


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One configured provider endpoint. Limits of 0 are no limit; no models is every model."""

    name: str
    provider: ImageProvider
    models: frozenset[str] = frozenset()
    weight: float = 1.0
    images_per_minute: int = 0
    concurrent: int = 0

    def serves(self, model: str) -> bool:
        return not self.models or model in self.models


@dataclass(slots=True)
class ProviderPool:
    """The endpoints, in the order they were configured; `rng` is seeded by tests."""

    endpoints: Sequence[Endpoint]
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        names = [endpoint.name for endpoint in self.endpoints]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a provider pool needs endpoints with unique names, not {names}")

    @classmethod
    def single(cls, provider: ImageProvider, *, images_per_minute: int = 0) -> ProviderPool:
        """One provider as a pool of one endpoint named after it (the single `[openai]` setup)."""
        return cls([Endpoint(provider.name, provider, images_per_minute=images_per_minute)])

    @property
    def name(self) -> str:
        return "+".join(endpoint.name for endpoint in self.endpoints)

    def get(self, name: str) -> Endpoint:
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(name)

    def order(self, exclude: Iterable[str] = ()) -> list[Endpoint]:
        """Every endpoint not excluded, in a random order where heavier ones tend to come first: each
        is first with a chance proportional to its weight (Efraimidis-Spirakis keys)."""
        skipped = set(exclude)
        candidates = [endpoint for endpoint in self.endpoints if endpoint.name not in skipped]
        keys = {endpoint.name: self.rng.random() ** (1.0 / endpoint.weight) for endpoint in candidates}
        return sorted(candidates, key=lambda endpoint: keys[endpoint.name], reverse=True)

    async def check_prompt(self, prompt: str, safety_identifier: str) -> bool:
        """The first endpoint that can answer decides (a rate-limited one hands over to the next)."""
        *first, last = self.endpoints
        for endpoint in first:
            try:
                return await endpoint.provider.check_prompt(prompt, safety_identifier)
            except TransientProviderError:
                continue
        return await last.provider.check_prompt(prompt, safety_identifier)

    async def close(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.provider.close()
