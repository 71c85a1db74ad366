"""Helpers of the benchmark scripts that decide what a table measures."""

import itertools
import json

import numpy as np
import pytest

from benchmarks.noise_floor import disjoint_pairs
from benchmarks.training_ab import paired_nll_difference, read_likelihood


def brute_force_pairings(seeds, k):
    """Every unordered pair of disjoint k-subsets, by listing them."""
    pairs = set()
    for g1 in itertools.combinations(seeds, k):
        for g2 in itertools.combinations([s for s in seeds if s not in g1], k):
            pairs.add(frozenset((g1, g2)))
    return pairs


@pytest.mark.parametrize("n_seeds,k,repeats", [(4, 2, 5), (6, 2, 5), (8, 4, 5), (8, 4, 30), (8, 4, 35),
                                               (9, 3, 200), (15, 4, 5), (15, 7, 5)])
def test_disjoint_pairs_are_disjoint_distinct_and_all_of_them_when_few(n_seeds, k, repeats):
    seeds = list(range(101, 101 + n_seeds))
    pairs = disjoint_pairs(seeds, k, repeats, np.random.default_rng(0))
    keys = set()
    for g1, g2 in pairs:
        assert len(g1) == len(g2) == k and not set(g1) & set(g2) and set(g1) | set(g2) <= set(seeds)
        keys.add(frozenset((tuple(sorted(g1)), tuple(sorted(g2)))))
    assert len(keys) == len(pairs), "a pairing was drawn twice (in either order)"
    if n_seeds <= 9:  # against the listed pairings, not the formula the code uses
        every = brute_force_pairings(seeds, k)
        assert len(pairs) == min(repeats, len(every)) and keys <= every
    else:
        assert len(pairs) == repeats


def _likelihood_dir(path, x, log_q, solver="Princeps(midpoint), 16 steps"):
    path.mkdir()
    (path / "likelihood.json").write_text(json.dumps({"solver": solver, "frames": len(log_q), "frames_from": "val"}))
    np.savez(path / "log_q.npz", x=x, log_q=log_q)
    return path


def test_paired_nll_difference_is_the_mean_per_frame_difference_and_refuses_other_frames(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 33, 3)).astype(np.float32)
    base = rng.normal(340.0, 8.0, size=400)  # log q varies a lot between frames ...
    shift = rng.normal(1.5, 0.5, size=400)   # ... the difference little: pairing is what resolves it
    a = read_likelihood(_likelihood_dir(tmp_path / "a", x, base))
    b = read_likelihood(_likelihood_dir(tmp_path / "b", x, base + shift))
    d = paired_nll_difference(a, b)
    assert d["nll_difference_nats"] == pytest.approx(-shift.mean(), abs=1e-9)  # b's log q is higher: lower NLL
    assert d["se_nats"] == pytest.approx(shift.std(ddof=1) / 20.0, rel=1e-9)
    assert d["interval_16_84"][0] < d["nll_difference_nats"] < d["interval_16_84"][1]
    assert d["nll_nats"] - d["nll_base_nats"] == pytest.approx(d["nll_difference_nats"])
    other = read_likelihood(_likelihood_dir(tmp_path / "c", x[::-1].copy(), base))
    with pytest.raises(SystemExit, match="not of the same frames"):
        paired_nll_difference(a, other)
    coarse = read_likelihood(_likelihood_dir(tmp_path / "d", x, base, solver="Princeps(midpoint), 8 steps"))
    with pytest.raises(SystemExit, match="different solvers"):
        paired_nll_difference(a, coarse)
