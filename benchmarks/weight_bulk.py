"""The bulk and the tail of each run's importance weights, side by side: what the Kish ESS hides.

For each ``rexmol sample`` output folder (its ``arrays.npz``: u = U/kT, log q in nats, log w =
-u - log q; and ``results.json``'s median u of the MD test set), over the draws with a finite
weight:

- the tail: Kish ESS fraction, the ESS of Pareto-smoothed weights (``psis_ess``), the Pareto k-hat,
  the share of the total weight carried by the ten heaviest draws, their median u less the median
  u of all draws (kT), and their backbone states (``backbone_states``, where torsions were saved):
  whether the heaviest draws are the lowest-energy ones of the common states (the bulk is too hot)
  or draws of a state the model under-samples (its coverage is short);
- the bulk: the draws' median u minus MD's (kT), the spread of u and of log w (half their 16-84%
  ranges; log w's with a weight-0 draw counted lowest, ``log_w_quantiles``), and the slope b of
  the least-squares line log q = a + b (-u) over the draws whose u lies between its 2.5th and
  97.5th percentiles (clashes at 10^3-10^6 kT would otherwise set it; the cut removes them only
  while they are under 2.5% of the draws, and it also drops the coolest 2.5%, the heaviest draws,
  so the slope is the bulk's).

The slope is what a perfect model makes 1: then log q = -u - log Z and every weight is equal. With
b < 1 the weights grow by (1 - b) nats per kT of lower energy, so the lowest-energy draws carry the
weight: the model's density falls off too slowly in the directions that raise the energy (bonds
and angles wider than MD's). A model line whose slope, median u and log w spread improve from cycle
to cycle improves in its bulk, whatever the ESS of a few heavy draws says at this n.

No energies are recomputed: this reads what ``rexmol sample`` wrote. Writes
results/<json-name>.json.

    python benchmarks/weight_bulk.py --runs benchmarks/results/aaa_1fs_cycle4_headline_n2000 \\
        benchmarks/results/aaa_1fs_cycle6_headline_n2000 [--json-name weight_bulk]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.metrics.features import backbone_states  # noqa: E402
from rexmol.metrics.weights import kish_ess, log_w_quantiles, normalised_weights, pareto_khat, psis_ess  # noqa: E402

TOP = 10


def half_range_16_84(x: np.ndarray) -> float:
    lo, hi = np.percentile(x, [16, 84])
    return float(hi - lo) / 2


def energy_slope(u: np.ndarray, log_q: np.ndarray, central: float = 0.95) -> float:
    """Least-squares slope b of log q = a + b (-u) over the draws whose u lies within its central
    ``central`` quantile range (u in kT, log q in nats; finite pairs only)."""
    u, log_q = np.asarray(u, dtype=np.float64), np.asarray(log_q, dtype=np.float64)
    ok = np.isfinite(u) & np.isfinite(log_q)
    if ok.sum() < 3:
        raise ValueError(f"a slope needs at least 3 draws with finite u and log q, got {int(ok.sum())}")
    lo, hi = np.quantile(u[ok], [(1 - central) / 2, (1 + central) / 2])
    keep = ok & (u >= lo) & (u <= hi)
    return float(np.polyfit(-u[keep], log_q[keep], 1)[0])


def weight_bulk(u: np.ndarray, log_q: np.ndarray, log_w: np.ndarray, median_u_md_kT: float | None = None,
                torsions: np.ndarray | None = None) -> dict:
    """The tail and bulk statistics of one run's draws (see the module docstring); ``torsions``
    (n, 5) in radians, as ``rexmol sample`` saves them, adds the heaviest draws' states."""
    u, log_q, log_w = (np.asarray(a, dtype=np.float64) for a in (u, log_q, log_w))
    if not (u.shape == log_q.shape == log_w.shape) or u.ndim != 1:
        raise ValueError(f"u, log q and log w must be 1-d of one length, got {u.shape}, {log_q.shape}, {log_w.shape}")
    finite = np.isfinite(log_w)
    if finite.sum() < 25:
        raise ValueError(f"{int(finite.sum())} draws have a finite weight: too few for a tail fit")
    w = normalised_weights(log_w)  # weight-0 draws get 0, so they are never among the heaviest
    median_u = float(np.median(u[finite]))
    heaviest = np.argsort(w)[-TOP:]
    states = {}
    if torsions is not None:
        for state in backbone_states(np.asarray(torsions)[heaviest]):
            states[str(state)] = states.get(str(state), 0) + 1
    return {"n": int(u.size), "n_finite": int(finite.sum()),
            "ess_fraction": kish_ess(log_w),
            "psis_ess_fraction": psis_ess(log_w)["ess_fraction"],
            "pareto_khat": pareto_khat(log_w)["khat"],
            f"top{TOP}_weight": float(w[heaviest].sum()),
            f"top{TOP}_median_u_minus_median_kT": float(np.median(u[heaviest])) - median_u,
            f"top{TOP}_states": dict(sorted(states.items())),
            "median_u_kT": median_u,
            "median_u_excess_kT": None if median_u_md_kT is None else median_u - float(median_u_md_kT),
            "u_spread_kT": half_range_16_84(u[finite]),
            "log_w_spread_nats": log_w_quantiles(log_w)["log_w_spread"],
            "log_q_slope_on_minus_u": energy_slope(u[finite], log_q[finite])}


def read_run(run_dir: Path) -> dict:
    arrays_path, results_path = run_dir / "arrays.npz", run_dir / "results.json"
    for f in (arrays_path, results_path):
        if not f.is_file():
            raise SystemExit(f"{f} does not exist: --runs takes finished rexmol sample output folders")
    a = np.load(arrays_path)
    results = json.loads(results_path.read_text())
    return weight_bulk(a["u"], a["log_q"], a["log_w"], results.get("median_u_md_kT"),
                       a["torsions"] if "torsions" in a else None)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="rexmol sample output folders")
    p.add_argument("--json-name", default="weight_bulk", help="results/<name>.json (default: weight_bulk)")
    args = p.parse_args(argv)
    payload, rows = {"runs": {}}, []
    for run in args.runs:
        d = read_run(run)
        payload["runs"][str(run)] = d
        rows.append({"run": run.name, "n": d["n"], "ess": f"{100 * d['ess_fraction']:.2f}%",
                     "psis_ess": f"{100 * d['psis_ess_fraction']:.2f}%", "khat": f"{d['pareto_khat']:.2f}",
                     f"top{TOP}": f"{d[f'top{TOP}_weight']:.2f}",
                     f"top{TOP}_u_below_median_kT": f"{-d[f'top{TOP}_median_u_minus_median_kT']:.1f}",
                     f"top{TOP}_states": " ".join(f"{k}:{v}" for k, v in d[f"top{TOP}_states"].items()),
                     "median_u_excess_kT": "" if d["median_u_excess_kT"] is None else f"{d['median_u_excess_kT']:.1f}",
                     "u_spread_kT": f"{d['u_spread_kT']:.2f}", "log_w_spread": f"{d['log_w_spread_nats']:.2f}",
                     "slope": f"{d['log_q_slope_on_minus_u']:.3f}"})
    print("Tail (ESS, smoothed ESS, k-hat, weight of the ten heaviest) and bulk (median u above MD's, spreads of u and "
          "log w, slope of log q on -u; 1 for a perfect model) of each run's draws:")
    print(table(rows, ["run", "n", "ess", "psis_ess", "khat", f"top{TOP}", f"top{TOP}_u_below_median_kT",
                       f"top{TOP}_states", "median_u_excess_kT", "u_spread_kT",
                       "log_w_spread", "slope"]))
    print(f"wrote {write_json(args.json_name, payload)}")


if __name__ == "__main__":
    main()
