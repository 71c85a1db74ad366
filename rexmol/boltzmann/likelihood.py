"""``rexmol likelihood``: exact log q of given conformations, and the agreement of both directions.

For conformations x (an MD trajectory, by default frames of the MD test split) the flow is
integrated data -> noise with the exact divergence: log q(x) = log p_0(z) + int div u dt
(nats per nm^96; see :mod:`rexmol.boltzmann.generator`). The negative log-likelihood is
reported per molecule and per degree of freedom (D = 96). Then m conformers are drawn noise ->
data (log q accumulated along the way) and taken back data -> noise by an independent solve:
the gap between the two log q is the discretisation error of the likelihood, and is reported.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec
from rexmol.boltzmann.sampling import load_model_for, prepare_out_dir
from rexmol.geometry import centre
from rexmol.io import atomic_savez, atomic_write_json
from rexmol.model.checkpoint import model_sha256
from rexmol.molecules import ala3, dataset


def load_conformations(frames, topology=ala3.TOPOLOGY_PDB, manifest=dataset.MANIFEST) -> np.ndarray:
    """(n, 33, 3) nm, centred: a split name ('test', 'val', 'train'), a trajectory file mdtraj reads,
    or the ``x`` array of an ``.npz`` a rexmol job wrote (a likelihood run's ``log_q.npz``, a sample
    run's ``arrays.npz``): the same frames again, e.g. a subset of an earlier run's for a paired A/B."""
    if str(frames) in ("train", "val", "test"):
        return centre(dataset.load_split(str(frames), manifest))
    path = Path(frames)
    if not path.exists():
        raise FileNotFoundError(f"trajectory {path} not found")
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            if "x" not in arrays:
                raise ValueError(f"{path} holds no array 'x' of conformations (it has {sorted(arrays)})")
            x = np.asarray(arrays["x"], dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (ala3.N_ATOMS, 3):
            raise ValueError(f"{path}: x has shape {x.shape}; the model's topology needs (n, {ala3.N_ATOMS}, 3) in nm")
        return centre(x)
    import mdtraj

    traj = mdtraj.load(str(path), top=str(topology)) if path.suffix != ".pdb" else mdtraj.load(str(path))
    if traj.n_atoms != ala3.N_ATOMS:
        raise ValueError(f"{path} has {traj.n_atoms} atoms; the model's topology has {ala3.N_ATOMS}")
    return centre(traj.xyz.astype(np.float64))


def evenly_spaced(x: np.ndarray, n: int | None) -> np.ndarray:
    if n is None or n >= len(x):
        return x
    return x[np.linspace(0, len(x) - 1, n).round().astype(int)]


def nll_summary(log_q: np.ndarray, dim: int) -> dict:
    nll = -np.asarray(log_q)
    sem = float(nll.std(ddof=1) / np.sqrt(len(nll))) if len(nll) > 1 else None
    return {"nll_nats_per_molecule": float(nll.mean()), "nll_sem": sem, "nll_nats_per_dof": float(nll.mean() / dim),
            "frames": int(len(nll))}


def direction_agreement(generator: BoltzmannGenerator, m: int, seed: int = 0) -> dict:
    """Draw m conformers (log q forward), re-evaluate log q by an independent data -> noise solve."""
    draw = generator.sample(m, seed)
    back = generator.log_prob(draw.x)
    gap = np.abs(back - draw.log_q)
    return {"samples": m, "log_q_gap_max": float(gap.max()), "log_q_gap_mean": float(gap.mean()),
            "log_q_gap_median": float(np.median(gap))}


def likelihood_job(model_path, out_dir, frames="test", n_frames: int | None = 64, spec: SolverSpec | None = None,
                   check_samples: int = 8, seed: int = 0, batch_size: int = 32, overwrite: bool = False,
                   progress: bool = True, manifest=dataset.MANIFEST) -> dict:
    """Exact log q of MD frames (a split of ``manifest``, or a trajectory file) under a model.

    Resumable: each batch of frames is written to ``out_dir/batches/`` as it finishes, under a
    ``settings.json`` (model SHA-256, the frames' SHA-256, solver, batch size). Rerunning with
    the same settings computes only the missing batches; other settings are refused, naming what
    differs. The batches are removed once ``log_q.npz`` and ``likelihood.json`` are written."""
    import rexmol

    out_dir = Path(out_dir)
    if (out_dir / "likelihood.json").exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already holds likelihood.json; choose another --out or pass --overwrite")
    split = str(frames) in dataset.SPLITS  # data of a recorded target: the model must be of the same one
    loaded = load_model_for(model_path, manifest) if split else rexmol.load_model(model_path)
    x = evenly_spaced(load_conformations(frames, manifest=manifest), n_frames)
    spec = spec or SolverSpec()
    # what the batches depend on (the both-directions check runs at the end and is not resumed)
    settings = {"job": "likelihood", "model": str(model_path), "model_sha256": model_sha256(model_path),
                "frames_from": str(frames), "frames": len(x),
                "frames_sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest(),
                "solver": spec.record(), "batch_size": batch_size}
    prepare_out_dir(out_dir, settings, overwrite, what="likelihood run", result="likelihood.json",
                    outputs=("batches", "settings.json", "likelihood.json", "log_q.npz"))
    batches = out_dir / "batches"
    batches.mkdir(exist_ok=True)
    generator = BoltzmannGenerator(loaded, spec)
    starts = range(0, len(x), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="log q (data -> noise)", unit="batch")
    parts, seconds = [], 0.0
    for start in starts:
        path = batches / f"batch_{start // batch_size:05d}.npz"
        if not path.exists():
            t0 = time.perf_counter()
            log_q_batch = generator.log_prob(x[start:start + batch_size], batch_size=batch_size)
            atomic_savez(path, log_q=log_q_batch, seconds=time.perf_counter() - t0)
        with np.load(path) as batch:
            parts.append(batch["log_q"])
            seconds += float(batch["seconds"])
    log_q = np.concatenate(parts) if parts else np.zeros(0)
    result = {"model": str(model_path), "model_sha256": settings["model_sha256"], "frames_from": str(frames),
              "solver": spec.label, **nll_summary(log_q, generator.dim),
              "seconds": seconds, "units": "nats; q is a density per nm^96 on the centre-of-mass-free subspace"}
    if check_samples:
        result["both_directions"] = direction_agreement(generator, check_samples, seed)
    atomic_savez(out_dir / "log_q.npz", log_q=log_q, x=x.astype(np.float32))
    atomic_write_json(out_dir / "likelihood.json", result)
    shutil.rmtree(batches)
    return json.loads(json.dumps(result))
