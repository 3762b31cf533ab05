"""Studies as rows of the store and back: what the ingest stage writes, what later stages read.

The later stages (reconstruction, harmonization) read a study from the store, not from its folder,
so what they compute derives from exactly the rows (and file hashes) that were ingested.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meta_bm.studies.folder import LoadedStudy


def ingest_tables(study: LoadedStudy) -> dict[str, pl.DataFrame]:
    """The raw-digitization rows of one loaded study: manifest, files with SHA-256, clicks, risk tables."""
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
    curve_rows, clicks, risks = [], [], []
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
    tables["curves"] = pl.DataFrame(curve_rows, infer_schema_length=None) if curve_rows else pl.DataFrame()
    tables["raw_clicks"] = pl.concat(clicks) if clicks else pl.DataFrame()
    tables["raw_risk_tables"] = pl.concat(risks) if risks else pl.DataFrame()
    tables["raw_patients"] = (
        study.patients.with_columns(pl.lit(sid).alias("study_id")) if study.patients is not None else pl.DataFrame()
    )
    return tables

