"""Studies as rows of the store and back: what the ingest stage writes, what later stages read.

The later stages (reconstruction, harmonization) read a study from the store, not from its folder,
so what they compute derives from exactly the rows (and file hashes) that were ingested.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from meta_bm.reconstruction import Clicks, RiskTable
from meta_bm.store.cohort_store import CohortStore
from meta_bm.studies.folder import COVARIATES, LoadedCurve, LoadedStudy, SourceFile
from meta_bm.studies.manifest import StudyManifest


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


def load_stored_studies(store: CohortStore, study_ids: list[str]) -> dict[str, LoadedStudy]:
    """Rebuild :class:`LoadedStudy` objects from the ingested rows (studies without rows are absent)."""
    if not study_ids:
        return {}
    p = {"ids": list(study_ids)}
    where = "WHERE study_id IN (SELECT unnest($ids))"
    with store.connect() as con:
        studies = con.sql(f"SELECT * FROM studies {where}", params=p).pl()
        files = con.sql(f"SELECT * FROM source_files {where}", params=p).pl()
        curves = con.sql(f"SELECT * FROM curves {where}", params=p).pl()
        clicks = con.sql(f"SELECT * FROM raw_clicks {where} ORDER BY study_id, curve_id", params=p).pl()
        risks = con.sql(f"SELECT * FROM raw_risk_tables {where} ORDER BY study_id, curve_id, time", params=p).pl()
        patients = con.sql(f"SELECT * FROM raw_patients {where}", params=p).pl()
    click_groups = clicks.partition_by("study_id", "curve_id", as_dict=True) if clicks.height else {}
    risk_groups = risks.partition_by("study_id", "curve_id", as_dict=True) if risks.height else {}
    file_groups = files.partition_by("study_id", as_dict=True) if files.height else {}
    curve_groups = curves.partition_by("study_id", as_dict=True) if curves.height else {}
    patient_groups = patients.partition_by("study_id", as_dict=True) if patients.height else {}
    out: dict[str, LoadedStudy] = {}
    for row in studies.iter_rows(named=True):
        sid = row["study_id"]
        manifest = StudyManifest.model_validate_json(row["manifest_json"])
        by_id = {}
        cur = curve_groups.get((sid,))
        if cur is not None:
            by_id = {r["curve_id"]: r for r in cur.iter_rows(named=True)}
        loaded_curves = []
        for spec in manifest.curves:
            meta = by_id[spec.curve_id]
            ck = click_groups[(sid, spec.curve_id)]
            clicks_obj = Clicks(
                time=ck["time"].to_numpy(),
                survival=ck["survival"].to_numpy(),
                rows=ck["row"].to_numpy().astype(np.int64),
                source=spec.clicks,
                y_scale=meta["y_scale"],
            )
            rk = risk_groups.get((sid, spec.curve_id))
            table = None
            if rk is not None:
                table = RiskTable(
                    time=rk["time"].to_numpy(),
                    n_risk=rk["n_risk"].to_numpy().astype(np.int64),
                    rows=rk["row"].to_numpy().astype(np.int64),
                    source=spec.risk_table or "",
                )
            loaded_curves.append(LoadedCurve(spec, clicks_obj, table, meta["clicks_sha256"], meta["risk_table_sha256"]))
        fg = file_groups.get((sid,))
        src_files = (
            [SourceFile(r["role"], r["file"], r["sha256"], r["bytes"]) for r in fg.iter_rows(named=True)]
            if fg is not None
            else []
        )
        pat = patient_groups.get((sid,))
        out[sid] = LoadedStudy(
            study_id=sid,
            folder=None,  # type: ignore[arg-type]  # rebuilt from the store, not a folder
            manifest=manifest,
            files=src_files,
            curves=loaded_curves,
            patients=pat.select("patient_id", "arm_id", "endpoint", "time", "event", *COVARIATES)
            if pat is not None
            else None,
            patients_sha256=next((f.sha256 for f in src_files if f.role == "patients"), None),
            fingerprint=row["fingerprint"],
        )
    return out
