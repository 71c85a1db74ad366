"""Where a generator's weight goes, state by state: backbone-state populations of MD, raw draws and reweighted draws.

Each conformation gets a two-letter metastable state (``rexmol.metrics.features.backbone_states``):
residue 2's region ("a" alpha_R, "b" beta/PPII, "L" phi > 0), then residue 3's side of phi ("R",
"L"; its alpha_R and beta are not separable, psi3 running to a carboxylate oxygen). For each state:
its fraction of the MD test frames (every frame of the manifest's test split), of the raw draws (all
of them; a draw of weight 0 still has a state) and of the self-normalised importance weights (with a
16-84% bootstrap interval over the draws: at an ESS of ~10 one draw can carry a state), the draws'
median log w there, and the weight its draws among the ``--top`` largest carry, as a fraction of the
total weight (and each split's own state fractions: what the model was trained on beside what it is
judged by). A state the model under-samples has a raw fraction below MD's, and its draws carry
larger weights: this is what makes the ESS a property of a few states rather than of the bulk of log
w. Note: MD fractions rest on the test set's correlated frames (60 ns in the shipped data version),
so a state seen rarely (a slow event) has a large error; the raw fractions on the draws (binomial,
sqrt(p (1 - p) / n)) are given with theirs.

Then the MD runs themselves, by integrator: every finished 5 ns run under ``--md`` of the manifest's
target, whatever its integrator, each region's fraction per run (residue 2's three sum to 1), their
mean and standard error over runs (independent trajectories, so the error includes the slow events),
and Welch's t between the protocol's 1 fs runs and each other integrator's (HMR at 2 fs), also for
the 1 fs runs outside the test split alone (Welch's t needs two of them: with the 60 ns test set,
the 1 fs runs from seed 124 on): a faster integrator's configurational ensemble must match the
protocol's in the states' populations too, not only in energies and bonds.

    python benchmarks/state_populations.py --run benchmarks/results/aaa_headline_n2000 \\
        [--run benchmarks/results/ab_cycle4_logsnr_n2000] [--top 10] [--json-name state_populations]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import ttest_ind

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dataclasses import asdict  # noqa: E402

from benchmarks.common import table, write_json  # noqa: E402
from rexmol.boltzmann.sampling import MDReference  # noqa: E402
from rexmol.metrics import backbone_torsions  # noqa: E402
from rexmol.metrics.features import backbone_states  # noqa: E402
from rexmol.metrics.weights import kish_ess, normalised_weights  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402
from rexmol.molecules.md import MDSettings  # noqa: E402
from rexmol.molecules.target import require_same_target  # noqa: E402


def state_table(md_states: np.ndarray, states: np.ndarray, log_w: np.ndarray, top: int,
                n_boot: int = 1000, seed: int = 0, u: np.ndarray | None = None,
                md_u: np.ndarray | None = None, log_q: np.ndarray | None = None) -> list[dict]:
    """One row per state seen in MD or the draws, most populated in MD first (see the module
    docstring); ``log_w`` is -inf (or NaN) for a draw of weight 0. ``weight_in_top<k>`` is the
    normalised weight (a fraction of all of it) that the state's draws among the k heaviest carry.
    With ``u`` and ``md_u`` (u = U/kT of the draws and of the MD frames) and ``log_q`` (the draws'
    log density, nats), each row also gives the median u of the state's draws and of its MD frames,
    and the draws' median log q: log w = -u - log q + const, so a state whose draws have a low log w
    has too high an energy for the model's density there, or too high a density for its energy."""
    if states.shape != log_w.shape:
        raise ValueError(f"one state per draw: {states.shape} states, {log_w.shape} log-weights")
    for name, values, ref in (("u", u, states), ("md_u", md_u, md_states), ("log_q", log_q, states)):
        if values is not None and np.shape(values) != np.shape(ref):
            raise ValueError(f"one {name} per conformation: {np.shape(values)} against {np.shape(ref)} states")
    w = normalised_weights(log_w)
    heavy = np.argsort(w)[::-1][:top]
    n = len(states)
    rng = np.random.default_rng(seed)
    resamples = [rng.integers(0, n, n) for _ in range(n_boot)]
    rows = []
    for s in sorted(set(md_states) | set(states), key=lambda s: (-np.mean(md_states == s), s)):
        mine = states == s
        finite = mine & np.isfinite(log_w)
        p = float(mine.mean())
        # the reweighted fraction of each resample of the draws (renormalised on it)
        boot = [w[i][mine[i]].sum() / w[i].sum() for i in resamples if w[i].sum() > 0]
        rows.append({"state": str(s), "md_fraction": float(np.mean(md_states == s)),
                     "raw_fraction": p, "raw_fraction_se": float(np.sqrt(p * (1 - p) / n)),
                     "reweighted_fraction": float(w[mine].sum()),
                     "reweighted_fraction_16_84": [float(q) for q in np.quantile(boot, [0.16, 0.84])],
                     "draws": int(mine.sum()),
                     "median_log_w": float(np.median(log_w[finite])) if finite.any() else None,
                     f"weight_in_top{top}": float(w[heavy][mine[heavy]].sum()),
                     f"top{top}_draws": int(mine[heavy].sum())})
        if u is not None:
            rows[-1]["median_u_kT"] = float(np.median(u[mine])) if mine.any() else None
        if log_q is not None:
            has_q = mine & np.isfinite(log_q)  # a folded draw has none
            rows[-1]["median_log_q"] = float(np.median(log_q[has_q])) if has_q.any() else None
        if md_u is not None:
            md_mine = md_states == s
            rows[-1]["md_median_u_kT"] = float(np.median(md_u[md_mine])) if md_mine.any() else None
    return rows


def integrator_label(integrator: dict) -> str:
    """A short name of an MD integrator record, e.g. "1 fs" or "2 fs, H 3.0 amu" (friction too if
    not the protocol's 0.3/ps)."""
    label = f"{1000 * integrator['timestep_ps']:g} fs"
    if integrator.get("hydrogen_mass_amu"):
        label += f", H {integrator['hydrogen_mass_amu']} amu"
    friction = integrator.get("friction_per_ps", MDSettings().friction_per_ps)
    if friction != MDSettings().friction_per_ps:
        label += f", friction {friction}/ps"
    return label


# name: (position in the state string, letter); residue 2's three regions sum to 1
REGIONS = {"residue 2 alpha_R": (0, "a"), "residue 2 beta": (0, "b"), "residue 2 phi > 0": (0, "L"),
           "residue 3 phi > 0": (1, "L")}


def region_fractions(states: np.ndarray) -> dict[str, float]:
    """Fraction of conformations with each residue in each region (the letters of
    :func:`rexmol.metrics.features.backbone_states`: position 0 residue 2, position 1 residue 3)."""
    return {name: float(np.mean([st[i] == letter for st in states])) for name, (i, letter) in REGIONS.items()}


def by_integrator(fractions: dict[int, dict[str, float]], integrators: dict[int, str], protocol: str) -> list[dict]:
    """Per region: mean and standard error over the runs of each integrator, and Welch's t (with
    its two-sided p) of each other integrator's runs against the protocol's."""
    groups = sorted(set(integrators.values()), key=lambda g: g != protocol)
    rows = []
    for name in REGIONS:
        row = {"region": name}
        values = {g: np.array([fractions[s][name] for s in fractions if integrators[s] == g]) for g in groups}
        for g in groups:
            v = values[g]
            row[f"{g} mean"] = float(v.mean())
            row[f"{g} se"] = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None
            row[f"{g} runs"] = len(v)
            if g != protocol and protocol in values and min(len(v), len(values[protocol])) > 1:
                test = ttest_ind(v, values[protocol], equal_var=False)
                row[f"{g} minus protocol"] = float(v.mean() - values[protocol].mean())
                row[f"{g} welch t"], row[f"{g} p"] = float(test.statistic), float(test.pvalue)
        rows.append(row)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, action="append", required=True, help="a finished rexmol sample folder")
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST)
    p.add_argument("--md", type=Path, default=dataset.MD_DIR, help="the MD runs of the by-integrator section")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--json-name", default="state_populations")
    args = p.parse_args(argv)
    if args.top < 1:
        raise SystemExit(f"--top must be at least 1, got {args.top}")
    target_record = dataset.load_manifest(args.manifest)["system"].get("target")
    reference = MDReference(args.manifest)  # the test frames, their torsions and u (cached energies)
    md_states = backbone_states(reference.torsions)
    out = {"description": __doc__, "manifest": str(args.manifest), "md_test_frames": int(len(md_states)),
           "top": args.top, "runs": {}, "split_fractions": {}}
    # what the model was trained on, beside what it is judged against
    for split in ("train", "val", "test"):
        st = md_states if split == "test" else backbone_states(backbone_torsions(dataset.load_split(split, args.manifest))[0])
        out["split_fractions"][split] = {str(k): float(np.mean(st == k)) for k in sorted(set(st))}
    print("MD state fractions by split:", {k: {s: round(v, 3) for s, v in f.items()} for k, f in out["split_fractions"].items()})
    for run in args.run:
        arrays_path, results_path = run / "arrays.npz", run / "results.json"
        for f in (arrays_path, results_path):
            if not f.is_file():
                raise SystemExit(f"{f} does not exist: --run takes a finished rexmol sample folder")
        require_same_target(json.loads(results_path.read_text()).get("target"), str(results_path),
                            target_record, str(args.manifest))
        arrays = np.load(arrays_path)
        log_w = arrays["log_w"].astype(np.float64)
        rows = state_table(md_states, backbone_states(arrays["torsions"]), log_w, args.top,
                           u=arrays["u"].astype(np.float64), md_u=reference.u,
                           log_q=arrays["log_q"].astype(np.float64))
        out["runs"][str(run)] = {"n": int(len(log_w)), "ess_fraction": kish_ess(log_w), "states": rows}
        print(f"\n{run} (n = {len(log_w)}, ESS {100 * kish_ess(log_w):.2f}%; MD: {len(md_states)} test frames)")
        print(table([{k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows]))
    # every run of this target, whatever its integrator: this section compares integrators (unlike the
    # data manifest and the noise floor, which keep only the protocol's and validated ones)
    runs = {sd: r for sd, r in dataset.completed_runs(args.md, 5000).items() if r.get("target") == target_record}
    protocol = integrator_label(dataset.integrator(asdict(MDSettings())))
    test = set(dataset.load_manifest(args.manifest)["splits"]["test"])
    outside = f"{protocol}, outside the test split"
    integrators = {sd: integrator_label(dataset.integrator(r["settings"])) for sd, r in runs.items()}
    fractions = {}
    for sd, r in sorted(runs.items()):
        xyz = np.concatenate([dataset.load_chunk(args.md / r["dir"] / c["file"], c["frames"], c["sha256"])
                              for c in r["chunks"]])
        fractions[sd] = region_fractions(backbone_states(backbone_torsions(xyz)[0]))
    rows = by_integrator(fractions, integrators, protocol)
    # the protocol's runs the test set does not contain, on their own against each other integrator
    non_test = {sd for sd in runs if integrators[sd] == protocol and sd not in test}
    rows_outside = by_integrator({sd: f for sd, f in fractions.items() if sd in non_test or integrators[sd] != protocol},
                                 {sd: outside if sd in non_test else g for sd, g in integrators.items()
                                  if sd in non_test or g != protocol}, outside)
    out["md_runs"] = {"protocol_integrator": protocol, "integrators": {str(k): v for k, v in integrators.items()},
                      "test_seeds": sorted(test), "region_fractions": {str(k): v for k, v in fractions.items()},
                      "by_integrator": rows, "by_integrator_outside_test": rows_outside}
    print(f"\nMD runs by integrator ({len(runs)} finished 5 ns runs; protocol {protocol}):")
    for g in sorted(set(integrators.values())):
        print(f"  {g}: seeds {' '.join(str(sd) for sd in sorted(runs) if integrators[sd] == g)}")
    for block in (rows, rows_outside):
        print(table([{k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()} for r in block]))
    print(f"\nwrote {write_json(args.json_name, out)}")


if __name__ == "__main__":
    main()
