"""From a loaded literature study to its reconstructed curves, each judged by the fidelity gate.

:func:`reconstruct_study` runs the engine of :mod:`meta_bm.reconstruction` on every digitized curve of a
study; :class:`FidelityGate` decides, from how far each reconstructed KM departs from the clicks, whether
the curve is ``ok``, ``warn`` or ``blocked`` (held out of the cohort). :class:`StudyReconstruction` holds
the results and lays them out as the store's tables (IPD, fidelity, cleaning log); its
:meth:`~StudyReconstruction.cohort` hands the curves that passed to :mod:`meta_bm.studies.harmonize`.
:func:`study_cohort` is the one call from any loaded study to its harmonized rows.

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
from meta_bm.studies.folder import LoadedCurve, LoadedStudy
from meta_bm.studies.harmonize import curve_files_frame, harmonize_literature, institutional_cohort

__all__ = ["CurveResult", "FidelityGate", "StudyReconstruction", "reconstruct_study", "study_cohort"]


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
        """``"ok"``, ``"warn"`` or ``"blocked"`` for one curve's fidelity at its clicks.

        Parameters
        ----------
        rmse, max_abs_error : float
            Root-mean-square and maximum absolute error of the reconstructed KM at the clicks.
        risk_mismatch : int
            Largest absolute difference between a published and a reconstructed number at risk.
        """
        if rmse > self.block_rmse or max_abs_error > self.block_max:
            return "blocked"
        if rmse > self.warn_rmse or max_abs_error > self.warn_max or risk_mismatch > 0:
            return "warn"
        return "ok"


@dataclass
class CurveResult:
    """One digitized curve, its reconstruction and the gate's verdict (``ok`` / ``warn`` / ``blocked``)."""

    curve: LoadedCurve
    reconstruction: Reconstruction
    status: str


@dataclass
class StudyReconstruction:
    """Every curve of a literature study reconstructed, with tables ready for the store."""

    study: LoadedStudy
    curves: list[CurveResult]

    def ipd(self) -> pl.DataFrame:
        """Reconstructed IPD in each curve's own time unit: study_id, curve_id, patient_index, time, event,
        and the SHA-256 of the clicks file or the figure the curve came from."""
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
                    "figure_sha256": r.curve.figure.sha256 if r.curve.figure else None,
                    "reconstruction_version": RECONSTRUCTION_VERSION,
                },
                schema_overrides={"clicks_sha256": pl.String, "figure_sha256": pl.String},
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
                    "risk_table_max_abs_diff": _risk_mismatch(r.reconstruction),
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
        """Every change the click cleaning made, per curve: row, action, before/after point and reason."""
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


def _risk_mismatch(rec: Reconstruction) -> int:
    """Largest |published − reconstructed| number at risk of one curve (0 without a risk table)."""
    rt = rec.fidelity.risk_table
    return int(np.abs(rt["difference"].to_numpy()).max()) if rt.height else 0


def _published_n(curve: LoadedCurve) -> int | None:
    """N as published: the manifest's total_n, else the risk table's count at time 0."""
    if curve.spec.total_n is not None:
        return curve.spec.total_n
    rt = curve.risk_table
    return int(rt.n_risk[0]) if rt is not None and float(rt.time[0]) == 0.0 else None


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def reconstruct_study(study: LoadedStudy, gate: FidelityGate | None = None) -> StudyReconstruction:
    """Reconstruct every curve of a literature study and judge each by the fidelity gate.

    Parameters
    ----------
    study : LoadedStudy
        A loaded literature study (:func:`meta_bm.studies.load_study`).
    gate : FidelityGate, optional
        The tolerances; default :class:`FidelityGate` ().

    Returns
    -------
    StudyReconstruction
        One :class:`CurveResult` per curve, in manifest order.
    """
    gate = gate or FidelityGate()
    results = []
    for c in study.curves:
        rec = reconstruct(
            c.clicks,
            c.risk_table,
            total_n=c.spec.total_n,
            total_events=c.spec.total_events,
            censor_times=c.censor_times,
            exact_marks=c.marks_exact,
        )
        status = gate.status(rec.fidelity.rmse, rec.fidelity.max_abs_error, _risk_mismatch(rec))
        results.append(CurveResult(c, rec, status))
    return StudyReconstruction(study, results)


def study_cohort(
    study: LoadedStudy, gate: FidelityGate | None = None
) -> tuple[pl.DataFrame, StudyReconstruction | None]:
    """The harmonized cohort rows of any study, and the reconstruction for literature studies.

    An institutional study is harmonized as is (:func:`~meta_bm.studies.harmonize.institutional_cohort`,
    reconstruction ``None``); a literature study is reconstructed first and only its curves that pass
    ``gate`` enter the cohort.
    """
    if study.manifest.source == "institutional":
        return institutional_cohort(study), None
    rec = reconstruct_study(study, gate)
    return rec.cohort(), rec
