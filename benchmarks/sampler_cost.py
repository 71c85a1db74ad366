"""CPU-seconds per draw of two or more samplers, measured side by side on the same draws.

Each run is a ``rexmol sample`` folder; chunk i of every run holds the same prior draws when the
runs share model, seed and chunk size (checked). The script redraws the chosen chunks of every run
in turn (rounds interleaved, so drift in the machine's load touches all alike), on --threads torch
threads (default one), timing process CPU and wall time, and checks each redraw against the committed chunk
(``chunk_reproducibility.compare_chunk``: largest differences in x and log q, folds). The table
gives each run's median CPU-seconds and wall-seconds per draw and their ratios to the first run's
(on two threads the wall time is what a user waits; run it on an otherwise idle machine). Issue 12's cost
target compares the default sampler with the old default (adaptive Rex(dopri5), divergence
integral) this way, on the same model and draws:

    python benchmarks/sampler_cost.py default=benchmarks/results/ab_cycle2_logsnr_headline \\
        adaptive=benchmarks/results/adaptive_shipped_n1000 --chunks 0 --json-name sampler_cost

Writes results/sampler_cost.json (or --json-name).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.chunk_reproducibility import compare_chunk  # noqa: E402
from benchmarks.common import table, write_json  # noqa: E402
from benchmarks.training_ab import named_dirs  # noqa: E402
from rexmol.flows.jacobian import DEFAULT_TANGENT_METHOD  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="NAME=DIR, the first one the baseline")
    p.add_argument("--chunks", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", type=Path, default=None,
                   help="the model file that drew the runs, if not at the path their settings record (checked by SHA-256)")
    p.add_argument("--json-name", default="sampler_cost")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    runs = dict(named_dirs(a.runs, "runs"))
    if len(runs) != len(a.runs):
        raise SystemExit("each run needs its own name")
    settings = {name: json.loads((Path(d) / "settings.json").read_text()) for name, d in runs.items()}
    first = next(iter(settings.values()))
    for name, s in settings.items():
        for key in ("model_sha256", "seed", "chunk_size"):
            if s[key] != first[key]:
                raise SystemExit(f"{name} differs from the baseline in {key}: its chunks hold other draws")
    load_before = os.getloadavg()
    redraws = {name: [] for name in runs}
    for chunk in a.chunks:
        for name, d in runs.items():
            row = compare_chunk(Path(d), chunk, a.model)
            redraws[name].append(row)
            print(f"chunk {chunk} {name}: {row['cpu_s'] / row['draws']:.2f} CPU-s, "
                  f"{row['wall_s'] / row['draws']:.2f} wall-s per draw, "
                  f"x max diff {row['x_max_abs_diff_nm']:.2g} nm, log q max diff {row['log_q_max_abs_diff_nats']} nats",
                  flush=True)
    per_draw = {name: statistics.median(r["cpu_s"] / r["draws"] for r in rows) for name, rows in redraws.items()}
    wall_per_draw = {name: statistics.median(r["wall_s"] / r["draws"] for r in rows) for name, rows in redraws.items()}
    base, wall_base = per_draw[next(iter(runs))], wall_per_draw[next(iter(runs))]
    rows = [{"run": name, "dir": runs[name], "solver": settings[name]["solver"], "cpu_s_per_draw": per_draw[name],
             "vs_baseline": per_draw[name] / base, "wall_s_per_draw": wall_per_draw[name],
             "wall_vs_baseline": wall_per_draw[name] / wall_base, "redraws": redraws[name]} for name in runs]
    print(table(rows, ["run", "cpu_s_per_draw", "vs_baseline", "wall_s_per_draw", "wall_vs_baseline"]))
    write_json(a.json_name, {"chunks": a.chunks, "threads": a.threads, "cpu_count": os.cpu_count(),
                             "loadavg_1_5_15_before": load_before,
                             "loadavg_1_5_15_after": os.getloadavg(), "rows": rows,
                             # how J_f V was computed for Jacobian-density rows (same draws, different cost)
                             "tangent_method": DEFAULT_TANGENT_METHOD})


if __name__ == "__main__":
    main()
