"""Log-rank test (unstratified and stratified), as R's ``survival::survdiff`` with ``rho = 0``.

Implements ``survdiff(Surv(time, event) ~ group)`` and ``survdiff(Surv(time, event) ~ group + strata(s))``
of R survival 3.x. For every distinct event time (within a stratum) the observed and expected deaths per
group and the hypergeometric covariance are accumulated; with strata these are summed over strata. The
statistic is ``(O − E)' V⁻ (O − E)`` computed, as R does, on the groups with a positive expected count,
dropping the first of them (a generalized inverse of the singular k × k matrix ``V``); the degrees of
freedom are the number of such groups minus one.

Conventions (same as R unless noted):

* groups are the sorted unique values of ``group`` (R's factor levels; string labels are sorted by Python's
  code-point order, which can differ from R's locale collation only in the *order* of the returned vectors);
* a group whose expected count is 0 (all of its subjects leave before the first death in their stratum)
  is left out of the test and the degrees of freedom, exactly as ``survdiff`` does;
* times are used as given: R's default ``timefix = TRUE`` merges times equal up to floating-point noise,
  this function does not (round harmonized times before calling it);
* no missing values: drop incomplete rows before calling.

Example
-------
R: ``survdiff(Surv(time, status) ~ x, data = aml)`` prints Chisq = 3.4 on 1 df, observed 7 / 11,
expected 10.69 / 7.31.

>>> t = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161, 5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
>>> e = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
>>> g = ["Maintained"] * 11 + ["Nonmaintained"] * 12
>>> res = logrank_test(t, e, g)
>>> round(res.chisq, 1), res.df, res.observed.tolist(), res.expected.round(2).tolist()
(3.4, 1, [7.0, 11.0], [10.69, 7.31])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from meta_bm.survival.km import event_indicator


@dataclass(frozen=True)
class LogRankResult:
    """Result of :func:`logrank_test`.

    ``observed``, ``expected`` (length k) and ``variance`` (k × k) are in the order of ``groups`` and, for a
    stratified test, summed over strata (what ``print.survdiff`` shows). ``p_value`` is NaN when fewer than
    two groups have a positive expected count (no test; ``chisq`` is then 0 and ``df`` 0).
    """

    chisq: float
    df: int
    p_value: float
    groups: list
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    stratified: bool


def _labels(values, n: int, what: str) -> tuple[list, np.ndarray]:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{what} must have the same length as time")
    uniq, inv = np.unique(arr, return_inverse=True)
    return [u.item() if hasattr(u, "item") else u for u in uniq], inv.reshape(-1)


def _reverse_cumsum_by_stratum(values: np.ndarray, block_stratum: np.ndarray) -> np.ndarray:
    """Sum over the blocks at or after each block within its stratum (blocks sorted by stratum, time)."""
    out = np.empty_like(values)
    bounds = np.flatnonzero(np.diff(block_stratum)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [block_stratum.size]))
    for lo, hi in zip(starts, ends, strict=True):
        out[lo:hi] = np.cumsum(values[lo:hi][::-1], axis=0)[::-1]
    return out


def logrank_test(time, event, group, strata=None) -> LogRankResult:
    """Log-rank test of equal hazards across groups, as R ``survdiff(..., rho = 0)``.

    Parameters
    ----------
    time : array_like, shape (n,)
        Follow-up times.
    event : array_like, shape (n,)
        1 (or True) for an event, 0 for a censored time.
    group : array_like, shape (n,)
        Group labels (strings or numbers); groups are the sorted unique labels.
    strata : array_like, shape (n,), optional
        Stratum labels: observed − expected and the variance matrices are computed within each stratum and
        summed (R ``+ strata(s)``).

    Returns
    -------
    LogRankResult

    Examples
    --------
    >>> r = logrank_test([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 0], ["b", "a", "b", "a", "b", "a"])
    >>> r.groups, r.observed.tolist(), round(r.chisq, 6)
    (['a', 'b'], [2.0, 3.0], 0.484876)
    """
    t = np.asarray(time, dtype=float).reshape(-1)
    n = t.size
    if n == 0:
        raise ValueError("no observations")
    if not np.all(np.isfinite(t)):
        raise ValueError("time must be finite (drop missing values first)")
    ev = event_indicator(event, n)
    labels, gidx = _labels(group, n, "group")
    k = len(labels)
    if strata is None:
        sidx = np.zeros(n, dtype=np.int64)
    else:
        _, sidx = _labels(strata, n, "strata")

    order = np.lexsort((t, sidx))
    t, ev, gidx, sidx = t[order], ev[order], gidx[order], sidx[order]
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (sidx[1:] != sidx[:-1]) | (t[1:] != t[:-1])
    block = np.cumsum(new_block) - 1
    nb = int(block[-1]) + 1
    block_stratum = sidx[new_block]

    cell = block * k + gidx
    count = np.bincount(cell, minlength=nb * k).reshape(nb, k).astype(float)
    deaths = np.bincount(cell, weights=ev.astype(float), minlength=nb * k).reshape(nb, k)
    at_risk = _reverse_cumsum_by_stratum(count, block_stratum)  # subjects with time >= t, per group

    n_t = at_risk.sum(axis=1)
    d_t = deaths.sum(axis=1)
    use = d_t > 0
    at_risk, n_t, d_t = at_risk[use], n_t[use], d_t[use]
    observed = deaths.sum(axis=0)
    expected = (at_risk * (d_t / n_t)[:, None]).sum(axis=0)
    # hypergeometric covariance: d (n - d) / (n^2 (n - 1)) * (n diag(n_k) - n_k n_l'), zero when n = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t * n_t * (n_t - 1.0)), 0.0)
    variance = np.diag((factor * n_t) @ at_risk) - (at_risk * factor[:, None]).T @ at_risk

    keep = expected > 0
    n_keep = int(keep.sum())
    if n_keep < 2:
        chisq, df, p_value = 0.0, 0, float("nan")
    else:
        diff = (observed - expected)[keep][1:]
        vv = variance[np.ix_(keep, keep)][1:, 1:]
        try:
            sol = np.linalg.solve(vv, diff)
        except np.linalg.LinAlgError:
            sol = np.linalg.pinv(vv) @ diff
        chisq = float(diff @ sol)
        df = n_keep - 1
        p_value = float(stats.chi2.sf(chisq, df))
    return LogRankResult(
        chisq=chisq,
        df=df,
        p_value=p_value,
        groups=labels,
        observed=observed,
        expected=expected,
        variance=variance,
        stratified=strata is not None,
    )
