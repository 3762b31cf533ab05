"""The DuckDB store of meta_bm (no Dagster here): tables keyed by study, one writer at a time."""

from meta_bm.store.cohort_store import ANALYSIS_TABLES, TABLES, CohortStore

__all__ = ["ANALYSIS_TABLES", "TABLES", "CohortStore"]
