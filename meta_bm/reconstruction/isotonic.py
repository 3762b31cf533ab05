"""Isotonic regression by pool-adjacent-violators (least squares, weighted).

>>> isotonic_increasing([1.0, 3.0, 2.0], [1.0, 1.0, 1.0]).tolist()
[1.0, 2.5, 2.5]
"""

from __future__ import annotations

import numpy as np


def isotonic_increasing(y, w) -> np.ndarray:
    """Weighted least-squares non-decreasing fit."""
    return np.asarray(isotonic_increasing_list(np.asarray(y, float).tolist(), np.asarray(w, float).tolist()), float)


def isotonic_increasing_list(y: list[float], w: list[float]) -> list[float]:
    """:func:`isotonic_increasing` on lists of floats (short inputs: no array round trip)."""
    vals: list[float] = []
    wts: list[float] = []
    cnt: list[int] = []
    for yi, wi in zip(y, w, strict=True):
        vals.append(yi)
        wts.append(wi)
        cnt.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v, ww, c = vals.pop(), wts.pop(), cnt.pop()
            tot = wts[-1] + ww
            vals[-1] = (vals[-1] * wts[-1] + v * ww) / tot
            wts[-1] = tot
            cnt[-1] += c
    out: list[float] = []
    for v, c in zip(vals, cnt, strict=True):
        out += [v] * c
    return out


def isotonic_decreasing(y, w) -> np.ndarray:
    """Weighted least-squares non-increasing fit."""
    return -isotonic_increasing(-np.asarray(y, float), w)
