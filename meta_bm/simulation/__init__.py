"""Simulated truth for reconstruction: IPD, a simulated person digitizing its KM curve, truth sets."""

from meta_bm.simulation.digitizer import (
    CAREFUL,
    SLOPPY,
    DigitizerStyle,
    SimulatedCurve,
    SimulatedIPD,
    digitize,
    km_area_difference,
    simulate_ipd,
)
from meta_bm.simulation.truth_sets import TruthPair, parametric_pairs, public_pairs

__all__ = [
    "CAREFUL",
    "SLOPPY",
    "DigitizerStyle",
    "SimulatedCurve",
    "SimulatedIPD",
    "TruthPair",
    "digitize",
    "km_area_difference",
    "parametric_pairs",
    "public_pairs",
    "simulate_ipd",
]
