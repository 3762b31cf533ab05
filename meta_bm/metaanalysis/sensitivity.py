"""Sensitivity analyses of a pooled estimate: leave-one-out and cumulative meta-analysis (metafor 3.8).

:func:`leave_one_out` is metafor's ``leave1out(res)``: the same model (tau² method and test) refitted k
times, each time without one study, in study order. :func:`cumulative` is metafor's
``cumul(res, order=...)``: the model refitted after adding the studies one at a time, the first fit
having k = 1. Each fit is :func:`meta_bm.metaanalysis.two_stage.meta_analysis`, so it carries every
field of :class:`~meta_bm.metaanalysis.two_stage.MetaResult`.

What metafor reports for fits of a single study (the first cumulative step, or leave-one-out with k = 2)
is mirrored: tau² = 0, Q = 0 with p = 1, I² = 0, H² = 1, and under ``test="knha"`` the z test is used
for that fit (metafor switches to ``test="z"`` when k = 1, so its df is NA: here ``df`` is None and
``test`` is ``"z"`` on that row). metafor reports no tau² column for the FE model; here it is 0.

Example
-------
>>> loo = leave_one_out([0.1, 0.3, 0.35, -0.2], [0.04, 0.02, 0.05, 0.03], ["a", "b", "c", "d"], method="DL")
>>> loo.labels, [round(f.estimate, 4) for f in loo.fits]
(['a', 'b', 'c', 'd'], [0.1441, 0.0595, 0.0775, 0.2579])
>>> cum = cumulative([0.1, 0.3, 0.35, -0.2], [0.04, 0.02, 0.05, 0.03], ["a", "b", "c", "d"], order=[4, 3, 2, 1])
>>> cum.labels, [f.k for f in cum.fits]
(['d', 'c', 'b', 'a'], [1, 2, 3, 4])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from meta_bm.metaanalysis.two_stage import (
    MetaResult,
    _check_data,
    _check_level,
    _check_method,
    _check_test,
    _pool,
)

__all__ = ["Cumulative", "LeaveOneOut", "cumulative", "leave_one_out"]

_FRAME_SCHEMA = {
    "label": pl.Utf8,
    "k": pl.Int64,
    "estimate": pl.Float64,
    "se": pl.Float64,
    "lower": pl.Float64,
    "upper": pl.Float64,
    "p_value": pl.Float64,
    "tau2": pl.Float64,
    "i2": pl.Float64,
    "q": pl.Float64,
    "q_p": pl.Float64,
}


def _frame(labels: list[str], fits: list[MetaResult]) -> pl.DataFrame:
    rows = {name: [] for name in _FRAME_SCHEMA}
    for label, fit in zip(labels, fits, strict=True):
        rows["label"].append(label)
        for name in list(_FRAME_SCHEMA)[1:]:
            rows[name].append(getattr(fit, name))
    return pl.DataFrame(rows, schema=_FRAME_SCHEMA)


@dataclass(frozen=True)
class LeaveOneOut:
    """Result of :func:`leave_one_out` (metafor's ``leave1out``).

    Attributes
    ----------
    labels : list of str
        ``labels[i]`` is the study omitted from ``fits[i]``, in study order.
    fits : list of MetaResult
        The refit without that study.
    """

    labels: list[str]
    fits: list[MetaResult]

    def frame(self) -> pl.DataFrame:
        """One row per omitted study: label, k, estimate, se, lower, upper, p_value, tau2, i2, q, q_p.

        >>> leave_one_out([0.2, 0.4, 0.3], [0.01, 0.01, 0.01], ["a", "b", "c"], method="FE").frame().shape
        (3, 11)
        """
        return _frame(self.labels, self.fits)


@dataclass(frozen=True)
class Cumulative:
    """Result of :func:`cumulative` (metafor's ``cumul``).

    Attributes
    ----------
    labels : list of str
        ``labels[i]`` is the study added at step i (so ``fits[i]`` pools ``labels[: i + 1]``).
    fits : list of MetaResult
        The fit after adding that study; ``fits[0]`` has k = 1.
    """

    labels: list[str]
    fits: list[MetaResult]

    def frame(self) -> pl.DataFrame:
        """One row per step: label (study added), k, estimate, se, lower, upper, p_value, tau2, i2, q, q_p.

        >>> cumulative([0.2, 0.4], [0.01, 0.01], ["a", "b"], method="FE").frame()["k"].to_list()
        [1, 2]
        """
        return _frame(self.labels, self.fits)


def _prepare(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[object],
    method: str,
    test: str,
    level: float,
) -> tuple[np.ndarray, np.ndarray, list[str], str, str, float]:
    method = _check_method(method)
    test = _check_test(test)
    level = _check_level(level)
    if labels is None or isinstance(labels, str):
        raise ValueError("labels must be a sequence with one study label per study")
    y, v = _check_data(yi, vi, labels)
    # labels are only carried along (fits are indexed by position), so repeated labels are allowed
    names = [str(lab) for lab in labels]
    if test == "knha" and method == "FE":
        warnings.warn(
            "the Knapp-Hartung adjustment is not meant for the FE model (metafor warns alike)",
            UserWarning,
            stacklevel=3,
        )
    return y, v, names, method, test, level


def leave_one_out(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[object],
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> LeaveOneOut:
    """Refit the meta-analysis without each study in turn, as metafor's ``leave1out(rma(yi, vi, ...))``.

    Parameters
    ----------
    yi, vi : array_like
        Study estimates and their sampling variances (see :func:`~meta_bm.metaanalysis.meta_analysis`).
    labels : sequence
        One label per study (returned as given; need not be unique).
    method : {"REML", "DL", "FE"}
        tau² estimator of every refit.
    test : {"z", "knha"}
        Test of every refit; a refit on a single study (k = 2) uses z, as metafor.
    level : float
        Confidence level, strictly between 0 and 1.

    Returns
    -------
    LeaveOneOut
        ``fits[i]`` omits study ``labels[i]``, in the input order.

    Raises
    ------
    ValueError
        Fewer than two studies, or any input :func:`meta_analysis` rejects.

    Examples
    --------
    >>> loo = leave_one_out([0.2, 0.4], [0.01, 0.04], ["a", "b"])
    >>> [(f.k, f.estimate, f.tau2, f.i2) for f in loo.fits]
    [(1, 0.4, 0.0, 0.0), (1, 0.2, 0.0, 0.0)]
    """
    y, v, names, method, test, level = _prepare(yi, vi, labels, method, test, level)
    if y.size < 2:
        raise ValueError(f"leave-one-out needs at least 2 studies; got {y.size}")
    fits = []
    for i in range(y.size):
        keep = np.arange(y.size) != i
        fits.append(_pool(y[keep], v[keep], method, level, test))
    return LeaveOneOut(labels=names, fits=fits)


def cumulative(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[object],
    order: Sequence[float] | np.ndarray | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> Cumulative:
    """Cumulative meta-analysis, as metafor 3.8's ``cumul(rma(yi, vi, ...), order=order)``.

    Parameters
    ----------
    yi, vi : array_like
        Study estimates and their sampling variances.
    labels : sequence
        One label per study (returned as given; need not be unique).
    order : array_like, optional
        One sort key per study (e.g. publication year), as metafor 3.8's ``order`` argument: studies
        are added in increasing key, ties kept in input order (R's stable ``order()``). It is *not* a
        permutation of indices. None adds them in input order.
    method : {"REML", "DL", "FE"}
        tau² estimator of every fit.
    test : {"z", "knha"}
        Test of every fit; the first fit (k = 1) uses z, as metafor.
    level : float
        Confidence level, strictly between 0 and 1.

    Returns
    -------
    Cumulative
        ``fits[i]`` pools the first i + 1 studies in that order; ``labels[i]`` is the one added.

    Raises
    ------
    ValueError
        ``order`` of the wrong length or not finite, or any input
        :func:`meta_analysis` rejects.

    Examples
    --------
    >>> cum = cumulative([0.2, 0.4, 0.1], [0.01, 0.04, 0.02], ["a", "b", "c"], order=[2001, 1999, 2001], method="FE")
    >>> cum.labels, [round(f.estimate, 4) for f in cum.fits]
    (['b', 'a', 'c'], [0.4, 0.24, 0.2])
    """
    y, v, names, method, test, level = _prepare(yi, vi, labels, method, test, level)
    if order is None:
        idx = np.arange(y.size)
    else:
        keys = np.asarray(order, dtype=float)
        if keys.ndim != 1 or keys.size != y.size:
            raise ValueError(f"order must have one sort key per study ({y.size}); got shape {keys.shape}")
        bad = [names[i] for i in range(y.size) if not math.isfinite(keys[i])]
        if bad:
            raise ValueError(f"order has non-finite sort keys for: {', '.join(bad)}")
        idx = np.argsort(keys, kind="stable")
    fits = [_pool(y[idx[: i + 1]], v[idx[: i + 1]], method, level, test) for i in range(y.size)]
    return Cumulative(labels=[names[i] for i in idx], fits=fits)
