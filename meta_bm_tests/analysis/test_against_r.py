"""The pooled statistics on real pipeline output agree with R survival 3.5.3 and metafor 3.8.1.

The data are the OS analysis frames of the shipped example cohort (reconstructed IPD pooled with the
institutional cohort: many studies, tied and near-tied times). The reference numbers were computed by
``scripts/r_reference_pooled.R`` (R 4.2.2) and are committed next to the data; R is not needed here.
Tolerances: estimates 1e-6, p-values 1e-4 (relative where values are tiny).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from meta_bm.analysis.adhoc import analyze_table

DATA = Path(__file__).parent / "data"
CASES = ["os_rr_ns", "os_three_arms"]


def _load(case):
    df = pl.read_csv(DATA / f"{case}.csv")
    ref = json.loads((DATA / f"{case}.r.json").read_text())
    res = analyze_table(
        df, "time", "event", "group", study="study_id", reference="non_surgical", landmarks=[6, 12, 24], rmst_horizon=24
    )
    return res, ref


def _close(a, b, tol=1e-6):
    if b is None:
        assert a is None or not np.isfinite(a)
    else:
        assert a == pytest.approx(b, abs=tol, rel=tol)


@pytest.mark.parametrize("case", CASES)
def test_km_medians_landmarks_rmst(case):
    res, ref = _load(case)
    for g in res.groups:
        r = ref["groups"][g.label]
        assert (g.n, g.events) == (r["n"], r["events"])
        _close(g.medians["log"].median, r["median"])
        _close(g.medians["log"].lower, r["log_lower"])
        _close(g.medians["log"].upper, r["log_upper"])
        _close(g.medians["log-log"].lower, r["loglog_lower"])
        _close(g.medians["log-log"].upper, r["loglog_upper"])
        for s, surv, se, lo, hi in zip(
            g.landmarks, r["landmark_surv"], r["landmark_se"], r["landmark_lower"], r["landmark_upper"], strict=True
        ):
            _close(s.survival, surv)
            _close(s.se, se)
            _close(s.lower, lo)
            _close(s.upper, hi)
        _close(g.rmst.estimate, r["rmst"])
        _close(g.rmst.se, r["rmst_se"])


@pytest.mark.parametrize("case", CASES)
def test_logrank_and_cox_models(case):
    res, ref = _load(case)
    _close(res.logrank.chisq, ref["logrank"]["chisq"])
    _close(res.logrank.p_value, ref["logrank"]["p"], 1e-4)
    _close(res.logrank_stratified.chisq, ref["logrank_strat"]["chisq"])
    _close(res.logrank_stratified.p_value, ref["logrank_strat"]["p"], 1e-4)
    # R orders the dummies by factor level (reference first, then sorted), as analyze_table does
    for model, key in (
        ("unstratified", "cox_unstratified"),
        ("stratified_by_study", "cox_stratified"),
        ("cluster_robust_by_study", "cox_cluster"),
    ):
        fit, r = res.cox[model], ref[key]
        np.testing.assert_allclose(fit.coef, r["coef"], atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(fit.se, r["se"], atol=1e-6, rtol=1e-6)
        if model == "cluster_robust_by_study":
            np.testing.assert_allclose(fit.robust_se, r["robust_se"], atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(fit.p, r["p"], rtol=1e-4, atol=1e-8)
        _close(fit.lr_chisq, r["lr"])
        _close(fit.lr_p, r["lr_p"], 1e-4)
        _close(fit.wald_chisq, r["wald"])
        _close(fit.score_chisq, r["score"])
        _close(fit.loglik, r["loglik"][1])
    np.testing.assert_allclose([*res.zph.chisq, res.zph.global_chisq], ref["zph"]["chisq"], rtol=1e-6)
    np.testing.assert_allclose([*res.zph.p, res.zph.global_p], ref["zph"]["p"], rtol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_two_stage_meta_analysis(case):
    res, ref = _load(case)
    for contrast, r in ref["meta"].items():
        eff = res.per_study.filter(pl.col("group") == contrast).sort("study_id")
        assert eff["study_id"].to_list() == r["studies"]
        np.testing.assert_allclose(eff["log_hr"].to_numpy(), r["yi"], atol=1e-6)
        np.testing.assert_allclose(eff["se"].to_numpy() ** 2, r["vi"], atol=1e-6)
        for method in ("FE", "DL", "REML"):
            m, rm = res.meta[contrast][method], r[method]
            _close(m.estimate, rm["estimate"])
            _close(m.se, rm["se"])
            _close(m.p_value, rm["pval"], 1e-4)
            _close(m.tau2, rm["tau2"])
            _close(m.i2, rm["I2"], 1e-5)
            _close(m.q, rm["QE"])
            _close(m.pi_lower, rm["pi_lb"])
            _close(m.pi_upper, rm["pi_ub"])
