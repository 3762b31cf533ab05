"""Isotonic regression by pool-adjacent-violators (least squares, weighted), compiled with numba.

>>> isotonic_increasing([1.0, 3.0, 2.0], [1.0, 1.0, 1.0]).tolist()
[1.0, 2.5, 2.5]
"""

from __future__ import annotations

import numpy as np

from meta_bm.reconstruction.jit import kernel


@kernel
def pav_increasing(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of float64 arrays (the compiled kernel).

    Blocks are kept on a stack; a new point pools backwards with the blocks before it while their
    means are out of order, so each point is pooled at most once.
    """
    n = y.size
    vals = np.empty(n)
    wts = np.empty(n)
    cnt = np.empty(n, np.int64)
    top = 0
    for i in range(n):
        v, ww, c = y[i], w[i], 1
        while top > 0 and vals[top - 1] > v:
            top -= 1
            tot = wts[top] + ww
            v = (vals[top] * wts[top] + v * ww) / tot
            ww = tot
            c += cnt[top]
        vals[top], wts[top], cnt[top] = v, ww, c
        top += 1
    out = np.empty(n)
    at = 0
    for b in range(top):
        for _ in range(cnt[b]):
            out[at] = vals[b]
            at += 1
    return out


def isotonic_increasing(y, w) -> np.ndarray:
    """Weighted least-squares non-decreasing fit."""
    return pav_increasing(np.ascontiguousarray(y, float), np.ascontiguousarray(w, float))


def isotonic_decreasing(y, w) -> np.ndarray:
    """Weighted least-squares non-increasing fit."""
    return -isotonic_increasing(-np.asarray(y, float), w)
