"""Meta-regression and Egger's regression test for funnel-plot asymmetry (metafor 3.8 conventions).

:func:`meta_regression` reproduces ``metafor::rma.uni(yi, vi, mods = ~ x, method=..., test=...)``: a
mixed-effects model ``yi = Xβ + u_i + e_i`` with ``u_i ~ N(0, tau²)``, ``e_i ~ N(0, vi)`` and X an
intercept plus the moderator column(s). With ``W = diag(1/(vi + tau²))`` and
``P = W - WX(X'WX)⁻¹X'W``:

``"FE"``
    tau² = 0 (weighted least squares with weights 1/vi).
``"DL"``
    ``tau² = max(0, (QE - (k - p)) / tr(P₀))`` with the fixed-effect ``P₀`` (``W = diag(1/vi)``).
``"REML"``
    Fisher scoring ``tau² += (y'PPy - tr(P)) / tr(PP)`` from the Hedges start (truncated at 0), with
    step-halving at the boundary and metafor's check against tau² = 0, iterated to a step below
    1e-10 as :func:`~meta_bm.metaanalysis.two_stage.meta_analysis` (boundary maxima returned as 0).

``β = (X'WX)⁻¹X'Wy`` with variance ``(X'WX)⁻¹``; ``test="z"`` uses the normal distribution,
``test="knha"`` multiplies the variance by ``y'Py/(k - p)`` (not truncated at 1) and uses t with k - p
df. QE (``y'P₀y``, chi-square on k - p df) tests residual heterogeneity; QM tests the moderators (Wald
chi-square, or F(m, k - p) under knha); I² and H² are metafor's residual versions with the typical
variance ``(k - p)/tr(P₀)`` (for FE: ``max(0, 100·(QE - (k-p))/QE)`` and ``QE/(k - p)``). Computations
use a QR decomposition of ``W^½X``, not explicit inverses.

:func:`egger_test` is metafor's ``regtest`` with the default predictor ``"sei"`` (the standard error
``sqrt(vi)``), in two named variants:

``model="rma"``
    ``regtest(res)``: the mixed-effects meta-regression of yi on sei with the same tau² method and test
    (z by default) as ``res``; the asymmetry statistic is the slope's z (or t).
``model="lm"``
    ``regtest(res, model="lm")``, the classic Egger test: ``lm(yi ~ sei, weights = 1/vi)``, i.e.
    weighted least squares with a multiplicative dispersion, t test with k - 2 df (numerically the FE
    meta-regression with the knha adjustment).

The limit estimate is the intercept (metafor's "Limit Estimate (as sei -> 0)") with its CI.

Example
-------
>>> eg = egger_test([0.9, 0.5, 0.4, 0.35, 0.1], [0.25, 0.09, 0.04, 0.02, 0.01], model="lm")
>>> eg.model, eg.k, eg.df, round(eg.statistic, 4), round(eg.limit_estimate, 4)
('lm', 5, 3, 3.7207, -0.0589)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, stats

from meta_bm.metaanalysis.two_stage import (
    _LL0_TOL,
    _REML_MAXITER,
    _REML_STEPADJ,
    _REML_THRESHOLD,
    _check_data,
    _check_level,
    _check_method,
    _check_test,
    _ratio,
)

__all__ = ["EGGER_MODELS", "EggerResult", "MetaRegressionResult", "egger_test", "meta_regression"]

EGGER_MODELS = ("rma", "lm")


@dataclass(frozen=True)
class MetaRegressionResult:
    """Result of :func:`meta_regression`, the quantities metafor prints for ``rma.uni`` with moderators.

    Attributes
    ----------
    method, test : str
        tau² estimator (``"FE"``, ``"DL"``, ``"REML"``) and test (``"z"`` or ``"knha"``).
    k, p : int
        Number of studies and of coefficients (intercept included).
    names : list of str
        Coefficient names: ``"intrcpt"`` then the moderator names.
    coef, se, statistic, p_value, lower, upper : numpy.ndarray
        Coefficients, their standard errors, z (or t under knha) statistics, two-sided p-values and
        ``level`` confidence limits.
    vcov : numpy.ndarray
        p x p variance matrix of the coefficients (knha-scaled under knha).
    df : int or None
        k - p for knha, None for z.
    tau2 : float
        Residual between-study variance (0 for FE).
    tau2_se : float or None
        metafor's standard error of tau² (None for FE).
    i2, h2 : float
        Residual I² (percent) and H².
    qe, qe_df, qe_p : float, int, float
        Test for residual heterogeneity (fixed-effect weights), chi-square on k - p df.
    qm, qm_df, qm_p : float, int, float
        Omnibus test of the moderators (all coefficients but the intercept): Wald chi-square on
        ``qm_df`` df, or under knha the F statistic on (``qm_df``, k - p) df.
    level : float
        Confidence level.
    """

    method: str
    test: str
    k: int
    p: int
    names: list[str]
    coef: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    vcov: np.ndarray
    df: int | None
    tau2: float
    tau2_se: float | None
    i2: float
    h2: float
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: int
    qm_p: float
    level: float


@dataclass(frozen=True)
class EggerResult:
    """Result of :func:`egger_test` (metafor's ``regtest`` with predictor ``"sei"``).

    Attributes
    ----------
    model : str
        ``"rma"`` (mixed-effects meta-regression on the SE, metafor's default) or ``"lm"`` (classic
        Egger: weighted least squares with multiplicative dispersion).
    method : str or None
        tau² estimator of the ``"rma"`` model; None for ``"lm"``.
    test : str
        ``"z"`` or ``"knha"`` for ``"rma"``, ``"t"`` for ``"lm"``.
    k : int
        Number of studies.
    statistic, df, p_value : float, int or None, float
        Test of funnel asymmetry (the slope on the SE): z (df None) or t (df = k - 2).
    limit_estimate, limit_lower, limit_upper : float
        The intercept, metafor's "Limit Estimate (as sei -> 0)", and its ``level`` CI.
    slope, slope_se : float
        Coefficient of the SE and its standard error.
    tau2 : float or None
        Residual tau² of the ``"rma"`` model; None for ``"lm"``.
    qe, qe_df, qe_p : float, int, float
        Test for residual heterogeneity of the regression (same for both models).
    dispersion : float or None
        The ``"lm"`` model's residual variance (``sigma²`` of ``summary(lm)``, = QE/(k - 2)); None for ``"rma"``.
    level : float
        Confidence level.
    """

    model: str
    method: str | None
    test: str
    k: int
    statistic: float
    df: int | None
    p_value: float
    limit_estimate: float
    limit_lower: float
    limit_upper: float
    slope: float
    slope_se: float
    tau2: float | None
    qe: float
    qe_df: int
    qe_p: float
    dispersion: float | None
    level: float


def meta_regression(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    x: Sequence[float] | np.ndarray,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    labels: Sequence[object] | None = None,
    names: Sequence[str] | None = None,
) -> MetaRegressionResult:
    """Meta-regression with an intercept, as ``metafor::rma.uni(yi, vi, mods = ~ x, method, test)``.

    Parameters
    ----------
    yi, vi : array_like
        Study estimates and their sampling variances (positive, finite).
    x : array_like
        The moderator: one value per study, or a k x m array of m moderators. An intercept is added.
    method : {"REML", "DL", "FE"}
        Estimator of the residual tau² (see the module docstring).
    test : {"z", "knha"}
        Normal Wald tests, or the Knapp–Hartung adjustment with t on k - p df (metafor's ``test="knha"``).
    level : float
        Confidence level, strictly between 0 and 1.
    labels : sequence, optional
        Study labels for error messages.
    names : sequence of str, optional
        Moderator names (default ``"x"``, or ``"x1"``, ``"x2"``, ... for several).

    Returns
    -------
    MetaRegressionResult

    Raises
    ------
    ValueError
        Invalid yi/vi/method/test/level, a moderator that is not finite, a design that is not of full
        rank (e.g. a constant moderator), or fewer studies than k = p + 1.

    Examples
    --------
    >>> fit = meta_regression([0.1, 0.3, 0.35, -0.2, 0.5], [0.04, 0.02, 0.05, 0.03, 0.04], [1, 2, 3, 0, 4], method="FE")
    >>> fit.names, fit.coef.round(4).tolist(), round(fit.qe, 4), fit.qe_df
    (['intrcpt', 'x'], [-0.1203, 0.1712], 0.7169, 3)
    """
    method = _check_method(method)
    test = _check_test(test)
    level = _check_level(level)
    y, v = _check_data(yi, vi, labels)
    X, coef_names = _design(x, y.size, names)
    if test == "knha" and method == "FE":
        warnings.warn(
            "the Knapp-Hartung adjustment is not meant for the FE model (metafor warns alike)",
            UserWarning,
            stacklevel=2,
        )
    return _fit(y, v, X, coef_names, method, test, level)


def egger_test(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    model: str = "rma",
    method: str = "REML",
    level: float = 0.95,
    test: str = "z",
    labels: Sequence[object] | None = None,
) -> EggerResult:
    """Egger's regression test for funnel-plot asymmetry, as metafor's ``regtest`` with predictor ``"sei"``.

    ``model="rma"`` is ``regtest(rma(yi, vi, method=method, test=test))`` (mixed-effects meta-regression
    on the SE, z test by default); ``model="lm"`` is ``regtest(res, model="lm")``, the classic Egger test
    (weighted least squares, t with k - 2 df; ``method`` and ``test`` do not apply). Report which one.

    The test has little power with few studies: use it only with at least 10 studies (Cochrane Handbook
    10.4.3.1). It is computed from k = 3 on (one residual degree of freedom) so edge cases can be checked.

    Parameters
    ----------
    yi, vi : array_like
        Study estimates and their sampling variances.
    model : {"rma", "lm"}
        Which regression (see above).
    method : {"REML", "DL", "FE"}
        tau² estimator for ``model="rma"``.
    level : float
        Confidence level of the limit estimate's CI.
    test : {"z", "knha"}
        Test for ``model="rma"`` (metafor's regtest uses the test of the model it is given).
    labels : sequence, optional
        Study labels for error messages.

    Returns
    -------
    EggerResult

    Raises
    ------
    ValueError
        Fewer than 3 studies, all standard errors equal (the slope is not identifiable), an unknown
        ``model``, or any input :func:`meta_regression` rejects.

    Examples
    --------
    >>> yi, vi = [0.9, 0.5, 0.4, 0.35, 0.1], [0.25, 0.09, 0.04, 0.02, 0.01]
    >>> eg = egger_test(yi, vi, model="rma", method="REML")
    >>> eg.model, eg.method, eg.df, round(eg.statistic, 4), round(eg.p_value, 4)
    ('rma', 'REML', None, 2.1631, 0.0305)
    """
    if not isinstance(model, str) or model.lower() not in EGGER_MODELS:
        raise ValueError(f"model must be one of {', '.join(EGGER_MODELS)}; got {model!r}")
    model = model.lower()
    method = _check_method(method)
    test = _check_test(test)
    level = _check_level(level)
    y, v = _check_data(yi, vi, labels)
    if y.size < 3:
        raise ValueError(f"Egger's regression test needs at least 3 studies; got {y.size}")
    sei = np.sqrt(v)
    if np.ptp(sei) <= 1e-12 * float(sei.max()):
        raise ValueError("Egger's test needs studies of different precision: all standard errors sqrt(vi) are equal")
    X, coef_names = _design(sei, y.size, ["sei"])
    if model == "lm":
        # lm(yi ~ sei, weights = 1/vi) = weighted least squares with dispersion QE/(k-2) = FE + knha
        fit = _fit(y, v, X, coef_names, "FE", "knha", level)
        out_method, out_test, tau2, dispersion = None, "t", None, fit.qe / fit.qe_df
    else:
        fit = _fit(y, v, X, coef_names, method, test, level)
        out_method, out_test, tau2, dispersion = method, test, fit.tau2, None
    return EggerResult(
        model=model,
        method=out_method,
        test=out_test,
        k=fit.k,
        statistic=float(fit.statistic[1]),
        df=fit.df,
        p_value=float(fit.p_value[1]),
        limit_estimate=float(fit.coef[0]),
        limit_lower=float(fit.lower[0]),
        limit_upper=float(fit.upper[0]),
        slope=float(fit.coef[1]),
        slope_se=float(fit.se[1]),
        tau2=tau2,
        qe=fit.qe,
        qe_df=fit.qe_df,
        qe_p=fit.qe_p,
        dispersion=dispersion,
        level=level,
    )


# --------------------------------------------------------------------------------------------------
# design matrix and fitting


def _design(x: Sequence[float] | np.ndarray, k: int, names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    mods = np.asarray(x, dtype=float)
    if mods.ndim == 1:
        mods = mods[:, None]
    if mods.ndim != 2 or mods.shape[0] != k:
        raise ValueError(f"x must have one row per study ({k}); got shape {np.shape(x)}")
    m = mods.shape[1]
    if m == 0:
        raise ValueError("x has no moderator columns")
    if not np.all(np.isfinite(mods)):
        rows = sorted({int(i) + 1 for i in np.argwhere(~np.isfinite(mods))[:, 0]})
        raise ValueError(f"moderator x is not finite for study number(s) {rows}")
    if names is None:
        names = ["x"] if m == 1 else [f"x{j + 1}" for j in range(m)]
    names = [str(n) for n in names]
    if len(names) != m:
        raise ValueError(f"names has {len(names)} entries for {m} moderators")
    X = np.column_stack([np.ones(k), mods])
    p = X.shape[1]
    if k < p + 1:
        raise ValueError(f"meta-regression with {p} coefficients needs at least {p + 1} studies; got {k}")
    # rank check on the column-scaled design so a large-valued moderator (e.g. a year) is not misjudged
    scale = np.linalg.norm(X, axis=0)
    if np.any(scale == 0) or np.linalg.matrix_rank(X / scale) < p:
        raise ValueError("the moderators are collinear with the intercept or each other (e.g. a constant x)")
    return X, ["intrcpt", *names]


class _WLS:
    """Weighted least squares pieces at weights w: coefficients, (X'WX)⁻¹ and P = W - WX(X'WX)⁻¹X'W."""

    def __init__(self, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        sw = np.sqrt(w)
        q, r = linalg.qr(sw[:, None] * X, mode="economic")
        self.r = r
        resid_w = sw * y - q @ (q.T @ (sw * y))  # W^½ (y - Xβ)
        self.coef = linalg.solve_triangular(r, q.T @ (sw * y))
        rinv = linalg.solve_triangular(r, np.eye(r.shape[0]))
        self.vcov = rinv @ rinv.T
        self.rss = float(resid_w @ resid_w)  # y'Py
        self.py = sw * resid_w  # P y
        # P = D (I - QQ') D with D = W^½
        self.P = (np.diag(np.ones(y.size)) - q @ q.T) * np.outer(sw, sw)

    def trace_p(self) -> float:
        return float(np.trace(self.P))

    def trace_pp(self) -> float:
        return float(np.sum(self.P * self.P))


def _tau2_reml(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """REML tau² with moderators by metafor's Fisher scoring (Hedges start), iterated to 1e-10."""
    k, p = X.shape
    # Hedges start: (y'P₀y - tr(P₀V))/(k - p) with the unweighted hat matrix, truncated at 0
    ols = _WLS(X, y, np.ones(k))
    tau2 = max(0.0, (ols.rss - float(np.dot(np.diag(ols.P), v))) / (k - p))
    start = tau2
    for stepadj in _REML_STEPADJ:  # damped only when the plain steps oscillate (see two_stage)
        tau2 = start
        for _ in range(_REML_MAXITER):
            fit = _WLS(X, y, 1.0 / (v + tau2))
            adj = stepadj * (float(fit.py @ fit.py) - fit.trace_p()) / fit.trace_pp()
            if tau2 == 0.0 and adj < 0.0:
                adj = 0.0
            while tau2 + adj < 0.0:
                adj /= 2.0
            tau2 += adj
            if abs(adj) <= _REML_THRESHOLD:
                break
        else:
            continue
        break
    else:
        raise RuntimeError(f"REML Fisher scoring did not converge in {_REML_MAXITER} iterations (last tau² = {tau2!r})")
    if tau2 < 100.0 * _REML_THRESHOLD:
        fit0 = _WLS(X, y, 1.0 / v)
        if float(fit0.py @ fit0.py) - fit0.trace_p() <= 0.0:
            tau2 = 0.0
    if tau2 > _REML_THRESHOLD and _reml_loglik(y, v, X, 0.0) - _reml_loglik(y, v, X, tau2) > _LL0_TOL:
        warnings.warn(
            "REML Fisher scoring may have stopped at a local maximum; setting tau² = 0 as metafor does",
            RuntimeWarning,
            stacklevel=4,
        )
        tau2 = 0.0
    return tau2


def _reml_loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Restricted log-likelihood up to a constant: -½Σlog(vi + tau²) - ½log|X'WX| - ½y'Py."""
    fit = _WLS(X, y, 1.0 / (v + tau2))
    logdet = 2.0 * float(np.sum(np.log(np.abs(np.diag(fit.r)))))
    return -0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * logdet - 0.5 * fit.rss


def _fit(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, names: list[str], method: str, test: str, level: float
) -> MetaRegressionResult:
    k, p = X.shape
    fe = _WLS(X, y, 1.0 / v)
    qe = max(0.0, fe.rss)
    tr_p0 = fe.trace_p()

    tau2_se: float | None = None
    if method == "FE":
        tau2 = 0.0
    elif method == "DL":
        tau2 = max(0.0, (qe - (k - p)) / tr_p0)
        tau2_se = math.sqrt(2.0 * (k - p) + 4.0 * tau2 * tr_p0 + 2.0 * tau2 * tau2 * fe.trace_pp()) / tr_p0
    else:
        tau2 = _tau2_reml(y, v, X)

    fit = fe if tau2 == 0.0 else _WLS(X, y, 1.0 / (v + tau2))
    if method == "REML":
        tau2_se = math.sqrt(2.0 / fit.trace_pp())
    vcov = fit.vcov
    df: int | None = None
    if test == "knha":
        df = k - p
        vcov = vcov * (fit.rss / df)  # not truncated at 1 (metafor's default)
        dist = stats.t(df)
    else:
        dist = stats.norm
    coef = fit.coef
    se = np.sqrt(np.diag(vcov))
    statistic = np.array([_ratio(float(b), float(s)) for b, s in zip(coef, se, strict=True)])
    p_value = 2.0 * dist.sf(np.abs(statistic))
    crit = float(dist.ppf(0.5 + level / 2.0))

    # omnibus test of the moderators
    m = p - 1
    b1 = coef[1:]
    qm = float(b1 @ linalg.solve(vcov[1:, 1:], b1, assume_a="pos"))
    if test == "knha":
        qm /= m
        qm_p = float(stats.f.sf(qm, m, k - p))
    else:
        qm_p = float(stats.chi2.sf(qm, m))

    if method == "FE":
        i2 = max(0.0, 100.0 * (qe - (k - p)) / qe) if qe > 0 else 0.0
        h2 = qe / (k - p)
    else:
        s2 = (k - p) / tr_p0  # metafor's typical within-study variance with moderators
        i2 = 100.0 * tau2 / (s2 + tau2)
        h2 = tau2 / s2 + 1.0

    return MetaRegressionResult(
        method=method,
        test=test,
        k=k,
        p=p,
        names=names,
        coef=coef,
        se=se,
        statistic=statistic,
        p_value=p_value,
        lower=coef - crit * se,
        upper=coef + crit * se,
        vcov=vcov,
        df=df,
        tau2=tau2,
        tau2_se=tau2_se,
        i2=i2,
        h2=h2,
        qe=qe,
        qe_df=k - p,
        qe_p=float(stats.chi2.sf(qe, k - p)),
        qm=qm,
        qm_df=m,
        qm_p=qm_p,
        level=level,
    )
