"""The DuckDB patient-level store: one file, one writer at a time, whole studies replaced atomically.

DuckDB lets one process hold a database file at a time (even readers are refused while a writer
is connected). Every access therefore goes through a short-lived connection taken under an
inter-process file lock (``<db>.lock``): concurrent runs queue instead of failing, and a study's
rows in every table are replaced in one transaction (delete its rows, insert the new ones), so a
crash or a bad input never leaves a study half-written and never touches other studies' rows.

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
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import polars as pl
from filelock import FileLock

from meta_bm.store.schema import COHORT_SCHEMA

_DUCK = {pl.String(): "VARCHAR", pl.Float64(): "DOUBLE", pl.Int8(): "TINYINT", pl.Boolean(): "BOOLEAN"}

# Every table is keyed by study_id, so a study can be replaced or deleted everywhere at once.
TABLES: dict[str, str] = {
    "studies": """study_id VARCHAR, citation VARCHAR, year INTEGER, doi VARCHAR, source VARCHAR,
        synthetic BOOLEAN, notes VARCHAR, fingerprint VARCHAR, manifest_json VARCHAR, loaded_at TIMESTAMP""",
    "source_files": "study_id VARCHAR, role VARCHAR, file VARCHAR, sha256 VARCHAR, bytes BIGINT",
    "arms": """study_id VARCHAR, arm_id VARCHAR, label VARCHAR, modality VARCHAR, resection_extent VARCHAR,
        adjuvant VARCHAR""",
    "curves": """study_id VARCHAR, curve_id VARCHAR, arm_id VARCHAR, endpoint VARCHAR, time_unit VARCHAR,
        clicks_file VARCHAR, clicks_sha256 VARCHAR, y_scale VARCHAR, risk_table_file VARCHAR,
        risk_table_sha256 VARCHAR, total_n INTEGER, total_events INTEGER, published_median DOUBLE,
        published_median_lower DOUBLE, published_median_upper DOUBLE, published_hr DOUBLE,
        published_hr_lower DOUBLE, published_hr_upper DOUBLE, published_hr_reference_arm VARCHAR,
        published_events INTEGER, figure_id VARCHAR, figure_file VARCHAR, figure_page INTEGER,
        figure_sha256 VARCHAR, censor_marks_file VARCHAR, censor_marks_sha256 VARCHAR""",
    "raw_clicks": "study_id VARCHAR, curve_id VARCHAR, row INTEGER, time DOUBLE, survival DOUBLE",
    "raw_risk_tables": "study_id VARCHAR, curve_id VARCHAR, row INTEGER, time DOUBLE, n_risk INTEGER",
    "raw_censor_marks": "study_id VARCHAR, curve_id VARCHAR, mark INTEGER, time DOUBLE",
    # one row per curve read from a figure: the figure and how well it was extracted
    "digitized_curves": """study_id VARCHAR, curve_id VARCHAR, figure_id VARCHAR, figure_file VARCHAR,
        figure_page INTEGER, figure_sha256 VARCHAR, kind VARCHAR, calibration VARCHAR, label VARCHAR,
        style VARCHAR, method VARCHAR, points INTEGER, gaps INTEGER, gap_fraction DOUBLE,
        overlap_fraction DOUBLE, confidence VARCHAR, censor_marks INTEGER, risk_rows INTEGER, notes VARCHAR""",
    "ipd": """study_id VARCHAR, curve_id VARCHAR, patient_index INTEGER, time DOUBLE, event TINYINT,
        time_unit VARCHAR, clicks_sha256 VARCHAR, reconstruction_version VARCHAR, figure_sha256 VARCHAR""",
    "fidelity": """study_id VARCHAR, curve_id VARCHAR, status VARCHAR, n_clicks INTEGER, rmse DOUBLE,
        mean_abs_error DOUBLE, max_abs_error DOUBLE, max_error_time DOUBLE, n_patients INTEGER,
        n_published INTEGER, events INTEGER, events_published INTEGER, risk_table_max_abs_diff INTEGER,
        median DOUBLE, median_digitized DOUBLE, median_published DOUBLE, time_unit VARCHAR, warnings VARCHAR""",
    "cleaning_log": """study_id VARCHAR, curve_id VARCHAR, row INTEGER, action VARCHAR, before_time DOUBLE,
        before_survival DOUBLE, after_time DOUBLE, after_survival DOUBLE, reason VARCHAR""",
    "risk_table_fit": """study_id VARCHAR, curve_id VARCHAR, time DOUBLE, published INTEGER,
        reconstructed INTEGER, difference INTEGER""",
    "raw_patients": """study_id VARCHAR, patient_id VARCHAR, arm_id VARCHAR, endpoint VARCHAR, time DOUBLE,
        event TINYINT, age DOUBLE, sex VARCHAR, kps DOUBLE, primary_histology VARCHAR, resection_extent VARCHAR,
        adjuvant VARCHAR""",
    "institutional_patients": ", ".join(f"{k} {_DUCK[v]}" for k, v in COHORT_SCHEMA.items()),
    "cohort": ", ".join(f"{k} {_DUCK[v]}" for k, v in COHORT_SCHEMA.items()),
    "published_comparison": """study_id VARCHAR, curve_id VARCHAR, figure VARCHAR, published DOUBLE,
        published_lower DOUBLE, published_upper DOUBLE, reconstructed DOUBLE, reconstructed_lower DOUBLE,
        reconstructed_upper DOUBLE, reference VARCHAR, verdict VARCHAR, severity VARCHAR, detail VARCHAR""",
    # one row per study: what happened to the last version of its folder that was processed
    # (ok / rejected / failed, with every problem); the stored rows are those of the last ok version
    "study_status": """study_id VARCHAR, stage VARCHAR, status VARCHAR, fingerprint VARCHAR,
        pipeline_version VARCHAR, message VARCHAR, updated_at TIMESTAMP DEFAULT current_timestamp""",
}

# Bookkeeping of the pooled assets: the version of the inputs each was last computed from, written in
# the same transaction as its results (so a crash in between leaves it visibly out of date).
POOLED_VERSIONS = "pooled_versions"
_POOLED_VERSIONS_DDL = f"""CREATE TABLE IF NOT EXISTS {POOLED_VERSIONS} (asset VARCHAR PRIMARY KEY,
    inputs_version VARCHAR, updated_at TIMESTAMP DEFAULT current_timestamp)"""

# Writers and readers of other processes that open the file without our lock (a notebook, the DuckDB
# CLI) make duckdb.connect fail at once; we retry within the lock timeout instead of failing the run.
_FOREIGN_LOCK_RETRY_SECONDS = 0.2
_sleep, _monotonic = time.sleep, time.monotonic  # module names, so tests can drive the retry clock


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
    "studies": "SELECT * EXCLUDE (loaded_at) FROM studies",
    "study_status": "SELECT study_id, stage, status, message FROM study_status",
    "fidelity": "SELECT * FROM fidelity",
    "published_comparison": "SELECT * FROM published_comparison",
    "arms": "SELECT * FROM arms",
    "curves": "SELECT study_id, curve_id, arm_id, endpoint, time_unit, figure_id FROM curves",
}


def _create_or_upgrade(con: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables; add the columns a newer meta_bm stores to tables an older one created
    (rows are inserted by column name, so an added column is NULL for the rows already stored)."""
    existing: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    ).fetchall():
        existing.setdefault(table, set()).add(column)
    for name, cols in TABLES.items():
        if name not in existing:
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")
            continue
        for definition in cols.split(","):
            column = definition.split()[0]
            if column not in existing[name]:
                con.execute(f"ALTER TABLE {name} ADD COLUMN {definition.strip()}")
    con.execute(_POOLED_VERSIONS_DDL)


class CohortStore:
    """Access to the DuckDB file behind meta_bm (see the module docstring for the locking rules).

    Parameters
    ----------
    path:
        The DuckDB database file (created with its tables on first use).
    lock_timeout:
        Seconds to wait for another process's access to finish before giving up.
    """

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
                    _create_or_upgrade(con)
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
            for name, ids, frame in changes:
                con.execute(f"DELETE FROM {name} WHERE study_id IN (SELECT unnest($ids))", {"ids": list(ids)})
                if frame.height:
                    con.register("_incoming", frame.to_arrow())
                    con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _incoming")
                    con.unregister("_incoming")

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
        with self.connect() as con:
            for t in tables:
                rows = con.execute(
                    f"SELECT study_id, count(*) FROM {t} WHERE study_id IN (SELECT unnest($ids)) GROUP BY study_id",
                    {"ids": list(study_ids)},
                ).fetchall()
                out[t] = {sid: 0 for sid in study_ids} | {r[0]: int(r[1]) for r in rows}
        return out

    def study_views(self, study_ids: Sequence[str]) -> dict[str, pl.DataFrame]:
        """What a study looks like once stored, for the studies given (all rows of all of them).

        ``studies`` (citation, source, fingerprint, loaded_at), ``files``, ``fidelity``, ``published``
        (the published comparison), ``curves`` (with the arm label), ``clicks``, ``ipd``, ``risk_fit``
        and ``cohort``; each has ``study_id``.
        """
        where = "WHERE study_id IN (SELECT unnest($ids))"
        queries = {
            "studies": f"SELECT study_id, citation, source, fingerprint, loaded_at FROM studies {where}",
            "files": f"SELECT study_id, role, file, sha256, bytes FROM source_files {where} ORDER BY role, file",
            "fidelity": f"SELECT * FROM fidelity {where} ORDER BY curve_id",
            "published": f"SELECT * FROM published_comparison {where} ORDER BY curve_id, figure",
            "curves": """SELECT c.study_id, c.curve_id, c.endpoint, c.time_unit, a.label
                         FROM curves c LEFT JOIN arms a USING (study_id, arm_id)
                         WHERE c.study_id IN (SELECT unnest($ids)) ORDER BY c.curve_id""",
            "clicks": f"SELECT study_id, curve_id, time, survival FROM raw_clicks {where} ORDER BY curve_id, row",
            "ipd": f"SELECT study_id, curve_id, time, event FROM ipd {where} ORDER BY curve_id, patient_index",
            "risk_fit": f"SELECT * FROM risk_table_fit {where} ORDER BY curve_id, time",
            "digitized": f"SELECT * FROM digitized_curves {where} ORDER BY curve_id",
            "cohort": f"SELECT * FROM cohort {where}",
        }
        with self.connect() as con:
            return {name: con.sql(sql, params={"ids": list(study_ids)}).pl() for name, sql in queries.items()}

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
            "studies": """WITH ep AS (SELECT study_id, string_agg(DISTINCT endpoint, ', ') AS curve_endpoints
                                      FROM curves GROUP BY study_id),
                               n AS (SELECT study_id, count(*) AS cohort_rows FROM cohort GROUP BY study_id),
                               md AS (SELECT study_id, string_agg(DISTINCT modality, ', ') AS modalities
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
            "cohort": """SELECT study_id, endpoint, arm_id, any_value(arm_label) AS arm_label,
                                any_value(modality) AS modality, any_value(source) AS source,
                                count(*) AS n, sum(event)::INTEGER AS events, max(time_months) AS max_time_months
                         FROM cohort GROUP BY study_id, endpoint, arm_id ORDER BY study_id, endpoint, arm_id""",
            "followup": """SELECT study_id, endpoint, time_months, event::INTEGER AS event
                           FROM cohort ORDER BY study_id, endpoint, time_months""",
        }
        with self.connect() as con:
            return {name: con.sql(sql).pl() for name, sql in queries.items()}

    def input_versions(self, endpoints: Sequence[str]) -> dict[str, str]:
        """Content versions of what the pooled results read (see :mod:`meta_bm.pipeline.pooled`).

        ``cohort:<endpoint>`` for the cohort rows of each endpoint, ``cohort`` for the rows per study,
        and ``report:<source>`` for each of the report's other sources, in a fixed order (the
        studies, their status, fidelity, the published comparison, the arms; timestamps left out,
        since they change on every load).
        """
        queries = {f"cohort:{e}": f"SELECT * FROM cohort WHERE endpoint = '{e}'" for e in endpoints}
        queries["cohort"] = "SELECT study_id, count(*) FROM cohort GROUP BY study_id"
        queries |= {f"report:{name}": sql for name, sql in _REPORT_SOURCES.items()}
        return self._versions(queries)

    def _versions(self, queries: dict[str, str]) -> dict[str, str]:
        """Content hashes of query results (order-independent): ``{name: hex}`` for ``{name: SELECT ...}``.

        Each query's rows are hashed row by row and summed, so equal contents give equal versions
        whatever the physical order.
        """
        out = {}
        with self.connect() as con:
            for name, sql in queries.items():
                n, total = con.execute(
                    f"SELECT count(*), coalesce(sum(hash(q)::HUGEINT), 0) FROM ({sql}) AS q"
                ).fetchone()
                out[name] = f"{int(n)}:{int(total) & (2**64 - 1):016x}"
        return out

    def pooled_versions(self) -> dict[str, str]:
        """The inputs version each pooled asset was last computed from."""
        with self.connect() as con:
            return dict(con.execute(f"SELECT asset, inputs_version FROM {POOLED_VERSIONS}").fetchall())

    def set_pooled_versions(self, versions: dict[str, str], con: duckdb.DuckDBPyConnection | None = None) -> None:
        """Record the inputs versions of pooled assets (in ``con``'s transaction when given)."""
        if con is None:
            with self._transaction() as own:
                self.set_pooled_versions(versions, own)
            return
        for asset, version in versions.items():
            con.execute(
                f"INSERT OR REPLACE INTO {POOLED_VERSIONS} (asset, inputs_version, updated_at) "
                "VALUES ($a, $v, current_timestamp)",
                {"a": asset, "v": version},
            )

    def delete_studies(self, study_ids: Sequence[str]) -> dict[str, int]:
        """Delete every row of ``study_ids`` from every table; returns rows deleted per table."""
        ids = list(study_ids)
        out = {}
        with self._transaction() as con:
            for name in TABLES:
                n = con.execute(
                    f"SELECT count(*) FROM {name} WHERE study_id IN (SELECT unnest($ids))", {"ids": ids}
                ).fetchone()
                con.execute(f"DELETE FROM {name} WHERE study_id IN (SELECT unnest($ids))", {"ids": ids})
                out[name] = int(n[0]) if n else 0
        return out

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

    def query(self, sql: str, params: dict | None = None) -> pl.DataFrame:
        """Run a read query and return a polars frame."""
        with self.connect() as con:
            return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()

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
            existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            for name in ANALYSIS_TABLES:
                frame = tables.get(name, pl.DataFrame())
                if name in existing:
                    cols = {r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()}
                    if frame.height and not set(frame.columns) <= cols:
                        con.execute(f"DROP TABLE {name}")
                        existing.discard(name)
                    else:
                        con.execute(f"DELETE FROM {name} WHERE analysis_id = $a", {"a": analysis_id})
                # a frame with columns but no rows (e.g. no Egger test: too few studies) still creates its
                # table, so readers find every result table with its columns
                if frame.width and (frame.height or name not in existing):
                    con.register("_incoming", frame.to_arrow())
                    if name not in existing:
                        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _incoming LIMIT 0")
                        existing.add(name)
                    con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _incoming")
                    con.unregister("_incoming")
            if pooled_versions:
                self.set_pooled_versions(pooled_versions, con)

    def analysis_results(self, analysis_ids: Sequence[str] | None = None) -> dict[str, pl.DataFrame]:
        """The result tables (only the rows of ``analysis_ids`` when given); missing tables are empty."""
        out = {}
        with self.connect() as con:
            existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            for name in ANALYSIS_TABLES:
                if name not in existing:
                    out[name] = pl.DataFrame()
                elif analysis_ids is None:
                    out[name] = con.sql(f"SELECT * FROM {name}").pl()
                else:
                    out[name] = con.sql(
                        f"SELECT * FROM {name} WHERE analysis_id IN (SELECT unnest($ids))",
                        params={"ids": list(analysis_ids)},
                    ).pl()
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
            "SELECT study_id, message FROM study_status WHERE status <> 'ok' AND study_id IN (SELECT unnest($ids)) "
            "ORDER BY study_id",
            {"ids": list(study_ids)},
        ).rows()
        return dict(rows)

    def cohort_overview(self) -> pl.DataFrame:
        """Patients, events and median follow-up-free summaries per study, endpoint and arm of the cohort."""
        return self.query(
            """SELECT study_id, endpoint, arm_id, any_value(modality) AS modality, any_value(source) AS source,
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
