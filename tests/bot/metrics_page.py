"""Reads a /metrics page the way Prometheus does."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.bot.ops_apps import get


class Page:
    def __init__(self, text: str) -> None:
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The sample `name` whose labels include `labels`; None when there is none."""
        for sample in self.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return sample.value
        return None

    def label_values(self) -> set[str]:
        return {value for sample in self.samples for value in sample.labels.values()}


async def scrape(base: str) -> Page:
    status, text = await get(f"{base}/metrics")
    assert status == 200, text
    return Page(text)
