"""Published vs reconstructed figures of a study: N, events, median and hazard ratio, curve by curve.

:func:`compare_published` puts every figure a paper reports for a curve (``total_n`` / the risk
table's count at time 0, ``total_events`` / ``published.events``, ``published.median``,
``published.hr``) next to the same figure computed from the reconstructed IPD, and judges it:

``n``
    Published N (the curve's ``total_n``, else the risk table's count at time 0) vs the number of
    reconstructed patients. Equal: ``ok`` (verdict ``equal``); otherwise ``error`` (``different``).
``events``
    Published events (``total_events``, else ``published.events``) vs reconstructed events. Equal:
    ``ok``; otherwise ``error``.
``median``
    Published median vs the Kaplan–Meier median of the reconstructed IPD (R ``survfit``'s rule,
    :meth:`~meta_bm.survival.km.KaplanMeier.median`), in the curve's time unit. The reconstructed
    95% CI is R survival's default (``conf.type = "log"``, :func:`~meta_bm.survival.km_inference.median_ci`;
    NaN limits, i.e. not reached, are null). With a published CI: reconstructed median inside
    ``[lower, upper]`` is ``ok`` (``inside_ci``), else ``warn`` (``outside_ci``); a CI with one limit
    only is open on the other side (a median's upper limit is often "not reached"). Without a CI:
    within 10% of the published value is ``ok`` (``within_10pct``), else ``warn`` (``off_by_more_than_10pct``).
    A published median the reconstruction does not reach: ``warn`` (``not_estimable``).
``hr``
    Published HR of this curve's arm vs ``reference_arm`` against a Cox model (Efron ties,
    :func:`~meta_bm.survival.coxph.cox_ph`, the estimator of the pooled analysis) fitted on the
    reconstructed IPD of this curve and the curve of the reference arm with the same endpoint in the
    same study: one covariate, 1 = this arm, 0 = the reference arm; HR = exp(beta) with its 95% Wald CI
    exp(beta -+ 1.96 SE). Times of a reference curve in another unit are converted to this curve's unit.
    Same rules as the median: inside the published CI ``ok`` (``inside_ci``), outside ``warn``
    (``outside_ci``); without a CI within 10% on the HR scale. No reference curve, or a Cox model that
    cannot be estimated (no events, a diverging coefficient): ``warn`` (``not_estimable``), the detail
    says why; ``reference`` holds the reference arm id.
``none``
    A curve with nothing to compare (no events, median or HR published and no N known): one row,
    ``warn``, verdict ``nothing_published``, so that comparing nothing never counts as a pass.

Columns (:data:`PUBLISHED_COMPARISON_SCHEMA`): ``study_id, curve_id, figure, published,
published_lower, published_upper, reconstructed, reconstructed_lower, reconstructed_upper,
reference, verdict, severity, detail``; ``severity`` is ``ok``, ``warn`` or ``error``.

Example
-------
A two-arm study whose manifest claims an HR of 3.0 [2.5–3.6] for re-resection, where the simulated
data have re-resection living longer (HR about 0.7):

>>> import pathlib, tempfile, yaml
>>> from meta_bm.simulation.study_folders import ArmSpec, write_literature_study
>>> from meta_bm.studies import load_study, reconstruct_study
>>> arms = [ArmSpec("rr", "Re-resection", "re_resection", 60, 14.0),
...         ArmSpec("ns", "Non-surgical", "non_surgical", 60, 9.0)]
>>> folder = write_literature_study(pathlib.Path(tempfile.mkdtemp()), "demo_2020", arms, seed=1)
>>> manifest = yaml.safe_load((folder / "study.yaml").read_text())
>>> manifest["curves"][0]["published"] = {"hr": {"value": 3.0, "lower": 2.5, "upper": 3.6, "reference_arm": "ns"}}
>>> _ = (folder / "study.yaml").write_text(yaml.safe_dump(manifest))
>>> table = compare_published(reconstruct_study(load_study(folder)))
>>> table.select("curve_id", "figure", "verdict", "severity").rows()
[('os_rr', 'n', 'equal', 'ok'), ('os_rr', 'hr', 'outside_ci', 'warn'), ('os_ns', 'n', 'equal', 'ok')]
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl

from meta_bm.studies.manifest import MONTHS_PER_UNIT, Estimate
from meta_bm.studies.reconstruct import CurveResult, StudyReconstruction
from meta_bm.survival.coxph import cox_ph
from meta_bm.survival.km import kaplan_meier
from meta_bm.survival.km_inference import median_ci

PUBLISHED_COMPARISON_SCHEMA: dict[str, pl.DataType] = {
    "study_id": pl.String(),
    "curve_id": pl.String(),
    "figure": pl.String(),
    "published": pl.Float64(),
    "published_lower": pl.Float64(),
    "published_upper": pl.Float64(),
    "reconstructed": pl.Float64(),
    "reconstructed_lower": pl.Float64(),
    "reconstructed_upper": pl.Float64(),
    "reference": pl.String(),
    "verdict": pl.String(),
    "severity": pl.String(),
    "detail": pl.String(),
}

# Without a published CI, a median or HR within this relative distance of the published value passes.
RELATIVE_TOLERANCE = 0.10


def _fmt(x: float | None) -> str:
    """A number as a reader wants it: 3 significant digits or so, no exponent."""
    if x is None or not math.isfinite(x):
        return "NR"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _with_ci(value: float | None, lower: float | None, upper: float | None) -> str:
    if lower is None and upper is None:
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(lower)}–{_fmt(upper)}]"


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _judge(value: float, published: Estimate, what: str, rec_text: str, pub_text: str) -> tuple[str, str, str]:
    """(verdict, severity, detail) of an estimate against a published value and, if any, its CI."""
    if published.lower is not None or published.upper is not None:
        lo = published.lower if published.lower is not None else -math.inf
        hi = published.upper if published.upper is not None else math.inf
        open_side = "" if published.lower is not None and published.upper is not None else " (open-ended)"
        if lo <= value <= hi:
            return "inside_ci", "ok", f"{what} {rec_text} vs published {pub_text}: inside the published CI{open_side}"
        return "outside_ci", "warn", f"{what} {rec_text} vs published {pub_text}: outside the published CI{open_side}"
    off = abs(value - published.value) / published.value
    if off <= RELATIVE_TOLERANCE:
        return "within_10pct", "ok", f"{what} {rec_text} vs published {pub_text} (no CI): {off:.0%} apart, within 10%"
    return (
        "off_by_more_than_10pct",
        "warn",
        f"{what} {rec_text} vs published {pub_text} (no CI): {off:.0%} apart, more than 10%",
    )


def _row(study_id: str, curve_id: str, figure: str, **values) -> dict:
    row = dict.fromkeys(PUBLISHED_COMPARISON_SCHEMA)
    row.update(study_id=study_id, curve_id=curve_id, figure=figure, **values)
    return row


def _count_row(study_id: str, curve_id: str, figure: str, published: int, reconstructed: int) -> dict:
    name = "N" if figure == "n" else "events"
    if published == reconstructed:
        verdict, severity, detail = "equal", "ok", f"{name} {reconstructed} vs published {published}: equal"
    else:
        diff = reconstructed - published
        verdict, severity = "different", "error"
        detail = f"{name} {reconstructed} vs published {published}: differs by {diff:+d}"
    return _row(
        study_id,
        curve_id,
        figure,
        published=float(published),
        reconstructed=float(reconstructed),
        verdict=verdict,
        severity=severity,
        detail=detail,
    )


def _median_row(study_id: str, r: CurveResult, published: Estimate) -> dict:
    unit = r.curve.spec.time_unit
    ci = median_ci(kaplan_meier(r.reconstruction.time, r.reconstruction.event), method="log")
    med, lo, hi = _finite(ci.median), _finite(ci.lower), _finite(ci.upper)
    pub_text = f"{_with_ci(published.value, published.lower, published.upper)} {unit}"
    if med is None:
        verdict, severity = "not_estimable", "warn"
        detail = f"median not reached in the reconstruction vs published {pub_text}"
    else:
        rec_text = f"{_with_ci(med, lo, hi)} {unit}"
        verdict, severity, detail = _judge(med, published, "median", rec_text, pub_text)
    return _row(
        study_id,
        r.curve.spec.curve_id,
        "median",
        published=published.value,
        published_lower=published.lower,
        published_upper=published.upper,
        reconstructed=med,
        reconstructed_lower=lo,
        reconstructed_upper=hi,
        verdict=verdict,
        severity=severity,
        detail=detail,
    )


def _reference_curve(rec: StudyReconstruction, r: CurveResult, reference_arm: str) -> tuple[CurveResult | None, str]:
    spec = r.curve.spec
    if reference_arm == spec.arm:
        return None, f"the reference arm {reference_arm!r} is this curve's own arm"
    matches = [c for c in rec.curves if c.curve.spec.arm == reference_arm and c.curve.spec.endpoint == spec.endpoint]
    if not matches:
        return None, f"no {spec.endpoint} curve of the reference arm {reference_arm!r} in this study"
    return matches[0], ""


def _hr_row(rec: StudyReconstruction, r: CurveResult, published) -> dict:
    spec = r.curve.spec
    ref_arm = published.reference_arm
    base = {
        "published": published.value,
        "published_lower": published.lower,
        "published_upper": published.upper,
        "reference": ref_arm,
    }
    pub_text = _with_ci(published.value, published.lower, published.upper)
    ref, why = _reference_curve(rec, r, ref_arm)
    fit = None
    if ref is not None:
        scale = MONTHS_PER_UNIT[ref.curve.spec.time_unit] / MONTHS_PER_UNIT[spec.time_unit]
        ref_time = ref.reconstruction.time * scale if scale != 1.0 else ref.reconstruction.time
        time = np.concatenate([r.reconstruction.time, ref_time])
        event = np.concatenate([r.reconstruction.event, ref.reconstruction.event]).astype(float)
        x = np.concatenate([np.ones(r.reconstruction.time.size), np.zeros(ref.reconstruction.time.size)])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence is reported below
                fit = cox_ph(time, event, x, names=[spec.arm])
        except ValueError as exc:
            why = f"Cox model not estimable on the reconstructed IPD ({exc})"
        else:
            if not fit.converged:
                why = "Cox model did not converge on the reconstructed IPD (an arm without events?)"
                fit = None
    if fit is None:
        return _row(
            rec.study.study_id,
            spec.curve_id,
            "hr",
            **base,
            verdict="not_estimable",
            severity="warn",
            detail=f"published HR {pub_text} vs {ref_arm}: not compared, {why}",
        )
    hr, lo, hi = float(fit.hr[0]), float(fit.hr_lower[0]), float(fit.hr_upper[0])
    what = f"HR {spec.arm} vs {ref_arm} ({spec.curve_id} vs {ref.curve.spec.curve_id})"
    verdict, severity, detail = _judge(hr, published, what, _with_ci(hr, lo, hi), pub_text)
    return _row(
        rec.study.study_id,
        spec.curve_id,
        "hr",
        **base,
        reconstructed=hr,
        reconstructed_lower=lo,
        reconstructed_upper=hi,
        verdict=verdict,
        severity=severity,
        detail=detail,
    )


def compare_published(rec: StudyReconstruction) -> pl.DataFrame:
    """Every published figure of every curve of a reconstructed study against the reconstruction.

    Parameters
    ----------
    rec : StudyReconstruction
        A literature study with its curves reconstructed (:func:`~meta_bm.studies.reconstruct_study`).

    Returns
    -------
    polars.DataFrame
        One row per compared figure per curve, in curve order then ``n, events, median, hr``, with the
        columns and types of :data:`PUBLISHED_COMPARISON_SCHEMA`. The methods and the rules of each
        comparison are in the module docstring: N and events must be equal (``error`` otherwise); the
        KM median of the reconstructed IPD (95% CI by R's log transform) and the Cox (Efron) HR against
        the reference arm's curve (95% Wald CI) must lie inside the published CI, or within 10% of the
        published value when no CI is given (``warn`` otherwise); a curve with nothing to compare gets one
        ``nothing_published`` row with severity ``warn``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from meta_bm.simulation.study_folders import ArmSpec, write_literature_study
    >>> from meta_bm.studies import load_study, reconstruct_study
    >>> arm = ArmSpec("rr", "Re-resection", "re_resection", n=30, median=14.0)
    >>> folder = write_literature_study(pathlib.Path(tempfile.mkdtemp()), "one_2020", [arm], seed=1)
    >>> compare_published(reconstruct_study(load_study(folder)))["detail"].to_list()
    ['N 30 vs published 30: equal']
    """
    fidelity = {row["curve_id"]: row for row in rec.fidelity().iter_rows(named=True)}
    sid = rec.study.study_id
    rows: list[dict] = []
    for r in rec.curves:
        spec = r.curve.spec
        fid = fidelity[spec.curve_id]
        pub = spec.published
        curve_rows = []
        if fid["n_published"] is not None:
            curve_rows.append(_count_row(sid, spec.curve_id, "n", fid["n_published"], fid["n_patients"]))
        if fid["events_published"] is not None:
            curve_rows.append(_count_row(sid, spec.curve_id, "events", fid["events_published"], fid["events"]))
        if pub is not None and pub.median is not None:
            curve_rows.append(_median_row(sid, r, pub.median))
        if pub is not None and pub.hr is not None:
            curve_rows.append(_hr_row(rec, r, pub.hr))
        if not curve_rows:
            curve_rows.append(
                _row(
                    sid,
                    spec.curve_id,
                    "none",
                    verdict="nothing_published",
                    severity="warn",
                    detail="nothing published to compare",
                )
            )
        rows += curve_rows
    return pl.DataFrame(rows, schema=PUBLISHED_COMPARISON_SCHEMA)


__all__ = ["PUBLISHED_COMPARISON_SCHEMA", "RELATIVE_TOLERANCE", "compare_published"]
