"""Studies as rows of the store and back: what the ingest stage writes, what later stages read.

The later stages (reconstruction, harmonization) read a study from the store, not from its folder,
so what they compute derives from exactly the rows (and file hashes) that were ingested.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meta_bm.studies.folder import LoadedStudy


def digitized_curves(study: LoadedStudy) -> pl.DataFrame:
    """One row per curve read from a figure: the figure (file, page, SHA-256, how read) and the
    extraction's quality figures (points, gaps, overlaps, confidence, marks, risk rows, notes)."""
    rows = []
    for c in study.curves:
        if c.figure is None:
            continue
        fig, d = study.figures[c.figure.figure_id], c.figure.curve
        q = d.quality
        rows.append(
            {
                "study_id": study.study_id,
                "curve_id": c.spec.curve_id,
                "figure_id": c.figure.figure_id,
                "figure_file": c.figure.file,
                "figure_page": c.figure.page,
                "figure_sha256": c.figure.sha256,
                "kind": fig.kind,
                "calibration": fig.calibration.how,
                "label": d.label,
                "style": ", ".join(f"{k} {v}" for k, v in d.style.items()),
                "method": q.method,
                "points": q.points,
                "gaps": q.gaps,
                "gap_fraction": float(q.gap_fraction),
                "overlap_fraction": float(q.overlap_fraction),
                "confidence": q.confidence,
                "censor_marks": None if d.censor_times is None else int(d.censor_times.size),
                "risk_rows": None if d.n_risk is None else int(d.n_risk.size),
                "notes": "\n".join([*q.notes, *fig.warnings]),
            }
        )
    schema = {
        "study_id": pl.String, "curve_id": pl.String, "figure_id": pl.String, "figure_file": pl.String,
        "figure_page": pl.Int32, "figure_sha256": pl.String, "kind": pl.String, "calibration": pl.String,
        "label": pl.String, "style": pl.String, "method": pl.String, "points": pl.Int32, "gaps": pl.Int32,
        "gap_fraction": pl.Float64, "overlap_fraction": pl.Float64, "confidence": pl.String,
        "censor_marks": pl.Int32, "risk_rows": pl.Int32, "notes": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def ingest_tables(study: LoadedStudy) -> dict[str, pl.DataFrame]:
    """The raw-digitization rows of one loaded study: manifest, files with SHA-256, clicks (typed or
    extracted from figures), risk tables, censoring marks, and each figure curve's extraction quality."""
    m, sid = study.manifest, study.study_id
    tables: dict[str, pl.DataFrame] = {
        "studies": pl.DataFrame(
            {
                "study_id": [sid],
                "citation": [m.citation],
                "year": [m.year],
                "doi": [m.doi],
                "source": [m.source],
                "synthetic": [m.synthetic],
                "notes": [m.notes],
                "fingerprint": [study.fingerprint],
                "manifest_json": [m.model_dump_json()],
            },
            schema_overrides={"doi": pl.String, "notes": pl.String},
        ),
        "source_files": pl.DataFrame(
            {
                "study_id": sid,
                "role": [f.role for f in study.files],
                "file": [f.name for f in study.files],
                "sha256": [f.sha256 for f in study.files],
                "bytes": [f.size for f in study.files],
            }
        ),
        "arms": pl.DataFrame(
            [{"study_id": sid, **a.model_dump()} for a in m.arms],
            schema_overrides={"resection_extent": pl.String, "adjuvant": pl.String},
        ).rename({"arm_id": "arm_id"}),
    }
    curve_rows, clicks, risks, marks = [], [], [], []
    for c in study.curves:
        s = c.spec
        pub = s.published
        curve_rows.append(
            {
                "study_id": sid,
                "curve_id": s.curve_id,
                "arm_id": s.arm,
                "endpoint": s.endpoint,
                "time_unit": s.time_unit,
                "clicks_file": s.clicks,
                "clicks_sha256": c.clicks_sha256,
                "figure_id": s.figure,
                "figure_file": c.figure.file if c.figure else None,
                "figure_page": c.figure.page if c.figure else None,
                "figure_sha256": c.figure.sha256 if c.figure else None,
                "censor_marks_file": s.censor_marks,
                "censor_marks_sha256": c.censor_marks_sha256,
                "y_scale": c.clicks.y_scale,
                "risk_table_file": s.risk_table,
                "risk_table_sha256": c.risk_table_sha256,
                "total_n": s.total_n,
                "total_events": s.total_events,
                "published_median": pub.median.value if pub and pub.median else None,
                "published_median_lower": pub.median.lower if pub and pub.median else None,
                "published_median_upper": pub.median.upper if pub and pub.median else None,
                "published_hr": pub.hr.value if pub and pub.hr else None,
                "published_hr_lower": pub.hr.lower if pub and pub.hr else None,
                "published_hr_upper": pub.hr.upper if pub and pub.hr else None,
                "published_hr_reference_arm": pub.hr.reference_arm if pub and pub.hr else None,
                "published_events": pub.events if pub else None,
            }
        )
        clicks.append(
            pl.DataFrame(
                {
                    "study_id": sid,
                    "curve_id": s.curve_id,
                    "row": c.clicks.rows.astype(np.int32),
                    "time": c.clicks.time,
                    "survival": c.clicks.survival,
                }
            )
        )
        if c.risk_table is not None:
            risks.append(
                pl.DataFrame(
                    {
                        "study_id": sid,
                        "curve_id": s.curve_id,
                        "row": c.risk_table.rows.astype(np.int32),
                        "time": c.risk_table.time.astype(float),
                        "n_risk": c.risk_table.n_risk.astype(np.int32),
                    }
                )
            )
        if c.censor_times is not None and c.censor_times.size:
            marks.append(
                pl.DataFrame(
                    {
                        "study_id": sid,
                        "curve_id": s.curve_id,
                        "mark": np.arange(1, c.censor_times.size + 1, dtype=np.int32),
                        "time": np.asarray(c.censor_times, float),
                    }
                )
            )
    tables["curves"] = pl.DataFrame(curve_rows, infer_schema_length=None) if curve_rows else pl.DataFrame()
    tables["raw_censor_marks"] = pl.concat(marks) if marks else pl.DataFrame()
    tables["digitized_curves"] = digitized_curves(study)
    tables["raw_clicks"] = pl.concat(clicks) if clicks else pl.DataFrame()
    tables["raw_risk_tables"] = pl.concat(risks) if risks else pl.DataFrame()
    tables["raw_patients"] = (
        study.patients.with_columns(pl.lit(sid).alias("study_id")) if study.patients is not None else pl.DataFrame()
    )
    return tables
