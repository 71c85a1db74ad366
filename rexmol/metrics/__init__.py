"""Judging samples against MD: torsions, E-W2 and T-W2, importance weights and ESS, plots."""

from rexmol.metrics.distances import EnergyW2, energy_w2, torus_cost, torus_w2
from rexmol.metrics.features import backbone_torsions
from rexmol.metrics.weights import kish_ess, normalised_weights

__all__ = ["EnergyW2", "energy_w2", "torus_cost", "torus_w2", "backbone_torsions", "kish_ess", "normalised_weights"]
