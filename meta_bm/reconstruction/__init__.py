"""Digitized Kaplan–Meier curves in, reconstructed individual patient data out (no Dagster here).

The names below load their module on first use, so ``meta_bm.reconstruction.parsing`` (the file
readers and the input checks, which the study manifest uses) stays light; the engine pulls in
numba and polars.

>>> from meta_bm.reconstruction import reconstruct_arrays
>>> r = reconstruct_arrays([0, 3, 3, 6], [1, 1, 0.8, 0.8], total_n=10)
>>> int(r.event.sum())
2
"""

from __future__ import annotations

from meta_bm._lazy import lazy_attributes

_WHERE = {
    "BatchResult": "batch",
    "reconstruct_many": "batch",
    "CleanCurve": "cleaning",
    "CleaningChange": "cleaning",
    "clean_clicks": "cleaning",
    "RECONSTRUCTION_VERSION": "result",
    "Fidelity": "result",
    "Reconstruction": "result",
    "fidelity": "result",
    "reconstruct": "engine",
    "reconstruct_arrays": "engine",
    "CensorMarks": "parsing",
    "Clicks": "parsing",
    "RiskTable": "parsing",
    "clicks_from_arrays": "parsing",
    "parse_censor_marks": "parsing",
    "parse_clicks": "parsing",
    "parse_risk_table": "parsing",
    "read_censor_marks": "parsing",
    "read_clicks": "parsing",
    "read_risk_table": "parsing",
    "risk_table_from_arrays": "parsing",
}


__getattr__ = lazy_attributes(__name__, _WHERE, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = sorted(_WHERE)
