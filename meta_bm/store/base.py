"""The cohort store's behaviour, written once for both backends (DuckDB file, PostgreSQL server).

:class:`StoreBase` holds every public method and its SQL, in the syntax both DuckDB and PostgreSQL
accept (parameters written ``$name``). A backend supplies the few hooks where the dialects differ:
connections and transactions, running SQL with parameters, list membership, bulk insert of a polars
frame, creating a result table from a frame, the order-independent content hash, locks between
concurrent writers, and read-only execution. See :class:`~meta_bm.store.cohort_store.CohortStore`
and :class:`~meta_bm.store.postgres_store.PostgresCohortStore`.

Example
-------
>>> sorted(set(ANALYSIS_TABLES) & set(TABLES))  # results are keyed by analysis, the rest by study
[]
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import polars as pl

from meta_bm.store.schema import POOLED_VERSIONS, TABLE_COLUMNS, column_ddl, pooled_versions_ddl, table_ddl

# The declared tables by name (what other modules iterate: every table keyed by study_id).
TABLES = TABLE_COLUMNS

# Pooled results, keyed by analysis_id; their columns follow the result frames (fully recomputable).
ANALYSIS_TABLES = (
    "analysis_groups",
    "analysis_landmarks",
    "analysis_tests",
    "analysis_cox",
    "analysis_study_effects",
    "analysis_meta",
    "analysis_studies",
    "analysis_frailty",
    "analysis_leave1out",
    "analysis_cumulative",
    "analysis_egger",
    "analysis_flags",
)

# What the report shows besides the analyses (their versions make the report out of date).
_REPORT_SOURCES = {
    "studies": f"SELECT {', '.join(c.name for c in TABLE_COLUMNS['studies'] if c.name != 'loaded_at')} FROM studies",
    "study_status": "SELECT study_id, stage, status, message FROM study_status",
    "fidelity": "SELECT * FROM fidelity",
    "published_comparison": "SELECT * FROM published_comparison",
    "arms": "SELECT * FROM arms",
    "curves": "SELECT study_id, curve_id, arm_id, endpoint, time_unit, figure_id FROM curves",
}


class StoreBase(ABC):
    """The public behaviour of a cohort store; subclasses supply the dialect hooks (the ``_`` methods).

    Every table is keyed by ``study_id`` (the result tables by ``analysis_id``), so a study's rows in
    every table are replaced or deleted in one transaction.
    """

    # type names of the dialect for the logical column types (see meta_bm.store.schema)
    column_types: dict[str, str]

    # ------------------------------------------------------------------ dialect hooks
    @abstractmethod
    def connect(self) -> contextlib.AbstractContextManager[Any]:
        """A connection to the store with its tables created (closed on exit)."""

    @abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A connection inside one transaction: committed on success, rolled back on any error."""

    def _reading(self) -> contextlib.AbstractContextManager[Any]:
        """A connection for reads that see one consistent state of the store."""
        return self.connect()

    @abstractmethod
    def _execute(self, con: Any, sql: str, params: dict | None = None) -> list[tuple]:
        """Run one statement (parameters ``$name``); its rows (empty for a statement without result)."""

    @abstractmethod
    def _frame(self, con: Any, sql: str, params: dict | None = None) -> pl.DataFrame:
        """Run one query (parameters ``$name``) and return its rows as a polars frame."""

    @abstractmethod
    def _in(self, param: str) -> str:
        """SQL for ``<expr> is one of the list parameter $param``, e.g. ``IN (SELECT unnest($ids))``."""

    @abstractmethod
    def _insert(self, con: Any, table: str, frame: pl.DataFrame) -> None:
        """Insert a frame's rows into ``table``, matching columns by name (missing ones NULL)."""

    @abstractmethod
    def _create_from(self, con: Any, table: str, frame: pl.DataFrame) -> None:
        """Create ``table`` (empty) with the columns and types of ``frame``."""

    @abstractmethod
    def _hash_sql(self, sql: str) -> str:
        """``SELECT count(*), <sum of one 64-bit hash per row> FROM (sql)``: an order-independent content hash."""

    @abstractmethod
    def read(self, sql: str) -> pl.DataFrame:
        """Run one user-supplied statement read-only (a write is refused)."""

    def _lock_keys(self, con: Any, kind: str, names: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Hold locks (until the transaction ends) on ``names`` of ``kind`` (``study``, ``analysis``, ``schema``)
        against other writers; nothing to do where one writer holds the whole store."""

    def _before_ddl(self, con: Any, tables: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """About to create or drop result tables (``tables``: those that exist): lock out other writers."""

    def _created(self, con: Any, table: str) -> None:  # noqa: B027 - optional hook
        """A declared table was just created (e.g. to index it by study)."""

    # ------------------------------------------------------------------ shared implementation
    def _existing_tables(self, con: Any) -> set[str]:
        return {
            r[0]
            for r in self._execute(
                con, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        }

    def _table_columns(self, con: Any, table: str) -> list[str]:
        return [
            r[0]
            for r in self._execute(
                con,
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = $t ORDER BY ordinal_position",
                {"t": table},
            )
        ]

    def _create_or_upgrade(self, con: Any) -> None:
        """Create missing tables; add the columns a newer meta_bm stores to tables an older one created
        (rows are inserted by column name, so an added column is NULL for the rows already stored)."""
        self._lock_keys(con, "schema", ["tables"])
        existing: dict[str, set[str]] = {}
        for table, column in self._execute(
            con, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        ):
            existing.setdefault(table, set()).add(column)
        for name, cols in TABLE_COLUMNS.items():
            if name not in existing:
                self._execute(con, f"CREATE TABLE IF NOT EXISTS {name} ({table_ddl(cols, self.column_types)})")
                self._created(con, name)
                continue
            for column in cols:
                if column.name not in existing[name]:
                    self._execute(con, f"ALTER TABLE {name} ADD COLUMN {column_ddl(column, self.column_types)}")
        self._execute(con, pooled_versions_ddl(self.column_types))

    def replace_studies(self, study_ids: Sequence[str], tables: dict[str, pl.DataFrame]) -> None:
        """Atomically replace the rows of ``study_ids`` in each given table with the frame's rows.

        Frames are matched to tables by column name; columns a frame lacks are stored as NULL. Either
        every table is updated or none is.
        """
        self.apply([(name, study_ids, frame) for name, frame in tables.items()])

    def apply(self, changes: Sequence[tuple[str, Sequence[str], pl.DataFrame]]) -> None:
        """Several ``(table, study_ids, frame)`` replacements in one transaction (all or nothing)."""
        for name, ids, frame in changes:
            if name not in TABLES:
                raise KeyError(f"unknown table {name!r}")
            if frame.height:
                extra = set(frame["study_id"].unique().to_list()) - set(ids)
                if extra:
                    raise ValueError(f"rows for {sorted(extra)} given while replacing {list(ids)} in {name}")
        with self._transaction() as con:
            self._lock_keys(con, "study", sorted({str(s) for _, ids, _ in changes for s in ids}))
            for name, ids, frame in changes:
                self._execute(con, f"DELETE FROM {name} WHERE study_id {self._in('ids')}", {"ids": list(ids)})
                if frame.height:
                    self._insert(con, name, frame)

    def commit_studies(
        self,
        stored: dict[str, dict[str, pl.DataFrame]],
        status: pl.DataFrame,
        unit_tables: Sequence[str],
    ) -> None:
        """Store whole study units and every study's status in one transaction (all or nothing).

        ``stored`` maps a study id to its rows per table: every table of ``unit_tables`` is
        replaced for that study (a table it has no frame for is emptied), so its files, curves,
        IPD and cohort always come from one version of its folder. Studies only in ``status``
        (rejected or failed) keep their stored rows; just their status row is replaced.
        """
        ids = list(stored)
        frames = {
            t: pl.concat([u[t] for u in stored.values() if t in u], how="diagonal_relaxed")
            if any(t in u for u in stored.values())
            else pl.DataFrame()
            for t in unit_tables
        }
        self.apply([*((t, ids, frames[t]) for t in unit_tables), ("study_status", status["study_id"], status)])

    def rows_per_study(self, study_ids: Sequence[str], tables: Sequence[str]) -> dict[str, dict[str, int]]:
        """``{table: {study_id: rows}}`` for the given studies (missing = 0 rows)."""
        out: dict[str, dict[str, int]] = {}
        with self._reading() as con:
            for t in tables:
                rows = self._execute(
                    con,
                    f"SELECT study_id, count(*) FROM {t} WHERE study_id {self._in('ids')} GROUP BY study_id",
                    {"ids": list(study_ids)},
                )
                out[t] = {sid: 0 for sid in study_ids} | {r[0]: int(r[1]) for r in rows}
        return out

    def study_views(self, study_ids: Sequence[str]) -> dict[str, pl.DataFrame]:
        """What a study looks like once stored, for the studies given (all rows of all of them).

        ``studies`` (citation, source, fingerprint, loaded_at), ``files``, ``fidelity``, ``published``
        (the published comparison), ``curves`` (with the arm label), ``clicks``, ``ipd``, ``risk_fit``
        and ``cohort``; each has ``study_id``.
        """
        where = f"WHERE study_id {self._in('ids')}"
        queries = {
            "studies": f"SELECT study_id, citation, source, fingerprint, loaded_at FROM studies {where}",
            "files": f"SELECT study_id, role, file, sha256, bytes FROM source_files {where} ORDER BY role, file",
            "fidelity": f"SELECT * FROM fidelity {where} ORDER BY curve_id",
            "published": f"SELECT * FROM published_comparison {where} ORDER BY curve_id, figure",
            "curves": f"""SELECT c.study_id, c.curve_id, c.endpoint, c.time_unit, a.label
                          FROM curves c LEFT JOIN arms a USING (study_id, arm_id)
                          WHERE c.study_id {self._in("ids")} ORDER BY c.curve_id""",
            "clicks": f"SELECT study_id, curve_id, time, survival FROM raw_clicks {where} ORDER BY curve_id, row",
            "ipd": f"SELECT study_id, curve_id, time, event FROM ipd {where} ORDER BY curve_id, patient_index",
            "risk_fit": f"SELECT * FROM risk_table_fit {where} ORDER BY curve_id, time",
            "digitized": f"SELECT * FROM digitized_curves {where} ORDER BY curve_id",
            "cohort": f"SELECT * FROM cohort {where}",
        }
        with self._reading() as con:
            return {name: self._frame(con, sql, {"ids": list(study_ids)}) for name, sql in queries.items()}

    def report_inputs(self) -> dict[str, pl.DataFrame]:
        """What the report shows besides the analyses (see :func:`meta_bm.reports.html.write_report`).

        ``studies`` (characteristics: citation, year, source, endpoints, cohort rows, modalities),
        ``fidelity`` per curve, ``published`` (the published comparison), ``rejected`` (studies whose last
        folder version could not be used, with why), ``study_status`` (every study folder seen, for the
        flow diagram), ``curves`` (each published curve with ``figure_id`` and ``digitized``: read from a
        figure by the digitizer), ``arms`` (labels and modality of each arm), ``cohort`` (patients and events
        per study, endpoint and arm, with the maximum follow-up in months) and ``followup`` (the time and
        event of every cohort row, for the reverse Kaplan-Meier median follow-up per study).
        """
        queries = {
            "studies": """WITH ep AS (SELECT study_id, string_agg(DISTINCT endpoint, ', ' ORDER BY endpoint)
                                             AS curve_endpoints
                                      FROM curves GROUP BY study_id),
                               n AS (SELECT study_id, count(*) AS cohort_rows FROM cohort GROUP BY study_id),
                               md AS (SELECT study_id, string_agg(DISTINCT modality, ', ' ORDER BY modality)
                                             AS modalities
                                      FROM arms GROUP BY study_id)
                          SELECT s.study_id, s.citation, s.year, s.source, s.synthetic, ep.curve_endpoints,
                                 coalesce(n.cohort_rows, 0) AS cohort_rows, md.modalities
                          FROM studies s LEFT JOIN ep USING (study_id) LEFT JOIN n USING (study_id)
                               LEFT JOIN md USING (study_id)
                          ORDER BY s.year, s.study_id""",
            "fidelity": """SELECT study_id, curve_id, status, n_clicks, rmse, max_abs_error, n_patients, n_published,
                                  events, events_published, median, median_published, median_digitized, time_unit
                           FROM fidelity ORDER BY study_id, curve_id""",
            "published": "SELECT * FROM published_comparison ORDER BY study_id, curve_id, figure",
            "rejected": "SELECT study_id, status, stage, message FROM study_status WHERE status <> 'ok' ORDER BY 1",
            "study_status": "SELECT study_id, stage, status, message FROM study_status ORDER BY study_id",
            "curves": """SELECT study_id, curve_id, arm_id, endpoint, time_unit, figure_id,
                                figure_id IS NOT NULL AS digitized
                         FROM curves ORDER BY study_id, curve_id""",
            "arms": "SELECT study_id, arm_id, label, modality FROM arms ORDER BY study_id, arm_id",
            # min(): the one label, modality and source of an arm (any_value is DuckDB's only)
            "cohort": """SELECT study_id, endpoint, arm_id, min(arm_label) AS arm_label,
                                min(modality) AS modality, min(source) AS source,
                                count(*) AS n, sum(event)::INTEGER AS events, max(time_months) AS max_time_months
                         FROM cohort GROUP BY study_id, endpoint, arm_id ORDER BY study_id, endpoint, arm_id""",
            "followup": """SELECT study_id, endpoint, time_months, event::INTEGER AS event
                           FROM cohort ORDER BY study_id, endpoint, time_months""",
        }
        with self._reading() as con:
            return {name: self._frame(con, sql) for name, sql in queries.items()}

    def input_versions(self, endpoints: Sequence[str]) -> dict[str, str]:
        """Content versions of what the pooled results read (see :mod:`meta_bm.pipeline.pooled`).

        ``cohort:<endpoint>`` for the cohort rows of each endpoint, ``cohort`` for the rows per study,
        and ``report:<source>`` for each of the report's other sources, in a fixed order (the
        studies, their status, fidelity, the published comparison, the arms; timestamps left out,
        since they change on every load).
        """
        queries = {
            f"cohort:{e}": "SELECT * FROM cohort WHERE endpoint = '{}'".format(e.replace("'", "''")) for e in endpoints
        }
        queries["cohort"] = "SELECT study_id, count(*) FROM cohort GROUP BY study_id"
        queries |= {f"report:{name}": sql for name, sql in _REPORT_SOURCES.items()}
        return self._versions(queries)

    def _versions(self, queries: dict[str, str]) -> dict[str, str]:
        """Content hashes of query results (order-independent): ``{name: "rows:hex"}`` for ``{name: SELECT ...}``.

        Each query's rows are hashed row by row and summed, so equal contents give equal versions
        whatever the physical order (the hash differs between the backends).
        """
        out = {}
        with self._reading() as con:
            for name, sql in queries.items():
                n, total = self._execute(con, self._hash_sql(sql))[0]
                out[name] = f"{int(n)}:{int(total) & (2**64 - 1):016x}"
        return out

    def pooled_versions(self) -> dict[str, str]:
        """The inputs version each pooled asset was last computed from."""
        with self._reading() as con:
            return dict(self._execute(con, f"SELECT asset, inputs_version FROM {POOLED_VERSIONS}"))

    def set_pooled_versions(self, versions: dict[str, str], con: Any | None = None) -> None:
        """Record the inputs versions of pooled assets (in ``con``'s transaction when given)."""
        if con is None:
            with self._transaction() as own:
                self.set_pooled_versions(versions, own)
            return
        for asset in sorted(versions):  # one order for every writer: row locks never wait in a cycle
            self._execute(
                con,
                f"INSERT INTO {POOLED_VERSIONS} (asset, inputs_version, updated_at) "
                "VALUES ($a, $v, current_timestamp) ON CONFLICT (asset) DO UPDATE "
                "SET inputs_version = excluded.inputs_version, updated_at = excluded.updated_at",
                {"a": asset, "v": versions[asset]},
            )

    def delete_studies(self, study_ids: Sequence[str]) -> dict[str, int]:
        """Delete every row of ``study_ids`` from every table; returns rows deleted per table."""
        ids = list(study_ids)
        out = {}
        with self._transaction() as con:
            self._lock_keys(con, "study", sorted(set(ids)))
            for name in TABLES:
                n = self._execute(con, f"SELECT count(*) FROM {name} WHERE study_id {self._in('ids')}", {"ids": ids})
                self._execute(con, f"DELETE FROM {name} WHERE study_id {self._in('ids')}", {"ids": ids})
                out[name] = int(n[0][0]) if n else 0
        return out

    def query(self, sql: str, params: dict | None = None) -> pl.DataFrame:
        """Run a read query (parameters written ``$name``) and return a polars frame."""
        with self._reading() as con:
            return self._frame(con, sql, params or None)

    def replace_analysis(
        self, analysis_id: str, tables: dict[str, pl.DataFrame], pooled_versions: dict[str, str] | None = None
    ) -> None:
        """Atomically replace one analysis's rows in the result tables (created from the first frame).

        A frame whose columns no longer fit its table (the result layout changed) recreates the table.
        ``pooled_versions`` are recorded in the same transaction (see :meth:`set_pooled_versions`).
        """
        for name in tables:
            if name not in ANALYSIS_TABLES:
                raise KeyError(f"unknown analysis table {name!r}")
        with self._transaction() as con:
            self._lock_keys(con, "analysis", [analysis_id])
            existing, columns = self._analysis_layout(con)
            if self._needs_ddl(tables, existing, columns):  # only then lock out every other writer of results
                self._lock_keys(con, "schema", ["tables"])
                self._before_ddl(con, [n for n in ANALYSIS_TABLES if n in existing])
                existing, columns = self._analysis_layout(con)
            for name in ANALYSIS_TABLES:
                frame = tables.get(name, pl.DataFrame())
                if name in existing:
                    if frame.height and not set(frame.columns) <= columns[name]:
                        self._execute(con, f"DROP TABLE {name}")
                        existing.discard(name)
                    else:
                        self._execute(con, f"DELETE FROM {name} WHERE analysis_id = $a", {"a": analysis_id})
                # a frame with columns but no rows (e.g. no Egger test: too few studies) still creates its
                # table, so readers find every result table with its columns
                if frame.width and (frame.height or name not in existing):
                    if name not in existing:
                        self._create_from(con, name, frame)
                        existing.add(name)
                    if frame.height:
                        self._insert(con, name, frame)
            if pooled_versions:
                self.set_pooled_versions(pooled_versions, con)

    def _analysis_layout(self, con: Any) -> tuple[set[str], dict[str, set[str]]]:
        existing = self._existing_tables(con) & set(ANALYSIS_TABLES)
        return existing, {n: set(self._table_columns(con, n)) for n in existing}

    @staticmethod
    def _needs_ddl(tables: dict[str, pl.DataFrame], existing: set[str], columns: dict[str, set[str]]) -> bool:
        for name, frame in tables.items():
            if name not in existing and frame.width:
                return True
            if name in existing and frame.height and not set(frame.columns) <= columns[name]:
                return True
        return False

    def analysis_results(self, analysis_ids: Sequence[str] | None = None) -> dict[str, pl.DataFrame]:
        """The result tables (only the rows of ``analysis_ids`` when given); missing tables are empty."""
        out = {}
        with self._reading() as con:
            existing = self._existing_tables(con)
            for name in ANALYSIS_TABLES:  # (in this order: see PostgresCohortStore._before_ddl)
                if name not in existing:
                    out[name] = pl.DataFrame()
                elif analysis_ids is None:
                    out[name] = self._frame(con, f"SELECT * FROM {name}")
                else:
                    out[name] = self._frame(
                        con, f"SELECT * FROM {name} WHERE analysis_id {self._in('ids')}", {"ids": list(analysis_ids)}
                    )
        return out

    def cohort(self, endpoint: str | None = None) -> pl.DataFrame:
        """The harmonized cohort: every row, or the rows of one endpoint.

        Parameters
        ----------
        endpoint : str, optional
            ``"os"``, ``"pfs"`` or ``"local_pfs"``; all endpoints when None.

        Returns
        -------
        polars.DataFrame
            The columns of :data:`~meta_bm.store.schema.COHORT_SCHEMA`, one row per patient per endpoint.
        """
        if endpoint is None:
            return self.query("SELECT * FROM cohort")
        return self.query("SELECT * FROM cohort WHERE endpoint = $e", {"e": endpoint})

    def failed_attempts(self) -> dict[str, tuple[str, str | None]]:
        """The studies whose last processed folder version was not stored, and what that attempt saw.

        Returns
        -------
        dict
            ``{study_id: (fingerprint, pipeline_version)}`` for every study whose status is rejected or
            failed and whose folder could be fingerprinted: the folder version and the code version of
            the attempt, so the same folder with the same code is not retried.
        """
        rows = self.query(
            "SELECT study_id, fingerprint, pipeline_version FROM study_status "
            "WHERE status <> 'ok' AND fingerprint IS NOT NULL"
        ).rows()
        return {r[0]: (r[1], r[2]) for r in rows}

    def study_problems(self, study_ids: Sequence[str]) -> dict[str, str | None]:
        """Why those of ``study_ids`` whose last folder version was rejected or failed could not be used.

        Parameters
        ----------
        study_ids : sequence of str
            The studies to look at (e.g. those of a run); studies without a status row are ignored.

        Returns
        -------
        dict
            ``{study_id: message}`` in study-id order, one entry per study not ``ok`` (the message lists
            every problem, one per line). ``len(store.study_problems(ids)) == len(ids)`` tells that every
            study of a run was rejected or failed.
        """
        if not study_ids:
            return {}
        rows = self.query(
            f"SELECT study_id, message FROM study_status WHERE status <> 'ok' AND study_id {self._in('ids')} "
            "ORDER BY study_id",
            {"ids": list(study_ids)},
        ).rows()
        return dict(rows)

    def cohort_overview(self) -> pl.DataFrame:
        """Patients, events and median follow-up-free summaries per study, endpoint and arm of the cohort."""
        return self.query(
            """SELECT study_id, endpoint, arm_id, min(modality) AS modality, min(source) AS source,
                      count(*) AS patients, sum(event)::INTEGER AS events, max(time_months) AS max_time_months,
                      bool_and(synthetic) AS synthetic
               FROM cohort GROUP BY study_id, endpoint, arm_id ORDER BY study_id, endpoint, arm_id"""
        )

    def study_info(self) -> dict[str, tuple[str, int | None]]:
        """``{study_id: ("Author Year", year)}`` of every stored study (see :mod:`meta_bm.studies.citation`)."""
        from meta_bm.studies.citation import study_labels

        rows = self.query("SELECT study_id, citation, year, source FROM studies ORDER BY study_id").rows()
        labels = study_labels(rows)
        return {sid: (labels[sid], year) for sid, _, year, _ in rows}

    def stored_study_ids(self) -> list[str]:
        """Every study id that has rows in any table."""
        union = " UNION ".join(f"SELECT DISTINCT study_id FROM {t}" for t in TABLES)
        return sorted(self.query(union)["study_id"].to_list())
