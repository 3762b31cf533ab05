"""Kaplan–Meier product-limit estimate, vectorized with numpy.

Implements the estimator as R's ``survival::survfit`` does (no ``timefix`` merging): one row per
distinct time, ``n_risk`` counts subjects with time >= t, censored subjects at an event time are
at risk at that time. The median follows R's rule: the first time with S(t) <= 0.5, except that
when S(t) equals 0.5 exactly over an interval the midpoint of that interval is returned.

Example
-------
>>> import numpy as np
>>> km = kaplan_meier(np.array([1, 2, 2, 3, 4.0]), np.array([1, 1, 0, 1, 1]))
>>> km.survival.round(4).tolist()
[0.8, 0.6, 0.3, 0.0]
>>> km.median()
3.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier table: distinct ``time``, ``n_risk``, ``n_event``, ``n_censor``, ``survival``."""

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    survival: np.ndarray

    def at(self, t: np.ndarray | float, side: str = "right") -> np.ndarray:
        """S(t); ``side="right"`` is right-continuous S(t), ``"left"`` is S(t-)."""
        t = np.atleast_1d(np.asarray(t, float))
        idx = np.searchsorted(self.time, t, side=side) - 1
        s = np.concatenate(([1.0], self.survival))
        return s[idx + 1]

    def at_risk(self, t: np.ndarray | float) -> np.ndarray:
        """Number at risk at t (subjects with time >= t)."""
        t = np.atleast_1d(np.asarray(t, float))
        total = int(self.n_risk[0]) if self.n_risk.size else 0
        removed = np.concatenate(([0], np.cumsum(self.n_event + self.n_censor)))
        return total - removed[np.searchsorted(self.time, t, side="left")]

    def median(self) -> float:
        """Median survival time by R's rule (midpoint when S = 0.5 over an interval); NaN if unreached."""
        return quantile_time(self.time, self.survival, 0.5)


def quantile_time(time: np.ndarray, surv: np.ndarray, p: float) -> float:
    """First time with S(t) <= ``p`` (0.5 for the median), with R's midpoint rule.

    ``p`` is the survival level (0.5 for the median). When S equals ``p`` (to 1e-12) from one
    event time to the next, returns the midpoint of those two times, as ``survfit`` does.

    >>> quantile_time(np.array([1.0, 2.0, 3.0]), np.array([0.8, 0.5, 0.2]), 0.5)
    2.5
    """
    time = np.asarray(time, float)
    surv = np.asarray(surv, float)
    if not surv.size:
        return math.nan
    i = int(np.argmax(surv <= p + 1e-12))  # the first that reaches p (0 when none does)
    if not surv[i] <= p + 1e-12:
        return math.nan
    if abs(surv[i] - p) > 1e-12:
        return float(time[i])
    # S sits at p from time[i]: the midpoint to the next time it falls below
    below = np.flatnonzero(surv[i + 1 :] < p - 1e-12)
    if below.size:
        return float(0.5 * (time[i] + time[i + 1 + below[0]]))
    return float(time[i]) if i == surv.size - 1 else float(0.5 * (time[i] + time[-1]))


def event_indicator(event, n: int) -> np.ndarray:
    """``event`` as booleans, checked: length ``n`` (that of the times) and coded 0 / 1."""
    ev = np.asarray(event)
    if ev.shape != (n,):
        raise ValueError("event must have the same length as time")
    evf = ev.astype(float)
    if not np.all((evf == 0) | (evf == 1)):
        raise ValueError("event must be coded 0 (censored) / 1 (event)")
    return evf.astype(bool)


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> KaplanMeier:
    """Kaplan–Meier estimate from right-censored data (``event`` 1 = event, 0 = censored)."""
    time = np.asarray(time, float)
    event = np.asarray(event).astype(np.int64)
    if time.size == 0:
        z = np.zeros(0)
        return KaplanMeier(z, z.astype(np.int64), z.astype(np.int64), z.astype(np.int64), z)
    uniq, inv = np.unique(time, return_inverse=True)
    n_event = np.bincount(inv, weights=event, minlength=uniq.size).astype(np.int64)
    n_total = np.bincount(inv, minlength=uniq.size).astype(np.int64)
    n_censor = n_total - n_event
    n_risk = time.size - np.concatenate(([0], np.cumsum(n_total)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = product_limit(n_risk, n_event)
    return KaplanMeier(uniq, n_risk, n_event, n_censor, survival)


def product_limit(n_risk: np.ndarray, n_event: np.ndarray) -> np.ndarray:
    """The Kaplan–Meier product ``S(t_i) = prod_{k <= i} (1 - d_k / n_k)`` over distinct times.

    A time with nobody at risk contributes a factor of 1. This is the one place the estimator is
    written: :func:`kaplan_meier` and the reconstruction (which compiles it into its placement
    search) both call it.

    >>> product_limit(np.array([5, 4, 2]), np.array([1, 1, 1])).tolist()
    [0.8, 0.6000000000000001, 0.30000000000000004]
    """
    return np.cumprod(np.where(n_risk > 0, 1.0 - n_event / n_risk, 1.0))
