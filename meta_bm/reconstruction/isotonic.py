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
        if vals and vals[-1] > yi:  # pool backwards while the order is broken
            v, ww, c = yi, wi, 1
            while vals and vals[-1] > v:
                pv, pw = vals.pop(), wts.pop()
                tot = pw + ww
                v, ww, c = (pv * pw + v * ww) / tot, tot, c + cnt.pop()
            yi, wi = v, ww
        else:
            c = 1
        vals.append(yi)
        wts.append(wi)
        cnt.append(c)
    out: list[float] = []
    for v, c in zip(vals, cnt, strict=True):
        out += [v] * c
    return out


def isotonic_decreasing(y, w) -> np.ndarray:
    """Weighted least-squares non-increasing fit."""
    return -isotonic_increasing(-np.asarray(y, float), w)
