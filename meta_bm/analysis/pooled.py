"""One pooled comparison on the harmonized cohort: selection, KM, medians, tests, Cox models, two-stage MA.

Methods (each implemented in its own module and checked against R there):

* Kaplan–Meier per group with Greenwood SE; median with 95% CI by R survival's default (``log``),
  ``log-log``, and SPSS-style symmetric median ± 1.96·SE(median) (:mod:`meta_bm.survival.km_inference`);
  survival at landmarks (R ``summary(fit, times=)``, log CI); RMST to a common horizon (R ``rmean``).
* Log-rank test, unstratified and stratified by study (R ``survdiff``; :mod:`meta_bm.survival.logrank`).
* Cox proportional hazards, Efron ties: unstratified, stratified by study, and with cluster-robust
  variance by study (R ``coxph``; :mod:`meta_bm.survival.coxph`); PH test as R ``cox.zph``.
* Two-stage meta-analysis of per-study log HRs (each non-reference group against the reference, in
  studies reporting both): fixed effect, DerSimonian–Laird and REML (metafor ``rma``;
  :mod:`meta_bm.metaanalysis`).

Harmonized times come from days, weeks, months and years; converted values that are equal up to
floating-point noise are merged by rounding to :data:`TIME_RESOLUTION` months (the role of R's
``timefix``), so near-ties cannot change a test statistic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meta_bm.analysis.config import Analysis
from meta_bm.metaanalysis import METHODS as META_METHODS
from meta_bm.metaanalysis import MetaResult, meta_analysis
from meta_bm.survival.coxph import CoxResult, CoxZphResult, cox_ph, cox_zph
from meta_bm.survival.km import KaplanMeier, kaplan_meier
from meta_bm.survival.km_inference import MEDIAN_METHODS, RMST, MedianCI, SurvivalAt, median_ci, rmst, survival_at
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


@dataclass
class PooledResult:
    """Everything computed for one analysis; :meth:`tables` flattens it for DuckDB and CSV.

    ``cox`` holds the Cox models by name: ``"unstratified"`` always (with two groups or more),
    ``"stratified_by_study"`` and ``"cluster_robust_by_study"`` when more than one study takes part.
    ``meta`` holds, per contrast group, the two-stage meta-analysis by method
    (:data:`meta_bm.metaanalysis.METHODS`).
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

    @property
    def analysis(self) -> Analysis:
        return self.data.analysis

    def contrasts(self) -> list[str]:
        return [g.group for g in self.groups if g.group != self.analysis.reference]

    def tables(self) -> dict[str, pl.DataFrame]:
        aid = self.analysis.id
        groups = pl.DataFrame(
            [
                {
                    "analysis_id": aid,
                    "group": g.group,
                    "label": g.label,
                    "is_reference": g.group == self.analysis.reference,
                    "n": g.n,
                    "events": g.events,
                    "median": g.medians["log"].median,
                    **{
                        f"median_{m.replace('-', '')}_{b}": getattr(g.medians[m], b)
                        for m in REPORTED_MEDIAN_METHODS
                        for b in ("lower", "upper")
                    },
                    "rmst_horizon": g.rmst.horizon if g.rmst else None,
                    "rmst": g.rmst.estimate if g.rmst else None,
                    "rmst_se": g.rmst.se if g.rmst else None,
                }
                for g in self.groups
            ],
            infer_schema_length=None,
        )
        landmarks = pl.DataFrame(
            [
                {
                    "analysis_id": aid,
                    "group": g.group,
                    "time": s.time,
                    "survival": s.survival,
                    "se": s.se,
                    "lower": s.lower,
                    "upper": s.upper,
                    "n_risk": s.n_risk,
                }
                for g in self.groups
                for s in g.landmarks
            ],
            schema={
                "analysis_id": pl.String,
                "group": pl.String,
                "time": pl.Float64,
                "survival": pl.Float64,
                "se": pl.Float64,
                "lower": pl.Float64,
                "upper": pl.Float64,
                "n_risk": pl.Int64,
            },
        )
        tests = pl.DataFrame(
            [
                {"analysis_id": aid, "test": name, "chisq": r.chisq, "df": r.df, "p_value": r.p_value}
                for name, r in (("logrank", self.logrank), ("logrank_stratified_by_study", self.logrank_stratified))
                if r is not None
            ]
            + (
                [
                    {
                        "analysis_id": aid,
                        "test": "cox_zph_global",
                        "chisq": self.zph.global_chisq,
                        "df": self.zph.global_df,
                        "p_value": self.zph.global_p,
                    }
                ]
                if self.zph is not None
                else []
            ),
            schema={
                "analysis_id": pl.String,
                "test": pl.String,
                "chisq": pl.Float64,
                "df": pl.Int64,
                "p_value": pl.Float64,
            },
        )
        cox_rows = []
        for model, fit in self.cox.items():
            for i, name in enumerate(fit.names):
                cox_rows.append(
                    {
                        "analysis_id": aid,
                        "model": model,
                        "group": name,
                        "reference": self.analysis.reference,
                        "coef": float(fit.coef[i]),
                        "se": float(fit.se[i]),
                        "robust_se": float(fit.robust_se[i]) if fit.robust_se is not None else None,
                        "hr": float(fit.hr[i]),
                        "hr_lower": float(fit.hr_lower[i]),
                        "hr_upper": float(fit.hr_upper[i]),
                        "wald_p": float(fit.p[i]),
                        "lr_chisq": fit.lr_chisq,
                        "lr_p": fit.lr_p,
                        "n": fit.n,
                        "events": fit.n_events,
                        "converged": fit.converged,
                    }
                )
        cox = pl.DataFrame(cox_rows, infer_schema_length=None) if cox_rows else pl.DataFrame()
        meta_rows = []
        for contrast, fits in self.meta.items():
            for method, m in fits.items():
                meta_rows.append(
                    {
                        "analysis_id": aid,
                        "group": contrast,
                        "reference": self.analysis.reference,
                        "method": method,
                        "k": m.k,
                        "log_hr": m.estimate,
                        "se": m.se,
                        "hr": float(np.exp(m.estimate)),
                        "hr_lower": float(np.exp(m.lower)),
                        "hr_upper": float(np.exp(m.upper)),
                        "p_value": m.p_value,
                        "tau2": m.tau2,
                        "i2": m.i2,
                        "q": m.q,
                        "q_df": m.q_df,
                        "q_p": m.q_p,
                        "pi_lower": float(np.exp(m.pi_lower)),
                        "pi_upper": float(np.exp(m.pi_upper)),
                    }
                )
        meta = pl.DataFrame(meta_rows, infer_schema_length=None) if meta_rows else pl.DataFrame()
        studies = (
            self.data.frame.group_by("study_id", "group")
            .agg(pl.len().alias("n"), pl.col("event").sum().alias("events"))
            .sort("study_id", "group")
            .with_columns(pl.lit(aid).alias("analysis_id"))
        )
        return {
            "analysis_groups": groups,
            "analysis_landmarks": landmarks,
            "analysis_tests": tests,
            "analysis_cox": cox,
            "analysis_study_effects": self.per_study.with_columns(pl.lit(aid).alias("analysis_id"))
            if self.per_study.height
            else pl.DataFrame(),
            "analysis_meta": meta,
            "analysis_studies": studies,
        }


def _design(groups: np.ndarray, levels: list[str], reference: str) -> tuple[np.ndarray, list[str]]:
    names = [g for g in levels if g != reference]
    x = np.column_stack([(groups == g).astype(float) for g in names])
    return x, names


def run_analysis(cohort: pl.DataFrame, analysis: Analysis, level: float = 0.95) -> PooledResult:
    """Compute every statistic of one analysis on the harmonized cohort (see the module docstring)."""
    return analyze(select_patients(cohort, analysis), level)


def analyze(data: AnalysisData, level: float = 0.95) -> PooledResult:
    """Every statistic of one analysis on already selected patients (``study_id, patient_id, group, time, event``)."""
    analysis = data.analysis
    df = data.frame
    notes: list[str] = []
    labels = {g.id: g.label for g in analysis.group_defs()}
    present = [g.id for g in analysis.group_defs() if g.id in set(df["group"].to_list())]
    summaries = []
    for gid in present:
        part = df.filter(pl.col("group") == gid)
        km = kaplan_meier(part["time"].to_numpy(), part["event"].to_numpy())
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
            )
        )
        if km.time.size and km.time[-1] < horizon:
            notes.append(f"{labels[gid]}: follow-up ends before the RMST horizon {horizon:g} months; RMST not given")
    missing = [g.id for g in analysis.group_defs() if g.id not in present]
    if missing:
        notes.append(f"no patients in group(s) {', '.join(missing)}")
    result = PooledResult(data, summaries, None, None, {}, None, pl.DataFrame(), {}, notes)
    if analysis.reference not in present or len(present) < 2:
        notes.append("fewer than two groups (or no reference group): no comparison")
        return result

    t, e = df["time"].to_numpy(), df["event"].to_numpy()
    g, study = df["group"].to_numpy(), df["study_id"].to_numpy()
    result.logrank = logrank_test(t, e, g)
    if len(data.studies) > 1:
        result.logrank_stratified = logrank_test(t, e, g, strata=study)
    x, names = _design(g, present, analysis.reference)
    result.cox["unstratified"] = cox_ph(t, e, x, names=names, level=level)
    result.zph = cox_zph(t, e, x, result.cox["unstratified"])
    if len(data.studies) > 1:
        result.cox["stratified_by_study"] = cox_ph(t, e, x, names=names, strata=study, level=level)
        result.cox["cluster_robust_by_study"] = cox_ph(t, e, x, names=names, cluster=study, level=level)
    else:
        notes.append("one study only: no study-stratified or cluster-robust model, no meta-analysis")

    # two-stage: per-study log HR of each group against the reference, in studies reporting both
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
    result.per_study = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    for contrast in names:
        eff = result.per_study.filter(pl.col("group") == contrast) if rows else pl.DataFrame()
        if eff.height >= 2:
            yi, vi = eff["log_hr"].to_numpy(), eff["se"].to_numpy() ** 2
            result.meta[contrast] = {
                m: meta_analysis(yi, vi, method=m, level=level, labels=eff["study_id"].to_list()) for m in META_METHODS
            }
        elif len(data.studies) > 1:
            notes.append(f"{contrast} vs {analysis.reference}: fewer than two studies report both; no meta-analysis")
    return result
