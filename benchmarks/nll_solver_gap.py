"""How far a likelihood solver's NLL sits from the converged continuous flow's, on the same frames.

Takes ``rexmol likelihood`` output folders of one model on the same frames (checked), the first
one the reference (e.g. adaptive Princeps(dopri5) at rtol = atol = 1e-5), and prints each one's
NLL and its paired per-frame difference from the reference, in nats per molecule (q per nm^96 on
the centre-of-mass-free subspace). A reference is converged when a looser tolerance moves it by
little: pass that run too and read its row. The SE and the 16-84% bootstrap interval treat frames
as independent.

Writes results/nll_solver_gap.json.

    python benchmarks/nll_solver_gap.py dopri5_1e-5=DIR dopri5_1e-4=DIR midpoint_16=DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from benchmarks.training_ab import named_dirs, paired_nll_difference, read_likelihood  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="NAME=DIR", help="rexmol likelihood folders; the first is the reference")
    args = p.parse_args(argv)
    named = [(name, read_likelihood(Path(path)), path) for name, path in named_dirs(args.runs, "runs")]
    if len(named) < 2:
        raise SystemExit("give a reference and at least one other run")
    ref_name, ref, ref_path = named[0]
    payload = {"model": ref["meta"].get("model"), "frames": int(len(ref["log_q"])),
               "frames_from": ref["meta"].get("frames_from"),
               "reference": {"name": ref_name, "dir": ref_path, "solver": ref["meta"].get("solver"),
                             "nll_nats": float(-ref["log_q"].mean()), "seconds": ref["meta"].get("seconds")},
               "rows": []}
    rows = [{"run": ref_name, "solver": ref["meta"].get("solver"), "nll_nats": payload["reference"]["nll_nats"],
             "minus_reference": 0.0, "seconds": ref["meta"].get("seconds")}]
    for name, other, path in named[1:]:
        d = paired_nll_difference(ref, other, same="model")
        d["max_abs_per_frame_nats"] = float(np.abs(ref["log_q"] - other["log_q"]).max())
        payload["rows"].append({"name": name, "dir": path, "solver": other["meta"].get("solver"),
                                "seconds": other["meta"].get("seconds"), **d})
        rows.append({"run": name, "solver": other["meta"].get("solver"), "nll_nats": d["nll_nats"],
                     "minus_reference": d["nll_difference_nats"], "se": d["se_nats"],
                     "max_abs_per_frame": d["max_abs_per_frame_nats"], "seconds": other["meta"].get("seconds")})
    print(f"NLL of {payload['model']} on {payload['frames']} {payload['frames_from']} frames, paired against "
          f"{ref_name} (nats per molecule):")
    print(table(rows, ["run", "solver", "nll_nats", "minus_reference", "se", "max_abs_per_frame", "seconds"],
                floatfmt="{:.2f}"))
    print(f"wrote {write_json('nll_solver_gap', payload)}")


if __name__ == "__main__":
    main()
