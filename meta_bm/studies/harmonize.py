"""Harmonization: patient-level rows of one study, in the cohort's schema (:data:`COHORT_SCHEMA`).

The harmonized cohort has one row per patient per endpoint, times in months, the arm's modality
and attributes from the controlled vocabulary, and provenance columns (study, curve, source file,
its SHA-256, reconstruction version) so every row traces back to the input it came from.
Literature studies arrive as reconstructed IPD (:mod:`meta_bm.studies.reconstruct` reconstructs
and gates the curves, then calls :func:`harmonize_literature`); institutional studies as their
patient table (:func:`institutional_cohort`).

Example
-------
Two reconstructed patients of a curve in weeks (13 weeks = 91 days = 91 / (365.25 / 12) months):

>>> from meta_bm.studies.manifest import parse_manifest
>>> manifest = parse_manifest('''
... study_id: demo_2020
... citation: Demo
... year: 2020
... source: literature
... synthetic: true
... arms: [{arm_id: rr, label: Re-resection, modality: re_resection}]
... curves: [{curve_id: os_rr, arm: rr, endpoint: os, time_unit: weeks, clicks: os_rr.csv, total_n: 2}]
... ''')
>>> ipd = pl.DataFrame({"curve_id": "os_rr", "patient_index": [0, 1], "time": [13.0, 26.0], "event": [1, 0],
...                     "clicks_sha256": "ab12", "reconstruction_version": "v1"})
>>> files = pl.DataFrame({"curve_id": ["os_rr"], "source_file": ["os_rr.csv"], "source_sha256": ["ab12"],
...                       "risk_table_sha256": [None]})
>>> rows = harmonize_literature(manifest, ipd, pl.DataFrame({"curve_id": ["os_rr"], "status": ["ok"]}), files)
>>> rows.select("patient_id", "modality", pl.col("time_months").round(4), "event", "source_file").rows()
[('os_rr_00000', 're_resection', 2.9897, 1, 'os_rr.csv'), ('os_rr_00001', 're_resection', 5.9795, 0, 'os_rr.csv')]
>>> rows.columns == list(COHORT_SCHEMA)
True

A curve the fidelity gate blocked contributes no rows:

>>> harmonize_literature(manifest, ipd, pl.DataFrame({"curve_id": ["os_rr"], "status": ["blocked"]}), files).height
0
"""

from __future__ import annotations

import polars as pl

from meta_bm.store.schema import COHORT_SCHEMA
from meta_bm.studies.folder import LoadedStudy
from meta_bm.studies.manifest import MONTHS_PER_UNIT, StudyManifest


def curve_files_frame(study: LoadedStudy) -> pl.DataFrame:
    """Provenance of each curve of ``study``: ``curve_id, source_file, source_sha256, risk_table_sha256``,
    the source being the clicks file, or the figure for a curve read from one."""
    return pl.DataFrame(
        {
            "curve_id": [c.spec.curve_id for c in study.curves],
            "source_file": [c.source_file for c in study.curves],
            "source_sha256": [c.source_sha256 for c in study.curves],
            "risk_table_sha256": [c.risk_table_sha256 for c in study.curves],
        },
        schema_overrides={
            "risk_table_sha256": pl.String,
            "curve_id": pl.String,
            "source_file": pl.String,
            "source_sha256": pl.String,
        },
    )


def harmonize_literature(
    manifest: StudyManifest, ipd: pl.DataFrame, fidelity: pl.DataFrame, curve_files: pl.DataFrame
) -> pl.DataFrame:
    """Cohort rows from reconstructed IPD (curve time units) of one study; blocked curves left out.

    ``ipd``: ``curve_id, patient_index, time, event, reconstruction_version``; ``fidelity``:
    ``curve_id, status``; ``curve_files``: ``curve_id, source_file, source_sha256, risk_table_sha256``
    (:func:`curve_files_frame`).
    """
    if ipd.height == 0:
        return _conform([])
    specs = {c.curve_id: c for c in manifest.curves}
    passed = fidelity.filter(pl.col("status") != "blocked")["curve_id"].to_list()
    curves = pl.DataFrame(
        {
            "curve_id": list(specs),
            "endpoint": [c.endpoint for c in specs.values()],
            "arm_id": [c.arm for c in specs.values()],
            "arm_label": [manifest.arm(c.arm).label for c in specs.values()],
            "modality": [manifest.arm(c.arm).modality for c in specs.values()],
            "resection_extent": [manifest.arm(c.arm).resection_extent for c in specs.values()],
            "adjuvant": [manifest.arm(c.arm).adjuvant for c in specs.values()],
            "months_per_unit": [MONTHS_PER_UNIT[c.time_unit] for c in specs.values()],
        },
        schema_overrides={"resection_extent": pl.String, "adjuvant": pl.String},
    )
    df = (
        ipd.filter(pl.col("curve_id").is_in(passed))
        .join(curves, on="curve_id", how="left")
        .join(curve_files, on="curve_id", how="left")
        .with_columns(
            pl.lit(manifest.study_id).alias("study_id"),
            (pl.col("curve_id") + "_" + pl.col("patient_index").cast(pl.String).str.zfill(5)).alias("patient_id"),
            (pl.col("time") * pl.col("months_per_unit")).alias("time_months"),
            pl.lit(manifest.source).alias("source"),
            pl.lit(manifest.synthetic).alias("synthetic"),
        )
        .sort("curve_id", "patient_index")
    )
    return _conform([df])


def _conform(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Stack frames into the cohort schema (missing columns as nulls, fixed order and types)."""
    out = []
    for f in frames:
        cols = [
            (pl.col(k).cast(v) if k in f.columns else pl.lit(None, dtype=v)).alias(k) for k, v in COHORT_SCHEMA.items()
        ]
        out.append(f.select(cols))
    return pl.concat(out) if out else pl.DataFrame(schema=COHORT_SCHEMA)


def institutional_cohort(study: LoadedStudy) -> pl.DataFrame:
    """Harmonized rows of an institutional study: its patient table, times in months, arm vocabulary.

    A patient-level ``resection_extent`` / ``adjuvant`` overrides the arm's attribute.
    """
    if study.patients is None:
        return pl.DataFrame(schema=COHORT_SCHEMA)
    m = study.manifest
    assert m.patients is not None
    arms = pl.DataFrame(
        {
            "arm_id": [a.arm_id for a in m.arms],
            "arm_label": [a.label for a in m.arms],
            "modality": [a.modality for a in m.arms],
            "arm_extent": [a.resection_extent for a in m.arms],
            "arm_adjuvant": [a.adjuvant for a in m.arms],
        },
        schema_overrides={"arm_extent": pl.String, "arm_adjuvant": pl.String},
    )
    df = study.patients.join(arms, on="arm_id", how="left").with_columns(
        pl.lit(m.study_id).alias("study_id"),
        (pl.col("time") * MONTHS_PER_UNIT[m.patients.time_unit]).alias("time_months"),
        pl.coalesce("resection_extent", "arm_extent").alias("resection_extent"),
        pl.coalesce("adjuvant", "arm_adjuvant").alias("adjuvant"),
        pl.lit(m.source).alias("source"),
        pl.lit(m.synthetic).alias("synthetic"),
        pl.lit(m.patients.file).alias("source_file"),
        pl.lit(study.patients_sha256).alias("source_sha256"),
    )
    return _conform([df.drop([c for c in ("time", "arm_extent", "arm_adjuvant") if c in df.columns])])


__all__ = ["COHORT_SCHEMA", "curve_files_frame", "harmonize_literature", "institutional_cohort"]
