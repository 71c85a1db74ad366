"""Exact-likelihood continuous flows: priors, divergences and the flow object."""

from rexmol.flows.continuous import ContinuousFlow
from rexmol.flows.divergence import (
    DEFAULT_METHOD,
    EXACT_METHODS,
    brute_force_trace,
    divergence,
    hutchinson_divergence,
    rademacher_probes,
)
from rexmol.flows.priors import HarmonicPrior, MeanFreeNormal, ScaledPrior, StandardNormal

__all__ = [
    "ContinuousFlow", "HarmonicPrior", "MeanFreeNormal", "ScaledPrior", "StandardNormal", "DEFAULT_METHOD", "EXACT_METHODS",
    "brute_force_trace", "divergence", "hutchinson_divergence", "rademacher_probes",
]
