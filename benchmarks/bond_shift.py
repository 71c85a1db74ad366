"""A model's draws moved by a bond-length shift: exact weights of a changed proposal, cross-fitted.

A flow-matched model's bond lengths sit a fraction of a picometre off the MD data's on average
(against bonds that fluctuate by about 3 pm). ``rexmol.molecules.bonds.BondTree.shift`` moves every
bond length of a conformation by s_b along its direction, an exact bijection with
log |det| = 2 sum_b log((d_b + s_b) / d_b), so the shifted draws x' of a run keep exact weights:

    log w' = -u(x') - log q(x) + log |det dx'/dx|      (u = U/kT at the target's temperature).

The shift is s_b = mean over the MD training split of d_b minus the mean over the model's draws
of d_b. Estimated on the draws it is judged on, it would be tuned to them; so the run's draws are
split in halves, each half is moved by the shift estimated on the other half (its draws with a
finite weight and u below that half's 95th percentile, so clashes do not set the mean), and each
half is then an exact sample of one fixed proposal. The two halves together are compared with the
same draws unshifted: Kish ESS, its ratio with a paired bootstrap interval (16-84%, the same
resamples for both; the resamples hold the two fitted shifts fixed, so the shifts' own noise is
not in the interval: the correlation of the two halves' shifts over the bonds says how large it
is), the median log w, Pareto k-hat and the ESS of Pareto-smoothed weights, the median u. No
clipping; a draw of weight 0 stays at weight 0 (in the committed runs these are folds, whose log q
is not finite; a D residue stays one, as the shift keeps every chirality volume's sign).
Reads each ``rexmol sample`` folder's arrays.npz (x in nm, u, log q, log w) and results.json;
writes results/<json-name>.json.

    python benchmarks/bond_shift.py --runs benchmarks/results/aaa_1fs_cycle4_headline_n2000 [...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import environment, table, write_json  # noqa: E402
from rexmol.boltzmann.bond_shift import BondShift  # noqa: E402
from rexmol.io import file_sha256  # noqa: E402
from rexmol.metrics.bootstrap import ess_fraction, paired_ratio  # noqa: E402
from rexmol.metrics.weights import log_w_quantiles, normalised_weights, pareto_khat, psis_ess  # noqa: E402
from rexmol.model import bond_graph  # noqa: E402
from rexmol.molecules import ala3, dataset  # noqa: E402
from rexmol.molecules.bonds import BondTree, fit_mean_shift, fit_moment_map  # noqa: E402
from rexmol.molecules.energies import EnergyEvaluator  # noqa: E402
from rexmol.molecules.target import Target, require_same_target  # noqa: E402


def _fit_draws(u: np.ndarray, log_w: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The draws of ``idx`` with a finite weight and u below their 95th percentile."""
    ok = idx[np.isfinite(log_w[idx]) & np.isfinite(u[idx])]
    if len(ok) < 2:
        raise SystemExit(f"{len(ok)} of the {len(idx)} draws of a half have a finite weight: too few to measure bond lengths on")
    return ok[u[ok] < np.percentile(u[ok], 95)]


MAPS = ("per-bond", "common", "moments")


def cross_fitted(run: Path, tree: BondTree, data_x: np.ndarray, evaluator: EnergyEvaluator, kind: str = "per-bond") -> dict:
    """The run's draws, each half moved by the map fitted on the other half, re-weighted exactly; see the
    module docstring. ``kind``: "per-bond" shifts each bond by its mean offset, "common" every bond by the
    mean of those offsets (one number), "moments" maps each bond's mean and standard deviation onto MD's."""
    if kind not in MAPS:
        raise ValueError(f"unknown bond map {kind!r}; choose from {MAPS}")
    x, u, log_q, log_w = _load_run(run)
    finite = np.isfinite(log_w)
    n = len(x)
    data_std = tree.lengths(data_x).std(axis=0)
    halves = (np.arange(n // 2), np.arange(n // 2, n))
    log_w_shifted, u_shifted, shifts, scales = np.full(n, -np.inf), np.full(n, np.inf), [], []
    for judged, fitted in (halves, halves[::-1]):
        if kind == "moments":
            a, s = fit_moment_map(tree, x[_fit_draws(u, log_w, fitted)], data_x)
        else:
            a, s = np.ones(len(tree.child)), fit_mean_shift(tree, x[_fit_draws(u, log_w, fitted)], data_x)
            if kind == "common":
                s = np.full_like(s, s.mean())
        shifts.append(s)
        scales.append(a)
        moved = judged[finite[judged]]  # a zero weight stays zero; its coordinates may be a clash
        y, log_det = tree.affine(x[moved], a, s)
        u_shifted[moved] = evaluator.reduced(y.astype(np.float32), nonfinite="inf")
        log_w_shifted[moved] = -u_shifted[moved] - (log_q[moved] - log_det)
    return {**_compare(run, u, log_w, u_shifted, log_w_shifted, halves), "map": kind,
            "max_abs_shift_nm": [float(np.abs(s).max()) for s in shifts],
            # how far one half's shifts repeat on the other: noise the bootstrap (shifts held fixed) leaves out
            "shift_halves_correlation": float(np.corrcoef(*shifts)[0, 1]),
            "mean_shift_nm": [float(s.mean()) for s in shifts],
            "md_bond_length_std_nm_range": [float(data_std.min()), float(data_std.max())],
            "scale_range": [[float(a.min()), float(a.max())] for a in scales],
            "scale_halves_correlation": float(np.corrcoef(*scales)[0, 1]) if kind == "moments" else None,
            "shift_nm": [s.tolist() for s in shifts], "scale": [a.tolist() for a in scales]}


def fixed_shift(run: Path, shift: BondShift, evaluator: EnergyEvaluator, shift_path: Path) -> dict:
    """The run's draws, all moved by one shift fitted elsewhere (``rexmol fit-bond-shift``, on other noise),
    re-weighted exactly; refused unless the shift was fitted to the run's model and sampler."""
    settings = json.loads((run / "settings.json").read_text())
    if settings.get("model_sha256") != shift.model_sha256 or settings.get("solver") != shift.solver:
        raise SystemExit(f"{shift_path} was fitted to model {shift.model_sha256[:12]}... and sampler {shift.solver}; "
                         f"{run} drew with {str(settings.get('model_sha256'))[:12]}... and {settings.get('solver')}")
    if settings.get("seed") == shift.fit.get("seed"):  # the fit's noise hashes apart from a run's anyway
        raise SystemExit(f"{shift_path} was fitted on seed {shift.fit.get('seed')}, the seed of {run}: by this "
                         "benchmark's rule a shift is judged on runs of another seed")
    x, u, log_q, log_w = _load_run(run)
    n = len(x)
    y, log_q_shifted, _ = shift.apply(x, log_q)
    u_shifted = np.full(n, np.inf)
    finite = np.isfinite(log_w)  # a zero weight stays zero; its coordinates may be a clash
    u_shifted[finite] = evaluator.reduced(y[finite].astype(np.float32), nonfinite="inf")
    log_w_shifted = np.where(finite, -u_shifted - log_q_shifted, -np.inf)
    return {**_compare(run, u, log_w, u_shifted, log_w_shifted, (np.arange(n // 2), np.arange(n // 2, n))),
            "map": "fixed", "shift_file": str(shift_path), "shift_file_sha256": file_sha256(shift_path), "fit": shift.fit,
            "max_abs_shift_nm": [float(np.abs(shift.shift_nm).max())], "mean_shift_nm": [float(shift.shift_nm.mean())],
            "scale_range": [[1.0, 1.0]]}


def _load_run(run: Path) -> tuple[np.ndarray, ...]:
    """x (nm), u, log q, log w of a ``rexmol sample`` folder, float64; refused unless log w = -u - log q,
    and refused for a run whose draws a bond shift already moved (it would move them twice)."""
    settings = run / "settings.json"
    if settings.is_file() and json.loads(settings.read_text()).get("bond_shift"):
        raise SystemExit(f"{run}'s draws were already moved by a bond shift ({settings}); give the run drawn "
                         "without one (rexmol sample --bond-shift none)")
    arrays = np.load(run / "arrays.npz")
    x, u, log_q, log_w = (arrays[k].astype(np.float64) for k in ("x", "u", "log_q", "log_w"))
    finite = np.isfinite(log_w)
    if not np.allclose(log_w[finite], -u[finite] - log_q[finite], rtol=1e-9, atol=1e-6):
        raise SystemExit(f"{run}/arrays.npz: log w is not -u - log q; this benchmark re-weights by that definition")
    return x, u, log_q, log_w


def _compare(run: Path, u, log_w, u_shifted, log_w_shifted, halves) -> dict:
    """The same draws before and after a bond map: Kish ESS and its paired ratio (16-84%), by half, median
    log w, k-hat, PSIS ESS, median u over the draws finite in both, zero weights."""
    n = len(u)
    before = {"weights": normalised_weights(log_w), "log_w": log_w}
    after = {"weights": normalised_weights(log_w_shifted), "log_w": log_w_shifted}
    ratio = paired_ratio(before, after, ess_fraction, n_boot=2000, seed=0)
    both_finite = np.isfinite(log_w) & np.isfinite(log_w_shifted)
    return {"run": str(run), "n": n, "halves": [len(h) for h in halves],
            "ess_fraction_before": ratio["base"], "ess_fraction_after": ratio["other"],
            "ess_ratio": ratio["ratio"], "ess_ratio_interval_16_84": ratio["ratio_interval_16_84"],
            "bootstrap": ratio["bootstrap"],
            "ess_fraction_by_half_before": [ess_fraction(before, h) for h in halves],
            "ess_fraction_by_half_after": [ess_fraction(after, h) for h in halves],
            "median_log_w_before": log_w_quantiles(log_w)["log_w_median"],
            "median_log_w_after": log_w_quantiles(log_w_shifted)["log_w_median"],
            "pareto_khat_before": pareto_khat(log_w)["khat"], "pareto_khat_after": pareto_khat(log_w_shifted)["khat"],
            "psis_ess_fraction_before": psis_ess(log_w)["ess_fraction"],
            "psis_ess_fraction_after": psis_ess(log_w_shifted)["ess_fraction"],
            "median_u_before_kT": float(np.median(u[both_finite])),
            "median_u_after_kT": float(np.median(u_shifted[both_finite])),
            "n_zero_weight_before": int((~np.isfinite(log_w)).sum()),
            "n_zero_weight_after": int((~np.isfinite(log_w_shifted)).sum())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="rexmol sample folders (arrays.npz, results.json)")
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST)
    p.add_argument("--json-name", default="bond_shift", help="results/<name>.json")
    p.add_argument("--map", choices=MAPS, default="per-bond",
                   help="per-bond: d + s_b (s_b the mean offset); common: d + mean_b s_b; "
                        "moments: each bond's mean and standard deviation onto MD's")
    p.add_argument("--shift-file", type=Path, default=None,
                   help="instead of fitting on the other half: move every draw by this rexmol fit-bond-shift file "
                        "(fitted to the run's model and sampler, on another seed)")
    args = p.parse_args(argv)
    target_record = dataset.load_manifest(args.manifest)["system"].get("target")
    target = Target.from_record(target_record)
    if target is None:
        raise SystemExit(f"{args.manifest} records no target (the old ensemble); the shifted draws are scored by a target")
    for run in args.runs:
        for f in (run / "arrays.npz", run / "results.json"):
            if not f.is_file():
                raise SystemExit(f"{f} does not exist: --runs takes finished rexmol sample folders")
        require_same_target(json.loads((run / "results.json").read_text()).get("target"), str(run / "results.json"),
                            target_record, str(args.manifest))
    tree = BondTree(bond_graph(ala3.TOPOLOGY_PDB), ala3.N_ATOMS)
    data_x = dataset.load_split("train", args.manifest)
    evaluator = EnergyEvaluator(target=target)
    if args.shift_file is not None:
        shift = BondShift.load(args.shift_file)
        rows = [fixed_shift(run, shift, evaluator, args.shift_file) for run in args.runs]
    else:
        rows = [cross_fitted(run, tree, data_x, evaluator, args.map) for run in args.runs]
    kind = f"bond shift of {args.shift_file} (fitted on other noise)" if args.shift_file else {
        "per-bond": "per-bond mean bond-length shift", "common": "common (mean over bonds) bond-length shift",
        "moments": "per-bond map of bond-length mean and standard deviation"}[args.map] + " of the other half"
    print(f"Draws moved by the {kind} (MD: {len(data_x)} training frames of "
          f"{args.manifest}); exact weights, no clipping; ESS ratio after / before with a paired 16-84% interval:")
    print(table([{"run": Path(r["run"]).name, "n": r["n"], "ess_before": f"{100 * r['ess_fraction_before']:.2f}%",
                  "ess_after": f"{100 * r['ess_fraction_after']:.2f}%",
                  "ess_ratio": "{:.2f} [{:.2f}, {:.2f}]".format(r["ess_ratio"], *r["ess_ratio_interval_16_84"]),
                  "khat": "{:.2f} -> {:.2f}".format(r["pareto_khat_before"], r["pareto_khat_after"]),
                  "psis_ess": "{:.2f}% -> {:.2f}%".format(100 * r["psis_ess_fraction_before"],
                                                          100 * r["psis_ess_fraction_after"]),
                  "median_log_w": "{:.2f} -> {:.2f}".format(r["median_log_w_before"], r["median_log_w_after"]),
                  "median_u_kT": "{:.1f} -> {:.1f}".format(r["median_u_before_kT"], r["median_u_after_kT"]),
                  "max_shift_pm": ", ".join(f"{1000 * v:.2f}" for v in r["max_abs_shift_nm"]),
                  "scale": "{:.2f}-{:.2f}".format(min(a for a, _ in r["scale_range"]), max(b for _, b in r["scale_range"]))}
                 for r in rows]))
    path = write_json(args.json_name, {"description": __doc__, "manifest": str(args.manifest), "target": target_record,
                                       "md_training_frames": len(data_x), "runs": rows, "environment": environment()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
