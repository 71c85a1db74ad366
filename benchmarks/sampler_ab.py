"""A/B of samplers on one model: ``rexmol sample`` runs from the same noise, paired draw by draw.

    python benchmarks/sampler_ab.py uniform=benchmarks/results/aaa_headline \
        logsnr=benchmarks/results/aaa_logsnr_headline

The first folder is the baseline. Each other folder must hold draws of the same model (its
SHA-256), n, seed and chunk size, so draw i of every folder comes from the same prior draw; the
solver settings differ (that is the comparison). Per sampler: the Kish ESS with its ratio to the
baseline's, and the paired differences of the mean and median of log w = -u - log q (nats;
the median counts a draw of weight 0 as the lowest;
log Z is the target's, the same for every row, so a higher median means q is closer to p on
typical draws), each with a 16-84% interval over the same bootstrap resamples of the draws
(``benchmarks/training_ab.py``'s ``paired_sample_comparison``). Writes results/sampler_ab.json.

With ``--w2`` it also scores the MD test set of ``--manifest`` (the reference every ``rexmol
sample`` run is judged against; the runs must record the manifest's target) and reports, per
sampler, the reweighted E-W2 (kT) and T-W2 (rad) of both rows and their ratio, other / baseline,
with a 16-84% interval over ``--w2-boot`` resamples that pick the same draws for both rows
(``rexmol.metrics.bootstrap.paired_ratio``): the quantity of issue 13's "Rex against the
non-reversible baseline at equal settings", whose published value is 0.67.

    python benchmarks/sampler_ab.py princeps=benchmarks/results/ab_cycle2_logsnr_headline \
        rex=benchmarks/results/rex_midpoint_logsnr_n1000 --w2 --json-name rex_vs_princeps
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, table, write_json  # noqa: E402
from benchmarks.training_ab import PAIRED_SAMPLE_COLUMNS, named_dirs, paired_sample_comparison, paired_sample_row, read_samples  # noqa: E402
from rexmol.metrics.bootstrap import paired_ratio, reweighted_energy_w2, reweighted_torus_w2  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402
from rexmol.molecules.target import require_same_target  # noqa: E402

#: T-W2 compares with this many reference frames (and draws), as ``rexmol sample``'s judge does
TORUS_N_MAX = 2000


def reweighted_w2_ratios(base: dict, other: dict, reference, n_boot: int = 200, seed: int = 0,
                         subsample_seed: int = 0) -> dict:
    """Paired reweighted E-W2 and T-W2 of two sample runs against ``reference`` (an
    ``MDReference``: the test set's u and torsions), each with the ratio other / baseline and its
    interval over the same resamples (``seed``). ``subsample_seed`` picks T-W2's reference
    subsample; ``rexmol sample``'s judge uses the run's own seed, so with it these equal the runs'
    own ``results.json`` values on all draws (the same weights, reference and subsample)."""
    for name, a in (("baseline", base), ("other", other)):
        if "torsions" not in a:
            raise SystemExit(f"the {name} folder's arrays.npz has no torsions: --w2 needs them")
    return {"E_W2_kT_reweighted": paired_ratio(base, other, reweighted_energy_w2(reference.u), n_boot, seed),
            "T_W2_rad_reweighted": paired_ratio(base, other, reweighted_torus_w2(reference.torsions, TORUS_N_MAX,
                                                                                   subsample_seed),
                                                n_boot, seed)}


def _with_interval(value, bounds) -> str:
    """"v [lo, hi]" to two decimals; "-" for a value or interval that does not exist."""
    if value is None:
        return "-"
    return f"{value:.2f} [{bounds[0]:.2f}, {bounds[1]:.2f}]" if bounds else f"{value:.2f}"


def _run_target(path: str):
    results = Path(path) / "results.json"
    if not results.is_file():
        raise SystemExit(f"{results} does not exist: --w2 needs each folder's results.json (its target)")
    return json.loads(results.read_text()).get("target")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("samples", nargs="+", metavar="NAME=DIR", help="rexmol sample folders; the first is the baseline")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--json-name", default="sampler_ab")
    p.add_argument("--out-dir", type=Path, default=RESULTS, help="where the JSON goes")
    p.add_argument("--w2", action="store_true", help="also the paired reweighted E-W2 and T-W2 and their ratios")
    p.add_argument("--w2-boot", type=int, default=200, help="bootstrap resamples of the W2 ratios")
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST, help="data manifest of the MD test set (--w2)")
    p.add_argument("--workers", type=int, default=1, help="energy workers scoring the test set (--w2)")
    args = p.parse_args(argv)
    named = [(name, read_samples(Path(path)), path) for name, path in named_dirs(args.samples, "samples")]
    if len(named) < 2:
        raise SystemExit("give a baseline folder and at least one more")
    base_name, base, base_path = named[0]
    names = [name for name, _, _ in named]
    if len(set(names)) != len(names):
        raise SystemExit(f"each folder needs its own NAME, got {names}")
    for _, samples, path in named:
        if not samples["settings"].get("model_sha256"):
            raise SystemExit(f"{path} records no model_sha256, so it cannot be paired as the same model")
    for name, samples, path in named[1:]:
        if samples["settings"].get("solver") == base["settings"].get("solver"):
            raise SystemExit(f"{name} ({path}) has the baseline's solver settings: nothing to compare")
    payload = {"baseline": base_name, "baseline_dir": base_path, "baseline_solver": base["settings"].get("solver"),
               "model_sha256": base["settings"].get("model_sha256"), "paired": {}}
    reference = None
    if args.w2:
        from rexmol.boltzmann.sampling import MDReference

        manifest_target = dataset.manifest_target(args.manifest)
        for _, _, path in named:
            require_same_target(_run_target(path), f"the sample run {path}",
                                manifest_target.record() if manifest_target else None, f"data manifest {args.manifest}")
        reference = MDReference(args.manifest, args.workers)
        payload["md_test_frames"] = len(reference.u)
        payload["md_test_set"] = reference.record()
    rows, w2_rows = [], []
    for name, other, path in named[1:]:
        d = paired_sample_comparison(base, other, n_boot=args.boot, same="model_sha256")
        payload["paired"][name] = {"dir": path, "solver": other["settings"].get("solver"),
                                   "bond_shift": other["settings"].get("bond_shift"), **d}
        rows.append(paired_sample_row("sampler", name, d))
        if reference is not None:
            w2 = reweighted_w2_ratios(base, other, reference, args.w2_boot,
                                      subsample_seed=int(base["settings"]["seed"]))
            payload["paired"][name]["reweighted_w2"] = w2
            w2_rows.append({"sampler": name, **{
                f"{metric}{suffix}": _with_interval(r[key], r[f"{key}_interval_16_84"])
                for metric, r in (("E_W2_kT", w2["E_W2_kT_reweighted"]), ("T_W2_rad", w2["T_W2_rad_reweighted"]))
                for key, suffix in (("base", "_base"), ("other", ""), ("ratio", "_ratio"))}})
    print(f"Paired draws of one model against {base_name} (same noise; n = {len(base['weights'])}; "
          "16-84% bootstrap intervals; log w differences in nats, positive is better):")
    print(table(rows, ["sampler", *PAIRED_SAMPLE_COLUMNS]))
    if w2_rows:
        print(f"Reweighted W2 against the MD test set ({payload['md_test_frames']} frames), other / {base_name}, "
              f"{args.w2_boot} paired resamples:")
        print(table(w2_rows, ["sampler", "E_W2_kT_base", "E_W2_kT", "E_W2_kT_ratio",
                              "T_W2_rad_base", "T_W2_rad", "T_W2_rad_ratio"]))
    print(f"wrote {write_json(args.json_name, payload, args.out_dir)}")


if __name__ == "__main__":
    main()
