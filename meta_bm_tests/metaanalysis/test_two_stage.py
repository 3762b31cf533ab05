"""Two-stage meta-analysis against metafor's published ``rma.uni`` output and independent brute force.

Reference outputs (all printed by metafor itself; each value below was read from the source named
next to it, rounded as printed, and is asserted to half a unit of its last printed digit, plus 1e-5
where metafor's own REML stopping rule, a tau² step below 1e-5, can move it):

[README]   wviechtb/metafor, README.md ("Example"): the dat.bcg table, escalc(measure="RR") yi/vi, and
           rma(yi, vi, test="knha") for REML: tau² 0.3132 (SE = 0.1664), I² 92.22%, H² 12.86,
           Q(df = 12) = 152.2330, estimate -0.7145 (the knha se/CI there are not the z-test ones).
[ROBMA]    FBartos/RoBMA vignette "02-bayesian-meta-analysis" (rendered), metafor::rma(yi, vi,
           method="REML") on dat.bcg RR: estimate -0.7145, se 0.1798, zval -3.9744, pval <.0001,
           ci -1.0669 to -0.3622; confint(): I²(%) 92.2214, H² 12.8558.
[METAN]    wviechtb/metafor, tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r (metafor's own
           tests, checked against Stata's metan): FE and DL for measure RR and OR.
[PREDICT]  Public R tutorial "Metanálise em R - tutorial básico" (L. S. R. Conceição, metafor 4.2-0):
           predict(rma(yi, vi, data=dados), transf=exp) on dat.bcg RR (REML):
           pred 0.4894, ci 0.3441 to 0.6962, pi 0.1546 to 1.5490.
[DLOR]     Public course slides printing summary(rma(ai=tpos, bi=tneg, ci=cpos, di=cneg,
           data=dat.bcg, measure="OR", method="DL")): tau² 0.3663 (SE = 0.2659), I² 92.65%,
           H² 13.60, Q(df = 12) = 163.1649, estimate -0.7474, se 0.1923, zval -3.8873, pval 0.0001,
           ci -1.1242 to -0.3706.
[PCB28]    Public R script comparing metafor with metRology::dsl on the CCQM PCB28 data:
           rma(yi=x, sei=u, method="DL"): tau² 2.9289 (SE = 2.4363), I² 92.67%, H² 13.64,
           Q(df = 5) = 68.2154, estimate 33.6004, se 0.7450, zval 45.1014, ci 32.1403 to 35.0606.

Not asserted: a REML prediction interval of -1.8190 to 0.3900 for dat.bcg that was quoted to us; it
could not be found in any metafor output, and it is inconsistent with metafor's own formula
(-0.7145 ± 1.96·sqrt(0.3132 + 0.1798²) = -1.8667 to 0.4376), which [PREDICT] confirms.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import optimize, stats

from meta_bm.metaanalysis import METHODS, MetaResult, meta_analysis

# dat.bcg as printed in [README] (Colditz et al. 1994): author/year, tpos, tneg, cpos, cneg.
BCG = [
    ("Aronson 1948", 4, 119, 11, 128),
    ("Ferguson & Simes 1949", 6, 300, 29, 274),
    ("Rosenthal et al 1960", 3, 228, 11, 209),
    ("Hart & Sutherland 1977", 62, 13536, 248, 12619),
    ("Frimodt-Moller et al 1973", 33, 5036, 47, 5761),
    ("Stein & Aronson 1953", 180, 1361, 372, 1079),
    ("Vandiviere et al 1973", 8, 2537, 10, 619),
    ("TPT Madras 1980", 505, 87886, 499, 87892),
    ("Coetzee & Berjak 1968", 29, 7470, 45, 7232),
    ("Rosenthal et al 1961", 17, 1699, 65, 1600),
    ("Comstock et al 1974", 186, 50448, 141, 27197),
    ("Comstock & Webster 1969", 5, 2493, 3, 2338),
    ("Comstock et al 1976", 27, 16886, 29, 17825),
]
BCG_LABELS = [row[0] for row in BCG]
_T = np.array([row[1:] for row in BCG], dtype=float)
TPOS, TNEG, CPOS, CNEG = _T.T

# escalc(measure="RR"): log risk ratio and its large-sample variance.
BCG_RR_YI = np.log((TPOS / (TPOS + TNEG)) / (CPOS / (CPOS + CNEG)))
BCG_RR_VI = 1 / TPOS - 1 / (TPOS + TNEG) + 1 / CPOS - 1 / (CPOS + CNEG)
# escalc(measure="OR"): log odds ratio (no zero cells in dat.bcg, so no continuity correction).
BCG_OR_YI = np.log(TPOS * CNEG / (TNEG * CPOS))
BCG_OR_VI = 1 / TPOS + 1 / TNEG + 1 / CPOS + 1 / CNEG

# CCQM PCB28 data as given in [PCB28]: laboratory means and standard uncertainties.
PCB28_X = np.array([34.3, 32.9, 34.53, 32.42, 31.9, 35.8])
PCB28_U = np.array([1.03, 0.69, 0.83, 0.29, 0.4, 0.38])

Z975 = stats.norm.ppf(0.975)


def printed(value: float, shown: float, decimals: int, slack: float = 0.0) -> None:
    """Assert ``value`` rounds to metafor's printed ``shown`` (half a unit of the last digit, + slack)."""
    tol = 0.5 * 10.0**-decimals + slack + 1e-12
    assert abs(value - shown) <= tol, f"{value!r} does not print as {shown} ({decimals} dp, tol {tol:g})"


REML_SLACK = 1e-5  # metafor stops REML when a tau² step is below 1e-5; its printed digits carry that


# --------------------------------------------------------------------------------------------------
# effect sizes


def test_bcg_escalc_rr_matches_metafor_readme():
    # [README] escalc(measure="RR") yi and vi, printed to 4 dp.
    yi = [-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694, -1.3713, -0.3394, 0.4459]
    yi += [-0.0173]
    vi = [0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730, 0.0124, 0.5325, 0.0714]
    for ours, theirs in zip(BCG_RR_YI, yi, strict=True):
        printed(ours, theirs, 4)
    for ours, theirs in zip(BCG_RR_VI, vi, strict=True):
        printed(ours, theirs, 4)


# --------------------------------------------------------------------------------------------------
# published metafor output: dat.bcg


def test_bcg_rr_reml_matches_metafor():
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, method="REML", labels=BCG_LABELS)
    assert res.method == "REML" and res.k == 13 and res.level == 0.95
    # [README] and [ROBMA]
    printed(res.tau2, 0.3132, 4, REML_SLACK)
    assert res.tau2_se is not None
    printed(res.tau2_se, 0.1664, 4, REML_SLACK)
    printed(res.i2, 92.22, 2, REML_SLACK)
    printed(res.h2, 12.86, 2, REML_SLACK)
    printed(res.i2, 92.2214, 4, 1e-4)  # [ROBMA] confint() estimate column
    printed(res.h2, 12.8558, 4, 1e-4)
    printed(res.q, 152.2330, 4)
    assert res.q_df == 12
    assert res.q_p < 1e-4  # "p-val < .0001"
    # [ROBMA] model results
    printed(res.estimate, -0.7145, 4, REML_SLACK)
    printed(res.se, 0.1798, 4, REML_SLACK)
    printed(res.z, -3.9744, 4, 1e-4)
    assert res.p_value < 1e-4  # "<.0001"
    printed(res.lower, -1.0669, 4, REML_SLACK)
    printed(res.upper, -0.3622, 4, REML_SLACK)
    # [PREDICT] predict(res, transf=exp)
    printed(math.exp(res.estimate), 0.4894, 4, REML_SLACK)
    printed(math.exp(res.lower), 0.3441, 4, REML_SLACK)
    printed(math.exp(res.upper), 0.6962, 4, REML_SLACK)
    printed(math.exp(res.pi_lower), 0.1546, 4, REML_SLACK)
    printed(math.exp(res.pi_upper), 1.5490, 4, REML_SLACK)


def test_bcg_rr_dl_matches_metafor():
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, method="DL")
    # [METAN] RE model w/ DL estimator, measure='RR'
    printed(res.estimate, -0.7141, 4)
    printed(res.lower, -1.0644, 4)
    printed(res.upper, -0.3638, 4)
    printed(res.z, -3.9952, 4)
    printed(res.tau2, 0.3088, 4)
    printed(res.i2, 92.1173, 4)
    printed(math.exp(res.estimate), 0.4896, 4)
    printed(math.exp(res.lower), 0.3449, 4)
    printed(math.exp(res.upper), 0.6950, 4)
    # se is not printed there; it follows from the printed estimate and z: -0.7141 / -3.9952 = 0.17874
    assert res.se == pytest.approx(0.7141 / 3.9952, abs=5e-5)
    printed(res.se, 0.1787, 4)
    # for DL, 100·tau²/(tau² + s²) is algebraically (Q - df)/Q: metafor's DL I² equals the FE one
    assert res.i2 == pytest.approx(100 * (res.q - 12) / res.q, rel=1e-12)


def test_bcg_rr_fe_matches_metafor():
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, method="FE")
    # [METAN] FE model, measure='RR'
    printed(res.estimate, -0.4303, 4)
    printed(res.lower, -0.5097, 4)
    printed(res.upper, -0.3509, 4)
    printed(res.z, -10.6247, 4)
    printed(res.q, 152.2330, 4)
    printed(math.exp(res.estimate), 0.6503, 4)
    printed(math.exp(res.lower), 0.6007, 4)
    printed(math.exp(res.upper), 0.7040, 4)
    assert res.se == pytest.approx(0.4303 / 10.6247, abs=5e-5)  # 0.0405, from the printed estimate and z
    printed(res.se, 0.0405, 4)
    assert res.tau2 == 0.0 and res.tau2_se is None
    assert (res.pi_lower, res.pi_upper) == (res.lower, res.upper)
    # metafor's FE I² and H² come from Q
    assert res.i2 == pytest.approx(100 * (res.q - 12) / res.q, rel=1e-12)
    assert res.h2 == pytest.approx(res.q / 12, rel=1e-12)


def test_bcg_or_dl_matches_metafor():
    res = meta_analysis(BCG_OR_YI, BCG_OR_VI, method="DL")
    # [METAN] RE model w/ DL estimator, measure='OR'
    printed(res.estimate, -0.7474, 4)
    printed(res.lower, -1.1242, 4)
    printed(res.upper, -0.3706, 4)
    printed(res.z, -3.8873, 4)
    printed(res.tau2, 0.3663, 4)
    printed(res.i2, 92.6455, 4)
    printed(math.exp(res.estimate), 0.4736, 4)
    printed(math.exp(res.lower), 0.3249, 4)
    printed(math.exp(res.upper), 0.6903, 4)
    # [DLOR] the rest of the printed summary, including metafor's SE of the DL tau²
    assert res.tau2_se is not None
    printed(res.tau2_se, 0.2659, 4)
    printed(res.h2, 13.60, 2)
    printed(res.i2, 92.65, 2)
    printed(res.q, 163.1649, 4)
    printed(res.se, 0.1923, 4)
    printed(res.p_value, 0.0001, 4)


def test_bcg_or_fe_matches_metafor():
    res = meta_analysis(BCG_OR_YI, BCG_OR_VI, method="FE")
    # [METAN] FE model, measure='OR'
    printed(res.estimate, -0.4361, 4)
    printed(res.lower, -0.5190, 4)
    printed(res.upper, -0.3533, 4)
    printed(res.z, -10.3190, 4)
    printed(res.q, 163.1649, 4)
    printed(math.exp(res.estimate), 0.6465, 4)
    printed(math.exp(res.lower), 0.5951, 4)
    printed(math.exp(res.upper), 0.7024, 4)


def test_pcb28_dl_matches_metafor():
    res = meta_analysis(PCB28_X, PCB28_U**2, method="DL")
    # [PCB28]
    printed(res.tau2, 2.9289, 4)
    assert res.tau2_se is not None
    printed(res.tau2_se, 2.4363, 4)
    printed(res.i2, 92.67, 2)
    printed(res.h2, 13.64, 2)
    printed(res.q, 68.2154, 4)
    assert res.q_df == 5
    printed(res.estimate, 33.6004, 4)
    printed(res.se, 0.7450, 4)
    printed(res.z, 45.1014, 4)
    printed(res.lower, 32.1403, 4)
    printed(res.upper, 35.0606, 4)


# --------------------------------------------------------------------------------------------------
# independent brute-force checks


def _reml_loglik_matrix(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """REML log-likelihood written in matrix form, independently of the module's closed forms."""
    k = y.size
    x = np.ones((k, 1))
    vinv = np.diag(1.0 / (v + tau2))
    xtvx = x.T @ vinv @ x
    p = vinv - vinv @ x @ np.linalg.inv(xtvx) @ x.T @ vinv
    return float(
        -0.5 * (k - 1) * np.log(2 * np.pi)
        - 0.5 * np.sum(np.log(v + tau2))
        - 0.5 * np.linalg.slogdet(xtvx)[1]
        - 0.5 * y @ p @ y
    )


def _reml_by_optimizer(y: np.ndarray, v: np.ndarray) -> float:
    """Maximise the matrix-form REML likelihood: fine log-spaced grid, then a bounded scalar search.

    Only good to ~1e-7 (the likelihood is flat at its maximum); see :func:`_reml_score_root`.
    """
    hi = max(10.0, 10.0 * float(np.var(y)))
    grid = np.concatenate(([0.0], np.geomspace(1e-8, hi, 1000)))
    ll = np.array([_reml_loglik_matrix(y, v, t) for t in grid])
    i = int(np.argmax(ll))
    if i == 0:
        return 0.0
    opt = optimize.minimize_scalar(
        lambda t: -_reml_loglik_matrix(y, v, t),
        bounds=(grid[i - 1], grid[min(i + 1, grid.size - 1)]),
        method="bounded",
        options={"xatol": 1e-14},
    )
    return float(opt.x) if -opt.fun >= ll[i] else float(grid[i])


def _reml_score_matrix(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """d ll_REML / d tau² = (y'PPy - tr(P)) / 2 (Harville 1977), with P built as a matrix."""
    k = y.size
    x = np.ones((k, 1))
    vinv = np.diag(1.0 / (v + tau2))
    p = vinv - vinv @ x @ np.linalg.inv(x.T @ vinv @ x) @ x.T @ vinv
    return float(0.5 * (y @ p @ p @ y - np.trace(p)))


def _reml_score_root(y: np.ndarray, v: np.ndarray) -> float:
    """Exact REML maximiser: the root of the score bracketed around the likelihood optimum (or 0)."""
    approx = _reml_by_optimizer(y, v)
    if approx == 0.0:
        assert _reml_score_matrix(y, v, 0.0) <= 0.0
        return 0.0
    lo, hi = approx * 0.9, approx * 1.1 + 1e-9
    return float(optimize.brentq(lambda t: _reml_score_matrix(y, v, t), lo, hi, xtol=1e-15, rtol=1e-14))


def _dl_closed_form(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """DerSimonian & Laird (1986), written out: tau² and the pooled estimate."""
    w = 1 / v
    mu_fe = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu_fe) ** 2)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - (y.size - 1)) / c)
    w_re = 1 / (v + tau2)
    return tau2, float(np.sum(w_re * y) / np.sum(w_re))


def _random_dataset(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 25))
    v = rng.uniform(0.005, 0.5, size=k)
    tau2_true = float(rng.choice([0.0, 0.01, 0.1, 0.5]))
    y = rng.normal(-0.3, np.sqrt(v + tau2_true))
    return y, v


def test_bcg_reml_equals_likelihood_maximum():
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, method="REML")
    assert res.tau2 == pytest.approx(_reml_by_optimizer(BCG_RR_YI, BCG_RR_VI), abs=1e-6)
    assert res.tau2 == pytest.approx(_reml_score_root(BCG_RR_YI, BCG_RR_VI), abs=1e-9)
    # ... and its SE is sqrt(2/tr(PP)) at the maximum, P computed here with matrices
    w = 1 / (BCG_RR_VI + res.tau2)
    p = np.diag(w) - np.outer(w, w) / w.sum()
    assert res.tau2_se == pytest.approx(math.sqrt(2 / np.trace(p @ p)), rel=1e-10)


@pytest.mark.parametrize("seed", range(40))
def test_reml_matches_optimizer_on_random_data(seed):
    y, v = _random_dataset(seed)
    res = meta_analysis(y, v, method="REML")
    best = _reml_by_optimizer(y, v)
    assert res.tau2 == pytest.approx(best, abs=1e-6)
    assert _reml_loglik_matrix(y, v, res.tau2) >= _reml_loglik_matrix(y, v, best) - 1e-12
    assert res.tau2 == pytest.approx(_reml_score_root(y, v), abs=1e-9)
    w = 1 / (v + res.tau2)
    assert res.estimate == pytest.approx(np.sum(w * y) / np.sum(w), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("seed", range(40))
def test_dl_matches_closed_form_on_random_data(seed):
    y, v = _random_dataset(seed)
    res = meta_analysis(y, v, method="DL")
    tau2, mu = _dl_closed_form(y, v)
    assert res.tau2 == pytest.approx(tau2, rel=1e-12, abs=1e-15)
    assert res.estimate == pytest.approx(mu, rel=1e-12, abs=1e-14)


def test_intervals_weights_and_heterogeneity_follow_metafor_formulas():
    res = meta_analysis(BCG_RR_YI, BCG_RR_VI, method="REML")
    w = 1 / (BCG_RR_VI + res.tau2)
    assert res.weights == pytest.approx(100 * w / w.sum(), rel=1e-12)
    assert res.weights.sum() == pytest.approx(100.0)
    assert res.se == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-12)
    assert (res.lower, res.upper) == pytest.approx((res.estimate - Z975 * res.se, res.estimate + Z975 * res.se))
    half = Z975 * math.sqrt(res.tau2 + res.se**2)
    assert (res.pi_lower, res.pi_upper) == pytest.approx((res.estimate - half, res.estimate + half))
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(res.z)))
    wf = 1 / BCG_RR_VI
    s2 = 12 * wf.sum() / (wf.sum() ** 2 - np.sum(wf**2))
    assert res.i2 == pytest.approx(100 * res.tau2 / (res.tau2 + s2), rel=1e-12)
    assert res.h2 == pytest.approx((res.tau2 + s2) / s2, rel=1e-12)
    assert res.q_p == pytest.approx(stats.chi2.sf(res.q, 12))
    fe = meta_analysis(BCG_RR_YI, BCG_RR_VI, method="FE")
    assert fe.weights == pytest.approx(100 * wf / wf.sum(), rel=1e-12)


def _dl_exact(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """DL tau², metafor's SE of it and the pooled estimate in exact rational arithmetic."""
    ys = [Fraction(float(a)) for a in y]
    w = [1 / Fraction(float(b)) for b in v]
    k, sw = len(w), sum(w)
    mu = sum(wi * yi for wi, yi in zip(w, ys, strict=True)) / sw
    q = sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, ys, strict=True))
    tr_p = sw - sum(wi * wi for wi in w) / sw
    p = [[(wi if i == j else 0) - wi * wj / sw for j, wj in enumerate(w)] for i, wi in enumerate(w)]
    tr_pp = sum(pij * pij for row in p for pij in row)
    tau2 = max(Fraction(0), (q - (k - 1)) / tr_p)
    se2 = (2 * (k - 1) + 4 * tau2 * tr_p + 2 * tau2 * tau2 * tr_pp) / (tr_p * tr_p)
    w_re = [1 / (Fraction(float(b)) + tau2) for b in v]
    est = sum(wi * yi for wi, yi in zip(w_re, ys, strict=True)) / sum(w_re)
    return float(tau2), math.sqrt(se2), float(est)


@pytest.mark.parametrize("spread", [1e2, 1e4, 1e6])
def test_dl_is_accurate_when_one_study_dominates(spread):
    # sampling variances spanning `spread`: the textbook tr(PP) formula would lose ~2·log10(spread) digits
    y = np.array([0.31, -0.4, 0.9, 0.05, -1.2])
    v = np.array([1.0 / spread, 0.8, 0.3, 1.1, 0.5])
    res = meta_analysis(y, v, method="DL")
    tau2, se_tau2, est = _dl_exact(y, v)
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert res.tau2_se == pytest.approx(se_tau2, rel=1e-12)
    assert res.estimate == pytest.approx(est, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# edge cases


@pytest.mark.parametrize("method", METHODS)
def test_single_study(method):
    res = meta_analysis([0.3], [0.04], method=method)
    assert res.k == 1 and res.estimate == 0.3 and res.se == pytest.approx(0.2)
    assert res.tau2 == 0.0 and res.tau2_se is None
    assert (res.q, res.q_df, res.q_p, res.i2, res.h2) == (0.0, 0, 1.0, 0.0, 1.0)
    assert (res.pi_lower, res.pi_upper) == (res.lower, res.upper)
    assert res.lower == pytest.approx(0.3 - Z975 * 0.2)
    assert res.weights.tolist() == [100.0]


def test_two_studies():
    y, v = np.array([-0.5, 0.4]), np.array([0.02, 0.05])
    dl = meta_analysis(y, v, method="DL")
    tau2, mu = _dl_closed_form(y, v)
    assert dl.q_df == 1
    assert dl.tau2 == pytest.approx(tau2, rel=1e-12) and dl.tau2 > 0
    assert dl.estimate == pytest.approx(mu, rel=1e-12)
    reml = meta_analysis(y, v, method="REML")
    assert reml.tau2 == pytest.approx(_reml_score_root(y, v), abs=1e-9)
    assert reml.tau2 > 0 and reml.tau2_se is not None
    fe = meta_analysis(y, v, method="FE")
    assert fe.estimate == pytest.approx((-0.5 / 0.02 + 0.4 / 0.05) / (1 / 0.02 + 1 / 0.05))


@pytest.mark.parametrize(
    "y",
    [
        np.array([0.2, 0.2, 0.2, 0.2]),  # identical estimates: Q = 0
        np.array([0.2, 0.25, 0.15, 0.22]),  # Q well below its df
    ],
)
def test_homogeneous_data_give_tau2_zero_and_the_fixed_effect(y):
    v = np.array([0.04, 0.05, 0.03, 0.06])
    fe = meta_analysis(y, v, method="FE")
    assert fe.q < 3
    for method in ("DL", "REML"):
        res = meta_analysis(y, v, method=method)
        assert res.tau2 == 0.0
        assert res.i2 == 0.0 and res.h2 == 1.0
        assert res.estimate == pytest.approx(fe.estimate, rel=1e-12)
        assert res.se == pytest.approx(fe.se, rel=1e-12)
        assert (res.lower, res.upper) == pytest.approx((fe.lower, fe.upper), rel=1e-12)
        assert (res.pi_lower, res.pi_upper) == pytest.approx((fe.lower, fe.upper), rel=1e-12)
        assert res.weights == pytest.approx(fe.weights, rel=1e-12)
    # the REML score is negative at 0 here, so the boundary is the maximum
    assert _reml_by_optimizer(y, v) == 0.0


def test_fe_i2_is_zero_when_q_is_zero():
    res = meta_analysis([0.1, 0.1, 0.1], [0.01, 0.02, 0.03], method="FE")
    assert res.q == pytest.approx(0.0, abs=1e-25)
    assert res.i2 == 0.0
    assert res.h2 == pytest.approx(0.0, abs=1e-25)


@pytest.mark.parametrize("method", METHODS)
def test_level_090(method):
    r95 = meta_analysis(BCG_RR_YI, BCG_RR_VI, method=method)
    r90 = meta_analysis(BCG_RR_YI, BCG_RR_VI, method=method, level=0.90)
    z95 = stats.norm.ppf(0.95)
    assert r90.level == 0.90
    assert (r90.estimate, r90.se, r90.tau2, r90.p_value) == (r95.estimate, r95.se, r95.tau2, r95.p_value)
    assert r90.lower == pytest.approx(r90.estimate - z95 * r90.se, rel=1e-12)
    assert r90.upper == pytest.approx(r90.estimate + z95 * r90.se, rel=1e-12)
    half = z95 * math.sqrt(r90.tau2 + r90.se**2)
    assert (r90.pi_lower, r90.pi_upper) == pytest.approx((r90.estimate - half, r90.estimate + half), rel=1e-12)
    assert r90.upper - r90.lower == pytest.approx((r95.upper - r95.lower) * z95 / Z975, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# input errors


@pytest.mark.parametrize("bad", [0.0, -0.01, float("nan"), float("inf")])
def test_non_positive_variance_names_the_study(bad):
    vi = BCG_RR_VI.copy()
    vi[5] = bad
    with pytest.raises(ValueError, match=r"Stein & Aronson 1953: sampling variance vi must be positive"):
        meta_analysis(BCG_RR_YI, vi, labels=BCG_LABELS)
    with pytest.raises(ValueError, match=r"^study 6: sampling variance"):
        meta_analysis(BCG_RR_YI, vi, method="FE")


def test_non_finite_estimate_names_the_study():
    with pytest.raises(ValueError, match=r"trial B: estimate yi is not a finite number"):
        meta_analysis([0.1, float("nan")], [0.1, 0.1], labels=["trial A", "trial B"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"yi": [], "vi": []}, "no studies"),
        ({"yi": [0.1, 0.2], "vi": [0.1]}, "differ in length"),
        ({"yi": [[0.1, 0.2]], "vi": [[0.1, 0.2]]}, "one-dimensional"),
        ({"yi": [0.1], "vi": [0.1], "labels": ["a", "b"]}, "labels has 2 entries"),
        ({"yi": [0.1], "vi": [0.1], "method": "PM"}, "method must be one of"),
        ({"yi": [0.1], "vi": [0.1], "level": 95}, "strictly between 0 and 1"),
        ({"yi": [0.1], "vi": [0.1], "level": 1.0}, "strictly between 0 and 1"),
    ],
)
def test_invalid_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        meta_analysis(**kwargs)


def test_method_is_case_insensitive_and_result_is_frozen():
    res = meta_analysis([0.1, 0.3], [0.02, 0.03], method="reml")
    assert isinstance(res, MetaResult) and res.method == "REML"
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.tau2 = 1.0  # type: ignore[misc]


def test_reml_converges_where_plain_fisher_scoring_oscillates():
    """137 studies of very different precision: metafor's undamped steps oscillate for ever (its error
    "Fisher scoring algorithm did not converge"); damped steps reach the REML maximum, checked by brute force."""
    from scipy.optimize import minimize_scalar

    from meta_bm.metaanalysis.two_stage import _reml_loglik, _reml_score_parts

    rng = np.random.default_rng(84)
    k = int(rng.integers(20, 200))
    v = rng.uniform(0.005, 0.5, k) * rng.choice([1, 10, 100], k)
    y = rng.normal(-0.3, np.sqrt(v + rng.choice([0, 0.01, 0.2])))
    # the plain iteration does not settle: consecutive steps stay large
    tau2, steps = 0.0, []
    for _ in range(200):
        ypy, tr_p, tr_pp = _reml_score_parts(y, v, tau2)
        adj = (ypy - tr_p) / tr_pp
        while tau2 + adj < 0:
            adj /= 2
        tau2 += adj
        steps.append(abs(adj))
    assert min(steps[-50:]) > 1e-6
    res = meta_analysis(y, v, method="REML")
    best = minimize_scalar(lambda t: -_reml_loglik(y, v, t), bounds=(0, 1), method="bounded", options={"xatol": 1e-12})
    assert res.tau2 == pytest.approx(best.x, abs=1e-7)
    ypy, tr_p, _ = _reml_score_parts(y, v, res.tau2)
    assert abs(ypy - tr_p) < 1e-6  # the REML score is zero there
