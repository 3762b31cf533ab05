"""Pooled analyses of the harmonized cohort, declared in ``data/analyses.yaml`` (no Dagster here).

The config (``meta_bm.analysis.config``) is light to import; the statistics (``meta_bm.analysis.pooled``)
load on first use, so a Dagster code server that only reads the config starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from meta_bm.analysis.config import AnalysesConfig, Analysis, AnalysisConfigError, load_analyses, parse_analyses

_POOLED = ("AnalysisData", "PooledResult", "analyze", "run_analysis", "select_patients")


def __getattr__(name: str) -> Any:
    if name in _POOLED:
        return getattr(importlib.import_module("meta_bm.analysis.pooled"), name)
    raise AttributeError(f"module 'meta_bm.analysis' has no attribute {name!r}")


__all__ = [
    "AnalysesConfig",
    "Analysis",
    "AnalysisConfigError",
    "AnalysisData",
    "PooledResult",
    "analyze",
    "load_analyses",
    "parse_analyses",
    "run_analysis",
    "select_patients",
]
