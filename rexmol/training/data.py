"""LightningDataModule over the shipped tri-alanine MD splits.

Frames are centred (:func:`rexmol.geometry.centre`: the flow lives on the centre-of-mass-free
subspace) and kept in nm; the training module scales them (its ``coord_scale``, which the
exported model file records; the DiT itself has no scale).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from rexmol.geometry import centre
from rexmol.molecules import dataset


class Ala3DataModule(L.LightningDataModule):
    """Train/validation frames of ``manifest`` as centred float32 tensors in nm.

    ``val_frames`` caps the validation set (evenly strided over its trajectories) to keep
    validation cheap on a CPU."""

    def __init__(self, manifest: str = str(dataset.MANIFEST), batch_size: int = 256, val_batch_size: int = 1024,
                 val_frames: int = 4000, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.train_xyz: np.ndarray | None = None
        self.val_xyz: np.ndarray | None = None
        self.target: dict | None = None  # the manifest's target record (None: the old ensemble)
        self.manifest_sha256: str | None = None  # which version of the data (checked when a run resumes)

    def setup(self, stage: str | None = None) -> None:
        if self.train_xyz is not None:
            return
        path = Path(self.hparams.manifest)
        dataset.check_training_integrators(path)  # one ensemble: no runs of a rejected integrator
        self.target = dataset.load_manifest(path)["system"].get("target")
        self.manifest_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self.train_xyz = centre(dataset.load_split("train", path))
        val = centre(dataset.load_split("val", path))
        if len(val) == 0:
            raise ValueError(f"{path}: the validation split is empty")
        stride = max(1, len(val) // self.hparams.val_frames)
        self.val_xyz = val[::stride][: self.hparams.val_frames]

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.hparams.seed)
        return DataLoader(TensorDataset(torch.from_numpy(self.train_xyz)), batch_size=self.hparams.batch_size,
                          shuffle=True, drop_last=True, generator=gen, num_workers=self.hparams.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.from_numpy(self.val_xyz)), batch_size=self.hparams.val_batch_size,
                          num_workers=self.hparams.num_workers)
