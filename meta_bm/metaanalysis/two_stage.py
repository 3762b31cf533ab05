"""Second stage of a two-stage meta-analysis: pooling per-study estimates as metafor's ``rma.uni`` does.

Implements R's ``metafor::rma.uni(yi, vi, method=..., test=...)`` (metafor 3.8, no moderators, i.e.
an intercept-only model) for three estimators of the between-study variance tau² and two tests:

``"FE"``
    Fixed (equal) effect, inverse-variance weights ``1/vi``; tau² is 0 by construction.
``"DL"``
    DerSimonian–Laird: ``tau² = max(0, (Q - (k - 1)) / (Σw - Σw²/Σw))`` with ``w = 1/vi``.
``"REML"``
    Restricted maximum likelihood by metafor's Fisher scoring: the start value is the Hedges ("HE")
    estimate truncated at 0 (metafor's behaviour when ``control$tau2.init`` is not given), each step
    is ``(y'PPy - tr(P)) / tr(PP)``, halved while it would make tau² negative, and metafor's check
    that tau² = 0 does not have a larger restricted likelihood is kept.

Departure from metafor: where its undamped Fisher scoring does not converge (it oscillates with many studies
of very different precision; metafor stops with an error and suggests ``control=list(stepadj=0.5)``), the
steps are damped by 1/2, then 1/4, 1/8, which converges to the same REML maximum. Otherwise, beyond its
printed precision only: metafor stops when a step changes tau² by
less than 1e-5, so its tau² sits up to about that far from the REML maximum. Here the iteration runs
to a change below 1e-10 (1000 steps at most, metafor allows 100), so tau² is the maximum of the REML
likelihood to about 1e-10; and when the maximum is on the boundary (the iterates fall to ~1e-10 and
the REML score at tau² = 0 is not positive) tau² is returned as exactly 0, which metafor approaches
but, stopping early, reports as a small positive number that prints as 0.0000.

Everything else follows metafor: the pooled estimate uses weights ``1/(vi + tau²)``, its standard
error is ``1/sqrt(Σ 1/(vi + tau²))``, confidence intervals and the p-value use the normal
distribution; Cochran's Q always uses the fixed-effect weights; I² and H² for the random-effects
methods use the "typical" within-study variance ``s² = (k - 1)·Σw / ((Σw)² - Σw²)``
(``I² = 100·tau²/(tau² + s²)``, ``H² = (tau² + s²)/s²``), for FE ``I² = max(0, 100·(Q - (k-1))/Q)``
and ``H² = Q/(k - 1)``; the standard error of tau² is metafor's (REML: ``sqrt(2/tr(PP))`` from the
Fisher information; DL: the large-sample SE of the moment estimator,
``sqrt(2(k-1) + 4·tau²·tr(P) + 2·tau⁴·tr(PP)) / tr(P)`` with the fixed-effect ``P``; FE and k = 1:
none); the prediction interval is ``predict(res)`` for ``rma.uni``: estimate ± z·sqrt(tau² + se²)
(so it equals the confidence interval for FE). With a single study metafor skips the tau²
estimation (tau² = 0, Q = 0 with p = 1, I² = 0, H² = 1), and so does this module.

Hartung–Knapp–Sidik–Jonkman (``test="knha"``, metafor's ``rma(..., test="knha")``): estimate and tau²
are those of the z-test fit; the variance of the estimate is multiplied by the weighted residual
variance ``Σw(yi - μ̂)²/(k - 1)`` with ``w = 1/(vi + tau²)``, *not* truncated at 1 (metafor's default;
the factor can be below 1 and shrink the SE); the CI and p-value use the t distribution with k - 1
degrees of freedom, and so does ``predict(res)``'s prediction interval:
estimate ± t_{k-1}·sqrt(tau² + se²). As metafor, a single study falls back to the z test (with a
warning), and knha with the FE model is allowed but warned about.

Why hand-written: statsmodels' ``statsmodels.stats.meta_analysis.combine_effects`` (the project's
preferred library where it is correct) offers only DerSimonian–Laird (``method_re="chi2"``) and
Paule–Mandel (``"iterated"``), no REML, and statsmodels is not installed in this environment anyway;
the three estimators are a few lines each. The tests check them against metafor's published output
and against independent brute-force computations (scipy optimisation of the REML likelihood).

Example
-------
>>> res = meta_analysis([0.1, 0.3, 0.35, -0.2], [0.04, 0.02, 0.05, 0.03], method="DL")
>>> round(res.estimate, 4), round(res.tau2, 4), round(res.i2, 2)
(0.1335, 0.0331, 50.46)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["METHODS", "TESTS", "MetaResult", "meta_analysis"]

METHODS = ("FE", "DL", "REML")
TESTS = ("z", "knha")

# metafor's defaults are threshold = 1e-5 and maxiter = 100; see the module docstring.
_REML_THRESHOLD = 1e-10
_REML_MAXITER = 1000
# Step-length factors tried in turn when Fisher scoring does not converge. With many studies of very
# different precision the undamped steps can oscillate for ever (metafor then stops with "Fisher scoring
# algorithm did not converge" and its manual suggests control = list(stepadj = 0.5)); a damped step has
# the same fixed point, the maximum of the restricted likelihood.
_REML_STEPADJ = (1.0, 0.5, 0.25, 0.125)
# metafor's con$tol (.Machine$double.eps^0.25), used in its 'll0 - ll > tol' check.
_LL0_TOL = float(np.finfo(float).eps) ** 0.25


@dataclass(frozen=True)
class MetaResult:
    """Result of :func:`meta_analysis`, with the quantities metafor prints for ``rma.uni``.

    Attributes
    ----------
    method : str
        ``"FE"``, ``"DL"`` or ``"REML"``.
    k : int
        Number of studies.
    estimate, se, lower, upper, z, p_value : float
        Pooled estimate, its standard error, the ``level`` confidence interval, the test statistic
        and its two-sided p-value: Wald z and the normal distribution for ``test="z"``; for
        ``test="knha"`` the Hartung–Knapp SE, and ``z`` holds the t statistic (t with ``df`` df).
    tau2 : float
        Between-study variance (0 for FE).
    tau2_se : float or None
        metafor's standard error of tau² (None for FE and for k = 1, where metafor reports none).
    i2 : float
        I² in percent, as metafor prints it.
    h2 : float
        H², as metafor prints it.
    q, q_df, q_p : float, int, float
        Cochran's Q (fixed-effect weights), its degrees of freedom k - 1 and its chi-square p-value.
    pi_lower, pi_upper : float
        Prediction interval as metafor's ``predict(res)``: estimate ± z·sqrt(tau² + se²), with the
        t quantile (k - 1 df) in place of z for ``test="knha"``.
    level : float
        Confidence level of the intervals, e.g. 0.95.
    weights : numpy.ndarray
        Percent weights ``100·w/Σw`` with ``w = 1/(vi + tau²)``, as metafor's ``weights(res)``.
    test : str
        ``"z"`` or ``"knha"``: the test actually used (``"z"`` when knha was asked for with k = 1,
        as metafor).
    df : int or None
        Degrees of freedom of the t distribution (k - 1) for ``test="knha"``, None for the z test.
    """

    method: str
    k: int
    estimate: float
    se: float
    lower: float
    upper: float
    z: float
    p_value: float
    tau2: float
    tau2_se: float | None
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    pi_lower: float
    pi_upper: float
    level: float
    weights: np.ndarray
    test: str = "z"
    df: int | None = None


def meta_analysis(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    level: float = 0.95,
    labels: Sequence[object] | None = None,
    test: str = "z",
) -> MetaResult:
    """Pool per-study estimates ``yi`` with sampling variances ``vi`` as ``metafor::rma.uni``.

    Reproduces ``rma.uni(yi, vi, method=method, test=test, level=100*level)`` of metafor 3.8
    (intercept only), with REML iterated to the maximum of its likelihood rather than stopped at
    metafor's 1e-5 step size (see the module docstring).

    Parameters
    ----------
    yi : array_like
        Study estimates (e.g. log hazard ratios), one per study.
    vi : array_like
        Their sampling variances (squared standard errors); each must be positive and finite.
    method : {"REML", "DL", "FE"}
        Estimator of tau²: restricted maximum likelihood (Fisher scoring, metafor's default),
        DerSimonian–Laird, or the fixed (equal) effect model with tau² = 0.
    level : float
        Confidence level for the confidence and prediction intervals, strictly between 0 and 1.
    labels : sequence, optional
        Study labels, used in error messages; defaults to ``"study 1"``, ``"study 2"``, ...
    test : {"z", "knha"}
        ``"z"``: Wald test with the normal distribution (metafor's default); ``"knha"``:
        Hartung–Knapp–Sidik–Jonkman adjustment with the t distribution on k - 1 df (metafor's
        ``test="knha"``, scaling factor not truncated at 1). With k = 1 knha falls back to z, and
        with ``method="FE"`` it is computed but warned about, both as in metafor.

    Returns
    -------
    MetaResult

    Raises
    ------
    ValueError
        If the inputs are empty or of different lengths, an estimate is not finite, a variance is
        not positive and finite (the message names the study), or ``method``/``level`` is invalid.

    Examples
    --------
    >>> res = meta_analysis([0.1, 0.3, 0.35, -0.2], [0.04, 0.02, 0.05, 0.03])
    >>> res.method, res.k, round(res.estimate, 4), round(res.se, 4)
    ('REML', 4, 0.1335, 0.1285)
    >>> round(res.tau2, 4), round(res.q, 4), res.q_df, round(res.i2, 2)
    (0.033, 6.0552, 3, 50.33)
    >>> fe = meta_analysis([0.1, 0.3, 0.35, -0.2], [0.04, 0.02, 0.05, 0.03], method="FE")
    >>> round(fe.estimate, 4), fe.tau2, fe.tau2_se, (fe.pi_lower, fe.pi_upper) == (fe.lower, fe.upper)
    (0.139, 0.0, None, True)
    >>> hk = meta_analysis([0.1, 0.3, 0.35, -0.2], [0.04, 0.02, 0.05, 0.03], test="knha")
    >>> hk.test, hk.df, round(hk.se, 4), round(hk.lower, 4), round(hk.upper, 4)
    ('knha', 3, 0.1257, -0.2667, 0.5336)
    """
    method = _check_method(method)
    level = _check_level(level)
    test = _check_test(test)
    y, v = _check_data(yi, vi, labels)
    if test == "knha":
        if y.size == 1:
            warnings.warn("Setting test='z' since k = 1 (as metafor does)", UserWarning, stacklevel=2)
        elif method == "FE":
            warnings.warn(
                "the Knapp-Hartung adjustment is not meant for the FE model (metafor warns alike)",
                UserWarning,
                stacklevel=2,
            )
    return _pool(y, v, method, level, test)


def _pool(y: np.ndarray, v: np.ndarray, method: str, level: float, test: str) -> MetaResult:
    """The fit on validated data (no warnings); knha with k = 1 silently becomes z, as in metafor's cumul()."""
    k = y.size
    if k == 1:
        test = "z"

    w_fe = 1.0 / v
    q = _cochran_q(y, w_fe) if k > 1 else 0.0

    tau2_se: float | None = None
    if method == "FE" or k == 1:
        tau2 = 0.0
    elif method == "DL":
        tau2, tau2_se = _tau2_dl(y, v, q)
    else:
        tau2, tau2_se = _tau2_reml(y, v)

    w = 1.0 / (v + tau2)
    sw = float(w.sum())
    estimate = float(np.dot(w, y) / sw)
    se = math.sqrt(1.0 / sw)
    df: int | None = None
    if test == "knha":
        df = k - 1
        # weighted residual variance with the random-effects weights; not truncated at 1 (metafor's default)
        se *= math.sqrt(float(np.dot(w, (y - estimate) ** 2)) / df)
        dist = stats.t(df)
    else:
        dist = stats.norm
    z = _ratio(estimate, se)
    p_value = float(2.0 * dist.sf(abs(z)))
    crit = float(dist.ppf(0.5 + level / 2.0))
    pi_half = crit * math.sqrt(tau2 + se * se)

    if k > 1:
        q_p = float(stats.chi2.sf(q, k - 1))
        if method == "FE":
            i2 = max(0.0, 100.0 * (q - (k - 1)) / q) if q > 0 else 0.0
            h2 = q / (k - 1)
        else:
            s2 = (k - 1) / _trace_p(w_fe)  # metafor's "typical" within-study variance
            i2 = 100.0 * tau2 / (s2 + tau2)
            h2 = tau2 / s2 + 1.0
    else:
        q_p, i2, h2 = 1.0, 0.0, 1.0

    return MetaResult(
        method=method,
        k=k,
        estimate=estimate,
        se=se,
        lower=estimate - crit * se,
        upper=estimate + crit * se,
        z=z,
        p_value=p_value,
        tau2=tau2,
        tau2_se=tau2_se,
        i2=i2,
        h2=h2,
        q=q,
        q_df=k - 1,
        q_p=q_p,
        pi_lower=estimate - pi_half,
        pi_upper=estimate + pi_half,
        level=level,
        weights=100.0 * w / sw,
        test=test,
        df=df,
    )


def _ratio(estimate: float, se: float) -> float:
    """estimate/se as R's double division (knha can give se = 0 when all estimates coincide)."""
    if se > 0.0:
        return estimate / se
    return math.nan if estimate == 0.0 else math.copysign(math.inf, estimate)


# --------------------------------------------------------------------------------------------------
# validation


def _check_method(method: str) -> str:
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return method.upper()


def _check_test(test: str) -> str:
    if not isinstance(test, str) or test.lower() not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}; got {test!r}")
    return test.lower()


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be a fraction strictly between 0 and 1 (e.g. 0.95); got {level!r}")
    return level


def _check_data(
    yi: Sequence[float] | np.ndarray, vi: Sequence[float] | np.ndarray, labels: Sequence[object] | None
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    if y.ndim != 1 or v.ndim != 1:
        raise ValueError("yi and vi must be one-dimensional (one value per study)")
    if y.size == 0:
        raise ValueError("no studies to pool: yi is empty")
    if v.size != y.size:
        raise ValueError(f"yi and vi differ in length ({y.size} estimates, {v.size} variances)")
    if labels is None:
        names = [f"study {i + 1}" for i in range(y.size)]
    else:
        names = [str(lab) for lab in labels]
        if len(names) != y.size:
            raise ValueError(f"labels has {len(names)} entries for {y.size} studies")
    for name, yv, vv in zip(names, y, v, strict=True):
        if not math.isfinite(yv):
            raise ValueError(f"{name}: estimate yi is not a finite number ({yv!r})")
        if not (math.isfinite(vv) and vv > 0):
            raise ValueError(
                f"{name}: sampling variance vi must be positive and finite, got {vv!r} "
                "(a zero variance would give the study infinite weight)"
            )
    return y, v


# --------------------------------------------------------------------------------------------------
# estimators (intercept-only closed forms of metafor's matrix expressions, P = W - w w'/Σw)


def _cochran_q(y: np.ndarray, w: np.ndarray) -> float:
    mu = float(np.dot(w, y) / w.sum())
    return max(0.0, float(np.dot(w, (y - mu) ** 2)))


def _trace_p(w: np.ndarray) -> float:
    """tr(P) = Σw - Σw²/Σw, summed as Σ w_i (Σw - w_i) / Σw to avoid cancellation."""
    sw = float(w.sum())
    return float(np.sum(w * (sw - w))) / sw


def _trace_pp(w: np.ndarray) -> float:
    """tr(PP) = Σ_ij P_ij², P_ii = w_i (Σw - w_i)/Σw, P_ij = -w_i w_j/Σw.

    The off-diagonal part Σ_{i≠j} w_i² w_j² is summed with an exclusive prefix sum, so no large
    terms cancel even when one study's weight dominates (the textbook form
    Σw² - 2Σw³/Σw + (Σw²)²/(Σw)² loses about log10(max w / min w)² digits).
    """
    sw = float(w.sum())
    diag = w * (sw - w) / sw
    w2 = w * w
    before = np.concatenate(([0.0], np.cumsum(w2)[:-1]))
    return float(np.sum(diag * diag)) + 2.0 * float(np.sum(w2 * before)) / (sw * sw)


def _tau2_dl(y: np.ndarray, v: np.ndarray, q: float) -> tuple[float, float]:
    """DerSimonian–Laird tau² and metafor's SE for it (``method="DL"``)."""
    k = y.size
    w = 1.0 / v
    tr_p = _trace_p(w)
    tau2 = max(0.0, (q - (k - 1)) / tr_p)
    se = math.sqrt(2.0 * (k - 1) + 4.0 * tau2 * tr_p + 2.0 * tau2 * tau2 * _trace_pp(w)) / tr_p
    return tau2, se


def _reml_score_parts(y: np.ndarray, v: np.ndarray, tau2: float) -> tuple[float, float, float]:
    """(y'PPy, tr(P), tr(PP)) at tau²; the REML score is (y'PPy - tr(P)) / 2."""
    w = 1.0 / (v + tau2)
    mu = float(np.dot(w, y) / w.sum())
    ypy = float(np.dot(w * w, (y - mu) ** 2))
    return ypy, _trace_p(w), _trace_pp(w)


def _reml_loglik(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Restricted log-likelihood of the intercept-only model at ``tau2`` (metafor's ``ll.REML``).

    ``-(k-1)/2·log(2π) - ½Σlog(vi + tau²) - ½log(Σw) - ½Σw(yi - μ̂)²`` with ``w = 1/(vi + tau²)``.
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    w = 1.0 / (v + tau2)
    sw = float(w.sum())
    mu = float(np.dot(w, y) / sw)
    rss = float(np.dot(w, (y - mu) ** 2))
    return (
        -0.5 * (y.size - 1) * math.log(2.0 * math.pi)
        - 0.5 * float(np.sum(np.log(v + tau2)))
        - 0.5 * math.log(sw)
        - 0.5 * rss
    )


def _tau2_reml(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """REML tau² by metafor's Fisher scoring, and its SE ``sqrt(2/tr(PP))``."""
    k = y.size
    # Hedges (HE) start, as metafor when control$tau2.init is not set: (RSS - tr(P0 V)) / (k - 1)
    # with the unweighted P0 = I - J/k, truncated at 0.
    rss = float(np.sum((y - y.mean()) ** 2))
    tau2 = max(0.0, (rss - float(v.sum()) * (k - 1) / k) / (k - 1))

    start = tau2
    for stepadj in _REML_STEPADJ:
        tau2 = start
        for _ in range(_REML_MAXITER):
            ypy, tr_p, tr_pp = _reml_score_parts(y, v, tau2)
            adj = stepadj * (ypy - tr_p) / tr_pp
            if tau2 == 0.0 and adj < 0.0:  # already on the boundary and pushed against it
                adj = 0.0
            while tau2 + adj < 0.0:  # step-halving keeps tau² >= 0
                adj /= 2.0
            tau2 += adj
            if abs(adj) <= _REML_THRESHOLD:
                break
        else:
            continue  # the undamped steps oscillated: damp them, as metafor's control = list(stepadj=) does
        break
    else:
        raise RuntimeError(f"REML Fisher scoring did not converge in {_REML_MAXITER} iterations (last tau² = {tau2!r})")

    # Boundary maximum: the iterates creep towards 0 by step-halving; with a non-positive score at
    # 0 the exact maximiser is tau² = 0 (see the module docstring).
    if tau2 < 100.0 * _REML_THRESHOLD:
        ypy0, tr_p0, _ = _reml_score_parts(y, v, 0.0)
        if ypy0 - tr_p0 <= 0.0:
            tau2 = 0.0

    # metafor's ll0check: prefer tau² = 0 if its restricted likelihood is clearly larger.
    if tau2 > _REML_THRESHOLD and _reml_loglik(y, v, 0.0) - _reml_loglik(y, v, tau2) > _LL0_TOL:
        warnings.warn(
            "REML Fisher scoring may have stopped at a local maximum; setting tau² = 0 as metafor does",
            RuntimeWarning,
            stacklevel=3,
        )
        tau2 = 0.0

    _, _, tr_pp = _reml_score_parts(y, v, tau2)
    return tau2, math.sqrt(2.0 / tr_pp)
