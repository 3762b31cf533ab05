"""Pooled analyses of the harmonized cohort, declared in an analyses config (no Dagster here): the packaged
``default_analyses.yaml`` unless ``META_BM_ANALYSES`` names another (see ``meta_bm.settings``).

The config (``meta_bm.analysis.config``) is light to import; the statistics (``meta_bm.analysis.pooled``)
load on first use, so a Dagster code server that only reads the config starts fast.
"""

from __future__ import annotations

from meta_bm._lazy import lazy_attributes
from meta_bm.analysis.config import AnalysesConfig, Analysis, AnalysisConfigError, load_analyses, parse_analyses

__getattr__ = lazy_attributes(
    __name__,
    dict.fromkeys(("AnalysisData", "PooledResult", "analyze", "run_analysis", "select_patients"), "pooled"),
    globals(),
)


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
