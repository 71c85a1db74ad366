"""Does a faster MD integrator sample the same configurational ensemble as the AAA protocol's 1 fs?

The protocol's MD is LangevinMiddle at 1 fs with standard masses. A larger step with hydrogen
mass repartitioning (HMR) is cheaper per ns, and with no constraints the exact configurational
density exp(-U/kT) does not depend on the masses, but the integrator's discretisation error does
depend on the step (and on the masses through the frequencies). This benchmark measures whether
that error is visible above the MD noise: candidate trajectories (e.g. HMR at 2 fs) against
reference trajectories (1 fs, standard masses) of the same target, on

- the reduced energy u = U/kT (kT at 310 K; the target's own OpenMM System),
- the 17 X-H bond lengths (nm), the degrees of freedom a larger step perturbs most,
- the 4 backbone torsions of the published T-W2 (psi1, phi2, psi2, phi3; radians).

Three tests, the first two against a floor measured in the same run from the reference alone:

1. **Means.** For u and for every X-H bond length, the candidate mean minus the reference mean,
   in units of its standard error, from the spread of block means (``--block-ns`` blocks). The
   same z between each reference run and the other reference runs is the control: it shows how
   large |z| gets when nothing differs.
2. **Distributions at equal length.** Every run is cut into blocks of ``--block-ns``. The floor is
   the set of W2 distances between blocks of *different* reference runs; the candidate's set is
   W2 between a candidate block and a reference block. E-W2 (kT), X-H W2 (the 17 lengths pooled,
   nm) and 4-torsion T-W2 (rad, exact OT on the whole blocks).

3. **State populations.** Residue 2's backbone region (alpha_R, beta/PPII, phi > 0) and residue 3's
   side of phi (:func:`rexmol.metrics.features.backbone_states`): the fraction of each run's frames
   in each, candidate runs against reference runs by Welch's t. Whole runs are the independent
   units here: a state is held for hundreds of ps and revisited over ns, so blocks of one run are
   not independent samples of its population, and the block SE of test 1 would understate the
   error. Energies, bond lengths and the T-W2 of 1 ns blocks do not resolve a shift of a few
   points in one state's population (an HMR candidate passed them all while putting residue 2 in
   alpha_R 5 points less often than the 1 fs runs).

Verdict: for the means, |z| < 3 or no larger than the control's largest |z| (the block SE misses
modes slower than a block: on 2.5-5 ns runs, two 1 fs runs differ by up to 6.6 SE in the mean
length of an N-H bond that follows the slow salt-bridge and hydrogen-bond states), for u, for the
mean X-H length and for all but at most one of the 17 X-H bonds (17 tests at that level); for the
distributions, the candidate's median block W2 at most the floor's 84th percentile, for each of
E-W2, X-H W2 and T-W2; for the populations, |t| < 3 for every region, with at least ``--min-runs``
(6) runs a side (with 12 a side, |t| = 3 is a two-sided p of about 0.007). Candidate and reference
must each hold at least ``--min-blocks`` blocks, so that a run too short to tell cannot pass.
Prints a table, writes results/md_integrator_ensemble.json.

    python benchmarks/md_integrator_ensemble.py --reference 101 102 103 104 116 117 118 119 120 121 122 123 \\
        --candidate 105 106 107 108 109 110 111 112 113 114 115 201
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from benchmarks.state_populations import by_integrator, region_fractions  # noqa: E402
from rexmol.metrics import backbone_torsions, energy_w2, torus_w2  # noqa: E402
from rexmol.metrics.features import backbone_states  # noqa: E402
from rexmol.molecules import ala3, dataset  # noqa: E402
from rexmol.molecules.energies import EnergyEvaluator  # noqa: E402
from rexmol.molecules.md import MDSettings  # noqa: E402
from rexmol.molecules.target import AAA, hydrogen_bond_pairs  # noqa: E402

HEADLINE_TORSIONS = ("psi1", "phi2", "psi2", "phi3")


def load_run(md_dir: Path, seed: int) -> tuple[np.ndarray, dict]:
    """Every finished chunk of seed ``seed`` (checksums verified), float32 nm, and its progress record."""
    record = json.loads((md_dir / f"seed{seed}" / "progress.json").read_text())
    AAA.check(record.get("target"), f"{md_dir}/seed{seed}/progress.json")
    if not record["chunks"]:
        raise SystemExit(f"seed {seed} has no finished chunk yet")
    xyz = np.concatenate([dataset.load_chunk(md_dir / f"seed{seed}" / c["file"], c["frames"], c["sha256"])
                          for c in record["chunks"]])
    return xyz, record


def observables(xyz: np.ndarray, evaluator: EnergyEvaluator, pairs: np.ndarray) -> dict[str, np.ndarray]:
    torsions, names = backbone_torsions(xyz)
    cols = [names.index(n) for n in HEADLINE_TORSIONS]
    lengths = np.linalg.norm(xyz[:, pairs[:, 0]].astype(np.float64) - xyz[:, pairs[:, 1]], axis=-1)
    return {"u": evaluator.reduced(xyz), "xh": lengths, "torsions": torsions[:, cols],
            "regions": region_fractions(backbone_states(torsions))}


def population_rows(fractions: dict[int, dict[str, float]], reference: list[int], candidate: list[int]) -> list[dict]:
    """Per region: the mean over runs of each side, and Welch's t of the candidate runs against the
    reference runs (each run one independent sample of the population; the state_populations
    benchmark's own test); pass if |t| < 3."""
    if min(len(reference), len(candidate)) < 2:
        raise SystemExit("state populations need at least 2 runs on each side (runs are the independent units)")
    side = {**{s: "reference" for s in reference}, **{s: "candidate" for s in candidate}}
    rows = []
    for row in by_integrator({s: fractions[s] for s in side}, side, "reference"):
        t, pvalue, difference = row["candidate welch t"], row["candidate p"], row["candidate minus protocol"]
        if not np.isfinite(t):  # no run varies: equal means (a region nobody visits) pass, others fail
            same = np.isclose(difference, 0.0, atol=1e-12)
            t, pvalue = (0.0, 1.0) if same else (math.copysign(math.inf, difference), 0.0)
        rows.append({"region": row["region"], "reference": row["reference mean"], "candidate": row["candidate mean"],
                     "difference": difference, "welch t": float(t), "p": float(pvalue), "pass": bool(abs(t) < 3.0)})
    return rows


def mean_and_se(series_by_run: list[np.ndarray], block: int) -> tuple[float, float]:
    """Mean over the whole blocks of every run and its standard error std(block means) / sqrt(blocks).

    Blocks much longer than the slowest autocorrelation time are nearly independent; a per-run
    tau_int on a few-ns run misses the slow conformational modes that some X-H lengths follow
    (that estimate put two 1 fs runs 4 SE apart on one N-H bond)."""
    means = np.concatenate([s[:len(s) // block * block].reshape(-1, block).mean(1) for s in series_by_run])
    if len(means) < 2:
        raise SystemExit(f"need at least 2 blocks of {block} frames, have {len(means)}")
    return float(means.mean()), float(means.std(ddof=1) / np.sqrt(len(means)))


def blocks(obs: dict[str, np.ndarray], frames: int) -> list[dict[str, np.ndarray]]:
    n = len(obs["u"]) // frames
    return [{k: obs[k][i * frames:(i + 1) * frames] for k in ("u", "xh", "torsions")} for i in range(n)]


def block_w2(a: dict, b: dict) -> dict[str, float]:
    return {"E-W2 (kT)": energy_w2(a["u"], b["u"]).value,
            "X-H W2 (nm)": energy_w2(a["xh"].ravel(), b["xh"].ravel()).value,
            "T-W2 (rad)": torus_w2(a["torsions"], b["torsions"], n_max=None)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--md", type=Path, default=dataset.MD_DIR)
    p.add_argument("--reference", type=int, nargs="+", required=True, help="seeds of 1 fs, standard-mass runs")
    p.add_argument("--candidate", type=int, nargs="+", required=True, help="seeds of the integrator under test")
    p.add_argument("--block-ns", type=float, default=1.0)
    p.add_argument("--min-blocks", type=int, default=4, help="blocks each of candidate and reference must hold")
    p.add_argument("--min-runs", type=int, default=6,
                   help="runs each side needs for the population test (Welch's t over fewer can hardly reach 3)")
    p.add_argument("--max-pairs", type=int, default=400,
                   help="block pairs per W2 set (floor, candidate): a random subset where there are more")
    p.add_argument("--json-name", default="md_integrator_ensemble")
    args = p.parse_args(argv)
    if args.max_pairs < 1:
        raise SystemExit(f"--max-pairs must be at least 1, got {args.max_pairs}")
    if len(args.reference) < 2:
        raise SystemExit("the floor needs at least 2 reference runs")
    if min(len(args.reference), len(args.candidate)) < max(2, args.min_runs):
        raise SystemExit(f"the population test needs at least {max(2, args.min_runs)} runs a side (runs are its "
                         f"independent samples), got {len(args.reference)} reference and {len(args.candidate)} candidate")
    if set(args.reference) & set(args.candidate):
        raise SystemExit(f"seeds {sorted(set(args.reference) & set(args.candidate))} are both reference and candidate")

    pairs = np.asarray(hydrogen_bond_pairs(ala3.load_topology()[0]))
    runs = {}
    with EnergyEvaluator(target=AAA) as evaluator:
        for seed in [*args.reference, *args.candidate]:
            xyz, record = load_run(args.md, seed)
            runs[seed] = {"obs": observables(xyz, evaluator, pairs), "settings": record["settings"],
                          "platforms": sorted({c.get("platform", "?") for c in record["chunks"]}), "frames": len(xyz)}
            print(f"seed {seed}: {len(xyz)} frames, dt {record['settings']['timestep_ps'] * 1000:g} fs, "
                  f"H mass {record['settings']['hydrogen_mass_amu']}, mean u {runs[seed]['obs']['u'].mean():.2f} kT",
                  flush=True)
    protocol = dataset.integrator(asdict(MDSettings()))
    for seed in runs:
        s = runs[seed]["settings"]
        if abs(s["stride_steps"] * s["timestep_ps"] - 1.0) > 1e-9:  # blocks and tau count 1 ps frames
            raise SystemExit(f"seed {seed} records frames {s['stride_steps'] * s['timestep_ps']} ps apart, not 1 ps")
        if seed in args.reference and dataset.integrator(s) != protocol:
            raise SystemExit(f"reference seed {seed} is not the protocol's integrator {protocol}: {dataset.integrator(s)}")
    candidate_settings = {json.dumps(runs[s]["settings"], sort_keys=True) for s in args.candidate}
    if len(candidate_settings) != 1:
        raise SystemExit(f"candidate seeds were run with different settings: {candidate_settings}")

    frames = int(round(args.block_ns * 1000))  # frames are 1 ps apart
    n_blocks = {s: runs[s]["frames"] // frames for s in runs}
    n_cand, n_ref = sum(n_blocks[s] for s in args.candidate), sum(n_blocks[s] for s in args.reference)
    if min(n_cand, n_ref) < args.min_blocks:
        raise SystemExit(f"{n_cand} candidate and {n_ref} reference blocks of {args.block_ns} ns: at least "
                         f"{args.min_blocks} each are needed to tell a difference")

    # 1. Means, z = (candidate - reference) / SE; control: each reference run against the others.

    def z_score(group_a, group_b, f):
        (ma, sa), (mb, sb) = (mean_and_se([f(runs[s]["obs"]) for s in g], frames) for g in (group_a, group_b))
        return ma, mb, float((ma - mb) / np.hypot(sa, sb))

    mean_rows = []
    observables_1d = {"u (kT)": lambda o: o["u"], "mean X-H length (nm)": lambda o: o["xh"].mean(1)}
    observables_1d.update({f"X-H bond {i} ({a}-{b}) (nm)": (lambda o, i=i: o["xh"][:, i]) for i, (a, b) in enumerate(pairs)})
    for name, f in observables_1d.items():
        cand_m, ref_m, z = z_score(args.candidate, args.reference, f)
        control = max(abs(z_score([s], [r for r in args.reference if r != s], f)[2]) for s in args.reference)
        mean_rows.append({"observable": name, "reference": ref_m, "candidate": cand_m, "difference": cand_m - ref_m,
                          "z": z, "control max |z|": control, "pass": bool(abs(z) < max(3.0, control))})

    # 2. Block W2: floor (reference vs reference, different runs) against candidate vs reference.
    ref_blocks = {s: blocks(runs[s]["obs"], frames) for s in args.reference}
    cand_blocks = [b for s in args.candidate for b in blocks(runs[s]["obs"], frames)]

    floor_pairs = [(a, b) for i, si in enumerate(args.reference) for sj in args.reference[i + 1:]
                   for a in ref_blocks[si] for b in ref_blocks[sj]]
    versus_pairs = [(a, b) for a in cand_blocks for s in args.reference for b in ref_blocks[s]]
    if not floor_pairs or not versus_pairs:
        raise SystemExit(f"runs are shorter than one {args.block_ns} ns block")
    # exact OT of two 1 ns blocks takes about a second: with many runs, a random subset of the pairs
    # (the same for every metric) estimates the medians and the 84th percentile
    rng = np.random.default_rng(0)
    subset = lambda pairs: pairs if len(pairs) <= args.max_pairs else [  # noqa: E731
        pairs[i] for i in sorted(rng.choice(len(pairs), args.max_pairs, replace=False))]
    floor = [block_w2(a, b) for a, b in subset(floor_pairs)]
    versus = [block_w2(a, b) for a, b in subset(versus_pairs)]
    w2_rows = []
    for metric in floor[0]:
        f = np.array([r[metric] for r in floor])
        v = np.array([r[metric] for r in versus])
        w2_rows.append({"metric": metric, "floor median": float(np.median(f)), "floor 84%": float(np.quantile(f, 0.84)),
                        "n floor pairs": len(f), "of floor pairs": len(floor_pairs), "candidate median": float(np.median(v)),
                       "n candidate pairs": len(v), "of candidate pairs": len(versus_pairs),
                        "ratio of medians": float(np.median(v) / np.median(f)),
                        "pass": bool(np.median(v) <= np.quantile(f, 0.84))})

    print("\nMeans: candidate minus reference, z = difference / SE (SE from the spread of block means)\n")
    shown = mean_rows[:2] + [r for r in mean_rows[2:] if not r["pass"]]  # every bond is in the JSON
    columns = ("observable", "reference", "candidate", "difference", "z", "control max |z|", "pass")
    print(table([{k: r[k] for k in columns} for r in shown], floatfmt="{:.5g}"))
    n_bonds_pass = sum(r["pass"] for r in mean_rows[2:])
    print(f"X-H bonds passing (|z| < max(3, control)): {n_bonds_pass} of {len(mean_rows) - 2} (failing ones listed above); "
          f"control: {sum(r['control max |z|'] < 3 for r in mean_rows[2:])} of {len(mean_rows) - 2}")
    print(f"\nBlock W2 at equal length ({args.block_ns:g} ns blocks): floor = reference vs reference (different runs)\n")
    print(table(w2_rows, floatfmt="{:.4g}"))
    pop_rows = population_rows({s: runs[s]["obs"]["regions"] for s in runs}, args.reference, args.candidate)
    print(f"\nState populations: fraction of each run's frames, mean over runs ({len(args.reference)} reference, "
          f"{len(args.candidate)} candidate), Welch's t over runs\n")
    print(table(pop_rows, floatfmt="{:.4g}"))
    verdict = (all(r["pass"] for r in mean_rows[:2]) and n_bonds_pass >= len(mean_rows) - 2 - 1
               and all(r["pass"] for r in w2_rows) and all(r["pass"] for r in pop_rows))
    print(f"\nverdict: the candidate {'matches' if verdict else 'does NOT match'} the 1 fs ensemble within the MD noise")
    out = write_json(args.json_name, {
        "target": AAA.record(), "block_ns": args.block_ns,
        "reference": {s: {k: runs[s][k] for k in ("settings", "platforms", "frames")} for s in args.reference},
        "candidate": {s: {k: runs[s][k] for k in ("settings", "platforms", "frames")} for s in args.candidate},
        "means": mean_rows, "block_w2": w2_rows, "populations": pop_rows,
        "run_populations": {s: runs[s]["obs"]["regions"] for s in runs}, "matches": bool(verdict),
        "verdict_rule": "means: |z| < max(3, control max |z|) for u and the mean X-H length, and for all but at most "
                        "one of the 17 X-H bonds; distributions: every candidate median block W2 <= the floor's 84th "
                        "percentile; populations: |Welch t| < 3 over runs for every region",
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
