"""The virtual Brownian tree: exact statistics, exact consistency, replayability, bounded memory."""

import math
import tracemalloc

import pytest
import torch
from scipy import stats

from rexmol.solvers.brownian import VirtualBrownianTree

N = 100_000  # independent Brownian motions, one per element


@pytest.fixture(scope="module")
def tree():
    return VirtualBrownianTree(0.0, 2.0, (N,), seed=11, dtype=torch.float64)


@pytest.mark.parametrize("s, t", [(0.0, 2.0), (0.3, 1.1), (1.0, 1.0004), (0.123456, 0.7), (1.5, 0.25)])
def test_increments_and_levy_areas_have_the_exact_law(tree, s, t):
    w, h = tree(s, t)
    length = abs(t - s)
    se = math.sqrt(2 / N)  # relative standard error of a variance estimate
    assert float(w.var()) / length == pytest.approx(1.0, abs=5 * se)
    assert float(h.var()) * 12 / length == pytest.approx(1.0, abs=5 * se)
    assert abs(float(torch.corrcoef(torch.stack([w, h]))[0, 1])) < 5 / math.sqrt(N)
    assert stats.kstest((w / math.sqrt(length)).numpy(), "norm").pvalue > 1e-3
    assert stats.kstest((h * math.sqrt(12 / length)).numpy(), "norm").pvalue > 1e-3


def test_additivity_and_the_split_identity_hold_to_rounding(tree):
    (w1, h1), (w2, h2), (w, h) = tree(0.1, 0.45), tree(0.45, 1.3), tree(0.1, 1.3)
    assert float((w1 + w2 - w).abs().max()) < 1e-13
    p, q = 0.35, 0.85
    # (p + q) H = (q W1 - p W2) / 2 + p H1 + q H2: the areas belong to one path
    assert float(((q * w1 - p * w2) / 2 + p * h1 + q * h2 - (p + q) * h).abs().max()) < 1e-13
    wr, hr = tree(1.3, 0.1)
    assert torch.equal(wr, -w) and torch.allclose(hr, h, rtol=0, atol=1e-13)


def test_brownian_bridge_statistics(tree):
    """Given W(0, 2), W(0, tau) - (tau/2) W(0, 2) is a bridge: variance tau (2 - tau)/2, independent
    of the endpoint; and H(0, 2) is the time average of the bridge (checked pathwise)."""
    w_end, h_end = tree(0.0, 2.0)
    tau = 0.7
    bridge = tree.increment(0.0, tau) - tau / 2 * w_end
    assert float(bridge.var()) == pytest.approx(tau * (2 - tau) / 2, rel=5 * math.sqrt(2 / N))
    assert abs(float(torch.corrcoef(torch.stack([bridge, w_end]))[0, 1])) < 5 / math.sqrt(N)
    small = VirtualBrownianTree(0.0, 2.0, (1000,), seed=11, dtype=torch.float64)
    grid = torch.linspace(0.0, 2.0, 801, dtype=torch.float64)
    path = torch.stack([small.increment(0.0, float(u)) if u > 0 else torch.zeros(1000, dtype=torch.float64)
                        for u in grid])
    w_small, h_small = small(0.0, 2.0)
    bridge_path = path - grid[:, None] / 2 * w_small
    riemann = torch.trapezoid(bridge_path, grid, dim=0) / 2.0
    # the trapezoid rule on the bridge converges like sqrt(step): 801 points leave ~1e-2
    assert float((riemann - h_small).abs().mean()) < 0.02
    assert float((riemann - h_small).abs().mean()) < 0.1 * float(h_small.abs().mean())


def test_replayable_in_any_order_and_dtype():
    queries = [(0.2, 0.9), (0.0, 0.31), (0.5, 0.50001), (0.9, 0.1)]
    a = VirtualBrownianTree(0.0, 1.0, (3, 4), seed=5, dtype=torch.float64)
    b = VirtualBrownianTree(0.0, 1.0, (3, 4), seed=5, dtype=torch.float64, cache_size=0)
    first = [a(*q) for q in queries]
    second = [b(*q) for q in reversed(queries)][::-1]
    for (w1, h1), (w2, h2) in zip(first, second):
        assert torch.equal(w1, w2) and torch.equal(h1, h2)
    f32 = VirtualBrownianTree(0.0, 1.0, (3, 4), seed=5, dtype=torch.float32)
    assert torch.equal(f32(0.2, 0.9)[0], first[0][0].float())
    other = VirtualBrownianTree(0.0, 1.0, (3, 4), seed=6, dtype=torch.float64)
    assert not torch.equal(other(0.2, 0.9)[0], first[0][0])


def test_memory_does_not_grow_with_queries():
    tree = VirtualBrownianTree(0.0, 1.0, (8,), seed=0, tol=2.0**-10)
    for i in range(200):  # warm-up: allocator and generator caches
        tree(i / 1000, i / 1000 + 1e-3)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(2000):
        s = (i * 0.6180339887) % 0.99
        tree(s, s + 0.005)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert growth < 64 * 1024, f"memory grew by {growth} bytes over 2000 queries"
    assert len(tree._cache) <= 8


@pytest.mark.slow
def test_memory_is_flat_over_a_hundred_thousand_queries():
    import gc

    tree = VirtualBrownianTree(0.0, 1.0, (8,), seed=0, tol=2.0**-10)
    for i in range(1000):
        tree(i / 2000, i / 2000 + 1e-3)
    gc.collect()
    objects = len(gc.get_objects())
    for i in range(100_000):
        s = (i * 0.6180339887) % 0.99
        tree(s, s + 0.005)
    gc.collect()
    assert len(gc.get_objects()) - objects < 100


def test_bad_queries_are_refused():
    tree = VirtualBrownianTree(0.0, 1.0, (2,))
    with pytest.raises(ValueError, match="outside the tree's interval"):
        tree(0.5, 1.5)
    with pytest.raises(ValueError, match="empty interval"):
        tree(0.5, 0.5)
    with pytest.raises(ValueError, match="need t0 < t1"):
        VirtualBrownianTree(1.0, 0.0, (2,))
    with pytest.raises(ValueError, match="tol must lie"):
        VirtualBrownianTree(0.0, 1.0, (2,), tol=2.0)
