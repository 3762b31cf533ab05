"""Cox proportional hazards regression with Efron ties, strata and cluster-robust variance, plus R's
``cox.zph`` score test of proportional hazards.

:func:`cox_ph` implements R survival 3.x ``coxph(Surv(time, event) ~ x + strata(s), cluster = c,
ties = "efron")`` for right-censored data:

* Efron's approximation for tied event times; separate risk sets per stratum;
* Newton–Raphson from beta = 0 with step halving whenever the log partial likelihood decreases, iterated
  until the relative change of the log likelihood is below 1e-12 *and* every step is below
  ``tol * max(1, |beta|)`` (tighter than R's default ``eps = 1e-9``, so results agree with R to its
  printed precision and with a tightly converged lifelines to ~1e-8);
* model-based variance = inverse information; Wald, likelihood-ratio and score (at beta = 0, with the
  Efron information, as R's "Score (logrank) test") global tests;
* with ``cluster``: the robust (sandwich) variance ``D'D`` where ``D`` are R's ``dfbeta`` residuals (Efron
  score residuals times the model variance) summed within cluster, i.e. ``V (Σ_c U_c U_c') V``. The score
  residuals are R's Efron-consistent ones: at a time with d tied deaths the r-th (r = 0..d−1) Efron term
  has risk-set sum ``S0 − (r/d)·D0`` and mean ``m_r``; a subject censored at or still at risk after that
  time takes the full hazard increment ``Σ_r 1/s0_r`` (and ``Σ_r m_r/s0_r``), each dying subject only
  ``Σ_r (1 − r/d)/s0_r`` (and ``Σ_r (1 − r/d) m_r/s0_r``), and its own event term is ``x_i − mean_r(m_r)``.
  (lifelines' ``cluster_col`` residuals are not these: its robust SEs differ from R's when event times
  are tied, by 0.05–0.07% on R's ``diabetic`` example, and agree when they are not.)
  As in R, the per-term z, p and the confidence interval then use the robust SE, and the global Wald test
  uses the robust variance; the likelihood-ratio and score tests stay model-based, and R's "Robust score
  test" (``fit$rscore``: the score residuals at beta = 0 summed within cluster, ``u' (Σ_c U0_c U0_c')⁻¹ u``) is
  returned as ``robust_score_chisq`` / ``robust_score_p``.

:func:`cox_zph` implements R survival 3.x ``cox.zph(fit, transform)`` (the score test of Grambsch &
Therneau 1994 as rewritten in survival 3.0; not the 2.x correlation test and not lifelines'
``proportional_hazard_test``): the covariates are augmented with ``g(t)·x`` where ``g`` is the transformed
time centred at its mean over the events, and the score test for the new coefficients is computed at
``(beta_hat, 0)`` without iteration, with the Efron score vector and information of the augmented model.
The per-term test uses the information block of all the original covariates plus that term's ``g(t)·x``;
the global test uses the full 2p × 2p information. Transform ``"km"`` (R's default) is ``1 − S(t−)``, the
left-continuous Kaplan–Meier of the pooled data (strata ignored, as R does); ``"rank"`` is the rank of the
time among all observations (average ties), ``"identity"`` the time, ``"log"`` its logarithm. A cluster
term does not change cox.zph's test in R (it uses the model information), nor here.

Monotone likelihood (e.g. a covariate level with no events): no finite MLE exists. The fit then stops at
the iteration limit or where the score underflows; any coefficient whose SE has grown more than 1000-fold
over its SE at beta = 0 is reported as diverging: ``converged`` is False, a ``RuntimeWarning`` names the
coefficient(s), and ``coef`` is the last (large, finite) iterate with a huge SE. R warns instead ("Loglik
converged before variable ...; coefficient may be infinite") and stops earlier, so the reported value of a
diverging coefficient differs from R's; the other coefficients agree closely.

Times are used as given (R's default ``timefix = TRUE`` merges times equal up to floating-point noise; round
harmonized times before calling). No missing values are accepted: drop incomplete rows first (R's
``na.omit``). No case weights, offsets, start–stop data or other tie methods.

Example
-------
R's ``coxph`` help example, ``coxph(Surv(time, status) ~ x + strata(sex), test1)``, prints
coef 0.8023, se(coef) 0.8224, z 0.976, p 0.329, likelihood ratio test 1.09 on 1 df, p = 0.2971.

>>> fit = cox_ph([4, 3, 1, 1, 2, 2, 3], [1, 1, 1, 0, 1, 1, 0], [0, 2, 1, 1, 1, 0, 0], strata=[0, 0, 0, 0, 1, 1, 1])
>>> round(float(fit.coef[0]), 4), round(float(fit.se[0]), 4), round(fit.lr_chisq, 2), round(fit.lr_p, 4)
(0.8023, 0.8224, 1.09, 0.2971)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from meta_bm.survival.km import event_indicator, kaplan_meier

_LOGLIK_RTOL = 1e-12
_MONOTONE_SE_RATIO = 1e3


@dataclass(frozen=True)
class CoxResult:
    """Result of :func:`cox_ph` (R ``summary(coxph(...))``).

    ``se`` is the model-based SE (R's ``se(coef)``), ``robust_se`` the cluster-robust one (``None`` without
    ``cluster``). ``z``, ``p``, ``hr_lower``/``hr_upper`` and the global Wald test use the robust variance
    when ``cluster`` is given, as R does. ``score_chisq`` is always R's model-based "Score (logrank) test";
    ``robust_score_chisq`` is R's "Robust" score test (``None`` without ``cluster``).
    ``converged`` is False when the iteration limit was hit or a coefficient diverges (monotone likelihood,
    e.g. a covariate level without events): ``coef`` is then the last iterate, large in magnitude with a
    huge SE (see the module notes).
    """

    names: list[str]
    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray | None
    hr: np.ndarray
    hr_lower: np.ndarray
    hr_upper: np.ndarray
    z: np.ndarray
    p: np.ndarray
    var: np.ndarray
    robust_var: np.ndarray | None
    loglik_null: float
    loglik: float
    lr_chisq: float
    lr_df: int
    lr_p: float
    wald_chisq: float
    wald_p: float
    score_chisq: float
    score_p: float
    n: int
    n_events: int
    iterations: int
    converged: bool
    level: float
    robust_score_chisq: float | None = None
    robust_score_p: float | None = None
    n_clusters: int | None = None


@dataclass(frozen=True)
class CoxZphResult:
    """Result of :func:`cox_zph` (R ``cox.zph(fit)$table``): per-term and global score tests."""

    names: list[str]
    chisq: np.ndarray
    df: np.ndarray
    p: np.ndarray
    global_chisq: float
    global_df: int
    global_p: float
    transform: str


# --------------------------------------------------------------------------------------------------------
# data preparation and the Efron building blocks
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    order: np.ndarray  # permutation sorting the rows by (stratum, time) ascending
    time: np.ndarray  # sorted
    x: np.ndarray  # sorted, column-centred, (n, p)
    event: np.ndarray  # sorted, bool
    block: np.ndarray  # block (distinct stratum/time) of each sorted row
    block_start: np.ndarray  # first sorted row of each block
    block_stratum: np.ndarray  # stratum of each block
    block_time: np.ndarray
    stratum_slices: list[tuple[int, int]]  # block index ranges of each stratum
    deaths: np.ndarray  # deaths per block (int)
    term_block: np.ndarray  # Efron terms: block of each term (one term per event)
    term_frac: np.ndarray  # r / d for the r-th term of a block with d deaths
    event_rows: np.ndarray  # sorted row indices of the events


def _prepare(time, event, x, strata) -> tuple[_Data, np.ndarray]:
    t = np.asarray(time, dtype=float).reshape(-1)
    n = t.size
    if n == 0:
        raise ValueError("no observations")
    ev = event_indicator(event, n)
    xm = np.asarray(x, dtype=float)
    if xm.ndim == 1:
        xm = xm[:, None]
    if xm.ndim != 2 or xm.shape[0] != n:
        raise ValueError("x must be (n,) or (n, p) with n = len(time)")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(xm))):
        raise ValueError("time and x must be finite (drop missing values first)")
    if strata is None:
        sidx = np.zeros(n, dtype=np.int64)
    else:
        s = np.asarray(strata)
        if s.shape != (n,):
            raise ValueError("strata must have the same length as time")
        sidx = np.unique(s, return_inverse=True)[1].reshape(-1)

    order = np.lexsort((t, sidx))
    ts, es, ss = t[order], ev[order], sidx[order]
    xs = xm[order] - xm.mean(axis=0)
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (ss[1:] != ss[:-1]) | (ts[1:] != ts[:-1])
    block = np.cumsum(new_block) - 1
    block_start = np.flatnonzero(new_block)
    block_stratum = ss[block_start]
    bounds = np.flatnonzero(np.diff(block_stratum)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [block_start.size]))
    deaths = np.add.reduceat(es.astype(np.int64), block_start)
    term_block = np.repeat(np.arange(block_start.size), deaths)
    first_term = np.repeat(np.cumsum(deaths) - deaths, deaths)
    term_r = np.arange(term_block.size) - first_term
    term_frac = term_r / np.maximum(deaths[term_block], 1)
    data = _Data(
        order=order,
        time=ts,
        x=xs,
        event=es,
        block=block,
        block_start=block_start,
        block_stratum=block_stratum,
        block_time=ts[block_start],
        stratum_slices=list(zip(starts.tolist(), ends.tolist(), strict=True)),
        deaths=deaths,
        term_block=term_block,
        term_frac=term_frac,
        event_rows=np.flatnonzero(es),
    )
    return data, xm


def _suffix_sum(values: np.ndarray, data: _Data) -> np.ndarray:
    """Per block: sum over the blocks of the same stratum at or after it (the risk set)."""
    out = np.empty_like(values)
    for lo, hi in data.stratum_slices:
        out[lo:hi] = np.cumsum(values[lo:hi][::-1], axis=0)[::-1]
    return out


def _prefix_sum_before(values: np.ndarray, data: _Data) -> np.ndarray:
    """Per block: sum over the blocks of the same stratum strictly before it."""
    out = np.zeros_like(values)
    for lo, hi in data.stratum_slices:
        if hi - lo > 1:
            out[lo + 1 : hi] = np.cumsum(values[lo : hi - 1], axis=0)
    return out


@dataclass(frozen=True)
class _Efron:
    loglik: float
    score: np.ndarray
    info: np.ndarray
    w: np.ndarray  # exp(eta - c) per sorted row
    s0: np.ndarray  # per Efron term
    mean: np.ndarray  # per Efron term, (E, p)
    var_terms: np.ndarray | None  # per Efron term, (E, p, p): s2/s0 - m m'


def _efron(data: _Data, beta: np.ndarray, keep_terms: bool = False) -> _Efron:
    x = data.x
    eta = x @ beta
    c = float(eta.max())
    w = np.exp(eta - c)
    wx = w[:, None] * x
    wxx = wx[:, :, None] * x[:, None, :]
    starts = data.block_start
    r0 = _suffix_sum(np.add.reduceat(w, starts), data)
    r1 = _suffix_sum(np.add.reduceat(wx, starts, axis=0), data)
    r2 = _suffix_sum(np.add.reduceat(wxx, starts, axis=0), data)
    e = data.event
    d0 = np.add.reduceat(np.where(e, w, 0.0), starts)
    d1 = np.add.reduceat(np.where(e[:, None], wx, 0.0), starts, axis=0)
    d2 = np.add.reduceat(np.where(e[:, None, None], wxx, 0.0), starts, axis=0)
    tb, f = data.term_block, data.term_frac
    s0 = r0[tb] - f * d0[tb]
    s1 = r1[tb] - f[:, None] * d1[tb]
    s2 = r2[tb] - f[:, None, None] * d2[tb]
    with np.errstate(divide="ignore", invalid="ignore"):
        m = s1 / s0[:, None]
        v = s2 / s0[:, None, None] - m[:, :, None] * m[:, None, :]
        loglik = float(np.sum(eta[e] - c) - np.sum(np.log(s0)))
    score = x[e].sum(axis=0) - m.sum(axis=0)
    info = v.sum(axis=0)
    return _Efron(loglik, score, info, w, s0, m, v if keep_terms else None)


def _score_residuals(data: _Data, ef: _Efron) -> np.ndarray:
    """R's Efron score residuals (rows in the sorted order of ``data``), as ``residuals(fit, "score")``."""
    nb = data.block_start.size
    p = data.x.shape[1]
    tb, f = data.term_block, data.term_frac
    inv = 1.0 / ef.s0
    h_full = np.bincount(tb, weights=inv, minlength=nb)
    h_death = np.bincount(tb, weights=(1.0 - f) * inv, minlength=nb)
    hm_full = np.zeros((nb, p))
    hm_death = np.zeros((nb, p))
    m_sum = np.zeros((nb, p))
    np.add.at(hm_full, tb, ef.mean * inv[:, None])
    np.add.at(hm_death, tb, ef.mean * ((1.0 - f) * inv)[:, None])
    np.add.at(m_sum, tb, ef.mean)
    xbar_event = m_sum / np.maximum(data.deaths, 1)[:, None]
    h_before = _prefix_sum_before(h_full, data)
    hm_before = _prefix_sum_before(hm_full, data)
    b, e, x = data.block, data.event, data.x
    h_i = h_before[b] + np.where(e, h_death[b], h_full[b])
    hm_i = hm_before[b] + np.where(e[:, None], hm_death[b], hm_full[b])
    resid = -ef.w[:, None] * (x * h_i[:, None] - hm_i)
    resid[e] += x[e] - xbar_event[b[e]]
    return resid


def _solve_sym(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]


def _inverse(a: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a)


def _collapse(resid: np.ndarray, cluster_idx: np.ndarray, n_clusters: int) -> np.ndarray:
    out = np.zeros((n_clusters, resid.shape[1]))
    np.add.at(out, cluster_idx, resid)
    return out


# --------------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------------


def covariate_names(names, x, p: int) -> list[str]:
    """The names of the ``p`` columns of ``x``: as given, else ``x`` (one column) or ``x1, x2, ...``."""
    if names is None:
        names = ["x"] if np.ndim(x) == 1 else [f"x{j + 1}" for j in range(p)]
    names = [str(v) for v in names]
    if len(names) != p:
        raise ValueError("names must have one entry per column of x")
    return names


def cox_ph(
    time,
    event,
    x,
    names=None,
    strata=None,
    cluster=None,
    level: float = 0.95,
    tol: float = 1e-10,
    max_iter: int = 50,
) -> CoxResult:
    """Fit a Cox model by maximum partial likelihood with Efron ties, as R ``coxph(ties = "efron")``.

    Parameters
    ----------
    time, event : array_like, shape (n,)
        Follow-up time and event indicator (1 event, 0 censored).
    x : array_like, shape (n,) or (n, p)
        Covariate matrix (numeric; the caller does any dummy coding).
    names : list of str, optional
        Covariate names; default ``["x"]`` for 1-d ``x``, else ``["x1", ..., "xp"]``.
    strata : array_like, shape (n,), optional
        Stratum labels: separate baseline hazards / risk sets (R ``+ strata(s)``).
    cluster : array_like, shape (n,), optional
        Cluster labels for the robust sandwich variance (R ``cluster = c``).
    level : float
        Confidence level of the hazard-ratio intervals.
    tol : float
        Convergence tolerance for the Newton step (relative to ``max(1, |beta|)``).
    max_iter : int
        Maximum number of Newton–Raphson iterations.

    Returns
    -------
    CoxResult

    Examples
    --------
    Therneau & Grambsch's test data 1 (survival's ``tests/book2.R``): the Efron MLE is
    ``log(2 sqrt(23/3) cos(acos((45/23) sqrt(3/23)) / 3)) = 1.676857``.

    >>> fit = cox_ph([9, 1, 1, 6, 6, 8], [1, 1, 0, 1, 1, 0], [0, 1, 1, 1, 0, 0])
    >>> round(float(fit.coef[0]), 6), fit.converged
    (1.676857, True)
    """
    data, xm = _prepare(time, event, x, strata)
    n, p = xm.shape
    names = covariate_names(names, x, p)
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    n_events = int(data.event.sum())
    if n_events == 0:
        raise ValueError("no events: the Cox model cannot be estimated")

    beta = np.zeros(p)
    ef = _efron(data, beta)
    ef0 = ef
    if np.linalg.matrix_rank(ef0.info) < p:
        raise ValueError("singular information at beta = 0: a covariate is constant (within strata) or collinear")

    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (iterations is reported)
        step = _solve_sym(ef.info, ef.score)
        new_beta = beta + step
        new_ef = _efron(data, new_beta)
        halvings = 0
        noise = 1e-13 * max(1.0, abs(ef.loglik))
        while (not np.isfinite(new_ef.loglik) or new_ef.loglik < ef.loglik - noise) and halvings < 40:
            step = step / 2.0
            new_beta = beta + step
            new_ef = _efron(data, new_beta)
            halvings += 1
        change = new_ef.loglik - ef.loglik
        beta, ef = new_beta, new_ef
        small_step = bool(np.all(np.abs(step) <= tol * np.maximum(1.0, np.abs(beta))))
        if abs(change) <= _LOGLIK_RTOL * max(1.0, abs(ef.loglik)) and small_step:
            converged = True
            break
    var = _inverse(ef.info)
    with np.errstate(invalid="ignore"):  # (a vanished information can leave a rounding-negative variance: NaN)
        se = np.sqrt(np.diag(var))
    # Monotone likelihood: the information for a coefficient vanishes as it runs off to +-infinity, and the
    # iteration can even stop because the score underflows. Flag coefficients whose SE grew more than
    # _MONOTONE_SE_RATIO-fold over the SE at beta = 0 (impossible for a finite MLE short of HR ~ e^14).
    se_null = np.sqrt(np.abs(np.diag(_inverse(ef0.info))))
    with np.errstate(invalid="ignore"):
        diverging = ~np.isfinite(se) | (se > _MONOTONE_SE_RATIO * se_null)
    if diverging.any() or not converged:
        converged = False
        which = ", ".join(n for n, dv in zip(names, diverging, strict=True) if dv) or "?"
        warnings.warn(
            f"Cox fit did not converge (iterations: {iterations}); coefficient(s) {which} may be infinite "
            "(monotone likelihood, e.g. a covariate level without events)",
            RuntimeWarning,
            stacklevel=2,
        )
    robust_var = robust_se = None
    robust_score_chisq = robust_score_p = None
    n_clusters = None
    if cluster is not None:
        c = np.asarray(cluster)
        if c.shape != (n,):
            raise ValueError("cluster must have the same length as time")
        cidx = np.unique(c, return_inverse=True)[1].reshape(-1)[data.order]
        n_clusters = int(cidx.max()) + 1
        dfbeta = _collapse(_score_residuals(data, ef), cidx, n_clusters) @ var
        robust_var = dfbeta.T @ dfbeta
        robust_se = np.sqrt(np.diag(robust_var))
        u0 = _collapse(_score_residuals(data, _efron(data, np.zeros(p))), cidx, n_clusters)
        u = u0.sum(axis=0)
        robust_score_chisq = float(u @ _solve_sym(u0.T @ u0, u))
        robust_score_p = float(stats.chi2.sf(robust_score_chisq, p))

    v_used = var if robust_var is None else robust_var
    se_used = se if robust_se is None else robust_se
    zq = float(stats.norm.ppf(0.5 + level / 2.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = beta / se_used
        hr = np.exp(beta)
        hr_lower = np.exp(beta - zq * se_used)
        hr_upper = np.exp(beta + zq * se_used)
    pvals = 2.0 * stats.norm.sf(np.abs(z))
    lr = 2.0 * (ef.loglik - ef0.loglik)
    wald = float(beta @ _solve_sym(v_used, beta))
    score = float(ef0.score @ _solve_sym(ef0.info, ef0.score))
    return CoxResult(
        names=names,
        coef=beta,
        se=se,
        robust_se=robust_se,
        hr=hr,
        hr_lower=hr_lower,
        hr_upper=hr_upper,
        z=z,
        p=pvals,
        var=var,
        robust_var=robust_var,
        loglik_null=ef0.loglik,
        loglik=ef.loglik,
        lr_chisq=lr,
        lr_df=p,
        lr_p=float(stats.chi2.sf(lr, p)),
        wald_chisq=wald,
        wald_p=float(stats.chi2.sf(wald, p)),
        score_chisq=score,
        score_p=float(stats.chi2.sf(score, p)),
        n=n,
        n_events=n_events,
        iterations=iterations,
        converged=converged,
        level=level,
        robust_score_chisq=robust_score_chisq,
        robust_score_p=robust_score_p,
        n_clusters=n_clusters,
    )


def _transform_time(time: np.ndarray, event: np.ndarray, transform: str) -> np.ndarray:
    if transform == "km":
        km = kaplan_meier(time, event.astype(int))
        return 1.0 - km.at(time, side="left")
    if transform == "rank":
        return stats.rankdata(time, method="average")
    if transform == "identity":
        return time.astype(float)
    if transform == "log":
        if np.any(time <= 0):
            raise ValueError("the log transform needs positive times")
        return np.log(time)
    raise ValueError('transform must be one of "km", "rank", "identity", "log"')


def cox_zph(time, event, x, fit: CoxResult, strata=None, transform: str = "km") -> CoxZphResult:
    """Score test of proportional hazards per covariate and globally, as R survival 3.x ``cox.zph``.

    Parameters
    ----------
    time, event, x, strata : array_like
        The data the model ``fit`` was fitted on (same rows, same strata).
    fit : CoxResult
        The fitted model (its ``coef`` is used; the test is computed at beta-hat without refitting).
    transform : {"km", "rank", "identity", "log"}
        Time transform g(t); ``"km"`` (default, as R) is 1 − the left-continuous pooled Kaplan–Meier.

    Returns
    -------
    CoxZphResult
        ``chisq``/``df``/``p`` per covariate (one row per column of ``x``, i.e. R's ``terms = FALSE`` or
        single-column terms) and the GLOBAL test on p degrees of freedom.

    Examples
    --------
    Therneau & Grambsch's test data 1 with Efron ties and ``transform = "log"`` (checked against the closed
    form in survival's ``tests/zph.R``):

    >>> t, e, xx = [9, 1, 1, 6, 6, 8], [1, 1, 0, 1, 1, 0], [0, 1, 1, 1, 0, 0]
    >>> zph = cox_zph(t, e, xx, cox_ph(t, e, xx), transform="log")
    >>> round(float(zph.chisq[0]), 6), int(zph.df[0]), zph.global_df
    (0.238656, 1, 1)
    """
    data, xm = _prepare(time, event, x, strata)
    p = xm.shape[1]
    beta = np.asarray(fit.coef, dtype=float)
    if beta.shape != (p,):
        raise ValueError("fit does not match x (number of coefficients)")
    ef = _efron(data, beta, keep_terms=True)
    nb = data.block_start.size
    tb = data.term_block
    # Efron score contribution and information per block (distinct stratum/time)
    u_block = np.zeros((nb, p))
    np.add.at(u_block, data.block[data.event], data.x[data.event])
    np.add.at(u_block, tb, -ef.mean)
    i_block = np.zeros((nb, p, p))
    np.add.at(i_block, tb, ef.var_terms)

    g_all = _transform_time(data.time, data.event, transform)
    g = g_all[data.block_start]
    g = g - g_all[data.event].mean()
    has_death = data.deaths > 0
    g, u_block, i_block = g[has_death], u_block[has_death], i_block[has_death]

    u_gamma = (g[:, None] * u_block).sum(axis=0)
    h1 = i_block.sum(axis=0)
    h2 = (g[:, None, None] * i_block).sum(axis=0)
    h3 = (g[:, None, None] ** 2 * i_block).sum(axis=0)
    imat = np.block([[h1, h2], [h2.T, h3]])

    chisq = np.empty(p)
    for j in range(p):
        kk = np.r_[np.arange(p), p + j]
        u = np.zeros(p + 1)
        u[-1] = u_gamma[j]
        chisq[j] = float(u @ _solve_sym(imat[np.ix_(kk, kk)], u))
    u = np.concatenate((np.zeros(p), u_gamma))
    global_chisq = float(u @ _solve_sym(imat, u))
    df = np.ones(p, dtype=np.int64)
    return CoxZphResult(
        names=list(fit.names),
        chisq=chisq,
        df=df,
        p=stats.chi2.sf(chisq, df),
        global_chisq=global_chisq,
        global_df=p,
        global_p=float(stats.chi2.sf(global_chisq, p)),
        transform=transform,
    )
