"""The MD noise floor: E-W2 and T-W2 between two independent MD sets of equal size.

No generator can be judged closer to MD than two independent MD sets are to each other. The
finished trajectories of the target at its protocol's integrator, or at one the integrator
benchmark validated (the data manifest's gate), are reference MD of its ensemble; runs of another
integrator are left out and listed (``excluded_seeds``). Three parts:

1. against set length: two disjoint groups of k whole trajectories each (k = 1, 2, ...),
   every frame used for E-W2 (exact 1-D, kT); T-W2 on 2000-frame subsamples (exact OT).
   Median over 5 distinct pairings drawn at random (every distinct pairing when there are fewer).
2. against sample size n (1k, 5k, 10k): n frames subsampled from each of two halves of the
   trajectories, as a generator's n samples would be compared with MD.
3. of the test set itself (AAA only): every frame of the manifest's test split against each of
   several disjoint groups of as many other whole trajectories (none of them test runs), and
   against all the other runs together, each split into the offset of the mean u and the
   centred E-W2, with the integrators on each side (an offset may be an integrator's bias); then
   against the other runs of the protocol's own integrator (1 fs), and two disjoint k-run sets of
   the 1 fs runs against each other: the test set's floor at its own size k, or, with fewer than
   2k runs at 1 fs, at the largest size they allow, beside what the sampling-noise model below
   gives at that size (the check of the model before it is read at the test set's size); and
   what sampling noise alone gives: two sets of n independent draws from the pooled 1 fs frames
   against n, at the test set's own number of independent samples (its frames / tau_int of u),
   and the n (and ns of 1 fs MD) at which the median falls to the issue's 0.15 kT.

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
from rexmol.metrics.autocorrelation import converges, integrated_time  # noqa: E402
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


TEST_FLOOR_BOUND_KT = 0.15  # the one-ensemble issue's bound on the test set's E-W2 floor


def independent_floor(pool: np.ndarray, sizes, repeats: int, rng) -> list[dict]:
    """E-W2 (units of ``pool``) between two sets of n independent draws (with replacement, so n
    may exceed the pool; the pool stands in for the distribution) from the pooled energies,
    for each n in ``sizes``: what sampling noise alone gives at n independent samples per side,
    with no slow mode and no run-to-run offset. Median, 16-84% band and root mean square over
    ``repeats`` pairs (for a uniform distribution on [0, 1], E[W2^2] = 1 / (3 (n + 1)) exactly)."""
    rows = []
    for n in sizes:
        w = np.array([energy_w2(rng.choice(pool, n), rng.choice(pool, n)).value for _ in range(repeats)])
        rows.append({"independent_samples": int(n), "E_W2_median": float(np.median(w)),
                     "E_W2_16_84": [float(q) for q in np.quantile(w, [0.16, 0.84])],
                     "E_W2_rms": float(np.sqrt(np.mean(w ** 2)))})
    return rows


def samples_for(rows: list[dict], bound: float) -> float | None:
    """The n at which the median of :func:`independent_floor` falls to ``bound``: log-log
    interpolation between the two sizes around the crossing (the noise falls about as n^-1/2);
    None when no size in ``rows`` reaches it; the smallest size (an upper bound on n) when that
    one is already at or below the bound."""
    for a, b in itertools.pairwise(rows):
        if a["E_W2_median"] > bound >= b["E_W2_median"]:
            slope = math.log(b["E_W2_median"] / a["E_W2_median"]) / math.log(b["independent_samples"] / a["independent_samples"])
            return a["independent_samples"] * math.exp(math.log(bound / a["E_W2_median"]) / slope)
    return rows[0]["independent_samples"] if rows and rows[0]["E_W2_median"] <= bound else None


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
    allowed = [] if target is None else dataset.admitted_integrators(wanted)
    finished = {s: r for s, r in dataset.completed_runs(args.md, 5000).items() if r.get("target") == wanted}
    runs = {s: r for s, r in finished.items() if target is None or dataset.integrator(r["settings"]) in allowed}
    excluded = sorted(set(finished) - set(runs))  # e.g. HMR runs, once the integrator benchmark rejected HMR
    if excluded:
        print(f"not reference MD of the target's ensemble (an integrator neither the protocol's nor validated): "
              f"seeds {excluded}", flush=True)
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

    # what sampling noise alone gives at each set length (two sets of independent draws of the pooled
    # energies, as many as a set's frames over tau_int of u): beside each measured row, so a length
    # where runs differ by more than that (an offset, a slow state) shows
    tau_all = integrated_time([energies[s] for s in seeds], unconverged="bound")
    pooled = np.concatenate([energies[s] for s in seeds])
    by_length = []
    for k in range(1, len(seeds) // 2 + 1):
        ew, tw, sets = [], [], []
        for r, (g1, g2) in enumerate(disjoint_pairs(seeds, k, args.repeats, rng)):
            sets.append([g1, g2])
            u1 = np.concatenate([energies[s] for s in g1])
            u2 = np.concatenate([energies[s] for s in g2])
            ew.append(energy_w2(u1, u2).value)
            t1 = np.concatenate([torsions[s] for s in g1])
            t2 = np.concatenate([torsions[s] for s in g2])
            tw.append(torus_w2(t1, t2, n_max=args.tw2_frames, seed=r))
        model = independent_floor(pooled, [round(k * 5000 / tau_all)], 200, np.random.default_rng([5, k]))[0]
        by_length.append({"trajectories_per_set": k, "ns_per_set": k * 5000 * stride_ns, "frames_per_set": k * 5000,
                          "pairings": len(ew), "sets": sets, "E_W2_kT_all": ew,
                          "E_W2_kT_median": statistics.median(ew), "E_W2_kT_max": max(ew),
                          "E_W2_kT_sampling_noise_median": model["E_W2_median"],
                          "T_W2_rad_median": statistics.median(tw), "T_W2_rad_max": max(tw)})
        print(by_length[-1], flush=True)

    test_set = None
    if target is not None:
        test = sorted(dataset.load_manifest(args.manifest)["splits"]["test"])
        others = [s for s in seeds if s not in test]
        if not set(test) <= set(seeds):
            raise SystemExit(f"the test runs {sorted(set(test) - set(seeds))} of {args.manifest} are not finished runs "
                             f"of {target.name} at an admitted integrator (excluded: {excluded})")
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

        # the floor that matters for the test set is against independent MD of its own integrator:
        # the other runs at the protocol's 1 fs, and, once there are 2k runs at 1 fs, two disjoint
        # k-run sets of them (the test set's size) against each other
        protocol = dataset.integrator(asdict(MDSettings()))
        at_protocol = [s for s in seeds if dataset.integrator(runs[s]["settings"]) == protocol]
        if not at_protocol:
            raise SystemExit(f"no finished run at the protocol's integrator {protocol}: the test set's floor is "
                             "measured against MD of its own integrator")
        others_at_protocol = [s for s in at_protocol if s not in test]
        pairings = []
        # every distinct pairing up to 64 (8 runs at k = 4 give 35): the E-W2s are cheap; pairings share
        # runs, so their spread understates the run-to-run variation. Fewer than 2k runs at 1 fs: the
        # largest sets there are (k_pair runs each), where the sampling-noise model below is checked
        # before it is read at the test set's own size
        k_pair = min(k, len(at_protocol) // 2)
        for g1, g2 in disjoint_pairs(at_protocol, k_pair, 64, rng_test) if k_pair >= 1 else []:
            u1, u2 = (np.concatenate([energies[s] for s in g]) for g in (g1, g2))
            pairings.append({"sets": [g1, g2], "E_W2_kT": energy_w2(u1, u2).value,
                             "mean_u_difference_kT": float(u2.mean() - u1.mean()),
                             "E_W2_kT_centred": energy_w2(u1 - u1.mean(), u2 - u2.mean()).value})
        test_set = {"test_seeds": test, "frames": len(u_test), "test_integrators": integrators_of(test),
                    "groups": [against(g, r) for r, g in enumerate(groups)],
                    "unused_in_groups": sorted(set(others) - {s for g in groups for s in g}),
                    "against_all_others": against(others, len(groups)),
                    "protocol_integrator": protocol, "runs_at_protocol": at_protocol,
                    "against_other_runs_at_protocol": (against(others_at_protocol, len(groups) + 1)
                                                       if others_at_protocol else None),
                    "protocol_pairings_runs_per_set": k_pair,
                    "protocol_pairings": pairings,
                    "protocol_pairings_E_W2_kT_median": (statistics.median(q["E_W2_kT"] for q in pairings)
                                                         if pairings else None)}
        # how much of the floor sampling noise alone explains: two sets of n independent draws from the
        # pooled 1 fs frames, against n; a 1 fs run of T frames holds about T / tau_int independent ones
        u_at_protocol = [energies[s] for s in at_protocol]
        # a lower bound where Sokal's window does not converge (then the counts below are upper bounds)
        tau_e = integrated_time(u_at_protocol, unconverged="bound")
        rows = independent_floor(np.concatenate(u_at_protocol), [500 * 2 ** i for i in range(8)], 200,
                                 np.random.default_rng(2))
        n_test = len(u_test) / tau_e
        needed = samples_for(rows, TEST_FLOOR_BOUND_KT)
        n_pair = k_pair * int(np.median([len(energies[s]) for s in at_protocol])) / tau_e  # k_pair whole runs a set
        test_set["independent_samples"] = {
            "tau_int_E_frames": tau_e, "tau_int_E_converged": converges(u_at_protocol), "test_independent_samples": n_test,
            "E_W2_kT_at_test_size": independent_floor(np.concatenate(u_at_protocol), [round(n_test)], 200,
                                                      np.random.default_rng(3))[0],
            # the model against the measured pairings, at their size
            "E_W2_kT_at_pairing_size": (independent_floor(np.concatenate(u_at_protocol), [round(n_pair)], 200,
                                                          np.random.default_rng(4))[0] if pairings else None),
            "rows": rows, "bound_kT": TEST_FLOOR_BOUND_KT, "independent_samples_for_bound": needed,
            "ns_per_set_for_bound": None if needed is None else needed * tau_e * stride_ns}
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
        mine = test_set["against_other_runs_at_protocol"]
        if mine is None:
            print(f"\nNo run but the test runs is at the protocol's integrator ({test_set['protocol_integrator']}).")
        else:
            print(f"\nTest set against the {len(mine['against'])} other runs at the protocol's integrator "
                  f"({' '.join(map(str, mine['against']))}, {mine['frames']} frames): E-W2 {mine['E_W2_kT']:.3f} kT "
                  f"(mean u offset {mine['mean_u_others_minus_test_kT']:+.3f}, centred {mine['E_W2_kT_centred']:.3f}), "
                  f"T-W2 {mine['T_W2_rad']:.3f} rad")
        if test_set["protocol_pairings"]:
            kp = test_set["protocol_pairings_runs_per_set"]
            size = "the test set's size" if kp == len(test_set["test_seeds"]) else "the largest that 1 fs runs allow"
            model = test_set["independent_samples"]["E_W2_kT_at_pairing_size"]["E_W2_median"]
            print(f"\nTwo disjoint sets of {kp} runs at the protocol's integrator ({size}), median "
                  f"{test_set['protocol_pairings_E_W2_kT_median']:.3f} kT (sampling noise alone at that size: {model:.3f}):")
            print(table([{"sets": " / ".join(" ".join(map(str, g)) for g in q["sets"]), "E_W2_kT": q["E_W2_kT"],
                          "mean_u_difference_kT": q["mean_u_difference_kT"], "E_W2_kT_centred": q["E_W2_kT_centred"]}
                         for q in test_set["protocol_pairings"]]))
        ind = test_set["independent_samples"]
        print(f"\nSampling noise alone: two sets of n independent draws of the pooled 1 fs frames (tau_int of u "
              f"{ind['tau_int_E_frames']:.1f} frames, so the test set holds about {ind['test_independent_samples']:.0f}; "
              f"there the median is {ind['E_W2_kT_at_test_size']['E_W2_median']:.3f} kT):")
        print(table(ind["rows"]))
        if ind["independent_samples_for_bound"] is None:
            print(f"no size up to {ind['rows'][-1]['independent_samples']} reaches {TEST_FLOOR_BOUND_KT} kT")
        else:
            print(f"{TEST_FLOOR_BOUND_KT} kT needs about {ind['independent_samples_for_bound']:.0f} independent samples "
                  f"per set: {ind['ns_per_set_for_bound']:.0f} ns of 1 fs MD")
    name = "noise_floor" if target is None else f"noise_floor_{target.name.lower()}"  # the old table keeps its file
    path = write_json(name, {"description": __doc__, "target": wanted, "seeds": seeds, "excluded_seeds": excluded,
                             "integrators": {s: dataset.integrator(runs[s]["settings"]) for s in seeds},
                             "mean_u_kT_by_run": {s: float(energies[s].mean()) for s in seeds}, "repeats": args.repeats,
                             "tw2_frames": args.tw2_frames, "by_length": by_length, "by_size": by_size,
                             "test_set": test_set})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
