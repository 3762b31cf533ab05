"""From a loaded study to patient-level tables: reconstruction per curve, fidelity gate, harmonized cohort.

The harmonized cohort has one row per patient per endpoint, times in months, the arm's modality
and attributes from the controlled vocabulary, and provenance columns (study, curve, source file,
its SHA-256, reconstruction version) so every row traces back to the input it came from.

Example
-------
>>> FidelityGate().status(rmse=0.004, max_abs_error=0.02, risk_mismatch=0)
'ok'
>>> FidelityGate().status(rmse=0.08, max_abs_error=0.2, risk_mismatch=0)
'blocked'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from meta_bm.reconstruction import RECONSTRUCTION_VERSION, Reconstruction, reconstruct
from meta_bm.store.schema import COHORT_SCHEMA
from meta_bm.studies.folder import COVARIATES, LoadedCurve, LoadedStudy
from meta_bm.studies.manifest import MONTHS_PER_UNIT, StudyManifest


@dataclass(frozen=True)
class FidelityGate:
    """How far a reconstructed KM may depart from the digitized clicks.

    ``blocked`` (the curve is kept out of the cohort) when the RMSE or the maximum absolute error
    at the clicks exceeds the block limits; ``warn`` above the warn limits or when any published
    number at risk is missed; ``ok`` otherwise. Survival units (0-1).
    """

    warn_rmse: float = 0.02
    warn_max: float = 0.05
    block_rmse: float = 0.05
    block_max: float = 0.15

    def status(self, rmse: float, max_abs_error: float, risk_mismatch: int) -> str:
        if rmse > self.block_rmse or max_abs_error > self.block_max:
            return "blocked"
        if rmse > self.warn_rmse or max_abs_error > self.warn_max or risk_mismatch > 0:
            return "warn"
        return "ok"


@dataclass
class CurveResult:
    curve: LoadedCurve
    reconstruction: Reconstruction
    status: str


@dataclass
class StudyReconstruction:
    """Every curve of a literature study reconstructed, with tables ready for the store."""

    study: LoadedStudy
    curves: list[CurveResult]

    def ipd(self) -> pl.DataFrame:
        """Reconstructed IPD in each curve's own time unit: study_id, curve_id, patient_index, time, event."""
        frames = [
            pl.DataFrame(
                {
                    "study_id": self.study.study_id,
                    "curve_id": r.curve.spec.curve_id,
                    "patient_index": np.arange(r.reconstruction.time.size, dtype=np.int32),
                    "time": r.reconstruction.time,
                    "event": r.reconstruction.event.astype(np.int8),
                    "time_unit": r.curve.spec.time_unit,
                    "clicks_sha256": r.curve.clicks_sha256,
                    "reconstruction_version": RECONSTRUCTION_VERSION,
                }
            )
            for r in self.curves
        ]
        return pl.concat(frames) if frames else pl.DataFrame()

    def fidelity(self) -> pl.DataFrame:
        """One row per curve: fidelity at the clicks, published vs reconstructed N, events, median."""
        rows = []
        for r in self.curves:
            f, spec = r.reconstruction.fidelity, r.curve.spec
            pub = spec.published
            rt = f.risk_table
            rows.append(
                {
                    "study_id": self.study.study_id,
                    "curve_id": spec.curve_id,
                    "status": r.status,
                    "n_clicks": f.n_clicks,
                    "rmse": f.rmse,
                    "mean_abs_error": f.mean_abs_error,
                    "max_abs_error": f.max_abs_error,
                    "max_error_time": f.max_error_time,
                    "n_patients": f.n_patients,
                    "n_published": _published_n(r.curve),
                    "events": f.events,
                    "events_published": spec.total_events
                    if spec.total_events is not None
                    else (pub.events if pub else None),
                    "risk_table_max_abs_diff": int(np.abs(rt["difference"].to_numpy()).max()) if rt.height else 0,
                    "median": _finite(f.median),
                    "median_digitized": _finite(f.median_digitized),
                    "median_published": pub.median.value if pub and pub.median else None,
                    "time_unit": spec.time_unit,
                    "warnings": "\n".join(r.reconstruction.warnings),
                }
            )
        return pl.DataFrame(
            rows,
            schema_overrides={
                "n_published": pl.Int64,
                "events_published": pl.Int64,
                "median": pl.Float64,
                "median_published": pl.Float64,
                "median_digitized": pl.Float64,
            },
        )

    def cleaning_log(self) -> pl.DataFrame:
        rows = [
            {
                "study_id": self.study.study_id,
                "curve_id": r.curve.spec.curve_id,
                "row": ch.row,
                "action": ch.action,
                "before_time": ch.before[0] if ch.before else None,
                "before_survival": ch.before[1] if ch.before else None,
                "after_time": ch.after[0] if ch.after else None,
                "after_survival": ch.after[1] if ch.after else None,
                "reason": ch.reason,
            }
            for r in self.curves
            for ch in r.reconstruction.curve.log
        ]
        schema = {
            "study_id": pl.String,
            "curve_id": pl.String,
            "row": pl.Int64,
            "action": pl.String,
            "before_time": pl.Float64,
            "before_survival": pl.Float64,
            "after_time": pl.Float64,
            "after_survival": pl.Float64,
            "reason": pl.String,
        }
        return pl.DataFrame(rows, schema=schema)

    def curve_files(self) -> pl.DataFrame:
        """Provenance of each curve: clicks file and the SHA-256 of its clicks and risk-table files."""
        return curve_files_frame(self.study)

    def cohort(self) -> pl.DataFrame:
        """Harmonized rows of the curves that passed the fidelity gate (times in months)."""
        return harmonize_literature(self.study.manifest, self.ipd(), self.fidelity(), self.curve_files())


def curve_files_frame(study: LoadedStudy) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "curve_id": [c.spec.curve_id for c in study.curves],
            "clicks_file": [c.spec.clicks for c in study.curves],
            "clicks_sha256": [c.clicks_sha256 for c in study.curves],
            "risk_table_sha256": [c.risk_table_sha256 for c in study.curves],
        },
        schema_overrides={
            "risk_table_sha256": pl.String,
            "curve_id": pl.String,
            "clicks_file": pl.String,
            "clicks_sha256": pl.String,
        },
    )


def harmonize_literature(
    manifest: StudyManifest, ipd: pl.DataFrame, fidelity: pl.DataFrame, curve_files: pl.DataFrame
) -> pl.DataFrame:
    """Cohort rows from reconstructed IPD (curve time units) of one study; blocked curves left out.

    ``ipd``: ``curve_id, patient_index, time, event, reconstruction_version``; ``fidelity``:
    ``curve_id, status``; ``curve_files``: ``curve_id, clicks_file, clicks_sha256, risk_table_sha256``.
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
        .join(curve_files.drop("clicks_sha256"), on="curve_id", how="left")
        .with_columns(
            pl.lit(manifest.study_id).alias("study_id"),
            (pl.col("curve_id") + "_" + pl.col("patient_index").cast(pl.String).str.zfill(5)).alias("patient_id"),
            (pl.col("time") * pl.col("months_per_unit")).alias("time_months"),
            pl.lit(manifest.source).alias("source"),
            pl.lit(manifest.synthetic).alias("synthetic"),
            pl.col("clicks_file").alias("source_file"),
            pl.col("clicks_sha256").alias("source_sha256"),
        )
        .sort("curve_id", "patient_index")
    )
    return _conform([df])


def _published_n(curve: LoadedCurve) -> int | None:
    """N as published: the manifest's total_n, else the risk table's count at time 0."""
    if curve.spec.total_n is not None:
        return curve.spec.total_n
    rt = curve.risk_table
    return int(rt.n_risk[0]) if rt is not None and float(rt.time[0]) == 0.0 else None


def _finite(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _conform(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Stack frames into the cohort schema (missing columns as nulls, fixed order and types)."""
    out = []
    for f in frames:
        cols = [
            (pl.col(k).cast(v) if k in f.columns else pl.lit(None, dtype=v)).alias(k) for k, v in COHORT_SCHEMA.items()
        ]
        out.append(f.select(cols))
    return pl.concat(out) if out else pl.DataFrame(schema=COHORT_SCHEMA)


def reconstruct_study(study: LoadedStudy, gate: FidelityGate | None = None) -> StudyReconstruction:
    """Reconstruct every curve of a literature study (the engine of :mod:`meta_bm.reconstruction`)."""
    gate = gate or FidelityGate()
    results = []
    for c in study.curves:
        rec = reconstruct(c.clicks, c.risk_table, total_n=c.spec.total_n, total_events=c.spec.total_events)
        rt = rec.fidelity.risk_table
        mismatch = int(np.abs(rt["difference"].to_numpy()).max()) if rt.height else 0
        results.append(CurveResult(c, rec, gate.status(rec.fidelity.rmse, rec.fidelity.max_abs_error, mismatch)))
    return StudyReconstruction(study, results)


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


def study_cohort(
    study: LoadedStudy, gate: FidelityGate | None = None
) -> tuple[pl.DataFrame, StudyReconstruction | None]:
    """The harmonized cohort rows of any study, and the reconstruction for literature studies."""
    if study.manifest.source == "institutional":
        return institutional_cohort(study), None
    rec = reconstruct_study(study, gate)
    return rec.cohort(), rec


__all__ = [
    "COHORT_SCHEMA",
    "COVARIATES",
    "FidelityGate",
    "StudyReconstruction",
    "institutional_cohort",
    "reconstruct_study",
    "study_cohort",
]
