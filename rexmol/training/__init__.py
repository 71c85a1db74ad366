"""Training: the flow-matching LightningModule, the tri-alanine DataModule, the CLI."""

from rexmol.training.data import Ala3DataModule
from rexmol.training.module import FlowMatchingModule, ot_pair, random_rotations

__all__ = ["Ala3DataModule", "FlowMatchingModule", "ot_pair", "random_rotations"]
