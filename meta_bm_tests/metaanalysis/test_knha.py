"""Hartung–Knapp–Sidik–Jonkman (``test="knha"``) against R metafor 3.8-1.

Reference: data/metafor_reference.r.json, written by scripts/r_reference_metafor.R with
``rma(yi, vi, method=m, test=t, control=list(threshold=1e-10, maxiter=1000))`` and ``predict()`` on five
data sets (dat.bcg RR via escalc, a 12-study log-HR set, the pipeline's 3 per-study log HRs, a k = 2
pair, a homogeneous k = 5 set), FE/DL/REML x z/knha, plus REML/knha at level 90.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from meta_bm.metaanalysis import MetaResult, meta_analysis
from meta_bm_tests.metaanalysis.metafor_reference import DATA, I2_TOL, REF, TOL


def _case_id(r: dict) -> str:
    return f"{r['dataset']}-{r['method']}-{r['test']}-{r['level']}"


def test_reference_was_made_with_metafor_3_8_1():
    assert REF["metafor"] == "3.8.1"


@pytest.mark.parametrize("r", REF["rma"], ids=_case_id)
def test_rma_matches_metafor(r):
    d = DATA[r["dataset"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FE + knha warns, as metafor does
        res = meta_analysis(d["yi"], d["vi"], method=r["method"], level=r["level"], test=r["test"], labels=d["labels"])
    pairs = {
        "estimate": "estimate",
        "se": "se",
        "z": "zval",
        "p_value": "pval",
        "lower": "ci_lb",
        "upper": "ci_ub",
        "tau2": "tau2",
        "i2": "I2",
        "h2": "H2",
        "q": "QE",
        "q_p": "QEp",
        "pi_lower": "pi_lb",
        "pi_upper": "pi_ub",
    }
    for ours, theirs in pairs.items():
        assert getattr(res, ours) == pytest.approx(r[theirs], **(I2_TOL if ours == "i2" else TOL)), ours
    if r["se_tau2"] is None:
        assert res.tau2_se is None
    else:
        assert res.tau2_se == pytest.approx(r["se_tau2"], **TOL)
    assert res.test == r["test_used"]
    assert res.df == r["dfs"]  # None <-> R's NA (z test)
    assert res.k == r["k"]


def test_bcg_knha_printed_output():
    # print(rma(yi, vi, data=dat, test="knha")) and predict() on dat.bcg (metafor 3.8-1, REML):
    # estimate -0.7145, se 0.1808, tval -3.9522, df 12, pval 0.0019, ci -1.1084 to -0.3206, pi -1.9960 to 0.5670
    d = DATA["bcg"]
    res = meta_analysis(d["yi"], d["vi"], test="knha")
    got = [res.estimate, res.se, res.z, res.p_value, res.lower, res.upper, res.pi_lower, res.pi_upper]
    want = [-0.7145, 0.1808, -3.9522, 0.0019, -1.1084, -0.3206, -1.9960, 0.5670]
    for g, w in zip(got, want, strict=True):
        assert abs(g - w) <= 0.5e-4 + 1e-9
    assert res.df == 12 and res.test == "knha"


@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
def test_knha_formula_by_hand(method):
    # Independent of R: same estimate/tau² as the z fit, se scaled by sqrt(Σw(y-μ)²/(k-1)), t quantiles.
    d = DATA["loghr12"]
    y, v = np.array(d["yi"]), np.array(d["vi"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hk = meta_analysis(y, v, method=method, test="knha")
    z = meta_analysis(y, v, method=method)
    assert hk.estimate == z.estimate and hk.tau2 == z.tau2 and hk.q == z.q and hk.i2 == z.i2
    w = 1 / (v + z.tau2)
    factor = np.sum(w * (y - z.estimate) ** 2) / (y.size - 1)
    assert hk.se == pytest.approx(z.se * math.sqrt(factor), rel=1e-13)
    crit = stats.t.ppf(0.975, y.size - 1)
    assert hk.upper == pytest.approx(hk.estimate + crit * hk.se, rel=1e-13)
    assert hk.pi_upper == pytest.approx(hk.estimate + crit * math.sqrt(hk.tau2 + hk.se**2), rel=1e-13)
    assert hk.p_value == pytest.approx(2 * stats.t.sf(abs(hk.estimate / hk.se), y.size - 1), rel=1e-12)


def test_knha_factor_is_not_truncated_at_one():
    # homogeneous data: Σw(y-μ)²/(k-1) = Q/(k-1) < 1, so the knha SE is below the z SE (metafor's default)
    d = DATA["homog"]
    hk = meta_analysis(d["yi"], d["vi"], test="knha")
    z = meta_analysis(d["yi"], d["vi"])
    assert hk.tau2 == 0.0
    assert hk.se == pytest.approx(z.se * math.sqrt(hk.q / 4), rel=1e-13)
    assert hk.se < 0.2 * z.se


def test_knha_with_one_study_falls_back_to_z_with_a_warning():
    # metafor: 'Setting argument test="z" since k=1.'
    with pytest.warns(UserWarning, match="k = 1"):
        res = meta_analysis([-0.8893], [0.3256], test="knha")
    z = meta_analysis([-0.8893], [0.3256])
    assert res.test == "z" and res.df is None
    assert (res.se, res.lower, res.upper, res.p_value) == (z.se, z.lower, z.upper, z.p_value)


def test_knha_with_fe_warns():
    with pytest.warns(UserWarning, match="FE model"):
        res = meta_analysis([0.1, 0.3, -0.2], [0.04, 0.02, 0.03], method="FE", test="knha")
    assert res.df == 2


def test_knha_identical_estimates_give_zero_se():
    # R: rma(c(.2,.2,.2), c(.01,.02,.03), test="knha") gives se 0, zval Inf, pval 0, ci 0.2 to 0.2
    res = meta_analysis([0.2, 0.2, 0.2], [0.01, 0.02, 0.03], test="knha")
    assert res.se == pytest.approx(0.0, abs=1e-15)
    assert abs(res.z) > 1e12 and res.p_value == 0.0
    assert res.lower == pytest.approx(0.2) and res.upper == pytest.approx(0.2)


def test_default_is_z_and_existing_fields_unchanged():
    res = meta_analysis([0.1, 0.3, 0.35, -0.2], [0.04, 0.02, 0.05, 0.03])
    assert isinstance(res, MetaResult)
    assert res.test == "z" and res.df is None
    assert res.lower == pytest.approx(res.estimate - stats.norm.ppf(0.975) * res.se, rel=1e-14)
    assert meta_analysis([0.1, 0.3], [0.04, 0.02], test="KNHA").test == "knha"  # case-insensitive


@pytest.mark.parametrize("bad", ["t", "hksj", "", None, 1])
def test_invalid_test_raises(bad):
    with pytest.raises(ValueError, match="test must be one of z, knha"):
        meta_analysis([0.1, 0.3], [0.04, 0.02], test=bad)
