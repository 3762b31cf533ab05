"""Meta-regression and Egger's test against R metafor 3.8-1 ``rma(yi, vi, mods = ~ x)`` and ``regtest``.

Reference: data/metafor_reference.r.json (scripts/r_reference_metafor.R): ``rma(yi, vi, mods = ~ x,
method, test)`` for FE/DL/REML x z/knha on dat.bcg (x = absolute latitude), the 12-study log-HR set
(x = year), the pipeline's k = 3 and a homogeneous k = 5 set; ``mods = ~ ablat + year`` on dat.bcg;
``regtest(rma(...))`` (model "rma", FE/DL/REML with z, REML with knha) and ``regtest(..., model="lm")``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from meta_bm.metaanalysis import EggerResult, MetaRegressionResult, egger_test, meta_regression
from meta_bm_tests.metaanalysis.metafor_reference import DATA, I2_TOL, REF, TOL


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FE + knha warns, as metafor
        return fn(*args, **kwargs)


def _assert_metareg(res: MetaRegressionResult, r: dict) -> None:
    pairs = {
        "coef": "b",
        "se": "se",
        "statistic": "stat",
        "p_value": "pval",
        "lower": "ci_lb",
        "upper": "ci_ub",
        "tau2": "tau2",
        "i2": "I2",
        "h2": "H2",
        "qe": "QE",
        "qe_p": "QEp",
        "qm": "QM",
        "qm_p": "QMp",
    }
    for ours, theirs in pairs.items():
        got = getattr(res, ours)
        got = got.tolist() if isinstance(got, np.ndarray) else got
        assert got == pytest.approx(r[theirs], **(I2_TOL if ours == "i2" else TOL)), ours
    assert res.vcov.ravel(order="F").tolist() == pytest.approx(r["vb"], **TOL)  # R's column-major vcov
    if r["se_tau2"] is None:
        assert res.tau2_se is None
    else:
        assert res.tau2_se == pytest.approx(r["se_tau2"], **TOL)
    assert res.df == r["dfs"] and res.k == r["k"]
    assert res.qe_df == res.k - res.p and res.qm_df == res.p - 1


@pytest.mark.parametrize("r", REF["metareg"], ids=lambda r: f"{r['dataset']}-{r['method']}-{r['test']}")
def test_meta_regression_one_moderator_matches_metafor(r):
    d = DATA[r["dataset"]]
    res = _quiet(meta_regression, d["yi"], d["vi"], d["x"], method=r["method"], test=r["test"])
    assert res.names == ["intrcpt", "x"] and res.p == 2
    _assert_metareg(res, r)


@pytest.mark.parametrize("r", REF["metareg2"], ids=lambda r: f"{r['method']}-{r['test']}")
def test_meta_regression_two_moderators_matches_metafor(r):
    d = DATA["bcg"]
    x = np.column_stack([d["x"], d["order"]])  # ablat, year
    res = _quiet(meta_regression, d["yi"], d["vi"], x, method=r["method"], test=r["test"], names=["ablat", "year"])
    assert res.names == ["intrcpt", "ablat", "year"]
    _assert_metareg(res, r)


def _egger_id(r: dict) -> str:
    return f"{r['dataset']}-{r['model']}-{r['method']}-{r['test']}"


@pytest.mark.parametrize("r", REF["regtest"], ids=_egger_id)
def test_egger_matches_metafor_regtest(r):
    d = DATA[r["dataset"]]
    if r["model"] == "lm":
        res = egger_test(d["yi"], d["vi"], model="lm")
        assert (res.method, res.test, res.tau2) == (None, "t", None)
        assert res.dispersion == pytest.approx(r["sigma2"], **TOL)
    else:
        res = egger_test(d["yi"], d["vi"], model="rma", method=r["method"], test=r["test"])
        assert (res.method, res.test, res.dispersion) == (r["method"], r["test"], None)
        assert res.tau2 == pytest.approx(r["tau2"], **TOL)
        assert res.qe == pytest.approx(r["QE"], **TOL) and res.qe_p == pytest.approx(r["QEp"], **TOL)
    assert isinstance(res, EggerResult)
    assert res.model == r["model"] and res.k == len(d["yi"]) and res.df == r["dfs"]
    for ours, theirs in [
        ("statistic", "stat"),
        ("p_value", "pval"),
        ("limit_estimate", "est"),
        ("limit_lower", "ci_lb"),
        ("limit_upper", "ci_ub"),
        ("slope", "slope"),
    ]:
        assert getattr(res, ours) == pytest.approx(r[theirs], **(I2_TOL if ours == "i2" else TOL)), ours


def test_egger_bcg_printed_output():
    # print(regtest(rma(yi, vi, data=dat))) on dat.bcg RR (REML), metafor 3.8-1:
    #   z = -0.8033, p = 0.4218; limit estimate b = -0.5104 (CI: -1.1182, 0.0974)
    # print(regtest(..., model="lm")): t = -1.4013, df = 11, p = 0.1887; b = -0.1909 (CI: -0.6753, 0.2935)
    d = DATA["bcg"]
    rma = egger_test(d["yi"], d["vi"])
    lm = egger_test(d["yi"], d["vi"], model="lm")
    got = [rma.statistic, rma.p_value, rma.limit_estimate, rma.limit_lower, rma.limit_upper]
    got += [lm.statistic, lm.p_value, lm.limit_estimate, lm.limit_lower, lm.limit_upper]
    want = [-0.8033, 0.4218, -0.5104, -1.1182, 0.0974, -1.4013, 0.1887, -0.1909, -0.6753, 0.2935]
    for g, w in zip(got, want, strict=True):
        assert abs(g - w) <= 0.5e-4 + 1e-9
    assert (rma.df, lm.df) == (None, 11)


def test_egger_lm_is_weighted_least_squares_by_hand():
    # Independent of metafor: WLS of yi on sei with weights 1/vi, residual variance RSS/(k-2), t on k-2 df.
    d = DATA["loghr12"]
    y, v = np.array(d["yi"]), np.array(d["vi"])
    X = np.column_stack([np.ones(y.size), np.sqrt(v)])
    sw = 1 / np.sqrt(v)
    beta, rss, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    sigma2 = float(rss[0]) / (y.size - 2)
    cov = sigma2 * np.linalg.inv((X * (1 / v)[:, None]).T @ X)
    t = beta[1] / math.sqrt(cov[1, 1])
    res = egger_test(y, v, model="lm")
    assert res.slope == pytest.approx(beta[1], rel=1e-12)
    assert res.statistic == pytest.approx(t, rel=1e-12)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(t), y.size - 2), rel=1e-10)
    half = stats.t.ppf(0.975, y.size - 2) * math.sqrt(cov[0, 0])
    assert (res.limit_lower, res.limit_upper) == pytest.approx((beta[0] - half, beta[0] + half), rel=1e-12)
    assert res.dispersion == pytest.approx(sigma2, rel=1e-12)


def test_reml_meta_regression_maximises_the_restricted_likelihood():
    # Independent of metafor: brute-force maximum of the REML log-likelihood over tau².
    d = DATA["bcg"]
    y, v, x = np.array(d["yi"]), np.array(d["vi"]), np.array(d["x"], dtype=float)
    X = np.column_stack([np.ones(y.size), x])

    def neg_ll(tau2: float) -> float:
        w = 1 / (v + tau2)
        xtwx = X.T @ (X * w[:, None])
        b = np.linalg.solve(xtwx, X.T @ (w * y))
        r = y - X @ b
        return 0.5 * (np.sum(np.log(v + tau2)) + np.linalg.slogdet(xtwx)[1] + np.sum(w * r * r))

    best = optimize.minimize_scalar(neg_ll, bounds=(0, 2), method="bounded", options={"xatol": 1e-12})
    res = meta_regression(y, v, x)
    assert res.tau2 == pytest.approx(best.x, abs=1e-7)


def test_egger_with_three_studies_matches_metafor_edge_case():
    # k = 3: one residual df; lm: t on 1 df (R: t = -1.3770, df = 1, p = 0.3999)
    d = DATA["pipeline_k3"]
    lm = egger_test(d["yi"], d["vi"], model="lm")
    assert lm.df == 1 and lm.qe_df == 1
    assert lm.statistic == pytest.approx(-1.37704017674937, rel=1e-9)
    assert lm.p_value == pytest.approx(0.399855263997136, rel=1e-9)


def test_fe_knha_meta_regression_warns():
    with pytest.warns(UserWarning, match="FE model"):
        meta_regression([0.1, 0.3, 0.35, -0.2], [0.04, 0.02, 0.05, 0.03], [1, 2, 3, 0], method="FE", test="knha")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: egger_test([0.1, 0.3], [0.04, 0.02]), "at least 3 studies; got 2"),
        (lambda: egger_test([0.1], [0.04], model="lm"), "at least 3 studies; got 1"),
        (lambda: egger_test([0.1, 0.3, 0.2], [0.04, 0.04, 0.04]), "all standard errors"),
        (lambda: egger_test([0.1, 0.3, 0.2], [0.04, 0.02, 0.03], model="egger"), "model must be one of rma, lm"),
        (lambda: egger_test([0.1, 0.3, 0.2], [0.04, 0.0, 0.03]), "study 2: sampling variance"),
        (lambda: egger_test([0.1, 0.3, 0.2], [0.04, 0.02, 0.03], method="HS"), "method must be one of"),
        (lambda: egger_test([0.1, 0.3, 0.2], [0.04, 0.02, 0.03], level=95), "level must be"),
        (lambda: meta_regression([0.1, 0.3], [0.04, 0.02], [1, 2]), "needs at least 3 studies; got 2"),
        (lambda: meta_regression([0.1, 0.3, 0.2], [0.04, 0.02, 0.03], [1, 2]), "one row per study"),
        (lambda: meta_regression([0.1, 0.3, 0.2], [0.04, 0.02, 0.03], [1, math.nan, 2]), r"not finite .* \[2\]"),
        (lambda: meta_regression([0.1, 0.3, 0.2], [0.04, 0.02, 0.03], [5, 5, 5]), "collinear"),
        (lambda: meta_regression([0.1, 0.3, 0.2], [0.04, 0.02, 0.03], [1, 2, 3], names=["a", "b"]), "names has 2"),
        (lambda: meta_regression([0.1, 0.3, 0.2], [0.04, 0.02, 0.03], [1, 2, 3], test="F"), "test must be one of"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_results_are_frozen():
    res = egger_test([0.9, 0.5, 0.4, 0.35, 0.1], [0.25, 0.09, 0.04, 0.02, 0.01])
    with pytest.raises(AttributeError):
        res.statistic = 0.0  # type: ignore[misc]
