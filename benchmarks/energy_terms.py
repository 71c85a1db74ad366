"""Where a generator's energies differ from MD's: u = U/kT split by force, samples against test MD.

Reads a finished ``rexmol sample`` run (its ``arrays.npz``: x in nm, u, log q, log w) and scores
its conformers and ``--md-frames`` evenly spaced test frames of the data manifest force by force
(``rexmol.molecules.energies.energy_terms``: bonds, angles, torsions, nonbonded (LJ and Coulomb,
1-4 pairs included), OBC1). Over the draws with a finite weight and energy, for each term: MD's
mean and standard deviation, the samples' median and mean, the median excess (samples' median
minus MD's, kT), the self-normalised reweighted mean, and the rank (Spearman) correlation of the
term with log w (ranks, because a few clashes carry most of the variance). Then the spread of
log w = -u - log q: its standard deviation over those draws and over the ones below the 95th
percentile of u (a lognormal weight of standard deviation s has ESS fraction exp(-s^2); 10% needs
s of about 1.5 nats). Then, per backbone state (``rexmol.metrics.features.backbone_states``) with at
least 20 draws and 20 MD frames, each term's median excess within the state (its draws' median
minus its MD frames' median): which terms make one state's draws worse than another's.
Writes results/energy_terms.json (and energy_terms.png, one histogram per term; ``--json-name`` names both).

    python benchmarks/energy_terms.py --run benchmarks/results/aaa_headline [--md-frames 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, table, write_json  # noqa: E402
from rexmol.metrics import backbone_torsions  # noqa: E402
from rexmol.metrics.features import backbone_states  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402
from rexmol.molecules.energies import energy_terms  # noqa: E402
from rexmol.molecules.target import Target, require_same_target  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="a rexmol sample folder (arrays.npz, results.json)")
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST)
    p.add_argument("--md-frames", type=int, default=2000)
    p.add_argument("--json-name", default="energy_terms", help="results/<name>.json and <name>.png")
    args = p.parse_args(argv)
    arrays_path, results_path = args.run / "arrays.npz", args.run / "results.json"
    for f in (arrays_path, results_path):
        if not f.is_file():
            raise SystemExit(f"{f} does not exist: --run takes a finished rexmol sample folder")
    if args.md_frames < 2:
        raise SystemExit(f"--md-frames must be at least 2, got {args.md_frames}")
    run = json.loads(results_path.read_text())
    target_record = dataset.load_manifest(args.manifest)["system"].get("target")
    require_same_target(run.get("target"), str(results_path), target_record, str(args.manifest))
    target = Target.from_record(target_record)
    if target is None:
        raise SystemExit(f"{args.manifest} records no target (the old ensemble); energy terms are of a target's System")
    arrays = np.load(arrays_path)
    x, u, log_q, log_w = (arrays[k] for k in ("x", "u", "log_q", "log_w"))
    md = dataset.load_split("test", args.manifest)
    md = md[np.linspace(0, len(md) - 1, min(args.md_frames, len(md))).round().astype(int)]

    gen_terms = energy_terms(x, target, nonfinite="inf")
    md_terms = energy_terms(md, target)
    # one set of draws for every column: finite energy and weight (a D residue or a fold has log w = -inf)
    finite = np.isfinite(log_w) & np.isfinite(u)
    if finite.sum() < 2:
        raise SystemExit(f"{args.run}: {finite.sum()} of {len(u)} draws have a finite weight and energy")
    w = np.exp(log_w[finite] - log_w[finite].max())
    w /= w.sum()
    rows = []
    for name in gen_terms:
        g, m = gen_terms[name][finite], md_terms[name]
        if not np.any(m):
            continue  # CMMotionRemover: no energy
        rows.append({"term": name, "md_mean_kT": float(m.mean()), "md_std_kT": float(m.std()),
                     "samples_median_kT": float(np.median(g)), "samples_mean_kT": float(g.mean()),
                     "median_excess_kT": float(np.median(g) - np.median(m)),
                     "reweighted_mean_kT": float((w * g).sum()),
                     "rank_corr_with_log_w": float(spearmanr(g, log_w[finite]).statistic)})
    central = finite & (u < np.percentile(u[finite], 95))
    spread = {"log_w_std_nats": float(log_w[finite].std()), "log_w_std_nats_below_u95": float(log_w[central].std()),
              "u_std_kT_below_u95": float(u[central].std()), "log_q_std_nats_below_u95": float(log_q[central].std()),
              "rank_corr_u_log_q_below_u95": float(spearmanr(u[central], log_q[central]).statistic),
              "draws": int(len(u)), "draws_finite": int(finite.sum()), "draws_below_u95": int(central.sum())}
    # the same excess within each backbone state, over the same draws
    gen_states = backbone_states(arrays["torsions"] if "torsions" in arrays.files else backbone_torsions(x)[0])
    md_states = backbone_states(backbone_torsions(md)[0])
    by_state = []
    for state in sorted(set(gen_states[finite]) & set(md_states)):
        mine, md_mine = finite & (gen_states == state), md_states == state
        if mine.sum() < 20 or md_mine.sum() < 20:
            continue
        row = {"state": str(state), "draws": int(mine.sum()), "md_frames": int(md_mine.sum())}
        for r in rows:
            row[r["term"]] = float(np.median(gen_terms[r["term"]][mine]) - np.median(md_terms[r["term"]][md_mine]))
        row["u"] = float(np.median(u[mine]) - np.median(sum(md_terms[r["term"]] for r in rows)[md_mine]))
        by_state.append(row)
    print(f"{len(x)} draws of {args.run} against {len(md)} test frames of {args.manifest} (u = U/kT, kT at "
          f"{target.temperature_k} K):")
    print(table(rows, floatfmt="{:.2f}"))
    print(table([spread], floatfmt="{:.3g}"))
    print("median excess (kT) within each backbone state, draws minus MD frames of that state:")
    print(table(by_state, floatfmt="{:.2f}"))

    from rexmol.metrics.plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3), squeeze=False)
    for ax, row in zip(axes[0], rows):
        g, m = gen_terms[row["term"]][finite], md_terms[row["term"]]
        both = np.concatenate([m, g])
        lo, hi = np.percentile(both, 0.5), np.percentile(both, 99)
        ax.hist(m, bins=50, range=(lo, hi), density=True, histtype="step", label="MD test")
        ax.hist(g, bins=50, range=(lo, hi), density=True, histtype="step", label="samples, raw")
        ax.set_title(row["term"].replace("Force", ""), fontsize=9)
        ax.set_xlabel("u_f (kT)")
    axes[0, 0].legend(fontsize=7)
    png = _save(fig, RESULTS / f"{args.json_name}.png")
    path = write_json(args.json_name, {"description": __doc__, "run": str(args.run), "manifest": str(args.manifest),
                                       "md_frames": len(md), "target": target_record, "terms": rows,
                                       "log_w_spread": spread, "median_excess_by_state_kT": by_state,
                                       "plot": png.name})
    print(f"wrote {path} and {png}")


if __name__ == "__main__":
    main()
