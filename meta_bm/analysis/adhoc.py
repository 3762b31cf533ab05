"""Run the pooled-analysis statistics on any patient-level table (``meta-bm analyze``).

Example
-------
>>> import polars as pl
>>> df = pl.DataFrame({"t": [1.0, 2, 3, 4, 5, 6, 7, 8], "e": [1, 1, 0, 1, 1, 1, 0, 1], "arm": list("abababab")})
>>> res = analyze_table(df, time="t", event="e", group="arm", reference="b")
>>> [g.group for g in res.groups], res.analysis.reference
(['a', 'b'], 'b')
"""

from __future__ import annotations

import json
import math
import re

import polars as pl

from meta_bm.analysis.config import Analysis, GroupDef
from meta_bm.analysis.pooled import AnalysisData, PooledResult, analyze
from meta_bm.errors import InputError


def _group_id(value: str, taken: set[str]) -> str:
    gid = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_") or "group"
    base, k = gid, 2
    while gid in taken:
        gid, k = f"{base}_{k}", k + 1
    taken.add(gid)
    return gid


def analyze_table(
    df: pl.DataFrame,
    time: str,
    event: str,
    group: str,
    study: str | None = None,
    reference: str | None = None,
    landmarks: list[float] | None = None,
    rmst_horizon: float | None = None,
    source: str = "<table>",
) -> PooledResult:
    """All statistics of :mod:`meta_bm.analysis.pooled` for ``group`` levels of a patient-level table.

    ``reference`` defaults to the first level in sorted order; times are in the table's unit.
    """
    for col in (time, event, group, study):
        if col is not None and col not in df.columns:
            raise InputError(f"column {col!r} not found (columns: {', '.join(df.columns)})", source)
    t = df[time].cast(pl.Float64, strict=False)
    e = df[event].cast(pl.Float64, strict=False)
    for name, col in ((time, t), (event, e)):
        bad = (col.is_null() & df[name].is_not_null()) | col.is_null()
        if bad.any():
            row = int(bad.arg_true()[0]) + 2
            raise InputError(f"{name} {df[name][row - 2]!r} is not a number", source, row)
    if (t < 0).any():
        raise InputError(f"{time} is negative", source, int((t < 0).arg_true()[0]) + 2)
    if (~e.is_in([0.0, 1.0])).any():
        raise InputError(f"{event} must be 0 or 1", source, int((~e.is_in([0.0, 1.0])).arg_true()[0]) + 2)
    levels = sorted(df[group].cast(pl.String).unique().drop_nulls().to_list())
    if len(levels) < 2:
        raise InputError(f"column {group!r} has fewer than two groups", source)
    reference = reference if reference is not None else levels[0]
    if reference not in levels:
        raise InputError(f"reference {reference!r} is not a level of {group!r} ({', '.join(levels)})", source)
    taken: set[str] = set()
    ids = {lv: _group_id(lv, taken) for lv in levels}
    analysis = Analysis(
        id="adhoc",
        title=f"{event} by {group}",
        endpoint="os",
        groups=[GroupDef(id=ids[lv], label=lv, where={"arm_id": lv}) for lv in levels],
        reference=ids[reference],
        landmarks_months=landmarks or [],
        rmst_horizon_months=rmst_horizon or float(t.max()),
    )
    frame = pl.DataFrame(
        {
            "study_id": df[study].cast(pl.String) if study else pl.Series(["all"] * df.height),
            "patient_id": [str(i) for i in range(df.height)],
            "group": df[group].cast(pl.String).replace_strict(ids, default=None),
            "time": t,
            "event": e.cast(pl.Int64),
        }
    ).filter(pl.col("group").is_not_null())
    data = AnalysisData(analysis, frame, sorted(frame["study_id"].unique().to_list()), {})
    return analyze(data)


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def result_json(result: PooledResult) -> str:
    """Every figure of a result as JSON (NaN and infinity as null)."""
    out = {name: df.to_dicts() for name, df in result.tables().items() if df.width}
    out["notes"] = result.notes
    return json.dumps(_clean(out), indent=2, default=str)
