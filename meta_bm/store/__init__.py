"""The cohort store of meta_bm (no Dagster here): tables keyed by study, whole studies replaced atomically.

Two backends with one behaviour (:class:`~meta_bm.store.base.StoreBase`): :class:`CohortStore`, a DuckDB
file (one writer at a time), and :class:`PostgresCohortStore`, a PostgreSQL database that several
processes and hosts write at once (loaded on first use: it needs psycopg2).
"""

from meta_bm._lazy import lazy_attributes
from meta_bm.store.base import ANALYSIS_TABLES, TABLES, StoreBase
from meta_bm.store.cohort_store import CohortStore
from meta_bm.store.errors import StoreUnavailable

__all__ = ["ANALYSIS_TABLES", "TABLES", "CohortStore", "PostgresCohortStore", "StoreBase", "StoreUnavailable"]

__getattr__ = lazy_attributes(__name__, {"PostgresCohortStore": "postgres_store"}, globals())
