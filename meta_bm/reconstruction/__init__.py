"""Digitized Kaplan–Meier curves in, reconstructed individual patient data out (no Dagster here).

>>> from meta_bm.reconstruction import reconstruct_arrays
>>> r = reconstruct_arrays([0, 3, 3, 6], [1, 1, 0.8, 0.8], total_n=10)
>>> int(r.event.sum())
2
"""

from meta_bm.reconstruction.batch import BatchResult, reconstruct_many
from meta_bm.reconstruction.cleaning import CleanCurve, CleaningChange, clean_clicks
from meta_bm.reconstruction.engine import (
    RECONSTRUCTION_VERSION,
    Fidelity,
    Reconstruction,
    fidelity,
    reconstruct,
    reconstruct_arrays,
)
from meta_bm.reconstruction.parsing import (
    Clicks,
    RiskTable,
    clicks_from_arrays,
    parse_clicks,
    parse_risk_table,
    read_clicks,
    read_risk_table,
    risk_table_from_arrays,
)

__all__ = [
    "RECONSTRUCTION_VERSION",
    "BatchResult",
    "CleanCurve",
    "CleaningChange",
    "Clicks",
    "Fidelity",
    "Reconstruction",
    "RiskTable",
    "clean_clicks",
    "clicks_from_arrays",
    "fidelity",
    "parse_clicks",
    "parse_risk_table",
    "read_clicks",
    "read_risk_table",
    "reconstruct",
    "reconstruct_arrays",
    "reconstruct_many",
    "risk_table_from_arrays",
]
