"""Turning results into Dagster metadata: UI tables, embedded figures, markdown lists, progress lines."""

from __future__ import annotations

import base64

import dagster as dg
import polars as pl

_TYPES = {pl.Int64: "int", pl.Int32: "int", pl.Int8: "int", pl.UInt32: "int", pl.Float64: "float", pl.Boolean: "bool"}


def table_metadata(df: pl.DataFrame, limit: int = 50) -> dg.MetadataValue:
    """A polars frame as a UI table (first ``limit`` rows; floats rounded to 4 digits for reading)."""
    df = df.head(limit).with_columns(pl.col(pl.Float64).round(4))
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c, _TYPES.get(t, "string")) for c, t in zip(df.columns, df.dtypes, strict=True)]
    )
    return dg.MetadataValue.table(records=[dg.TableRecord(r) for r in df.to_dicts()], schema=schema)


def png_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG embedded in markdown (the UI shows it inline; keep it small, it lives in the event log)."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def md_list(items: list[str], limit: int = 100) -> dg.MetadataValue:
    lines = [f"- {i}" for i in items[:limit]]
    if len(items) > limit:
        lines.append(f"- … and {len(items) - limit} more")
    return dg.MetadataValue.md("\n".join(lines) or "none")


def progress(context: dg.AssetExecutionContext, verb: str, i: int, n: int, study_id: str) -> None:
    """Log which study a step is on: every study in small runs, about every 5% in large backfills
    (each log line is an event written to the instance's storage, so one per study would dominate)."""
    if n <= 20 or i % max(1, n // 20) == 0 or i == n - 1:
        context.log.info(f"{verb} {study_id} ({i + 1}/{n})")
