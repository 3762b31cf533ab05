"""The DuckDB patient-level store: one file, one writer at a time, whole studies replaced atomically.

DuckDB lets one process hold a database file at a time (even readers are refused while a writer
is connected). Every access therefore goes through a short-lived connection taken under an
inter-process file lock (``<db>.lock``): concurrent runs queue instead of failing, and a study's
rows in every table are replaced in one transaction (delete its rows, insert the new ones), so a
crash or a bad input never leaves a study half-written and never touches other studies' rows.
The tables (:mod:`meta_bm.store.schema`) and every public method (:class:`~meta_bm.store.base.StoreBase`)
are shared with the PostgreSQL store (:mod:`meta_bm.store.postgres_store`); this module holds only what
is DuckDB's own.

Example
-------
>>> import tempfile, os, polars as pl
>>> store = CohortStore(os.path.join(tempfile.mkdtemp(), "cohort.duckdb"))
>>> store.replace_studies(["s1"], {"study_status": pl.DataFrame({"study_id": ["s1"], "stage": ["ingest"],
...     "status": ["ok"], "fingerprint": ["abc"], "pipeline_version": ["1"], "message": [None]})})
>>> store.query("select study_id, status from study_status").rows()
[('s1', 'ok')]
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
from filelock import FileLock

from meta_bm.store.base import ANALYSIS_TABLES, TABLES, StoreBase
from meta_bm.store.schema import DUCKDB_TYPES, POOLED_VERSIONS

__all__ = ["ANALYSIS_TABLES", "POOLED_VERSIONS", "TABLES", "CohortStore"]

# Writers and readers of other processes that open the file without our lock (a notebook, the DuckDB
# CLI) make duckdb.connect fail at once; we retry within the lock timeout instead of failing the run.
_FOREIGN_LOCK_RETRY_SECONDS = 0.2
_sleep, _monotonic = time.sleep, time.monotonic  # module names, so tests can drive the retry clock


class CohortStore(StoreBase):
    """Access to the DuckDB file behind meta_bm (see the module docstring for the locking rules).

    Every public method comes from :class:`~meta_bm.store.base.StoreBase`; this class connects to the file
    and runs DuckDB's SQL (one writer at a time holds the whole file, so no finer locks are needed).

    Parameters
    ----------
    path:
        The DuckDB database file (created with its tables on first use).
    lock_timeout:
        Seconds to wait for another process's access to finish before giving up.
    """

    column_types = DUCKDB_TYPES

    def __init__(self, path: str | Path, lock_timeout: float = 900.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout)
        self._ready = False

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held under the inter-process lock; closed (and the lock released) on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            con = self._open()
            try:
                if not self._ready:
                    self._create_or_upgrade(con)
                    self._ready = True
                yield con
            finally:
                con.close()

    def _open(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """Open the file, waiting (up to the lock timeout) while a process outside our lock holds it."""
        deadline = _monotonic() + self.lock_timeout
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or _monotonic() > deadline:
                    raise
                _sleep(_FOREIGN_LOCK_RETRY_SECONDS)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A locked connection inside one transaction: committed on success, rolled back on any error."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _execute(self, con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[tuple]:
        cur = con.execute(sql, params) if params else con.execute(sql)
        return cur.fetchall() if cur.description else []

    def _frame(self, con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pl.DataFrame:
        return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()

    def _in(self, param: str) -> str:
        return f"IN (SELECT unnest(${param}))"

    @staticmethod
    def _with_frame(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, sql: str) -> None:
        """Run ``sql`` with ``frame`` registered as the view ``_incoming``."""
        con.register("_incoming", frame.to_arrow())
        try:
            con.execute(sql)
        finally:
            con.unregister("_incoming")

    def _insert(self, con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
        self._with_frame(con, frame, f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")

    def _create_from(self, con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
        self._with_frame(con, frame, f"CREATE TABLE {table} AS SELECT * FROM _incoming LIMIT 0")

    def _hash_sql(self, sql: str) -> str:
        return f"SELECT count(*), coalesce(sum(hash(q)::HUGEINT), 0) FROM ({sql}) AS q"

    def read(self, sql: str) -> pl.DataFrame:
        """Run one user-supplied statement read-only (under the lock; a write is refused by DuckDB)."""
        with self._lock:
            if not self.path.exists():
                raise FileNotFoundError(self.path)
            con = self._open(read_only=True)
            try:
                return con.sql(sql).pl()
            finally:
                con.close()
