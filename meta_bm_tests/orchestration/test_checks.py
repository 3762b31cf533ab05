"""Check builders on hand-made stored rows: what passes, what warns, and the words a reader sees."""

from __future__ import annotations

import dagster as dg
import polars as pl

from meta_bm.orchestration.checks import extraction_evaluation


def _digitized(**overrides) -> pl.DataFrame:
    row = {"curve_id": "os_a", "figure_id": "fig1", "kind": "raster", "label": None, "points": 80, "gaps": 0,
           "gap_fraction": 0.0, "overlap_fraction": 0.0, "confidence": "high", "censor_marks": 4,
           "risk_rows": None}  # fmt: skip
    other = row | {"curve_id": "os_b"} | overrides
    return pl.DataFrame([row, other], schema_overrides={"label": pl.String, "risk_rows": pl.Int32})


def test_a_curve_mostly_unseen_or_drawn_over_another_warns_naming_it():
    assert extraction_evaluation("s", _digitized()).passed
    for bad, words in (
        ({"gap_fraction": 0.12}, "os_b (high confidence, 12% unseen, 0% overlapped)"),
        ({"overlap_fraction": 0.4}, "os_b (high confidence, 0% unseen, 40% overlapped)"),
        ({"confidence": "low"}, "os_b (low confidence"),
    ):
        ev = extraction_evaluation("s", _digitized(**bad))
        assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN and ev.partition == "s"
        assert ev.description.startswith("1 of 2 curve(s) poorly extracted, check the overlay: ")
        assert words in ev.description
    # just under the thresholds: whole
    assert extraction_evaluation("s", _digitized(gap_fraction=0.05, overlap_fraction=0.25)).passed
