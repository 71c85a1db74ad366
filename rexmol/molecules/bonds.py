"""Bond-length shifts: an exact bijection of conformations with a closed-form log-determinant.

A molecule whose bond graph is a tree (tri-alanine: 33 atoms, 32 bonds, no ring) is fixed, up to
translation, by its bond vectors v_c = x_c - x_p(c), one per non-root atom c with parent p(c) in a
breadth-first tree from the root. The shift by s (nm, one entry per bond) moves each bond length
d_c = |v_c| to d_c + s_c along its own direction,

    v'_c = (d_c + s_c) v_c / d_c,    x'_root = x_root,    x'_c = x'_p(c) + v'_c,

so every bond length changes by s_c and nothing else in the bond vectors (directions, hence bond
and torsion angles, and the sign of every chirality volume) changes. Shifting by -s inverts it
wherever every shifted length stays positive. In the bond vectors it is block-diagonal, each 3x3
block the radial map v -> f(|v|) v / |v| with f(d) = d + s, whose Jacobian determinant is
f'(d) (f(d) / d)^2. Hence

    log |det dx'/dx| = 2 sum_c log((d_c + s_c) / d_c)

on the 3(N - 1) bond-vector coordinates. The bond vectors are a fixed linear reparametrisation of
conformations modulo translation, so the same log-determinant holds for a density on centred
conformations (the model's: x' may be re-centred, which changes no bond vector), and on all 3N
coordinates (the root moves by the identity). A density q becomes, after the map,
q'(x') = q(x) / |det dx'/dx|: drawing x ~ q and moving it by the shift keeps exact importance
weights, log w' = -u(x') - log q(x) + log |det dx'/dx|.

The affine map d' = a d + b (:meth:`BondTree.affine`, a > 0) is the same construction with
f(d) = a d + b, so log |det dx'/dx| = sum_c [log a_c + 2 log(d'_c / d_c)]; the shift is a = 1.
:func:`fit_moment_map` chooses a and b to move each bond's mean and standard deviation onto the
data's. (Measured in benchmarks/bond_shift.py --map moments: it narrows the bulk of log w but
lowers the ESS, so the sampler uses the shift.)

Why: a flow-matched model's bond lengths carry small systematic offsets from the MD data's
(of order 0.5 pm here, against bonds that fluctuate by about 3 pm), and moving its draws by the
mean offset, estimated on other draws, is a change of proposal the weights stay exact under
(README, "The levers, measured"). Coordinates in nm; no energies here.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class BondTree:
    """The bond graph of a molecule as a tree rooted at ``root``: ``parent[k]`` and ``child[k]`` are
    the atoms of bond k, in breadth-first order (a parent is placed before its children).

    Raises ValueError unless the bonds (pairs of atom indices) join all ``n_atoms`` atoms into one
    tree: a ring has more than N - 1 bonds, a detached fragment leaves atoms unreached, and neither
    fixes a conformation by independent bond vectors."""

    def __init__(self, bonds, n_atoms: int, root: int = 0):
        if not 0 <= root < n_atoms:
            raise ValueError(f"the root atom {root} is not among the {n_atoms} atoms")
        bonds = [tuple(int(i) for i in b) for b in bonds]
        pairs = {tuple(sorted(b)) for b in bonds}
        if any(i == j for i, j in pairs) or any(not 0 <= i < n_atoms for b in pairs for i in b):
            raise ValueError(f"bonds must join two different atoms among {n_atoms}; got {sorted(pairs)[:5]}...")
        if len(pairs) != n_atoms - 1:
            raise ValueError(f"{len(pairs)} distinct bonds for {n_atoms} atoms: a tree has {n_atoms - 1} "
                             "(a ring has more; a detached fragment fewer)")
        neighbours: dict[int, list[int]] = {i: [] for i in range(n_atoms)}
        for i, j in sorted(pairs):
            neighbours[i].append(j)
            neighbours[j].append(i)
        seen, queue, parent, child = {root}, deque([root]), [], []
        while queue:
            a = queue.popleft()
            for b in neighbours[a]:
                if b not in seen:
                    seen.add(b)
                    parent.append(a)
                    child.append(b)
                    queue.append(b)
        if len(seen) != n_atoms:
            raise ValueError(f"the bonds leave {n_atoms - len(seen)} of {n_atoms} atoms unreached from atom {root}")
        self.n_atoms, self.root = int(n_atoms), int(root)
        self.parent, self.child = np.array(parent), np.array(child)

    def lengths(self, x_nm: np.ndarray) -> np.ndarray:
        """Bond lengths (nm), shape (n, N - 1), in the tree's bond order, of conformations (n, N, 3)."""
        x = self._check(x_nm)
        return np.linalg.norm(x[:, self.child] - x[:, self.parent], axis=-1)

    def shift(self, x_nm: np.ndarray, shift_nm) -> tuple[np.ndarray, np.ndarray]:
        """(x', log |det dx'/dx|): every bond length moved by ``shift_nm`` (nm, shape (N - 1,) in the
        tree's bond order, or a scalar) along its direction, as in the module docstring: the
        affine map d' = d + s. Float64. Raises as ``affine`` does."""
        return self.affine(x_nm, 1.0, shift_nm)

    def affine(self, x_nm: np.ndarray, scale, offset_nm) -> tuple[np.ndarray, np.ndarray]:
        """(x', log |det dx'/dx|): every bond length d mapped to d' = scale d + offset along its own
        direction (``scale`` > 0, dimensionless; ``offset_nm`` in nm; each of shape (N - 1,) in the
        tree's bond order, or a scalar). Each bond vector's block is the radial map with f(d) =
        scale d + offset, so

            log |det dx'/dx| = sum_b [log scale_b + 2 log(d'_b / d_b)].

        Its inverse is the affine map with scale 1 / scale and offset -offset / scale. Float64.

        Raises ValueError for non-finite coordinates, a zero-length bond, a scale that is not
        positive, or a map that would make a bond length zero or negative (it is then not a
        bijection)."""
        x = self._check(x_nm)
        a, b = self._per_bond(scale, "scale"), self._per_bond(offset_nm, "offset")
        if (a <= 0).any():
            raise ValueError(f"the bond-length scales must be positive (the map must keep each bond's direction); "
                             f"got {a.min():.4g}")
        vectors = x[:, self.child] - x[:, self.parent]
        d = np.linalg.norm(vectors, axis=-1)
        if (d <= 0).any():
            raise ValueError("a conformation has two bonded atoms at the same place: its bond direction is undefined")
        d_new = a * d + b
        if (d_new <= 0).any():
            bad = np.argwhere(d_new <= 0)[0]
            raise ValueError(f"the map d -> {a[bad[1]]:.4g} d + {b[bad[1]]:.4g} nm would make bond "
                             f"{self.parent[bad[1]]}-{self.child[bad[1]]} of conformation {bad[0]} "
                             f"(length {d[tuple(bad)]:.4g} nm) non-positive")
        moved = vectors * (d_new / d)[..., None]
        y = np.empty_like(x)
        y[:, self.root] = x[:, self.root]
        for k, (p, c) in enumerate(zip(self.parent, self.child)):  # parents come first: breadth-first order
            y[:, c] = y[:, p] + moved[:, k]
        return y, np.log(a).sum() + 2.0 * np.log(d_new / d).sum(axis=1)

    def _per_bond(self, value, name: str) -> np.ndarray:
        v = np.asarray(value, dtype=np.float64)
        if v.ndim > 1 or (v.ndim == 1 and len(v) != len(self.child)):
            raise ValueError(f"the bond {name}s must have shape ({len(self.child)},), one per bond (or be one number), "
                             f"got {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError(f"the bond {name}s must be finite")
        return np.broadcast_to(v, (len(self.child),))

    def _check(self, x_nm) -> np.ndarray:
        x = np.asarray(x_nm, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (self.n_atoms, 3):
            raise ValueError(f"conformations must have shape (n, {self.n_atoms}, 3) in nm, got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{int((~np.isfinite(x).all(axis=(1, 2))).sum())} conformations have non-finite coordinates")
        return x


def fit_mean_shift(tree: BondTree, model_x_nm: np.ndarray, data_x_nm: np.ndarray) -> np.ndarray:
    """The shift (nm, per bond) that moves the mean bond lengths of the model's draws onto the data's:
    s = mean_data(d) - mean_model(d). Pass draws other than the ones the shift will be judged on."""
    return tree.lengths(data_x_nm).mean(axis=0) - tree.lengths(model_x_nm).mean(axis=0)


def fit_moment_map(tree: BondTree, model_x_nm: np.ndarray, data_x_nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset nm), per bond, of the affine map d' = scale d + offset that moves the mean and
    standard deviation of the model's bond lengths onto the data's: scale = sd_data / sd_model,
    offset = mean_data - scale mean_model. Pass draws other than the ones the map will be judged on."""
    model, data = tree.lengths(model_x_nm), tree.lengths(data_x_nm)
    if len(model) < 2 or len(data) < 2:
        raise ValueError(f"a standard deviation needs two conformations or more; got {len(model)} draws, {len(data)} data")
    scale = data.std(axis=0) / model.std(axis=0)
    return scale, data.mean(axis=0) - scale * model.mean(axis=0)
