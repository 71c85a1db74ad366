"""The shipped tri-alanine MD dataset: splits by trajectory, provenance, validated loading.

``data/ala3/md/seed<N>/`` holds one independent trajectory each (see :mod:`rexmol.molecules.md`).
``data/ala3/dataset.json`` (the manifest) assigns whole trajectories to ``train``, ``val`` and
``test`` (never frames of one trajectory to two splits) and records provenance: force field,
temperature, integrator, step, stride, seeds, lengths, package versions and a SHA-256 of every
chunk. :func:`load_split` returns the frames of a split as float32 nm, checking every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rexmol.io import atomic_write_json
from rexmol.molecules import ala3
from rexmol.molecules.md import MDSettings
from rexmol.molecules.target import Target, TargetMismatch, check_flexible_bonds, hydrogen_bond_pairs

DATA_DIR = ala3.TOPOLOGY_PDB.parent
MD_DIR = DATA_DIR / "md"
MANIFEST = DATA_DIR / "dataset.json"
SPLITS = ("train", "val", "test")


def _versions() -> dict:
    import mdtraj
    import openmm

    return {"openmm": openmm.__version__, "mdtraj": mdtraj.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def completed_runs(md_dir: Path = MD_DIR, length_frames: int | None = None) -> dict[int, dict]:
    """Runs whose progress records have all chunks (optionally exactly ``length_frames`` frames)."""
    runs = {}
    for progress in sorted(Path(md_dir).glob("seed*/progress.json")):
        record = json.loads(progress.read_text())
        frames = sum(c["frames"] for c in record["chunks"])
        if frames and (length_frames is None or frames == length_frames):
            runs[int(record["seed"])] = {**record, "frames": frames, "dir": progress.parent.name}
    return runs


#: Where benchmarks/md_integrator_ensemble.py records whether a faster integrator samples the
#: protocol's ensemble; runs of that integrator may join a data set only if it says so.
INTEGRATOR_VALIDATION = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "md_integrator_ensemble.json"


#: The MD settings that make the integrator (and so its discretisation error); chunking, stride and
#: equilibration length do not change the ensemble a run samples.
INTEGRATOR_KEYS = ("friction_per_ps", "timestep_ps", "hydrogen_mass_amu")


def integrator(settings: dict) -> dict:
    return {k: settings[k] for k in INTEGRATOR_KEYS}


def validated_integrators(target: dict, validation: Path = INTEGRATOR_VALIDATION) -> list[dict]:
    """Integrators other than the protocol's that an ensemble benchmark found to sample the same
    configurational ensemble of ``target`` (a target record) as the protocol's (``"matches": true``
    and the same target), read from ``validation``; [] if there is none."""
    validation = Path(validation)
    if not validation.exists():
        return []
    record = json.loads(validation.read_text())
    if not record.get("matches") or record.get("target") != target:
        return []
    return [integrator(run["settings"]) for run in record["candidate"].values()]


def admitted_integrators(target: dict, validation: Path | None = None) -> list[dict]:
    """Integrators whose runs are MD of ``target``'s ensemble: the protocol's own (1 fs, standard
    masses) and any that ``validation`` (default :data:`INTEGRATOR_VALIDATION`) finds to match it."""
    return [integrator(asdict(MDSettings())),
            *validated_integrators(target, INTEGRATOR_VALIDATION if validation is None else validation)]


def check_training_integrators(manifest_path: Path = MANIFEST, validation: Path | None = None) -> None:
    """Refuse (ValueError, naming the runs) a manifest whose train or val runs were integrated with an
    integrator :func:`admitted_integrators` does not admit now: a model fitted to them learns another
    ensemble than the target's. The gate of :func:`build_manifest`, read again when training starts,
    so that a manifest built while an integrator was admitted cannot train once it is rejected."""
    record = load_manifest(manifest_path)
    target = record["system"].get("target")
    if target is None:  # the old ensemble: one protocol for every run, checked when it was built
        return
    allowed = admitted_integrators(target, validation)
    by_run = record["md"].get("settings_by_run", {})
    refused = {s: integrator(by_run[str(s)]) for split in ("train", "val") for s in record["splits"][split]
               if integrator(by_run[str(s)]) not in allowed}
    if refused:
        raise ValueError(f"{manifest_path}: train/val runs {sorted(refused)} were integrated with "
                         f"{sorted({json.dumps(v, sort_keys=True) for v in refused.values()})}, which "
                         f"{INTEGRATOR_VALIDATION if validation is None else validation} does not admit for this "
                         f"target: training on them fits another ensemble. Build a manifest of admitted runs "
                         f"(`rexmol dataset`)")


def build_manifest(splits: dict[str, list[int]], md_dir: Path = MD_DIR, out: Path = MANIFEST,
                   frames_per_run: int | None = 5000, overwrite: bool = False,
                   validation: Path = INTEGRATOR_VALIDATION) -> dict:
    """Write the manifest assigning seeds to splits; every seed must be a finished run of
    ``frames_per_run`` frames (None: any length). Paths in it are relative to ``out``'s folder.

    Every run must be of one target and one frame stride. Runs of the target's own protocol
    (1 fs, standard masses) always qualify; runs of another integrator (a larger step with
    hydrogen mass repartitioning) only if ``validation`` (benchmarks/md_integrator_ensemble.py's
    results) found exactly those settings to match the protocol's ensemble. Each run's settings
    are recorded with it."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True to replace the dataset manifest")
    if set(splits) != set(SPLITS):
        raise ValueError(f"splits must name exactly {SPLITS}, got {sorted(splits)}")
    seen: dict[int, str] = {}
    for name, seeds in splits.items():
        for s in seeds:
            if s in seen:
                raise ValueError(f"seed {s} is in both {seen[s]!r} and {name!r}: splits must not share trajectories")
            seen[s] = name
    runs = completed_runs(md_dir, frames_per_run)
    missing = sorted(set(seen) - set(runs))
    if missing:
        raise ValueError(f"seeds {missing} have no finished run of {frames_per_run} frames under {md_dir}")
    md_rel = os.path.relpath(Path(md_dir), out.parent)
    first = next(iter(seen))
    settings, target = runs[first]["settings"], runs[first].get("target")
    protocol = integrator(asdict(MDSettings()))
    allowed = admitted_integrators(target, validation) if target is not None else []
    stride = lambda st: st["stride_steps"] * st["timestep_ps"]  # noqa: E731
    for s in seen:
        theirs = runs[s]["settings"]
        if runs[s].get("target") != target:  # first: one ensemble, whatever the integrators
            raise TargetMismatch(f"seed {s} was run for another target than seed {first}: "
                                 f"{runs[s].get('target')} vs {target}")
        if target is None:  # the old ensemble (no target record): one protocol for every run
            if theirs != settings:
                raise ValueError(f"seed {s} was run with other MD settings than seed {first}")
        elif abs(stride(theirs) - stride(settings)) > 1e-12:
            raise ValueError(f"seed {s} records frames {stride(theirs)} ps apart, seed {first} {stride(settings)} ps")
        elif integrator(theirs) not in allowed:
            raise ValueError(f"seed {s} was run with the integrator {integrator(theirs)}, neither the protocol's "
                             f"({protocol}) nor validated against it in {validation} (benchmarks/md_integrator_ensemble.py)")
    stride_ps = settings["stride_steps"] * settings["timestep_ps"]
    if target is None:  # runs made before targets were recorded: the constrained legacy protocol
        system = {"forcefield": list(ala3.FORCEFIELD_FILES), "nonbonded": "NoCutoff",
                  "temperature_k": settings["temperature_k"]}
    else:
        system = {"target": target, "forcefield": target["forcefield_files"],
                  "nonbonded": f"{target['nonbonded_method']} {target['cutoff_nm']} nm",
                  "temperature_k": target["temperature_k"]}
    manifest = {
        "system": {
            "molecule": "Ala-Ala-Ala zwitterion (33 atoms)",
            "topology": "topology.pdb",
            "topology_sha256": hashlib.sha256(ala3.TOPOLOGY_PDB.read_bytes()).hexdigest(),
            **system,
            "energies": "full unconstrained potential (constraints=None) for MD frames and samples alike",
        },
        # settings every run shares at the top; where runs differ (a validated faster integrator beside
        # the protocol's), each run's own under settings_by_run
        "md": {**{k: v for k, v in settings.items() if all(runs[s]["settings"].get(k) == v for s in seen)},
               "integrator": "LangevinMiddleIntegrator", "stride_ps": stride_ps,
               "settings_by_run": {str(s): runs[s]["settings"] for s in sorted(seen)},
               # the benchmark result that admitted a non-protocol integrator: where, and which version
               "integrator_validation": ({"file": os.path.relpath(validation, out.parent),
                                          "sha256": hashlib.sha256(Path(validation).read_bytes()).hexdigest()}
                                         if any(integrator(runs[s]["settings"]) != protocol for s in seen) else None),
               "platforms": sorted({c.get("platform", "CPU") for s in seen for c in runs[s]["chunks"]}),
               "format": "DCD (float32, Angstrom on disk; loaded as nm)"},
        "versions": _versions(),
        "splits": {name: sorted(seeds) for name, seeds in splits.items()},
        "split_ns": {name: sum(runs[s]["frames"] for s in seeds) * stride_ps / 1000 for name, seeds in splits.items()},
        # a run made side by side with others in one System (md.run_replicas) names its group
        "runs": {str(s): {"dir": f"{md_rel}/{runs[s]['dir']}", "frames": runs[s]["frames"],
                          **({"replicas": runs[s]["replicas"]} if runs[s].get("replicas") else {}),
                          "chunks": [{"file": c["file"], "frames": c["frames"], "sha256": c["sha256"]}
                                     for c in runs[s]["chunks"]]}
                 for s in sorted(seen)},
    }
    atomic_write_json(out, manifest)
    return manifest


def load_manifest(path: Path = MANIFEST) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset manifest {path} not found; build it with `rexmol dataset`")
    return json.loads(path.read_text())


def manifest_target(path: Path = MANIFEST) -> Target | None:
    """The target a data manifest records (its MD's ensemble, so the one to score against), or
    None for a manifest of the old ensemble, which is scored by the old unconstrained potential."""
    return Target.from_record(load_manifest(path)["system"].get("target"))


@contextlib.contextmanager
def _quiet_c_stdout():
    """Silence C-level stdout (mdtraj's DCD plugin prints two lines per file read)."""
    try:
        sys.stdout.flush()
        saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # no real file descriptor (e.g. some notebook frontends)
        yield
        return
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def load_chunk(path: Path, expected_frames: int | None = None, sha256: str | None = None) -> np.ndarray:
    """Frames of one DCD chunk as float32 nm, shape (frames, 33, 3), with clear errors."""
    import mdtraj

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory file {path} is missing")
    if sha256 is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise ValueError(f"{path}: checksum mismatch (file is corrupted or was modified)")
    try:
        with _quiet_c_stdout():
            traj = mdtraj.load_dcd(str(path), top=str(ala3.TOPOLOGY_PDB))
    except Exception as err:  # mdtraj raises several types for truncated or foreign files
        raise ValueError(f"{path}: cannot be read as a tri-alanine DCD trajectory ({err})") from err
    if traj.n_atoms != ala3.N_ATOMS:
        raise ValueError(f"{path}: {traj.n_atoms} atoms, tri-alanine has {ala3.N_ATOMS}")
    if expected_frames is not None and traj.n_frames != expected_frames:
        raise ValueError(f"{path}: {traj.n_frames} frames, the manifest says {expected_frames} (truncated?)")
    xyz = traj.xyz.astype(np.float32)
    if not np.isfinite(xyz).all():
        raise ValueError(f"{path}: contains NaN or inf coordinates")
    d_frames = (ala3.chirality_volumes(None, xyz) <= 0).any(axis=1)
    if d_frames.any():
        raise ValueError(f"{path}: {int(d_frames.sum())} frames have a D-alanine residue (wrong molecule: all-L expected)")
    return xyz


def load_split(split: str, manifest_path: Path = MANIFEST, verify: bool = True, by_run: bool = False):
    """All frames of ``split`` as float32 nm (frames, 33, 3); ``by_run`` gives {seed: frames}."""
    manifest = load_manifest(manifest_path)
    if split not in manifest["splits"]:
        raise ValueError(f"unknown split {split!r}; the manifest has {sorted(manifest['splits'])}")
    root = Path(manifest_path).parent
    out = {}
    for seed in manifest["splits"][split]:
        run = manifest["runs"][str(seed)]
        out[seed] = np.concatenate([load_chunk(root / run["dir"] / c["file"], c["frames"],
                                               c["sha256"] if verify else None) for c in run["chunks"]])
        if manifest["system"].get("target") is not None:  # a flexible target: refuse rigid X-H bonds
            check_flexible_bonds(out[seed], hydrogen_bond_pairs(ala3.load_topology()[0]),
                                 f"{root / run['dir']} (seed {seed})")
    return out if by_run else np.concatenate(list(out.values()))
