"""The MD noise floor: E-W2 and T-W2 between two independent MD sets of equal size.

No generator can be judged closer to MD than two independent MD sets are to each other. All
finished trajectories are reference MD of the same ensemble. Two tables:

1. against set length: two disjoint groups of k whole trajectories each (k = 1, 2, ...),
   every frame used for E-W2 (exact 1-D, kT); T-W2 on 2000-frame subsamples (exact OT).
   Median over 5 distinct pairings drawn at random (every distinct pairing when there are fewer).
2. against sample size n (1k, 5k, 10k): n frames subsampled from each of two halves of the
   trajectories, as a generator's n samples would be compared with MD.
3. of the test set itself (AAA only): every frame of the manifest's test split against each of
   several disjoint groups of as many other whole trajectories (none of them test runs), and
   against all the other runs together, each split into the offset of the mean u and the
   centred E-W2, with the integrators on each side (an offset may be an integrator's bias).

    python benchmarks/noise_floor.py [--md data/ala3/md] [--repeats 5] [--workers 2]   # AAA runs: results/noise_floor_aaa.json
    python benchmarks/noise_floor.py --old-ensemble                                    # results/noise_floor.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.metrics import backbone_torsions, energy_w2, torus_w2  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402
from rexmol.molecules.energies import EnergyEvaluator  # noqa: E402
from rexmol.molecules.md import MDSettings  # noqa: E402
from rexmol.molecules.target import AAA  # noqa: E402


def disjoint_pairs(seeds: list[int], k: int, repeats: int, rng) -> list[tuple[list[int], list[int]]]:
    """Pairs of disjoint k-trajectory groups: every distinct one when there are at most ``repeats``
    (4 runs give only 3 distinct 2-vs-2 splits: random draws would repeat them), else ``repeats``
    distinct ones at random. The unordered pairs number C(n, k) C(n - k, k) / 2 (450,450 for
    k = 4 of 15 runs), so they are counted, not listed, and drawn by rejection when there are many."""
    n_pairs = math.comb(len(seeds), k) * math.comb(len(seeds) - k, k) // 2
    if n_pairs <= max(2 * repeats, 64):  # few, or most of them wanted: list them
        # each unordered pair once: disjoint groups differ, so exactly one order has g1 < g2
        every = [(g1, g2) for g1 in itertools.combinations(seeds, k)
                 for g2 in itertools.combinations([s for s in seeds if s not in g1], k) if g1 < g2]
        if len(every) <= repeats:
            return [(list(a), list(b)) for a, b in every]
        return [(list(every[i][0]), list(every[i][1])) for i in rng.choice(len(every), repeats, replace=False)]
    # at most half of n_pairs wanted: each draw is new with probability >= 1/2
    drawn, seen = [], set()
    for _ in range(100 * repeats + 1000):
        perm = [int(s) for s in rng.permutation(seeds)]
        g1, g2 = tuple(sorted(perm[:k])), tuple(sorted(perm[k:2 * k]))
        key = frozenset((g1, g2))
        if key not in seen:
            seen.add(key)
            drawn.append((list(g1), list(g2)))
            if len(drawn) == repeats:
                return drawn
    raise RuntimeError(f"drew {len(drawn)} distinct pairings of {k} of {len(seeds)} runs, wanted {repeats} "
                       f"of {n_pairs}: the count is wrong")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--md", type=Path, default=dataset.MD_DIR)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tw2-frames", type=int, default=2000)
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST, help="whose test split section 3 measures")
    p.add_argument("--old-ensemble", action="store_true",
                   help="the runs that record no target (constrained MD of the old ensemble), old scorer")
    args = p.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")
    # one ensemble: the runs of one target only, scored by that target's System, and of the protocol's
    # integrator or one an ensemble benchmark validated (the same gate as the data manifest's)
    target = None if args.old_ensemble else AAA
    wanted = None if target is None else target.record()
    allowed = [] if target is None else [dataset.integrator(asdict(MDSettings())),
                                         *dataset.validated_integrators(wanted)]
    runs = {s: r for s, r in dataset.completed_runs(args.md, 5000).items()
            if r.get("target") == wanted and (target is None or dataset.integrator(r["settings"]) in allowed)}
    seeds = sorted(runs)
    if len(seeds) < 2:
        raise SystemExit(f"need at least 2 finished trajectories of {target.name if target else 'the old ensemble'} "
                         f"under {args.md}, found {len(seeds)}")
    energies, torsions = {}, {}
    with EnergyEvaluator(n_workers=args.workers, target=target) as ev:
        for s in seeds:
            xyz = np.concatenate([dataset.load_chunk(args.md / runs[s]["dir"] / c["file"], c["frames"], c["sha256"])
                                  for c in runs[s]["chunks"]])
            energies[s] = ev.reduced(xyz)
            torsions[s] = backbone_torsions(xyz)[0]
            print(f"seed {s}: {len(xyz)} frames, mean u {energies[s].mean():.2f} kT", flush=True)
    rng = np.random.default_rng(0)
    stride_ns = 0.001  # frames are 1 ps apart

    by_length = []
    for k in range(1, len(seeds) // 2 + 1):
        ew, tw = [], []
        for r, (g1, g2) in enumerate(disjoint_pairs(seeds, k, args.repeats, rng)):
            u1 = np.concatenate([energies[s] for s in g1])
            u2 = np.concatenate([energies[s] for s in g2])
            ew.append(energy_w2(u1, u2).value)
            t1 = np.concatenate([torsions[s] for s in g1])
            t2 = np.concatenate([torsions[s] for s in g2])
            tw.append(torus_w2(t1, t2, n_max=args.tw2_frames, seed=r))
        by_length.append({"trajectories_per_set": k, "ns_per_set": k * 5000 * stride_ns, "frames_per_set": k * 5000,
                          "pairings": len(ew), "E_W2_kT_all": ew,
                          "E_W2_kT_median": statistics.median(ew), "E_W2_kT_max": max(ew),
                          "T_W2_rad_median": statistics.median(tw), "T_W2_rad_max": max(tw)})
        print(by_length[-1], flush=True)

    test_set = None
    if target is not None:
        test = sorted(dataset.load_manifest(args.manifest)["splits"]["test"])
        others = [s for s in seeds if s not in test]
        if not set(test) <= set(seeds):
            raise SystemExit(f"the test runs {test} of {args.manifest} are not all finished runs of {target.name}")
        k = len(test)
        rng_test = np.random.default_rng(1)  # its own stream: the other sections do not depend on this one
        order = list(rng_test.permutation(others))  # disjoint groups: every other run is used at most once
        groups = [sorted(int(s) for s in order[i:i + k]) for i in range(0, len(order) - k + 1, k)]
        u_test = np.concatenate([energies[s] for s in test])
        t_test = np.concatenate([torsions[s] for s in test])

        def integrators_of(group: list[int]) -> list[str]:
            return sorted({json.dumps(dataset.integrator(runs[s]["settings"]), sort_keys=True) for s in group})

        def against(group: list[int], seed: int) -> dict:
            # W2^2 of 1-D distributions = (difference of means)^2 + W2^2 of the centred ones: the two
            # parts tell an offset (an integrator's bias, or a slow mode) from a difference in shape
            u = np.concatenate([energies[s] for s in group])
            return {"against": group, "frames": len(u),
                    "integrators": integrators_of(group),
                    "E_W2_kT": energy_w2(u_test, u).value,
                    "mean_u_others_minus_test_kT": float(u.mean() - u_test.mean()),
                    "E_W2_kT_centred": energy_w2(u_test - u_test.mean(), u - u.mean()).value,
                    "T_W2_rad": torus_w2(t_test, np.concatenate([torsions[s] for s in group]),
                                         n_max=args.tw2_frames, seed=seed)}

        test_set = {"test_seeds": test, "frames": len(u_test), "test_integrators": integrators_of(test),
                    "groups": [against(g, r) for r, g in enumerate(groups)],
                    "unused_in_groups": sorted(set(others) - {s for g in groups for s in g}),
                    "against_all_others": against(others, len(groups))}
        print("test set:", test_set, flush=True)

    by_size = []
    half = len(seeds) // 2
    for n in (1000, 5000, 10000):
        ew, tw = [], []
        for r in range(args.repeats):
            perm = rng.permutation(seeds)
            u1, u2 = (np.concatenate([energies[s] for s in g]) for g in (perm[:half], perm[half:2 * half]))
            t1, t2 = (np.concatenate([torsions[s] for s in g]) for g in (perm[:half], perm[half:2 * half]))
            if min(len(u1), len(u2)) < n:
                break
            i1, i2 = rng.choice(len(u1), n, replace=False), rng.choice(len(u2), n, replace=False)
            ew.append(energy_w2(u1[i1], u2[i2]).value)
            tw.append(torus_w2(t1[i1], t2[i2], n_max=args.tw2_frames, seed=r))
        if ew:
            by_size.append({"samples": n, "trajectories_per_half": half, "E_W2_kT_median": statistics.median(ew),
                            "T_W2_rad_median": statistics.median(tw)})

    print("\nNoise floor against set length (two disjoint groups of whole trajectories):")
    print(table(by_length))
    print("\nNoise floor against sample size (n frames from each half of the trajectories):")
    print(table(by_size))
    if test_set is not None:
        print(f"\nTest set {test_set['test_seeds']} ({test_set['frames']} frames) against disjoint groups of "
              f"{len(test_set['test_seeds'])} other runs:")
        print(table([{"against": " ".join(map(str, r["against"])) if r is not test_set["against_all_others"]
                      else f"all {len(r['against'])} others", "E_W2_kT": r["E_W2_kT"],
                      "mean_u_others_minus_test_kT": r["mean_u_others_minus_test_kT"],
                      "E_W2_kT_centred": r["E_W2_kT_centred"], "T_W2_rad": r["T_W2_rad"]}
                     for r in [*test_set["groups"], test_set["against_all_others"]]]))
    name = "noise_floor" if target is None else f"noise_floor_{target.name.lower()}"  # the old table keeps its file
    path = write_json(name, {"description": __doc__, "target": wanted, "seeds": seeds,
                             "integrators": {s: dataset.integrator(runs[s]["settings"]) for s in seeds}, "repeats": args.repeats,
                             "tw2_frames": args.tw2_frames, "by_length": by_length, "by_size": by_size,
                             "test_set": test_set})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
