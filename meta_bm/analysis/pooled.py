"""One pooled comparison on the harmonized cohort: selection, KM, medians, tests, Cox models, two-stage MA.

Methods (each implemented in its own module and checked against R there):

* Kaplan–Meier per group with Greenwood SE; median with 95% CI by R survival's default (``log``),
  ``log-log``, and SPSS-style symmetric median ± 1.96·SE(median) (:mod:`meta_bm.survival.km_inference`);
  survival at landmarks (R ``summary(fit, times=)``, log CI); RMST to a common horizon (R ``rmean``).
* Log-rank test, unstratified and stratified by study (R ``survdiff``; :mod:`meta_bm.survival.logrank`).
* Cox proportional hazards, Efron ties: unstratified, stratified by study, and with cluster-robust
  variance by study (R ``coxph``; :mod:`meta_bm.survival.coxph`); PH test as R ``cox.zph``.
* Shared gamma-frailty Cox by study (R ``coxph(... + frailty(study))``), as R's default fit reports it and
  at the maximum of its profile likelihood (:mod:`meta_bm.survival.frailty`).
* Two-stage meta-analysis of per-study log HRs (each non-reference group against the reference, in
  studies reporting both): fixed effect, DerSimonian–Laird and REML, the last two also with
  Hartung–Knapp–Sidik–Jonkman CIs (metafor ``rma``, ``test="knha"``); leave-one-out (``leave1out``),
  cumulative by publication year (``cumul``) and, with at least ten studies, Egger's regression test
  (``regtest``, both the default mixed-effects and the classic weighted-regression form)
  (:mod:`meta_bm.metaanalysis`).
* Guard rails (:mod:`meta_bm.analysis.guards`): flags for what must not be read at face value.

Harmonized times come from days, weeks, months and years; converted values that are equal up to
floating-point noise are merged by rounding to :data:`TIME_RESOLUTION` months (the role of R's
``timefix``), so near-ties cannot change a test statistic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meta_bm.analysis.config import Analysis
from meta_bm.analysis.guards import MIN_EGGER_STUDIES, MIN_ROBUST_CLUSTERS, PH_ALPHA, Flag, median_note
from meta_bm.metaanalysis import METHODS as META_METHODS
from meta_bm.metaanalysis import MetaResult, meta_analysis
from meta_bm.metaanalysis.regression import EggerResult, egger_test
from meta_bm.metaanalysis.sensitivity import Cumulative, LeaveOneOut, cumulative, leave_one_out
from meta_bm.survival.coxph import CoxResult, CoxZphResult, cox_ph, cox_zph
from meta_bm.survival.frailty import FrailtyCoxResult, gamma_frailty_cox
from meta_bm.survival.km import KaplanMeier, kaplan_meier
from meta_bm.survival.km_inference import (
    MEDIAN_METHODS,
    RMST,
    MedianCI,
    SurvivalAt,
    median_ci,
    median_followup,
    rmst,
    survival_at,
)
from meta_bm.survival.logrank import LogRankResult, logrank_test

TIME_RESOLUTION = 1e-6  # months
# The median CIs reported: on purpose a subset of km_inference.MEDIAN_METHODS. R survival's default (log),
# log-log and SPSS's symmetric interval are how published medians are usually given, so the report can be
# read against the papers; the untransformed Greenwood interval ("plain") is not reported. The order is the
# column order of analysis_groups.
REPORTED_MEDIAN_METHODS = tuple(m for m in MEDIAN_METHODS if m != "plain")


@dataclass(frozen=True)
class AnalysisData:
    """The patients of one analysis: ``study_id, patient_id, group, time, event`` and the study selection."""

    analysis: Analysis
    frame: pl.DataFrame
    studies: list[str]
    excluded_studies: dict[str, str]
    # study_id -> ("Author Year" label, publication year or None); filled by the caller that knows the studies
    study_info: dict[str, tuple[str, int | None]] = field(default_factory=dict)

    def label(self, study_id: str) -> str:
        return self.study_info.get(study_id, (study_id, None))[0]

    def year(self, study_id: str) -> int | None:
        return self.study_info.get(study_id, (study_id, None))[1]


def _match(where: dict) -> pl.Expr:
    expr = pl.lit(True)
    for col, val in where.items():
        vals = val if isinstance(val, list) else [val]
        expr = expr & pl.col(col).is_in(vals)
    return expr


def select_patients(cohort: pl.DataFrame, analysis: Analysis) -> AnalysisData:
    """Rows of the cohort an analysis uses: endpoint, population, groups (first match), study rule."""
    df = cohort.filter((pl.col("endpoint") == analysis.endpoint) & _match(analysis.population))
    if not analysis.include_institutional:
        df = df.filter(pl.col("source") != "institutional")
    group = pl.lit(None, dtype=pl.String)
    for g in reversed(analysis.group_defs()):  # first matching group wins
        group = pl.when(_match(g.where)).then(pl.lit(g.id)).otherwise(group)
    df = df.with_columns(group.alias("group")).filter(pl.col("group").is_not_null())
    per_study = df.group_by("study_id").agg(pl.col("group").n_unique().alias("k"))
    excluded: dict[str, str] = {}
    if analysis.studies == "at_least_two_groups":
        for sid in per_study.filter(pl.col("k") < 2)["study_id"].to_list():
            excluded[sid] = "reports only one of the compared groups"
        df = df.filter(~pl.col("study_id").is_in(list(excluded)))
    df = df.select(
        "study_id",
        "patient_id",
        "group",
        (pl.col("time_months") / TIME_RESOLUTION).round(0).mul(TIME_RESOLUTION).alias("time"),
        pl.col("event").cast(pl.Int64),
    ).sort("study_id", "group", "patient_id")
    return AnalysisData(analysis, df, sorted(df["study_id"].unique().to_list()), excluded)


@dataclass(frozen=True)
class GroupSummary:
    group: str
    label: str
    n: int
    events: int
    km: KaplanMeier
    medians: dict[str, MedianCI]
    landmarks: list[SurvivalAt]
    rmst: RMST | None
    followup_median: float = float("nan")  # reverse Kaplan–Meier median follow-up, months
    median_note: str = ""  # why the median is not reached ("" when it is; meta_bm.analysis.guards.median_note)


# The two-stage models computed per contrast, by key: metafor's estimator, "+HKSJ" for test="knha".
META_MODELS: tuple[tuple[str, str, str], ...] = (
    *((m, m, "z") for m in META_METHODS),
    ("DL+HKSJ", "DL", "knha"),
    ("REML+HKSJ", "REML", "knha"),
)
# The model of the sensitivity analyses (leave-one-out, cumulative) and of Egger's "rma" test: metafor's default.
SENSITIVITY_METHOD = "REML"
FRAILTY_FITS = ("r_default", "profile")


@dataclass
class PooledResult:
    """Everything computed for one analysis; :meth:`tables` flattens it for DuckDB and CSV.

    ``cox`` holds the Cox models by name: ``"unstratified"`` always (with two groups or more; the headline
    HR), ``"stratified_by_study"`` and ``"cluster_robust_by_study"`` when more than one study takes part.
    ``frailty`` holds the shared gamma-frailty Cox by fit (:data:`FRAILTY_FITS`) with more than one study.
    ``meta`` holds, per contrast group, the two-stage meta-analysis by model key (:data:`META_MODELS`);
    ``leave1out``, ``cumulative`` and ``egger`` (model "rma", then "lm") the sensitivity analyses of the
    REML model per contrast. ``flags`` are the guard rails (:mod:`meta_bm.analysis.guards`).
    """

    data: AnalysisData
    groups: list[GroupSummary]
    logrank: LogRankResult | None
    logrank_stratified: LogRankResult | None
    cox: dict[str, CoxResult]
    zph: CoxZphResult | None
    per_study: pl.DataFrame
    meta: dict[str, dict[str, MetaResult]]
    notes: list[str] = field(default_factory=list)
    frailty: dict[str, FrailtyCoxResult] = field(default_factory=dict)
    leave1out: dict[str, LeaveOneOut] = field(default_factory=dict)
    cumulative: dict[str, Cumulative] = field(default_factory=dict)
    egger: dict[str, list[EggerResult]] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)

    @property
    def analysis(self) -> Analysis:
        return self.data.analysis

    def contrasts(self) -> list[str]:
        return [g.group for g in self.groups if g.group != self.analysis.reference]

    def tables(self) -> dict[str, pl.DataFrame]:
        """Every result as a table (:mod:`meta_bm.analysis.result_tables`)."""
        from meta_bm.analysis.result_tables import result_tables

        return result_tables(self)


def _design(groups: np.ndarray, levels: list[str], reference: str) -> tuple[np.ndarray, list[str]]:
    names = [g for g in levels if g != reference]
    x = np.column_stack([(groups == g).astype(float) for g in names])
    return x, names


def run_analysis(
    cohort: pl.DataFrame,
    analysis: Analysis,
    level: float = 0.95,
    study_info: dict[str, tuple[str, int | None]] | None = None,
) -> PooledResult:
    """Compute every statistic of one analysis on the harmonized cohort (see the module docstring).

    ``study_info``: ``{study_id: ("Author Year", year)}`` for labels and the cumulative order.
    """
    data = select_patients(cohort, analysis)
    if study_info:
        data = AnalysisData(data.analysis, data.frame, data.studies, data.excluded_studies, dict(study_info))
    return analyze(data, level)


def analyze(data: AnalysisData, level: float = 0.95) -> PooledResult:
    """Every statistic of one analysis on already selected patients (``study_id, patient_id, group, time, event``)."""
    analysis = data.analysis
    df = data.frame
    notes: list[str] = []
    flags: list[Flag] = []
    labels = {g.id: g.label for g in analysis.group_defs()}
    present = [g.id for g in analysis.group_defs() if g.id in set(df["group"].to_list())]
    summaries = []
    for gid in present:
        part = df.filter(pl.col("group") == gid)
        t_g, e_g = part["time"].to_numpy(), part["event"].to_numpy()
        km = kaplan_meier(t_g, e_g)
        horizon = analysis.rmst_horizon_months
        summaries.append(
            GroupSummary(
                group=gid,
                label=labels[gid],
                n=part.height,
                events=int(part["event"].sum()),
                km=km,
                medians={m: median_ci(km, method=m, level=level) for m in REPORTED_MEDIAN_METHODS},
                landmarks=survival_at(km, analysis.landmarks_months, level=level),
                rmst=rmst(km, horizon, level=level) if km.time.size and km.time[-1] >= horizon else None,
                followup_median=median_followup(t_g, e_g),
                median_note=median_note(km),
            )
        )
        if km.time.size and km.time[-1] < horizon:
            notes.append(f"{labels[gid]}: follow-up ends before the RMST horizon {horizon:g} months; RMST not given")
        if summaries[-1].median_note:
            flags.append(Flag("median_not_reached", "info", f"{labels[gid]}: median {summaries[-1].median_note}", gid))
    missing = [g.id for g in analysis.group_defs() if g.id not in present]
    if missing:
        notes.append(f"no patients in group(s) {', '.join(missing)}")
    result = PooledResult(data, summaries, None, None, {}, None, pl.DataFrame(), {}, notes, flags=flags)
    if analysis.reference not in present or len(present) < 2:
        notes.append("fewer than two groups (or no reference group): no comparison")
        flags.append(Flag("no_comparison", "info", "fewer than two groups (or no reference group): nothing compared"))
        return result

    t, e = df["time"].to_numpy(), df["event"].to_numpy()
    g, study = df["group"].to_numpy(), df["study_id"].to_numpy()
    result.logrank = logrank_test(t, e, g)
    if len(data.studies) > 1:
        result.logrank_stratified = logrank_test(t, e, g, strata=study)
    x, names = _design(g, present, analysis.reference)
    result.cox["unstratified"] = cox_ph(t, e, x, names=names, level=level)
    result.zph = cox_zph(t, e, x, result.cox["unstratified"])
    _ph_flags(result, labels)
    if len(data.studies) > 1:
        result.cox["stratified_by_study"] = cox_ph(t, e, x, names=names, strata=study, level=level)
        robust = cox_ph(t, e, x, names=names, cluster=study, level=level)
        result.cox["cluster_robust_by_study"] = robust
        if len(data.studies) < MIN_ROBUST_CLUSTERS:
            flags.append(
                Flag(
                    "few_clusters",
                    "warn",
                    f"Cluster-robust (sandwich) variance by study uses {len(data.studies)} clusters; with fewer than "
                    f"{MIN_ROBUST_CLUSTERS} the robust SE is biased low and its CI and p-value are too narrow. Shown "
                    "for completeness; not used for the headline HR.",
                )
            )
        _frailty(result, t, e, x, names, study, level)
    else:
        notes.append("one study only: no study-stratified or cluster-robust model, no meta-analysis")
        flags.append(Flag("single_study", "info", "one study only: no study-level models and no meta-analysis"))
    _two_stage(result, names, labels, level)
    return result


def _ph_flags(result: PooledResult, labels: dict[str, str]) -> None:
    """Flag the terms (and the model) where R's cox.zph rejects proportional hazards."""
    zph = result.zph
    if zph is None:
        return
    for name, p in zip(zph.names, zph.p, strict=True):
        if np.isfinite(p) and p < PH_ALPHA:
            result.flags.append(
                Flag(
                    "ph_rejected",
                    "warn",
                    f"{labels.get(name, name)}: proportional hazards rejected (cox.zph p = {p:.3g}); the HR is an "
                    "average over follow-up",
                    name,
                )
            )
    if np.isfinite(zph.global_p) and zph.global_p < PH_ALPHA and len(zph.names) > 1:
        result.flags.append(
            Flag("ph_rejected", "warn", f"proportional hazards rejected globally (cox.zph p = {zph.global_p:.3g})")
        )


def _frailty(result: PooledResult, t, e, x, names, study, level: float) -> None:
    """Shared gamma frailty by study, both fits; a fit that fails is noted, not fatal to the analysis."""
    for fit in FRAILTY_FITS:
        try:
            result.frailty[fit] = gamma_frailty_cox(t, e, x, study, names=names, fit=fit, level=level)
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            result.notes.append(f"gamma frailty ({fit}) not fitted: {exc}")


def _two_stage(result: PooledResult, names: list[str], labels: dict[str, str], level: float) -> None:
    """Per-study Cox log HRs, then the pooled models and their sensitivity analyses per contrast."""
    data, analysis, notes, flags = result.data, result.analysis, result.notes, result.flags
    df = data.frame
    rows = []
    # one pass over the studies (a filter per study would rescan the whole cohort each time)
    by_study = {
        k[0]: (v["group"].to_numpy(), v["time"].to_numpy(), v["event"].to_numpy())
        for k, v in df.partition_by("study_id", as_dict=True).items()
    }
    for contrast in names:
        for sid in data.studies:
            sg, st, se = by_study[sid]
            keep = (sg == contrast) | (sg == analysis.reference)
            sg, st, se = sg[keep], st[keep], se[keep]
            is_c = sg == contrast
            n = {contrast: int(is_c.sum()), analysis.reference: int((~is_c).sum())}
            d = {contrast: int(se[is_c].sum()), analysis.reference: int(se[~is_c].sum())}
            if min(n.values()) == 0:
                continue
            if min(d.values()) == 0:
                notes.append(f"{sid}: no events in one group of {contrast} vs {analysis.reference}; left out of MA")
                continue
            fit = cox_ph(st, se, is_c.astype(float), names=[contrast], level=level)
            rows.append(
                {
                    "study_id": sid,
                    "study_label": data.label(sid),
                    "year": data.year(sid),
                    "group": contrast,
                    "reference": analysis.reference,
                    "log_hr": float(fit.coef[0]),
                    "se": float(fit.se[0]),
                    "hr": float(fit.hr[0]),
                    "hr_lower": float(fit.hr_lower[0]),
                    "hr_upper": float(fit.hr_upper[0]),
                    "n_group": n[contrast],
                    "events_group": d[contrast],
                    "n_reference": n[analysis.reference],
                    "events_reference": d[analysis.reference],
                }
            )
    result.per_study = (
        pl.DataFrame(rows, schema_overrides={"year": pl.Int64}, infer_schema_length=None) if rows else pl.DataFrame()
    )
    for contrast in names:
        vs = f"{labels.get(contrast, contrast)} vs {labels.get(analysis.reference, analysis.reference)}"
        eff = result.per_study.filter(pl.col("group") == contrast) if rows else pl.DataFrame()
        if eff.height < 2:
            if len(data.studies) > 1:
                notes.append(
                    f"{contrast} vs {analysis.reference}: fewer than two studies report both; no meta-analysis"
                )
            flags.append(
                Flag(
                    "no_pooled_model",
                    "info",
                    f"{vs}: {eff.height} {'study reports' if eff.height == 1 else 'studies report'} both groups; "
                    "no pooled (two-stage) model",
                    contrast,
                )
            )
            continue
        yi, vi = eff["log_hr"].to_numpy(), eff["se"].to_numpy() ** 2
        ids = eff["study_id"].to_list()
        study_labels = eff["study_label"].to_list()
        result.meta[contrast] = {
            key: meta_analysis(yi, vi, method=m, level=level, labels=ids, test=test) for key, m, test in META_MODELS
        }
        result.leave1out[contrast] = leave_one_out(yi, vi, study_labels, method=SENSITIVITY_METHOD, level=level)
        # a living review: the pooled estimate as studies arrived (publication year, then study id); metafor's
        # cumul(order=) takes one sort key per study, so each study gets its rank in that order
        arrival = sorted(range(len(ids)), key=lambda i: (eff["year"][i] is None, eff["year"][i] or 0, ids[i]))
        rank = [0] * len(ids)
        for r, i in enumerate(arrival):
            rank[i] = r
        result.cumulative[contrast] = cumulative(
            yi, vi, study_labels, order=rank, method=SENSITIVITY_METHOD, level=level
        )
        if eff.height >= MIN_EGGER_STUDIES:
            result.egger[contrast] = [
                egger_test(yi, vi, model="rma", method=SENSITIVITY_METHOD, level=level),
                egger_test(yi, vi, model="lm", level=level),
            ]
        else:
            flags.append(
                Flag(
                    "egger_not_done",
                    "info",
                    f"{vs}: {eff.height} studies; Egger's test needs at least {MIN_EGGER_STUDIES} "
                    "(Cochrane Handbook 10.4.3.1)",
                    contrast,
                )
            )
