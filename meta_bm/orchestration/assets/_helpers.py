"""Small helpers shared by the asset modules (status rows, metadata formatting)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import dagster as dg
import polars as pl

from meta_bm.orchestration.constants import PIPELINE_VERSION
from meta_bm.store import CohortStore
from meta_bm.store.study_tables import load_stored_studies
from meta_bm.studies import LoadedStudy

DETAIL_LIMIT = 5  # runs over at most this many studies get per-study tables and plots in metadata


def status_frame(rows: Sequence[tuple[str, str, str, str | None, str | None]]) -> pl.DataFrame:
    """``study_status`` rows from ``(study_id, stage, status, fingerprint, message)`` tuples."""
    return pl.DataFrame(
        {
            "study_id": [r[0] for r in rows],
            "stage": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "fingerprint": [r[3] for r in rows],
            "pipeline_version": PIPELINE_VERSION,
            "message": [r[4] for r in rows],
        },
        schema_overrides={"fingerprint": pl.String, "message": pl.String},
    )


def table_metadata(df: pl.DataFrame, limit: int = 50) -> dg.MetadataValue:
    """A polars frame as a UI table (first ``limit`` rows; floats rounded for reading)."""
    df = df.head(limit).with_columns(pl.col(pl.Float64).round(4))
    types = {pl.Int64: "int", pl.Int32: "int", pl.Int8: "int", pl.Float64: "float", pl.Boolean: "bool"}
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c, types.get(t, "string")) for c, t in zip(df.columns, df.dtypes, strict=True)]
    )
    return dg.MetadataValue.table(records=[dg.TableRecord(r) for r in df.to_dicts()], schema=schema)


def png_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def problems_markdown(problems: dict[str, list[str]], limit: int = 200) -> dg.MetadataValue:
    lines = [f"- **{sid}**: " + "<br>".join(p) for sid, p in list(problems.items())[:limit]]
    return dg.MetadataValue.md("\n".join(lines) or "none")


def progress(context: dg.AssetExecutionContext, verb: str, i: int, n: int, study_id: str) -> None:
    """Log which study a step is on: every study in small runs, about every 5% in large backfills
    (each log line is an event written to the instance's storage, so one per study would dominate)."""
    if n <= 20 or i % max(1, n // 20) == 0 or i == n - 1:
        context.log.info(f"{verb} {study_id} ({i + 1}/{n})")


def run_scope(context: dg.AssetExecutionContext) -> list[str]:
    """The study keys this run covers (one, or a range in single-run backfills)."""
    return list(context.partition_keys)


def stored_scope(
    context: dg.AssetExecutionContext, store: CohortStore
) -> tuple[list[str], list[str], dict[str, LoadedStudy]]:
    """This run's study keys, those of them that loaded cleanly at ingest, and their stored inputs."""
    keys = run_scope(context)
    usable = store.usable_studies(keys)
    return keys, usable, load_stored_studies(store, usable)
