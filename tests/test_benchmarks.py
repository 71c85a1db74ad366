"""Helpers of the benchmark scripts that decide what a table measures."""

import math

import numpy as np
import pytest

from benchmarks.noise_floor import disjoint_pairs


@pytest.mark.parametrize("n_seeds,k,repeats", [(4, 2, 5), (6, 2, 5), (15, 4, 5), (15, 7, 5)])
def test_disjoint_pairs_are_disjoint_distinct_and_all_of_them_when_few(n_seeds, k, repeats):
    seeds = list(range(101, 101 + n_seeds))
    pairs = disjoint_pairs(seeds, k, repeats, np.random.default_rng(0))
    total = math.comb(n_seeds, k) * math.comb(n_seeds - k, k) // 2  # unordered pairs of disjoint k-sets
    assert len(pairs) == min(repeats, total)
    keys = set()
    for g1, g2 in pairs:
        assert len(g1) == len(g2) == k and not set(g1) & set(g2) and set(g1) | set(g2) <= set(seeds)
        keys.add(frozenset((tuple(sorted(g1)), tuple(sorted(g2)))))
    assert len(keys) == len(pairs), "a pairing was drawn twice (in either order)"
