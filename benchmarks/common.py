"""Shared helpers for benchmarks: tables on stdout, JSON written atomically, median timing."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from rexmol.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"


def environment() -> dict:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def write_json(name: str, payload: dict, out_dir: Path = RESULTS) -> Path:
    """Write ``payload`` (plus the environment) to out_dir/name.json via a temp file and rename."""
    return atomic_write_json(Path(out_dir) / f"{name}.json", {"environment": environment(), **payload})


def table(rows: list[dict], columns: list[str] | None = None, floatfmt: str = "{:.3g}") -> str:
    """A plain-text table of dicts (markdown-compatible)."""
    columns = columns or list(rows[0])

    def fmt(v):
        return floatfmt.format(v) if isinstance(v, float) else str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn() in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
