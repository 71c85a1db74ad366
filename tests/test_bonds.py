"""The bond-length shift (rexmol.molecules.bonds): a bijection whose log-determinant is closed form.

Its log |det| is checked against a finite-difference Jacobian of the map over all 99 coordinates
(an independent route), its geometry against bond angles and torsions computed elsewhere, and
its bad input by name."""

import numpy as np
import pytest

from rexmol.metrics import backbone_torsions
from rexmol.model import bond_graph
from rexmol.molecules import ala3
from rexmol.molecules.bonds import BondTree, fit_mean_shift, fit_moment_map


@pytest.fixture(scope="module")
def tree():
    return BondTree(bond_graph(ala3.TOPOLOGY_PDB), ala3.N_ATOMS)


@pytest.fixture(scope="module")
def conformations():
    """The reference structure and two copies jittered by 3 pm per coordinate (bonds' own scale)."""
    _, x0 = ala3.load_topology()
    rng = np.random.default_rng(0)
    return np.stack([x0, x0 + 0.003 * rng.standard_normal(x0.shape), x0 + 0.003 * rng.standard_normal(x0.shape)])


def _bond_angles(x):
    """Angle (rad) at each atom between each pair of its bonds, from the topology's bond list."""
    neighbours = {}
    for p, c in bond_graph(ala3.TOPOLOGY_PDB):
        neighbours.setdefault(p, []).append(c)
        neighbours.setdefault(c, []).append(p)
    out = []
    for centre, ns in sorted(neighbours.items()):
        for i in range(len(ns)):
            for j in range(i + 1, len(ns)):
                a, b = x[:, ns[i]] - x[:, centre], x[:, ns[j]] - x[:, centre]
                cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
                out.append(np.arccos(np.clip(cos, -1, 1)))
    return np.stack(out, axis=1)


def test_tri_alanine_bonds_form_a_tree(tree):
    assert len(tree.child) == ala3.N_ATOMS - 1 == 32
    assert {frozenset(b) for b in zip(tree.parent.tolist(), tree.child.tolist())} == {
        frozenset(b) for b in bond_graph(ala3.TOPOLOGY_PDB)}
    assert sorted(tree.child.tolist() + [tree.root]) == list(range(ala3.N_ATOMS))
    placed = {tree.root}
    for p, c in zip(tree.parent, tree.child):  # breadth-first: a bond's parent is placed before it
        assert p in placed
        placed.add(c)


def test_the_shift_moves_each_bond_length_by_its_shift_and_keeps_angles_and_torsions(tree, conformations):
    s = np.random.default_rng(1).uniform(-0.002, 0.002, len(tree.child))
    y, _ = tree.shift(conformations, s)
    np.testing.assert_allclose(tree.lengths(y) - tree.lengths(conformations), np.broadcast_to(s, (3, 32)), atol=1e-12)
    np.testing.assert_allclose(_bond_angles(y), _bond_angles(conformations), atol=1e-10)
    np.testing.assert_allclose(backbone_torsions(y)[0], backbone_torsions(conformations)[0], atol=1e-5)  # mdtraj: float32
    assert np.abs(y - conformations).max() > 1e-3  # it did move the atoms


def test_log_det_equals_the_finite_difference_jacobian(tree, conformations):
    """log |det dx'/dx| over all 99 coordinates, by central differences of the map itself (float64,
    step 1e-7 nm), against the closed form 2 sum log((d + s) / d)."""
    s = np.random.default_rng(2).uniform(-0.01, 0.01, len(tree.child))
    for x in conformations:
        flat = x.reshape(-1)
        h = 1e-7
        jac = np.empty((flat.size, flat.size))
        for k in range(flat.size):
            e = np.zeros_like(flat)
            e[k] = h
            plus = tree.shift((flat + e).reshape(1, -1, 3), s)[0].reshape(-1)
            minus = tree.shift((flat - e).reshape(1, -1, 3), s)[0].reshape(-1)
            jac[:, k] = (plus - minus) / (2 * h)
        sign, logdet = np.linalg.slogdet(jac)
        assert sign > 0
        closed = tree.shift(x[None], s)[1][0]
        assert abs(closed) > 0.05  # shifts up to 10 pm per bond: a volume change well above the tolerance
        assert logdet == pytest.approx(closed, abs=1e-5)


def test_the_opposite_shift_inverts_it(tree, conformations):
    s = np.random.default_rng(3).uniform(-0.005, 0.005, len(tree.child))
    y, logdet = tree.shift(conformations, s)
    back, logdet_back = tree.shift(y, -s)
    np.testing.assert_allclose(back, conformations, atol=1e-13)
    np.testing.assert_allclose(logdet + logdet_back, 0.0, atol=1e-12)


def test_the_mean_shift_moves_the_model_means_onto_the_data(tree, conformations):
    data = conformations[:1]
    model = conformations[1:]
    s = fit_mean_shift(tree, model, data)
    y, _ = tree.shift(model, s)
    np.testing.assert_allclose(tree.lengths(y).mean(0), tree.lengths(data)[0], atol=1e-12)


def test_bad_input_is_named(tree, conformations):
    with pytest.raises(ValueError, match="a tree has 2"):
        BondTree([(0, 1), (1, 2), (2, 0)], 3)  # a ring
    with pytest.raises(ValueError, match="unreached"):
        BondTree([(0, 1), (2, 3), (3, 4), (4, 2)], 5)  # N - 1 bonds, but a ring and a detached pair
    with pytest.raises(ValueError, match="shape"):
        tree.shift(conformations[:, :30], 0.0)
    bad = conformations.copy()
    bad[1, 4, 0] = np.nan
    with pytest.raises(ValueError, match="1 conformations have non-finite"):
        tree.shift(bad, 0.0)
    with pytest.raises(ValueError, match="non-positive"):
        tree.shift(conformations, -0.2)  # longer than every bond of the molecule
    with pytest.raises(ValueError, match=r"offsets must have shape \(32,\)"):
        tree.shift(conformations, np.zeros(31))
    with pytest.raises(ValueError, match="root atom 40"):
        BondTree(bond_graph(ala3.TOPOLOGY_PDB), ala3.N_ATOMS, root=40)


def test_affine_log_det_equals_the_finite_difference_jacobian_and_its_inverse_undoes_it(tree, conformations):
    """d' = a d + b with a != 1: log |det| = sum log a + 2 sum log(d'/d) against central differences of
    the map (float64, step 1e-7 nm), and the map with 1/a, -b/a inverts it."""
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0.7, 1.3, len(tree.child)), rng.uniform(-0.02, 0.02, len(tree.child))
    x = conformations[1]
    flat, h = x.reshape(-1), 1e-7
    jac = np.empty((flat.size, flat.size))
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = h
        jac[:, k] = (tree.affine((flat + e).reshape(1, -1, 3), a, b)[0]
                     - tree.affine((flat - e).reshape(1, -1, 3), a, b)[0]).reshape(-1) / (2 * h)
    sign, logdet = np.linalg.slogdet(jac)
    closed = tree.affine(x[None], a, b)[1][0]
    assert sign > 0 and abs(closed) > 0.5
    assert logdet == pytest.approx(closed, abs=1e-5)
    y, forward = tree.affine(conformations, a, b)
    np.testing.assert_allclose(tree.lengths(y), a * tree.lengths(conformations) + b, atol=1e-12)
    back, backward = tree.affine(y, 1 / a, -b / a)
    np.testing.assert_allclose(back, conformations, atol=1e-12)
    np.testing.assert_allclose(forward + backward, 0.0, atol=1e-10)
    with pytest.raises(ValueError, match="scales must be positive"):
        tree.affine(conformations, -a, b)


def test_the_moment_map_moves_model_mean_and_spread_onto_the_data(tree, conformations):
    rng = np.random.default_rng(6)
    _, x0 = ala3.load_topology()
    data = x0 + 0.002 * rng.standard_normal((50, *x0.shape))
    model = x0 + 0.004 * rng.standard_normal((60, *x0.shape))
    scale, offset = fit_moment_map(tree, model, data)
    y, _ = tree.affine(model, scale, offset)
    np.testing.assert_allclose(tree.lengths(y).mean(0), tree.lengths(data).mean(0), atol=1e-12)
    np.testing.assert_allclose(tree.lengths(y).std(0), tree.lengths(data).std(0), rtol=1e-9)
    assert (scale < 1).mean() > 0.9  # the model's bonds were twice as noisy
    with pytest.raises(ValueError, match="two conformations or more"):
        fit_moment_map(tree, model[:1], data)
