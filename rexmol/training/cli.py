"""``rexmol train --config configs/ala3_dit.yaml [LightningCLI options]``: fit with LightningCLI.

Everything after ``train`` is passed to ``LightningCLI``'s ``fit`` subcommand, so any option of
the config can be overridden (``--trainer.max_steps 200``) and a run resumes from a checkpoint
with ``--ckpt_path runs/ala3_dit/checkpoints/last.ckpt``.
"""

from __future__ import annotations

from lightning.pytorch.cli import LightningCLI

from rexmol.training.data import Ala3DataModule
from rexmol.training.module import FlowMatchingModule


def train(argv: list[str]) -> None:
    LightningCLI(FlowMatchingModule, Ala3DataModule, args=["fit", *argv], save_config_kwargs={"overwrite": True},
                 parser_kwargs={"prog": "rexmol train"})
