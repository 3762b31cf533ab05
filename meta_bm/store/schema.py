"""The store's tables, written once in a dialect-neutral form and rendered to DuckDB and PostgreSQL.

Every column has a *logical* type (``text``, ``float64``, ``int8``, ``int32``, ``int64``, ``bool``,
``timestamp``); :data:`DUCKDB_TYPES` and :data:`POSTGRES_TYPES` say what each becomes in a dialect and
:data:`POLARS_TYPES` what a read returns, whichever the backend. The harmonized cohort's columns
(:data:`COHORT_SCHEMA`, what every harmonizer produces) are given as polars types and translated.

Example
-------
>>> [c.name for c in TABLE_COLUMNS["source_files"]]
['study_id', 'role', 'file', 'sha256', 'bytes']
>>> table_ddl(TABLE_COLUMNS["source_files"], DUCKDB_TYPES)
'study_id VARCHAR, role VARCHAR, file VARCHAR, sha256 VARCHAR, bytes BIGINT'
>>> table_ddl(TABLE_COLUMNS["source_files"], POSTGRES_TYPES)
'study_id TEXT, role TEXT, file TEXT, sha256 TEXT, bytes BIGINT'
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

# One row per patient per endpoint: time in months, the controlled vocabulary, provenance, covariates.
COHORT_SCHEMA: dict[str, pl.DataType] = {
    "study_id": pl.String(),
    "patient_id": pl.String(),
    "endpoint": pl.String(),
    "arm_id": pl.String(),
    "arm_label": pl.String(),
    "modality": pl.String(),
    "resection_extent": pl.String(),
    "adjuvant": pl.String(),
    "time_months": pl.Float64(),
    "event": pl.Int8(),
    "source": pl.String(),
    "synthetic": pl.Boolean(),
    "curve_id": pl.String(),
    "source_file": pl.String(),
    "source_sha256": pl.String(),
    "risk_table_sha256": pl.String(),
    "reconstruction_version": pl.String(),
    "age": pl.Float64(),
    "sex": pl.String(),
    "kps": pl.Float64(),
    "primary_histology": pl.String(),
}

# What a logical type is read back as (both backends), in DuckDB and in PostgreSQL. PostgreSQL has no
# one-byte integer: int8 is a SMALLINT domain (created by the PostgreSQL store), so reads know to give Int8.
POLARS_TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "float64": pl.Float64(),
    "int8": pl.Int8(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "bool": pl.Boolean(),
    "timestamp": pl.Datetime("us"),
}
DUCKDB_TYPES = {"text": "VARCHAR", "float64": "DOUBLE", "int8": "TINYINT", "int32": "INTEGER", "int64": "BIGINT",
                "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}  # fmt: skip
POSTGRES_TYPES = {"text": "TEXT", "float64": "DOUBLE PRECISION", "int8": "meta_bm_int8", "int32": "INTEGER",
                  "int64": "BIGINT", "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}  # fmt: skip
_LOGICAL_OF_POLARS = {v: k for k, v in POLARS_TYPES.items()}


class Column(NamedTuple):
    """One column: its name, logical type, and whether it defaults to the time of the insert."""

    name: str
    type: str
    default_now: bool = False


def _columns(spec: str) -> tuple[Column, ...]:
    """``"name type, name type=now, ..."`` -> columns (``=now``: defaults to the current timestamp)."""
    out = []
    for item in spec.split(","):
        name, kind = item.split()
        kind, _, default = kind.partition("=")
        if kind not in POLARS_TYPES or default not in ("", "now"):
            raise ValueError(f"column {name!r}: unknown logical type {kind!r} or default {default!r}")
        out.append(Column(name, kind, default == "now"))
    return tuple(out)


_COHORT_SPEC = ", ".join(f"{k} {_LOGICAL_OF_POLARS[v]}" for k, v in COHORT_SCHEMA.items())

# Every table is keyed by study_id, so a study can be replaced or deleted everywhere at once.
TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {
    name: _columns(spec)
    for name, spec in {
        "studies": """study_id text, citation text, year int32, doi text, source text, synthetic bool, notes text,
            fingerprint text, manifest_json text, loaded_at timestamp""",
        "source_files": "study_id text, role text, file text, sha256 text, bytes int64",
        "arms": "study_id text, arm_id text, label text, modality text, resection_extent text, adjuvant text",
        "curves": """study_id text, curve_id text, arm_id text, endpoint text, time_unit text, clicks_file text,
            clicks_sha256 text, y_scale text, risk_table_file text, risk_table_sha256 text, total_n int32,
            total_events int32, published_median float64, published_median_lower float64,
            published_median_upper float64, published_hr float64, published_hr_lower float64,
            published_hr_upper float64, published_hr_reference_arm text, published_events int32, figure_id text,
            figure_file text, figure_page int32, figure_sha256 text, censor_marks_file text,
            censor_marks_sha256 text""",
        "raw_clicks": "study_id text, curve_id text, row int32, time float64, survival float64",
        "raw_risk_tables": "study_id text, curve_id text, row int32, time float64, n_risk int32",
        "raw_censor_marks": "study_id text, curve_id text, mark int32, time float64",
        # one row per curve read from a figure: the figure and how well it was extracted
        "digitized_curves": """study_id text, curve_id text, figure_id text, figure_file text, figure_page int32,
            figure_sha256 text, kind text, calibration text, label text, style text, method text, points int32,
            gaps int32, gap_fraction float64, overlap_fraction float64, confidence text, censor_marks int32,
            risk_rows int32, notes text""",
        "ipd": """study_id text, curve_id text, patient_index int32, time float64, event int8, time_unit text,
            clicks_sha256 text, reconstruction_version text, figure_sha256 text""",
        "fidelity": """study_id text, curve_id text, status text, n_clicks int32, rmse float64,
            mean_abs_error float64, max_abs_error float64, max_error_time float64, n_patients int32,
            n_published int32, events int32, events_published int32, risk_table_max_abs_diff int32,
            median float64, median_digitized float64, median_published float64, time_unit text, warnings text""",
        "cleaning_log": """study_id text, curve_id text, row int32, action text, before_time float64,
            before_survival float64, after_time float64, after_survival float64, reason text""",
        "risk_table_fit": """study_id text, curve_id text, time float64, published int32, reconstructed int32,
            difference int32""",
        "raw_patients": """study_id text, patient_id text, arm_id text, endpoint text, time float64, event int8,
            age float64, sex text, kps float64, primary_histology text, resection_extent text, adjuvant text""",
        "institutional_patients": _COHORT_SPEC,
        "cohort": _COHORT_SPEC,
        "published_comparison": """study_id text, curve_id text, figure text, published float64,
            published_lower float64, published_upper float64, reconstructed float64, reconstructed_lower float64,
            reconstructed_upper float64, reference text, verdict text, severity text, detail text""",
        # one row per study: what happened to the last version of its folder that was processed
        # (ok / rejected / failed, with every problem); the stored rows are those of the last ok version
        "study_status": """study_id text, stage text, status text, fingerprint text, pipeline_version text,
            message text, updated_at timestamp=now""",
    }.items()
}

# Bookkeeping of the pooled assets: the version of the inputs each was last computed from, written in
# the same transaction as its results (so a crash in between leaves it visibly out of date). Keyed by asset.
POOLED_VERSIONS = "pooled_versions"
POOLED_VERSIONS_COLUMNS = _columns("asset text, inputs_version text, updated_at timestamp=now")


def column_ddl(column: Column, types: dict[str, str]) -> str:
    """``name TYPE [DEFAULT current_timestamp]`` in the dialect whose type names are ``types``."""
    return f"{column.name} {types[column.type]}" + (" DEFAULT current_timestamp" if column.default_now else "")


def table_ddl(columns: tuple[Column, ...], types: dict[str, str]) -> str:
    """The column definitions of a ``CREATE TABLE`` in the dialect whose type names are ``types``."""
    return ", ".join(column_ddl(c, types) for c in columns)


def pooled_versions_ddl(types: dict[str, str]) -> str:
    """``CREATE TABLE IF NOT EXISTS pooled_versions (...)`` keyed by asset, in a dialect."""
    first, *rest = POOLED_VERSIONS_COLUMNS
    cols = ", ".join([column_ddl(first, types) + " PRIMARY KEY", *(column_ddl(c, types) for c in rest)])
    return f"CREATE TABLE IF NOT EXISTS {POOLED_VERSIONS} ({cols})"


def polars_schema(table: str) -> dict[str, pl.DataType]:
    """``{column: polars type}`` of a declared table, as reads return it."""
    return {c.name: POLARS_TYPES[c.type] for c in TABLE_COLUMNS[table]}
