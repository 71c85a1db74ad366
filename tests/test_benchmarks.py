"""Helpers of the benchmark scripts that decide what a table measures."""

import itertools

import numpy as np
import pytest

from benchmarks.noise_floor import disjoint_pairs


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
