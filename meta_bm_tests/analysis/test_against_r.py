"""The pooled statistics on real pipeline output agree with R survival 3.5.3 and metafor 3.8.1.

The data are the OS analysis frames of the shipped example cohort (reconstructed IPD pooled with the
institutional cohort: many studies, tied and near-tied times), and ``os_many_studies``: 12 simulated studies
(exponential times with a study frailty of SD 0.35 on the log scale and a study-varying log HR, times rounded to
0.1 month, so ties; made once with numpy's default_rng(20261205) and committed), which has enough studies for
Egger's test and where R's default frailty fit stops far from its profile maximum (theta 0.360 vs 0.195).
The reference numbers were computed by
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
CASES = ["os_rr_ns", "os_three_arms", "os_many_studies"]


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


@pytest.mark.parametrize("case", CASES)
def test_hksj_leave_one_out_cumulative_and_egger(case):
    res, ref = _load(case)
    for contrast, r in ref["meta"].items():
        for method in ("DL", "REML"):
            m, rm = res.meta[contrast][f"{method}+HKSJ"], r[f"{method}_knha"]
            assert (m.method, m.test, m.df) == (method, "knha", m.k - 1)
            for ours, theirs in (
                (m.estimate, "estimate"),
                (m.se, "se"),
                (m.lower, "ci_lb"),
                (m.upper, "ci_ub"),
                (m.pi_lower, "pi_lb"),
                (m.pi_upper, "pi_ub"),
            ):
                _close(ours, rm[theirs])
            _close(m.p_value, rm["pval"], 1e-4)
        # leave1out(res) and cumul(res) of the REML model; the test data have no years, so study-id order
        for fits, rr, keys in (
            (res.leave1out[contrast].fits, r["leave1out"], ("estimate", "se", "ci_lb", "ci_ub", "tau2", "I2", "Q")),
            (res.cumulative[contrast].fits, r["cumul"], ("estimate", "se", "ci_lb", "ci_ub", "tau2", "I2")),
        ):
            attr = {"estimate": "estimate", "se": "se", "ci_lb": "lower", "ci_ub": "upper", "tau2": "tau2"}
            attr |= {"I2": "i2", "Q": "q"}
            for key in keys:
                want = rr[key] if isinstance(rr[key], list) else [rr[key]]
                got = [getattr(f, attr[key]) for f in fits]
                np.testing.assert_allclose(got, want, atol=1e-6 if key != "I2" else 1e-4, rtol=1e-6)
            np.testing.assert_allclose([f.p_value for f in fits], rr["pval"], rtol=1e-4, atol=1e-8)
        if "regtest_rma" in r:
            rma_test, lm_test = res.egger[contrast]
            assert (rma_test.model, lm_test.model) == ("rma", "lm")
            _close(rma_test.statistic, r["regtest_rma"]["zval"])
            _close(rma_test.p_value, r["regtest_rma"]["pval"], 1e-4)
            _close(rma_test.limit_estimate, r["regtest_rma"]["est"])
            _close(lm_test.statistic, r["regtest_lm"]["tval"])
            assert lm_test.df == r["regtest_lm"]["dfs"]
            _close(lm_test.p_value, r["regtest_lm"]["pval"], 1e-4)
            _close(lm_test.limit_estimate, r["regtest_lm"]["est"])
        else:
            assert contrast not in res.egger  # fewer than 10 studies: not done, and flagged
            assert any(f.flag == "egger_not_done" and f.group == contrast for f in res.flags)


@pytest.mark.parametrize("case", CASES)
def test_gamma_frailty_default_and_profile_fits(case):
    """coxph(Surv(time, event) ~ g + frailty(study_id)): R's default fit and the maximum of its c.loglik."""
    res, ref = _load(case)
    for fit, key in (("r_default", "frailty_default"), ("profile", "frailty_profile")):
        # the issue asks for 1e-3; R's default search is reproduced step by step, and the profile maximum is
        # limited by R's optimize() on its own c.loglik (about 1e-7 in theta)
        tol = 1e-6 if fit == "r_default" else 1e-5
        ours, r = res.frailty[fit], ref[key]
        np.testing.assert_allclose(ours.coef, r["coef"], atol=tol)
        np.testing.assert_allclose(ours.se, r["se"], atol=tol)
        assert ours.theta == pytest.approx(r["theta"], abs=tol)
    # the profile maximum is at least as high as what R's default search stopped at
    assert res.frailty["profile"].c_loglik >= ref["frailty_default"]["c_loglik"] - 1e-6


def test_guard_rails_on_real_output():
    res, _ = _load("os_rr_ns")  # 9 studies: the sandwich variance by study is flagged, never the headline
    few = [f for f in res.flags if f.flag == "few_clusters"]
    assert len(few) == 1 and few[0].severity == "warn" and "9 clusters" in few[0].message
    tables = res.tables()
    cox = tables["analysis_cox"]
    assert cox.filter(pl.col("headline"))["model"].unique().to_list() == ["unstratified"]
    assert cox.filter(pl.col("model") == "cluster_robust_by_study")["clusters"].to_list() == [9]
    many, _ = _load("os_many_studies")  # 12 studies: no flag
    assert not [f for f in many.flags if f.flag == "few_clusters"]
