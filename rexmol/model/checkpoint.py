"""Shipped model files: the EMA weights of a trained DiT with its config and topology fingerprint.

A model file (``torch.save`` of a plain dict, written atomically) holds::

    format            "rexmol-dit/1"
    config            DiT sizes, coord_scale (y = coord_scale * x_nm is what the network sees) and
                      the prior it flows from ("isotropic", or "harmonic" with prior_alpha);
                      bond_features only where true (a file without it has none, so the files
                      written before the option keep their bytes)
    topology_sha256   SHA-256 of the topology PDB it was trained on
    atom_names        the atom order, for a readable mismatch error
    state_dict        EMA weights
    target            the target record of the data it was trained on (``Target.record()``; absent
                      or None: the old ensemble, which predates target records)
    info              free-form training facts (steps, data, wall time, validation numbers)

:func:`load_model` refuses a file whose topology or config does not match, with a clear error;
the sampler, likelihood and evaluation jobs refuse a model whose target differs from their data's
(:func:`rexmol.molecules.target.require_same_target`).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import torch

from rexmol.io import atomic_path, file_sha256
from rexmol.model import build_prior
from rexmol.model.dit import DiT
from rexmol.molecules import ala3

FORMAT = "rexmol-dit/1"
CONFIG_KEYS = ("width", "depth", "heads", "mlp_ratio", "coord_scale", "canonical_frame", "prior", "prior_alpha")
#: config keys added later, with the value a file (or run record) without them means
LATER_CONFIG_DEFAULTS = {"bond_features": False}


def _topology_fingerprint(topology_path) -> tuple[str, list[str]]:
    from openmm import app

    path = Path(topology_path)
    names = [a.name for a in app.PDBFile(str(path)).topology.atoms()]
    return hashlib.sha256(path.read_bytes()).hexdigest(), names


@dataclass
class LoadedModel:
    """A DiT in eval mode with its coordinate scale: velocity in scaled coordinates y = scale * x."""

    model: DiT
    coord_scale: float
    config: dict
    info: dict
    target: dict | None = None  # the target record of its training data (None: the old ensemble)
    prior: object = None  # its base distribution in y (build_prior of the config; None: isotropic)


def model_sha256(path) -> str:
    """SHA-256 of a model file's bytes: what runs record, so that a result names the weights that
    made it whatever the file is called (the export is byte-deterministic, see save_model)."""
    return file_sha256(path)


def save_model(model: DiT, config: dict, path, info: dict | None = None, topology_path=ala3.TOPOLOGY_PDB,
               overwrite: bool = False, target: dict | None = None) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    config = {"canonical_frame": False, "prior": "isotropic", "prior_alpha": None, **config}
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing:
        raise ValueError(f"config lacks {missing}")
    sha, names = _topology_fingerprint(topology_path)
    stored = {k: config[k] for k in CONFIG_KEYS}
    stored.update({k: config[k] for k, default in LATER_CONFIG_DEFAULTS.items() if config.get(k, default) != default})
    payload = {"format": FORMAT, "config": stored, "topology_sha256": sha,
               "atom_names": names, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "info": info or {}, "target": target}
    # torch.save names the zip archive inside the file after the path it writes to (here a temporary
    # file whose name holds the PID), so saving to memory first makes the bytes, and the SHA-256 that
    # runs record, depend on the weights alone
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    return path


def export_lightning_checkpoint(ckpt_path, out_path, info: dict | None = None, overwrite: bool = False) -> Path:
    """Write the EMA weights of a FlowMatchingModule checkpoint as a shipped model file."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    hp = ckpt["hyper_parameters"]
    prefix = "ema.module."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise ValueError(f"{ckpt_path}: no EMA weights (keys 'ema.module.*') in this checkpoint")

    model = _build(hp, hp["topology"])
    model.load_state_dict(state)
    facts = {"global_step": ckpt.get("global_step"), "epoch": ckpt.get("epoch"), "hyper_parameters": hp,
             **(info or {})}
    return save_model(model, hp, out_path, facts, hp["topology"], overwrite, target=ckpt.get("rexmol_target"))


def _build(cfg: dict, topology_path) -> DiT:
    from rexmol.model import bond_graph, frame_atom_ids, token_ids

    frame = frame_atom_ids(topology_path) if cfg.get("canonical_frame", False) else None
    bonds = bond_graph(topology_path) if cfg.get("bond_features", False) else None
    return DiT(*token_ids(topology_path), width=cfg["width"], depth=cfg["depth"], heads=cfg["heads"],
               mlp_ratio=cfg["mlp_ratio"], frame_atoms=frame, bonds=bonds)


def load_model(path, topology_path=ala3.TOPOLOGY_PDB) -> LoadedModel:
    """Load a shipped model; raise FileNotFoundError/ValueError naming what does not match."""

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {path} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a readable model file (corrupted or truncated?): {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a rexmol model file (expected format {FORMAT!r})")
    sha, names = _topology_fingerprint(topology_path)
    if payload["atom_names"] != names:
        raise ValueError(f"{path}: trained on a topology with atoms {payload['atom_names'][:5]}... "
                         f"({len(payload['atom_names'])} atoms), but {topology_path} has {names[:5]}... ({len(names)})")
    if payload["topology_sha256"] != sha:
        raise ValueError(f"{path}: trained on a different topology file than {topology_path} (SHA-256 differs)")
    cfg = payload["config"]
    model = _build(cfg, topology_path)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit the config {cfg}: {err}") from err
    model.eval()
    try:
        prior = build_prior(cfg, topology_path, model.n_atoms)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    return LoadedModel(model, float(cfg["coord_scale"]), cfg, payload.get("info", {}), payload.get("target"), prior)
