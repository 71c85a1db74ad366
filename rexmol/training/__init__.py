"""Training: the flow-matching LightningModule, the tri-alanine DataModule, the CLI."""

from rexmol.training.data import Ala3DataModule
from rexmol.training.module import FlowMatchingModule, mean_free_noise, ot_pair, random_rotations

__all__ = ["Ala3DataModule", "FlowMatchingModule", "mean_free_noise", "ot_pair", "random_rotations"]
