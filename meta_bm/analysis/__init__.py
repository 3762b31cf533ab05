"""Pooled analyses of the harmonized cohort, declared in ``data/analyses.yaml`` (no Dagster here)."""

from meta_bm.analysis.config import AnalysesConfig, Analysis, AnalysisConfigError, load_analyses, parse_analyses
from meta_bm.analysis.pooled import AnalysisData, PooledResult, analyze, run_analysis, select_patients

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
