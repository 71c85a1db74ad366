"""A bond-length shift fitted once to a model and sampler, then applied to every draw of that pair.

A flow-matched model's bond lengths sit a fraction of a picometre off the MD data's on average
(README, "The levers, measured"). :meth:`rexmol.molecules.bonds.BondTree.shift` moves each bond
length of a conformation by s_b along its own direction, a bijection with a closed-form
log-determinant, so a draw x of the model moved to x' = T(x) is a draw of the changed proposal

    log q'(x') = log q(x) - log |det dT/dx|,      log |det dT/dx| = 2 sum_b log((d_b + s_b) / d_b),

and its importance weight stays exact: log w' = -u(x') - log q'(x') (u = U/kT at the target's
temperature). s_b = mean over the MD training split of d_b minus the mean over the model's draws
of d_b, measured on draws from noise the shifted runs do not use (another seed), so the shift is a
fixed part of the proposal and not tuned to the draws it is judged on.

The shift belongs to one model (its SHA-256) and one sampler (the solver spec: the discrete map
moves bonds too), and a run with another is refused. File: JSON, one entry per bond (atom indices,
names, shift in nm), with how it was fitted. Coordinates in nm.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec
from rexmol.io import atomic_write_json
from rexmol.model import bond_graph
from rexmol.model.checkpoint import model_sha256
from rexmol.molecules import ala3, dataset
from rexmol.molecules.bonds import BondTree, fit_mean_shift
from rexmol.molecules.energies import EnergyEvaluator
from rexmol.molecules.target import Target

FORMAT = "rexmol bond-length shift v1"
#: draws whose u lies above this percentile of the fit's draws are left out of the mean bond lengths:
#: a few clashes would otherwise set it
FIT_U_PERCENTILE = 95.0


def sidecar_path(model_path) -> Path:
    """Where a model's own shift lives: beside it, ``<stem>_bond_shift.json`` (models/ala3_dit.pt ->
    models/ala3_dit_bond_shift.json)."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}_bond_shift.json")


def resolve(choice, model_path, spec: SolverSpec) -> tuple[Path | None, str]:
    """The shift file a run uses, and why. ``choice`` is a path, "none", or "auto": the model's
    sidecar (:func:`sidecar_path`) when it exists and was fitted to this sampler; with another
    sampler it is left out (a note says so), and a sidecar fitted to other model bytes is an error
    (the two files no longer belong together)."""
    if choice is None or str(choice) == "none":
        return None, "no bond shift (--bond-shift none)"
    if str(choice) != "auto":
        return Path(choice), f"bond shift {choice}"
    path = sidecar_path(model_path)
    if not path.is_file():
        return None, f"no bond shift ({path} does not exist)"
    shift = BondShift.load(path)
    if shift.model_sha256 != model_sha256(model_path):
        raise ValueError(f"{path} was fitted to other model bytes than {model_path} beside it; refit it with "
                         f"rexmol fit-bond-shift --model {model_path} --out {path} --overwrite, or pass --bond-shift none")
    if shift.solver != json.loads(json.dumps(spec.record())):
        return None, f"no bond shift: {path} was fitted to the draws of {shift.solver}, not to this sampler's"
    return path, f"bond shift {path} (the model's own, fitted on seed {shift.fit.get('seed')})"


def molecule_tree(topology=ala3.TOPOLOGY_PDB) -> BondTree:
    """The molecule's bond tree (rooted at atom 0), whose bond order the shift follows."""
    return BondTree(bond_graph(topology), ala3.N_ATOMS)


@dataclass
class BondShift:
    """A per-bond shift (nm, in ``molecule_tree()``'s bond order) for one model and one sampler."""

    shift_nm: np.ndarray
    model_sha256: str
    solver: dict
    fit: dict = field(default_factory=dict)

    def __post_init__(self):
        self.tree = molecule_tree()
        self.shift_nm = np.asarray(self.shift_nm, dtype=np.float64)
        if self.shift_nm.shape != (len(self.tree.child),):
            raise ValueError(f"a bond shift for {ala3.N_ATOMS} atoms has {len(self.tree.child)} entries, "
                             f"got shape {self.shift_nm.shape}")
        if not np.isfinite(self.shift_nm).all():
            raise ValueError("the bond shifts must be finite")

    def apply(self, x_nm: np.ndarray, log_q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x', log q'(x'), log |det dT/dx|) for draws x (n, N, 3) in nm with log q (nats per nm^D).

        A draw whose log q is not finite (a fold of the discrete map, or one whose density was not
        computed) keeps its coordinates and log q: it has weight zero either way. A draw the map
        cannot move (non-finite coordinates, or a bond of length <= 0 before or after the shift: a
        clash) keeps its coordinates and gets log q = NaN, so it too has weight zero (counted with
        the folds) rather than stopping the run; :meth:`movable` says which draws those are."""
        x = np.asarray(x_nm, dtype=np.float64)
        log_q = np.asarray(log_q, dtype=np.float64)
        if len(log_q) != len(x):
            raise ValueError(f"{len(x)} draws but {len(log_q)} log q values")
        ok = self.movable(x)
        moved = np.isfinite(log_q) & ok
        y, log_det, out = x.copy(), np.zeros(len(x)), log_q.copy()
        if moved.any():
            y[moved], log_det[moved] = self.tree.shift(x[moved], self.shift_nm)
        out[moved] -= log_det[moved]
        out[np.isfinite(log_q) & ~ok] = np.nan
        return y, out, log_det

    def movable(self, x_nm: np.ndarray) -> np.ndarray:
        """Which draws the shift maps bijectively: finite coordinates, every bond longer than 0 before
        and after the shift."""
        x = np.asarray(x_nm, dtype=np.float64)
        finite = np.isfinite(x).all(axis=(1, 2))
        d = np.linalg.norm(np.nan_to_num(x[:, self.tree.child] - x[:, self.tree.parent]), axis=-1)
        return finite & (d > 0).all(axis=1) & (d + self.shift_nm > 0).all(axis=1)

    def require_for(self, model_path, spec: SolverSpec, path="the bond shift") -> None:
        """Raise ValueError unless this shift was fitted to ``model_path``'s bytes and to ``spec``."""
        sha = model_sha256(model_path)
        if sha != self.model_sha256:
            raise ValueError(f"{path} was fitted to the model with SHA-256 {self.model_sha256[:12]}..., not to "
                             f"{model_path} ({sha[:12]}...); fit one for it with rexmol fit-bond-shift")
        if json.loads(json.dumps(spec.record())) != self.solver:
            raise ValueError(f"{path} was fitted to draws of the sampler {self.solver}, not {spec.record()}: the "
                             "discrete map sets the bond lengths too; fit one for this sampler with rexmol fit-bond-shift")

    def record(self) -> dict:
        names = [f"{a.residue.name}{a.residue.index + 1}-{a.name}" for a in ala3.load_topology()[0].atoms()]
        return {"format": FORMAT, "model_sha256": self.model_sha256, "solver": self.solver, "fit": self.fit,
                "units": "nm; each bond length d maps to d + shift_nm along its direction",
                "bonds": [{"atoms": [int(p), int(c)], "names": f"{names[p]} - {names[c]}", "shift_nm": float(s)}
                          for p, c, s in zip(self.tree.parent, self.tree.child, self.shift_nm)]}

    def save(self, path, overwrite: bool = False) -> Path:
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another path or pass --overwrite")
        return atomic_write_json(path, self.record())

    @classmethod
    def load(cls, path) -> BondShift:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"bond shift {path} does not exist or is not a file (rexmol fit-bond-shift writes one)")
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not JSON: {e}") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT!r} file")
        for key, kind in (("bonds", list), ("model_sha256", str), ("solver", dict)):
            if not isinstance(record.get(key), kind):
                raise ValueError(f"{path}: {key!r} is missing or not a {kind.__name__}")
        tree = molecule_tree()
        try:
            by_bond = {frozenset(int(i) for i in b["atoms"]): float(b["shift_nm"]) for b in record["bonds"]}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: each entry of 'bonds' needs 'atoms' (two atom indices) and a number "
                             f"'shift_nm' ({type(e).__name__}: {e})") from None
        wanted = [frozenset((int(p), int(c))) for p, c in zip(tree.parent, tree.child)]
        if set(by_bond) != set(wanted) or len(record["bonds"]) != len(wanted):
            raise ValueError(f"{path} shifts other bonds than the molecule's {len(wanted)}")
        return cls(np.array([by_bond[b] for b in wanted]), record["model_sha256"], record["solver"], record.get("fit", {}))


def fit_bond_shift(model_path, spec: SolverSpec | None = None, n: int = 4000, seed: int = 1,
                   manifest=dataset.MANIFEST, batch_size: int = 500, workers: int = 1, progress: bool = True) -> BondShift:
    """Fit s_b = mean_MD(d_b) - mean_model(d_b) on ``n`` conformers drawn with ``spec`` (the default
    sampler if None) from prior noise of ``seed``, without their log q (the divergence is not needed
    for bond lengths, so a draw costs the field evaluations alone). The MD side is the manifest's
    training split; draws with a non-finite energy, a D residue, or u above the fit's 95th percentile
    are left out. ``seed`` must differ from the seeds of the runs the shift is judged on."""
    from rexmol.boltzmann.sampling import load_model_for

    spec = spec or SolverSpec.default_sampler()
    if n < 2:
        raise ValueError(f"fitting a mean bond length needs 2 draws or more, got n = {n}")
    if batch_size < 1:
        raise ValueError(f"the batch size must be at least 1, got {batch_size}")
    loaded = load_model_for(model_path, manifest)
    generator = BoltzmannGenerator(loaded, spec)
    t0 = time.perf_counter()
    parts = []
    for start in range(0, n, batch_size):
        parts.append(generator.sample_conformers(min(batch_size, n - start), seed=_batch_seed(seed, start), batch_size=None))
        if progress:
            print(f"  drew {start + len(parts[-1])} of {n} conformers ({time.perf_counter() - t0:.0f} s)", flush=True)
    x = np.concatenate(parts)
    draw_s = time.perf_counter() - t0
    target = Target.from_record(dataset.load_manifest(manifest)["system"].get("target"))
    with EnergyEvaluator(target=target, n_workers=workers) as ev:
        u = ev.reduced(x.astype(np.float32), nonfinite="inf")
    ok = np.isfinite(u) & (ala3.chirality_volumes(None, x) > 0).all(axis=1)
    if ok.sum() < 2:
        raise ValueError(f"only {int(ok.sum())} of {n} draws have a finite energy and L residues: no shift to fit")
    used = ok & (u <= np.percentile(u[ok], FIT_U_PERCENTILE))
    tree = molecule_tree()
    data_x = dataset.load_split("train", manifest)
    shift = fit_mean_shift(tree, x[used], data_x)
    fit = {"n_draws": n, "n_used": int(used.sum()), "seed": seed, "batch_size": batch_size,
           "u_percentile_cut": FIT_U_PERCENTILE, "md_frames": len(data_x), "md_split": "train",
           "manifest": str(manifest), "model": str(model_path), "draw_s": draw_s,
           "mean_shift_nm": float(shift.mean()), "max_abs_shift_nm": float(np.abs(shift).max()),
           "shift_sem_nm_median": float(np.median(tree.lengths(x[used]).std(axis=0) / np.sqrt(used.sum())))}
    return BondShift(shift, model_sha256(model_path), json.loads(json.dumps(spec.record())), fit)


def _batch_seed(seed: int, start: int) -> int:
    """Noise of the batch starting at draw ``start``: a hash under its own prefix, so no batch shares
    the noise of a ``rexmol sample`` chunk (``chunk_seed``) of any seed."""
    return int.from_bytes(hashlib.sha256(f"rexmol-bond-shift:{seed}:{start}".encode()).digest()[:7], "little")
