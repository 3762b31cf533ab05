"""Where the censorings fall inside each risk interval, read from the step heights.

Guyot spreads an interval's censorings uniformly. Here the drops say more: a drop of ``d`` events
at risk ``n`` lowers S by ``delta = d * S(t-) / n``, so it *measures* ``n = d * S(t-) / delta``, and
with it how many of the interval's censorings came before it. These noisy counts, with a prior
that follows the shrinking risk set and the neighbouring intervals' censoring hazard
(:func:`censoring_shape`), are fitted by a non-decreasing function (isotonic regression), which
places the censorings between consecutive event clicks. The loops are kernels
(:mod:`meta_bm.reconstruction.jit`): the placement search runs them several times per curve.
"""

from __future__ import annotations

import numpy as np

from meta_bm.reconstruction.isotonic import pav_increasing
from meta_bm.reconstruction.jit import kernel
from meta_bm.reconstruction.risk_intervals import CurveGeometry

# Typical digitizing error of one drop, in survival units: the precision of the risk set a drop
# measures is ``(delta / (n * STEP_NOISE))**2``.
STEP_NOISE = 0.0025
# A drop's implied risk set is never trusted to better than half a patient.
MIN_RISK_SET_SD = 0.5


def spread(starts: np.ndarray, lengths: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``counts[j]`` times spread evenly over ``[starts[j], starts[j] + lengths[j])`` (bin midpoints).

    >>> spread(np.array([0.0]), np.array([4.0]), np.array([2])).tolist()
    [1.0, 3.0]
    """
    counts = counts.astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0)
    g = np.repeat(np.arange(counts.size), counts)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    i = np.arange(total) - first[g]
    return starts[g] + (i + 0.5) * lengths[g] / counts[g]


@kernel
def spread_into(out: np.ndarray, at: int, start: float, length: float, count: int) -> int:
    """Write ``count`` times spread evenly over ``[start, start + length)`` (bin midpoints, as
    :func:`spread`) into ``out`` from ``at``; returns the next free position."""
    for i in range(count):
        out[at + i] = start + (i + 0.5) * length / count
    return at + count


@kernel
def event_drops(g: CurveGeometry, d: np.ndarray, n_intervals: int) -> tuple:
    """The drops with events in the first ``n_intervals`` intervals, in time order: time, interval,
    events, height and the level before. The clicks on one vertical line are one drop (a top corner
    clicked low splits its height, and each piece would imply a risk set of its own; ``g.t`` is
    sorted, so the clicks of a drop are consecutive)."""
    t, delta, j_of = g.t, g.delta, g.j_of
    tk = np.empty(t.size)
    je = np.empty(t.size, np.int64)
    dd = np.empty(t.size, np.int64)
    dl = np.empty(t.size)
    lv = np.empty(t.size)
    m, i = 0, 0
    while i < t.size:
        k, d_sum, delta_sum = i, 0, 0.0
        while k < t.size and t[k] == t[i]:
            d_sum += d[k]
            delta_sum += delta[k]
            k += 1
        if d_sum > 0 and delta_sum > 0.0 and j_of[i] < n_intervals:
            tk[m], je[m], dd[m], dl[m], lv[m] = t[i], j_of[i], d_sum, delta_sum, g.level_before[i]
            m += 1
        i = k
    return tk[:m], je[:m], dd[:m], dl[:m], lv[:m]


@kernel
def place_censoring(g: CurveGeometry, d_int: np.ndarray, counts: np.ndarray, prior_weight: float) -> np.ndarray:
    """Censoring times inside each risk interval (``counts[j]`` of them in interval j; the last
    interval is :mod:`meta_bm.reconstruction.last_interval`'s), guided by the step heights.

    ``d_int``: events per click. Each event drop's implied count of censorings before it, weighted
    by its precision, is pooled with the expected spread of :func:`censoring_shape` (weight
    ``prior_weight / max(1, c / 2)**2``); the isotonic fit, rounded (half to even) into ``[0,
    counts[j]]``, says how many censorings fall between consecutive event clicks, spread evenly
    there. Returns the censoring times, interval by interval.
    """
    tau, length, nr = g.tau, g.length, g.nr
    n_risk_int = counts.size - 1
    out = np.empty(max(counts[:n_risk_int].sum(), 0))
    if out.size == 0:
        return out
    # per drop with events, the implied number censored before it and its weight, prior included
    tk, je, dd, dl, lv = event_drops(g, d_int, n_risk_int)
    m = tk.size
    shape = censoring_shape(tk, je, tau, length, nr, counts)
    y, wy = np.empty(m), np.empty(m)
    d_before, prev_j = 0, -1
    for i in range(m):
        j = je[i]
        if j != prev_j:
            d_before, prev_j = 0, j  # events at earlier drops of the same interval
        n_hat = dd[i] * lv[i] / dl[i]
        sd = max(n_hat * STEP_NOISE / dl[i], MIN_RISK_SET_SD)
        w = 1.0 / sd**2
        w0 = prior_weight / max(1.0, 0.5 * counts[j]) ** 2
        y[i] = (w * ((nr[j] - d_before) - n_hat) + w0 * (counts[j] * shape[i])) / (w + w0)
        wy[i] = w + w0
        d_before += dd[i]
    cut = np.searchsorted(je, np.arange(counts.size + 1))
    at = np.int64(0)  # (a plain int64, not the literal 0: spread_into compiles once)
    for j in range(n_risk_int):
        c = counts[j]
        if c <= 0:
            continue
        start, span = tau[j], length[j]
        lo, hi = cut[j], cut[j + 1]
        if span <= 0 or lo == hi:
            at = spread_into(out, at, start, span, c)
            continue
        fit = pav_increasing(y[lo:hi], wy[lo:hi])
        edge, before = start, 0
        for i in range(hi - lo):
            e = fit[i]
            # censorings before this click: within [0, c], rounded, never fewer than before
            now = int(np.rint(min(max(e, 0.0), float(c)))) if e == e else 0
            if now > before:
                at = spread_into(out, at, edge, tk[lo + i] - edge, now - before)
                before = now
            edge = tk[lo + i]
        if c > before:
            at = spread_into(out, at, edge, start + span - edge, c - before)
    return out[:at]


@kernel
def censoring_shape(
    tk: np.ndarray, je: np.ndarray, tau: np.ndarray, length: np.ndarray, nr: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Expected fraction of interval ``je[i]``'s censorings before ``tk[i]``.

    Censorings arrive at rate ``n(t) * h(t)``: ``n`` falls linearly from one published number at
    risk to the next, and the censoring hazard ``h`` (each interval's censorings over its
    person-time, taken at its midpoint and interpolated to the risk times) runs linearly across
    the interval. So censoring thins within an interval as the risk set shrinks, and follows the
    trend of its neighbours, where a uniform spread would ignore both. With ``x`` the position in
    the interval (0 to 1), the rate is ``(a + b x)(c + d x)`` and its integral a cubic in ``x``.
    """
    n_int = counts.size - 1
    out = np.empty(tk.size)
    if tk.size == 0:
        return out
    mid, hz = np.empty(n_int), np.empty(n_int)
    for j in range(n_int):
        mid[j] = tau[j] + length[j] / 2.0
        pt = length[j] * (float(nr[j]) + float(nr[j + 1])) / 2.0
        hz[j] = counts[j] / pt if pt > 0 else 0.0
    h_at = np.interp(tau[: n_int + 1], mid, hz)
    for i in range(tk.size):
        j = je[i]
        a, b = float(nr[j]), float(nr[j + 1]) - float(nr[j])
        c, d = h_at[j], h_at[j + 1] - h_at[j]
        k1, k2, k3 = a * c, (a * d + b * c) / 2.0, b * d / 3.0
        x = (tk[i] - tau[j]) / length[j] if length[j] > 0 else 0.0
        whole = k1 + k2 + k3
        out[i] = x * (k1 + x * (k2 + x * k3)) / whole if whole > 0 else x
    return out
