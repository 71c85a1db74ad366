"""How exactly a committed chunk of a ``rexmol sample`` run is reproduced when drawn again here.

Chunk i of a run depends only on (model bytes, seed, i, chunk size, solver), which is what lets
``--reuse-chunks`` grow a run from another one. This redraws chunk ``--chunk-index`` of ``--run``
from its settings.json (the model file is checked against the recorded SHA-256) and compares it
with the committed file: the largest differences in x (nm) and in log q (nats), and whether the
same draws folded. Bitwise equality is not expected across machines or library builds (float32
reductions, thread counts); float32 round-off is.

Writes results/chunk_reproducibility.json (or --json-name).

    python benchmarks/chunk_reproducibility.py --run benchmarks/results/ab_cycle2_logsnr_headline
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec  # noqa: E402
from rexmol.boltzmann.sampling import chunk_seed, load_model_for  # noqa: E402
from rexmol.model.checkpoint import model_sha256  # noqa: E402


def compare_chunk(run: Path, index: int, model: Path | None = None) -> dict:
    """Redraw chunk ``index`` of ``run`` and compare it with the committed one. ``model``: the file
    that drew the run, where it is no longer at the path its settings.json records (a model that has
    since been replaced at models/ala3_dit.pt); either way its SHA-256 must be the recorded one."""
    settings = json.loads((run / "settings.json").read_text())
    model = Path(model or settings["model"])
    if not model.is_file():
        raise SystemExit(f"{model} (the model that drew {run}) does not exist")
    if model_sha256(model) != settings["model_sha256"]:
        raise SystemExit(f"{model} is not the file that drew {run} (SHA-256 {settings['model_sha256'][:12]}...); "
                         "if that file has moved, pass its new path")
    committed = np.load(run / "chunks" / f"chunk_{index:05d}.npz")
    m = len(committed["log_q"])
    generator = BoltzmannGenerator(load_model_for(model), SolverSpec(**settings["solver"]))
    t0, wall0 = time.process_time(), time.perf_counter()
    draw = generator.sample(m, chunk_seed(settings["seed"], index))
    cpu_s, wall_s = time.process_time() - t0, time.perf_counter() - wall0
    x_new, lq_new = draw.x.astype(np.float32), np.asarray(draw.log_q, dtype=np.float64)
    lq_old = np.asarray(committed["log_q"], dtype=np.float64)
    folded_old, folded_new = np.isnan(lq_old), np.isnan(lq_new)
    both = ~folded_old & ~folded_new
    return {"run": str(run), "chunk": index, "draws": m, "model_sha256": settings["model_sha256"],
            "solver": settings["solver"], "x_max_abs_diff_nm": float(np.abs(x_new - committed["x"]).max()),
            "log_q_max_abs_diff_nats": float(np.abs(lq_new[both] - lq_old[both]).max()) if both.any() else None,
            "same_draws_folded": bool((folded_old == folded_new).all()), "folded": int(folded_old.sum()),
            "bitwise_equal": bool(np.array_equal(x_new, committed["x"]) and np.array_equal(lq_new, lq_old,
                                                                                          equal_nan=True)),
            "cpu_s": cpu_s, "wall_s": wall_s, "torch_threads": torch.get_num_threads()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="a rexmol sample output folder with chunks/")
    p.add_argument("--chunk-index", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", type=Path, default=None,
                   help="the model file that drew --run, if not at the path its settings record (checked by SHA-256)")
    p.add_argument("--json-name", default="chunk_reproducibility")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    row = compare_chunk(a.run, a.chunk_index, a.model)
    print(table([row], ["chunk", "draws", "x_max_abs_diff_nm", "log_q_max_abs_diff_nats", "same_draws_folded",
                        "bitwise_equal", "cpu_s"], floatfmt="{:.3g}"))
    print(f"wrote {write_json(a.json_name, row)}")


if __name__ == "__main__":
    main()
