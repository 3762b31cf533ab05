"""The risk intervals: the published table started at time 0, the curve's geometry over it, and the
closed-form censoring that meets each next number at risk (the first step of Guyot's method).

Between two published risk times ``tau_j`` and ``tau_{j+1}``, with censoring spread at a constant
rate ``c / L`` over the interval, the number at risk just before ``t`` is
``n(t) = S(t-) * (n_j / S(tau_j-) - (c / L) * F(t))`` with ``F(t) = int_{tau_j}^t du / S(u)``, and a
click that lowers S by ``delta`` holds ``n(t-) * delta / S(t-)`` events. Both are linear in ``c``, so
the censoring that reproduces ``n_{j+1}`` is solved in closed form (Guyot iterates for it and caps it;
here it is exact). The per-click sums are a kernel (:mod:`meta_bm.reconstruction.jit`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from meta_bm.errors import MAX_N, MIN_SURVIVAL_FOR_IMPLIED_N, InputError
from meta_bm.reconstruction.jit import kernel
from meta_bm.reconstruction.parsing import RiskTable

# Survival below this is zero: keeps 1 / S finite (and a curve drawn into the axis is at 0).
ZERO_SURVIVAL = 1e-12
# Added before rounding or taking the ceiling of a value that is whole up to float noise, so that
# 2.9999999999 rounds the way 3 does (and x.5 cumulative sums round up consistently).
WHOLE_NUDGE = 1e-9
# Clicks this close before a risk time (fraction of the time range) may be moved onto it.
SNAP_TOLERANCE = 0.01


class CurveGeometry(NamedTuple):
    """The curve over the risk intervals: what every later step reads (kernels take it whole).

    ``t``, ``s``: the click times and survival (one entry per click, click 0 the origin);
    ``level_before``: S just before each click; ``delta``: the drop at each click; ``j_of``: the
    interval of each click; ``first[j]``: its first click (``first[n_intervals]`` = number of
    clicks); ``tau``, ``nr``: risk times and numbers at risk, from time 0; ``length``: each
    interval's length (the last one to the last click); ``last_j``: the last interval's index.
    """

    t: np.ndarray
    s: np.ndarray
    level_before: np.ndarray
    delta: np.ndarray
    j_of: np.ndarray
    first: np.ndarray
    tau: np.ndarray
    length: np.ndarray
    nr: np.ndarray
    last_j: int


class IntervalFit(NamedTuple):
    """The closed-form start: per interval ``s_b`` (S just before its start), ``censored`` (whole
    censorings meeting the next number at risk; 0 for the last interval) and ``capped`` (the curve
    falls further than the table allows even without censoring); per click ``expected_events``
    (continuous, given each interval's censoring)."""

    s_b: np.ndarray
    censored: np.ndarray
    capped: np.ndarray
    expected_events: np.ndarray


def table_from_zero(
    t: np.ndarray,
    s: np.ndarray,
    risk_table: RiskTable | None,
    total_n: int | None,
    src: str | None,
    warnings: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The risk times and numbers at risk, starting at time 0 (``tau``, ``nr``).

    Without a table: ``[0]``, ``[total_n]``. A table starting after 0 gets ``total_n`` at 0, or
    without it the N implied by no censoring before its first time (refused when the curve is too
    low there for that to be plausible). Problems are located in the risk table's file and row.
    """
    if risk_table is None or len(risk_table) == 0:
        if total_n is None:
            raise InputError("total N is required when there is no risk table", src)
        return np.array([0.0]), np.array([int(total_n)])
    tau = risk_table.time.astype(float)
    nr = risk_table.n_risk.astype(np.int64)
    rsrc, row0 = risk_table.source, int(risk_table.rows[0])
    if total_n is not None:
        if total_n < nr[0]:
            raise InputError(f"total N {total_n} is smaller than the first number at risk {nr[0]}", rsrc, row0)
        if tau[0] == 0 and total_n != nr[0]:
            warnings.append(
                f"total N {total_n} differs from the number at risk at time 0 ({nr[0]}); the risk table is used"
            )
    if tau[0] > 0:
        s_before = float(s[np.searchsorted(t, tau[0], "left") - 1])
        if total_n is not None:
            n0 = int(total_n)
        else:
            if s_before < MIN_SURVIVAL_FOR_IMPLIED_N and nr[0] > 0:
                implied = f"{math.ceil(nr[0] / s_before):,}" if s_before > 0 else "infinite"
                raise InputError(
                    f"the risk table starts at {tau[0]:g} with {nr[0]} at risk, but the curve is at "
                    f"{s_before:.4g} there: an N at time 0 implied from a survival below "
                    f"{MIN_SURVIVAL_FOR_IMPLIED_N:g} is not plausible (it would be {implied}); give the total N",
                    rsrc,
                    row0,
                )
            n0 = math.ceil(nr[0] / max(s_before, ZERO_SURVIVAL) - WHOLE_NUDGE)
            if n0 > MAX_N:
                raise InputError(
                    f"the N at time 0 implied by {nr[0]} at risk at {tau[0]:g} (curve at {s_before:.4g}) is "
                    f"{n0:,}, above the limit of {MAX_N:,} patients per curve; give the total N",
                    rsrc,
                    row0,
                )
            warnings.append(
                f"risk table starts at {tau[0]:g} and no total N was given: assumed {n0} "
                "patients at time 0 (no censoring before the first risk time)"
            )
        tau = np.concatenate(([0.0], tau))
        nr = np.concatenate(([n0], nr))
    return tau, nr


def snap_to_risk_times(
    t: np.ndarray, s: np.ndarray, tau: np.ndarray, nr: np.ndarray, warnings: list[str]
) -> np.ndarray:
    """Move drops clicked just before a risk time onto it when the table says they happened there.

    Events at exactly a risk time (common with whole-month or whole-day data) are counted after
    it by the table; x-noise can put their click just before it. When the curve in an interval
    falls by more than the table allows even with no censoring, clicks within
    :data:`SNAP_TOLERANCE` of the time range before the next risk time are moved onto it.
    Returns ``t``, or a changed copy.
    """
    if tau.size < 2:
        return t
    tol = SNAP_TOLERANCE * float(t[-1])
    at = np.searchsorted(t, tau, side="left")
    s_left = [float(s[i - 1]) if i > 0 else 1.0 for i in at.tolist()]  # S(tau-)
    for j in range(tau.size - 1):
        sb, se = s_left[j], s_left[j + 1]
        if sb <= 0:
            continue
        excess = int(nr[j]) * (1 - se / sb) - int(nr[j] - nr[j + 1])
        if excess <= 0.5:
            continue
        near = (t >= tau[j + 1] - tol) & (t < tau[j + 1]) & (t >= tau[j])
        if near.any():
            warnings.append(
                f"{int(near.sum())} click(s) just before the risk time {tau[j + 1]:g} moved onto it: "
                "the table counts those events after it"
            )
            t = t.copy()
            t[near] = tau[j + 1]
    return t


def fit_intervals(t: np.ndarray, s: np.ndarray, tau: np.ndarray, nr: np.ndarray) -> tuple[CurveGeometry, IntervalFit]:
    """The curve's geometry over the risk intervals and the closed-form censoring of each.

    Per interval ``j`` (``tau[j]`` to the next risk time, the last one to the last click) the
    censorings ``c`` meeting ``nr[j + 1]`` solve ``n_j * S_e / S_b - c * (F(end) - F_b) * S_e / L =
    n_{j+1}`` (module docstring), rounded half to even into ``[0, n_j - n_{j+1}]``; ``capped``
    where even no censoring leaves too few deaths (``c < -0.5``: the table and the clicks
    disagree). S reaching 0 inside an interval (no solution) gives no censoring: everyone left
    dies there unless the table says otherwise.
    """
    level_before, delta, j_of, first, length, s_b, censored, capped, expected = _interval_fit(t, s, tau, nr)
    geometry = CurveGeometry(t, s, level_before, delta, j_of, first, tau, length, nr, tau.size - 1)
    return geometry, IntervalFit(s_b, censored, capped, expected)


@kernel
def _interval_fit(t: np.ndarray, s: np.ndarray, tau: np.ndarray, nr: np.ndarray) -> tuple:
    """:func:`fit_intervals`' numbers (a kernel: per click, sequential sums)."""
    n_k, n_int = t.size, tau.size
    last_j = n_int - 1
    level_before = np.empty(n_k)
    delta = np.empty(n_k)
    inv_s = np.empty(n_k)
    f_click = np.empty(n_k)  # F(t_k) = int_0^{t_k} du / S(u), S the step through the clicks
    for k in range(n_k):
        level_before[k] = s[k - 1] if k > 0 else 1.0
        delta[k] = max(level_before[k] - s[k], 0.0)
        inv_s[k] = 1.0 / s[k] if s[k] > 0 else 0.0
    acc = 0.0
    f_click[0] = 0.0
    for k in range(1, n_k):
        acc += (t[k] - t[k - 1]) * inv_s[k - 1]
        f_click[k] = acc
    j_of = np.searchsorted(tau, t, side="right") - 1  # (tau[0] = 0 <= t)
    first = np.searchsorted(j_of, np.arange(n_int + 1))  # (t sorted)

    def level_left(x: float) -> float:  # S(x-): the last click strictly before x
        i = np.searchsorted(t, x, side="left") - 1
        return s[i] if i >= 0 else 1.0

    def big_f(x: float) -> float:  # F(x)
        i = max(np.searchsorted(t, x, side="right") - 1, 0)
        return f_click[i] + (x - t[i]) * inv_s[i]

    end = np.empty(n_int)
    length = np.empty(n_int)
    s_b = np.empty(n_int)
    f_b = np.empty(n_int)
    for j in range(n_int):
        end[j] = tau[j + 1] if j < last_j else max(t[n_k - 1], tau[last_j])
        length[j] = end[j] - tau[j]
        s_b[j] = level_left(tau[j])
        f_b[j] = big_f(tau[j])
    c = np.zeros(n_int, np.int64)
    capped = np.zeros(n_int, np.bool_)
    rate = np.zeros(n_int)
    for j in range(last_j):
        s_e = level_left(tau[j + 1])
        denom = s_e * (big_f(end[j]) - f_b[j])
        c_star = 0.0
        if denom > 0 and s_b[j] > 0:
            c_star = (float(nr[j]) * s_e / s_b[j] - nr[j + 1]) * length[j] / denom
        if c_star == c_star:  # (NaN: none)
            c[j] = int(np.rint(min(max(c_star, 0.0), float(nr[j] - nr[j + 1]))))
        capped[j] = c_star < -0.5
        rate[j] = c[j] / length[j] if length[j] > 0 else 0.0
    expected = np.empty(n_k)
    for k in range(n_k):
        j = j_of[k]
        n_over_s = float(nr[j]) * (1.0 / s_b[j] if s_b[j] > 0 else 0.0) - rate[j] * (f_click[k] - f_b[j])
        expected[k] = (n_over_s if n_over_s > 0.0 else 0.0) * delta[k]
    return level_before, delta, j_of, first, length, s_b, c, capped, expected


@kernel
def allocate(weights: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Integer allocation of ``totals[g]`` over each group's items, proportional to ``weights``.

    Rounds the cumulative (scaled) weights within each group, so the running total never strays
    from the continuous one by more than 1/2 and each group sums to its total exactly. (The
    cumulative weight within a group is the running sum over all items less the totals of the
    groups before it.)

    >>> allocate(np.array([1.0, 1.0, 1.0, 2.0]), np.array([0, 0, 0, 1]), np.array([2.0, 3.0])).tolist()
    [1, 0, 1, 3]
    """
    n, n_groups = weights.size, totals.size
    w = np.empty(n)
    wsum = np.zeros(n_groups)
    for i in range(n):
        v = weights[i]
        w[i] = v if (np.isfinite(v) and v > 0) else 0.0
        wsum[group[i]] += w[i]
    gsum = np.zeros(n_groups)
    for i in range(n):
        g = group[i]
        w[i] *= totals[g] / wsum[g] if wsum[g] > 0 else 0.0
        gsum[g] += w[i]
    group_end = np.cumsum(gsum)
    out = np.empty(n, np.int64)
    cum, prev = 0.0, 0.0
    for i in range(n):
        g = group[i]
        cum += w[i]
        within = np.rint(cum - (group_end[g - 1] if g > 0 else 0.0) + WHOLE_NUDGE)
        if i > 0 and g != group[i - 1]:
            prev = 0.0  # each group starts from 0
        out[i] = int(max(within - prev, 0.0))
        prev = within
    return out
