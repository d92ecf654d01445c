"""`python -m bench [NAME ...]` (`make bench`): runs the benchmarks (all of them unless named), prints the
table of figures with their targets and writes bench/results.json. Offline: everything outside the
bot is a test double from tests/fakes, served by a process of its own (bench/doubles.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    burst,
    claim,
    discord_burst,
    hostile_web,
    image,
    image_memory,
    job_life,
    lanes,
    ledger,
    memory,
    overhead,
    pipeline,
    saturation,
    scale,
    send_rate,
)
from bench.common import Figure
from bench.doubles import RemoteDoubles, remote_doubles

RESULTS = Path(__file__).with_name("results.json")
BUSY_LOAD = 1.0


def _with_doubles(
    run: Callable[[RemoteDoubles], Awaitable[list[Figure]]], **options: Any
) -> Callable[[], Awaitable[list[Figure]]]:
    """The benchmark, given a doubles process started with `options` for it alone."""

    async def started() -> list[Figure]:
        async with remote_doubles(**options) as doubles:
            return await run(doubles)

    return started


async def _image() -> list[Figure]:
    return await asyncio.to_thread(image.run)


BENCHMARKS: dict[str, Callable[[], Awaitable[list[Figure]]]] = {
    "overhead": _with_doubles(overhead.run),
    "burst": _with_doubles(burst.run, openai_latency_s=burst.PROVIDER_LATENCY_S),
    "saturation": _with_doubles(saturation.run, **saturation.doubles_options()),
    "saturation_pool": _with_doubles(saturation.run_pool, **saturation.doubles_options(endpoints=2)),
    "ledger": ledger.run,
    "memory": _with_doubles(memory.run),
    "image": _image,
    "hostile_web": hostile_web.run,
    "image_memory": image_memory.run,
    "job_life": _with_doubles(job_life.run, openai_latency_s=job_life.PROVIDER_LATENCY_S),
    "discord_burst": _with_doubles(discord_burst.run, openai_latency_s=discord_burst.PROVIDER_LATENCY_S),
    "send_rate": _with_doubles(send_rate.run),
    "claim": claim.run,
    "scale": scale.run,
    "pipeline": _with_doubles(pipeline.run, openai_latency_s=pipeline.PROVIDER_LATENCY_S),
    "lanes": lanes.run,
}


async def _run_all(names: list[str]) -> tuple[list[Figure], dict[str, float]]:
    figures: list[Figure] = []
    seconds: dict[str, float] = {}
    for name in names:
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            figures.extend(await BENCHMARKS[name]())
        except Exception as error:
            traceback.print_exc()
            figures.append(Figure(key=name, title=name, value=f"error: {error}"[:60], met=False))
        seconds[name] = time.perf_counter() - start
    return figures, seconds


def _table(figures: list[Figure]) -> str:
    rows = [("benchmark", "result", "target", "verdict")]
    rows += [(figure.title, figure.value, figure.target, figure.verdict) for figure in figures]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(BENCHMARKS)}")
    names = parser.parse_args().names or list(BENCHMARKS)
    if unknown := sorted(set(names) - set(BENCHMARKS)):
        parser.error(f"unknown benchmark: {', '.join(unknown)}")
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    load = os.getloadavg()[0]
    if load > BUSY_LOAD:
        print(f"bench: the machine is busy (load {load:.1f}): figures will be worse", file=sys.stderr)
    start = time.perf_counter()
    figures, seconds = asyncio.run(_run_all(names))
    total = time.perf_counter() - start
    print()
    print(_table(figures))
    print(f"\n{len(figures)} figures in {total:.0f} s (load average before: {load:.2f})")
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load,
        },
        "seconds": {**seconds, "total": total},
        "figures": [asdict(figure) | {"verdict": figure.verdict} for figure in figures],
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {RESULTS}")
    return 1 if any(figure.value.startswith("error") for figure in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
