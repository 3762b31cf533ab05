"""A :class:`~meta_bm.analysis.pooled.PooledResult` as flat tables, one row per estimate: what DuckDB
stores (``analysis_*``), what the report reads and what ``meta-bm analyze --json`` prints.

Every table carries ``analysis_id``; the columns are the contract the report relies on (group ids are
the config's ids, times are months, NaN or null means not estimable). The tables:

``analysis_groups``      per group: N, events, median with its CIs (log, log-log, SPSS ± 1.96·SE with the
                         SE), why a median is not reached, RMST, reverse-KM median and maximum follow-up;
``analysis_landmarks``   survival at each landmark with SE and log-transformed CI;
``analysis_tests``       log-rank, stratified log-rank, cox.zph global and per term (``cox_zph:<group>``);
``analysis_cox``         each Cox model's HR per group, with the number of clusters and which is the headline;
``analysis_frailty``     the shared gamma-frailty Cox by study, R's default fit and the profile maximum;
``analysis_study_effects`` per-study log HR (first stage), with "Author Year" and year;
``analysis_meta``        pooled models (FE, DL, REML with z tests; DL and REML with HKSJ);
``analysis_leave1out``   / ``analysis_cumulative`` / ``analysis_egger``: sensitivity analyses of REML;
``analysis_studies``     patients and events per study and group;
``analysis_flags``       the guard rails (:mod:`meta_bm.analysis.guards`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["result_tables"]

_FLOAT = pl.Float64


def _frame(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _term(fit, i: int, robust: bool = False) -> dict:
    """Coefficient ``i`` of a Cox or frailty fit: log HR, its SE (and robust SE), the HR and its CI."""
    se = {"se": float(fit.se[i])}
    if robust:
        se["robust_se"] = float(fit.robust_se[i]) if fit.robust_se is not None else None
    return {
        "coef": float(fit.coef[i]),
        **se,
        "hr": float(fit.hr[i]),
        "hr_lower": float(fit.hr_lower[i]),
        "hr_upper": float(fit.hr_upper[i]),
    }


def _meta_row(m) -> dict:
    return {
        "k": m.k,
        "log_hr": m.estimate,
        "se": m.se,
        "hr": float(np.exp(m.estimate)),
        "hr_lower": float(np.exp(m.lower)),
        "hr_upper": float(np.exp(m.upper)),
        "p_value": m.p_value,
        "tau2": m.tau2,
        "i2": m.i2,
    }


_SENSITIVITY = {
    "k": pl.Int64,
    "log_hr": _FLOAT,
    "se": _FLOAT,
    "hr": _FLOAT,
    "hr_lower": _FLOAT,
    "hr_upper": _FLOAT,
    "p_value": _FLOAT,
    "tau2": _FLOAT,
    "i2": _FLOAT,
}


def result_tables(result) -> dict[str, pl.DataFrame]:
    """The tables of one analysis result (see the module docstring)."""
    from meta_bm.analysis.pooled import REPORTED_MEDIAN_METHODS, SENSITIVITY_METHOD

    analysis = result.analysis
    aid = analysis.id
    data = result.data
    groups = pl.DataFrame(
        [
            {
                "analysis_id": aid,
                "group": g.group,
                "label": g.label,
                "is_reference": g.group == analysis.reference,
                "n": g.n,
                "events": g.events,
                "median": g.medians["log"].median,
                **{
                    f"median_{m.replace('-', '')}_{b}": getattr(g.medians[m], b)
                    for m in REPORTED_MEDIAN_METHODS
                    for b in ("lower", "upper")
                },
                "median_spss_se": g.medians["spss"].se,
                "median_note": g.median_note,
                "rmst_horizon": g.rmst.horizon if g.rmst else None,
                "rmst": g.rmst.estimate if g.rmst else None,
                "rmst_se": g.rmst.se if g.rmst else None,
                "followup_median": g.followup_median,
                "followup_max": float(g.km.time[-1]) if g.km.time.size else None,
            }
            for g in result.groups
        ],
        infer_schema_length=None,
    )
    landmarks = _frame(
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
            for g in result.groups
            for s in g.landmarks
        ],
        {
            "analysis_id": pl.String,
            "group": pl.String,
            "time": _FLOAT,
            "survival": _FLOAT,
            "se": _FLOAT,
            "lower": _FLOAT,
            "upper": _FLOAT,
            "n_risk": pl.Int64,
        },
    )
    tests = [
        {"analysis_id": aid, "test": name, "chisq": r.chisq, "df": r.df, "p_value": r.p_value}
        for name, r in (("logrank", result.logrank), ("logrank_stratified_by_study", result.logrank_stratified))
        if r is not None
    ]
    if result.zph is not None:
        z = result.zph
        tests.append(
            {"analysis_id": aid, "test": "cox_zph_global", "chisq": z.global_chisq, "df": z.global_df,
             "p_value": z.global_p}
        )  # fmt: skip
        tests += [
            {"analysis_id": aid, "test": f"cox_zph:{name}", "chisq": float(c), "df": int(d), "p_value": float(p)}
            for name, c, d, p in zip(z.names, z.chisq, z.df, z.p, strict=True)
        ]
    tests_frame = _frame(
        tests, {"analysis_id": pl.String, "test": pl.String, "chisq": _FLOAT, "df": pl.Int64, "p_value": _FLOAT}
    )
    cox_rows = []
    for model, fit in result.cox.items():
        for i, name in enumerate(fit.names):
            cox_rows.append(
                {
                    "analysis_id": aid,
                    "model": model,
                    "group": name,
                    "reference": analysis.reference,
                    **_term(fit, i, robust=True),
                    "wald_p": float(fit.p[i]),
                    "lr_chisq": fit.lr_chisq,
                    "lr_p": fit.lr_p,
                    "n": fit.n,
                    "events": fit.n_events,
                    "converged": fit.converged,
                    "clusters": fit.n_clusters,
                    "headline": model == "unstratified",
                }
            )
    frailty_rows = []
    for fit_name, fit in result.frailty.items():
        for i, name in enumerate(fit.names):
            frailty_rows.append(
                {
                    "analysis_id": aid,
                    "fit": fit_name,
                    "group": name,
                    "reference": analysis.reference,
                    **_term(fit, i),
                    "p": float(fit.p[i]),
                    "theta": float(fit.theta),
                    "c_loglik": float(fit.c_loglik),
                    "n": fit.n,
                    "events": fit.n_events,
                    "clusters": fit.n_clusters,
                }
            )
    meta_rows = []
    for contrast, fits in result.meta.items():
        for m in fits.values():
            meta_rows.append(
                {
                    "analysis_id": aid,
                    "group": contrast,
                    "reference": analysis.reference,
                    "method": m.method,
                    "test": m.test,
                    **_meta_row(m),
                    "df": m.df,
                    "q": m.q,
                    "q_df": m.q_df,
                    "q_p": m.q_p,
                    "pi_lower": float(np.exp(m.pi_lower)),
                    "pi_upper": float(np.exp(m.pi_upper)),
                }
            )
    ids_by_label = {}
    if result.per_study.height:
        for r in result.per_study.iter_rows(named=True):
            ids_by_label[(r["group"], r["study_label"])] = (r["study_id"], r["year"])
    loo_rows = [
        {
            "analysis_id": aid,
            "group": contrast,
            "method": SENSITIVITY_METHOD,
            "omitted": ids_by_label[(contrast, lab)][0],
            "omitted_label": lab,
            **_meta_row(m),
            "q": m.q,
            "q_p": m.q_p,
        }
        for contrast, loo in result.leave1out.items()
        for lab, m in zip(loo.labels, loo.fits, strict=True)
    ]
    cum_rows = [
        {
            "analysis_id": aid,
            "group": contrast,
            "method": SENSITIVITY_METHOD,
            "step": step,
            "added": ids_by_label[(contrast, lab)][0],
            "added_label": lab,
            "year": ids_by_label[(contrast, lab)][1],
            **_meta_row(m),
        }
        for contrast, cum in result.cumulative.items()
        for step, (lab, m) in enumerate(zip(cum.labels, cum.fits, strict=True), start=1)
    ]
    egger_rows = [
        {
            "analysis_id": aid,
            "group": contrast,
            "model": eg.model,
            "k": eg.k,
            "statistic": eg.statistic,
            "df": eg.df,
            "p_value": eg.p_value,
            "limit_estimate": eg.limit_estimate,
            "limit_lower": eg.limit_lower,
            "limit_upper": eg.limit_upper,
        }
        for contrast, tests_ in result.egger.items()
        for eg in tests_
    ]
    flag_rows = [
        {"analysis_id": aid, "group": f.group, "severity": f.severity, "flag": f.flag, "message": f.message}
        for f in result.flags
    ]
    studies = (
        data.frame.group_by("study_id", "group")
        .agg(pl.len().alias("n"), pl.col("event").sum().alias("events"))
        .sort("study_id", "group")
        .with_columns(pl.lit(aid).alias("analysis_id"))
    )
    s = pl.String
    return {
        "analysis_groups": groups,
        "analysis_landmarks": landmarks,
        "analysis_tests": tests_frame,
        "analysis_cox": pl.DataFrame(cox_rows, infer_schema_length=None) if cox_rows else pl.DataFrame(),
        "analysis_frailty": pl.DataFrame(frailty_rows, infer_schema_length=None) if frailty_rows else pl.DataFrame(),
        "analysis_study_effects": result.per_study.with_columns(pl.lit(aid).alias("analysis_id"))
        if result.per_study.height
        else pl.DataFrame(),
        "analysis_meta": pl.DataFrame(meta_rows, schema_overrides={"df": pl.Int64}, infer_schema_length=None)
        if meta_rows
        else pl.DataFrame(),
        "analysis_leave1out": _frame(
            loo_rows,
            {"analysis_id": s, "group": s, "method": s, "omitted": s, "omitted_label": s, **_SENSITIVITY}
            | {"q": _FLOAT, "q_p": _FLOAT},
        ),
        "analysis_cumulative": _frame(
            cum_rows,
            {"analysis_id": s, "group": s, "method": s, "step": pl.Int64, "added": s, "added_label": s}
            | {"year": pl.Int64, **_SENSITIVITY},
        ),
        "analysis_egger": _frame(
            egger_rows,
            {"analysis_id": s, "group": s, "model": s, "k": pl.Int64, "statistic": _FLOAT, "df": pl.Int64}
            | {"p_value": _FLOAT, "limit_estimate": _FLOAT, "limit_lower": _FLOAT, "limit_upper": _FLOAT},
        ),
        "analysis_flags": _frame(flag_rows, {"analysis_id": s, "group": s, "severity": s, "flag": s, "message": s}),
        "analysis_studies": studies,
    }
