"""The last interval: after the last published risk time (or the whole curve without a table).

No number at risk closes it, so its censoring is read from the step heights
(:func:`meta_bm.reconstruction.censoring.fit_censoring`, with the risk intervals' censoring hazard
as a weak prior), its events follow from that model, and its censoring times are put at the
model's expected quantiles. Patients still at risk at the last click are censored there (by the
engine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meta_bm.reconstruction.censoring import CensoringModel, fit_censoring
from meta_bm.reconstruction.cleaning import CleanCurve
from meta_bm.reconstruction.jit import kernel
from meta_bm.reconstruction.risk_intervals import ZERO_SURVIVAL, CurveGeometry, IntervalFit

# G is kept at least this far from 0 before it is inverted (its inverse at 0 is infinite).
G_FLOOR = 1e-300


@dataclass(frozen=True)
class LastInterval:
    """What the last interval contributes.

    ``first``: its first click; ``start``, ``length``: from the last risk time to the last click;
    ``n_at_start``: the published number at risk there; ``model``: its censoring; ``events``: its
    whole events (the model's expectation, or the published total when calibrated to it);
    ``censor_times``: where the model puts its censorings (expected quantiles).
    """

    first: int
    start: float
    length: float
    n_at_start: float
    model: CensoringModel
    events: int
    censor_times: np.ndarray


def fit_last_interval(
    curve: CleanCurve,
    g: CurveGeometry,
    fit: IntervalFit,
    target_events: float | None,
) -> LastInterval:
    """Fit the last interval's censoring and events; fills ``fit.expected_events`` for its clicks.

    ``target_events`` (the published total, used only without a risk table) constrains the fit.
    """
    t, last_j, nr = g.t, g.last_j, g.nr
    start = float(g.tau[last_j])
    t_last = float(t[-1])
    first = int(np.searchsorted(t, start, side="left"))  # clicks from here on are in the last interval
    prior_hazard = None
    if last_j > 0:
        # censoring hazard of the risk intervals that hold clicks (person-time approximated)
        pt = g.length[:last_j] * (nr[:-1].astype(float) + nr[1:]) / 2.0
        use = pt > 0
        pt_sum = float(np.add.reduce(pt[use]))
        if pt_sum > 0:
            prior_hazard = int(fit.censored[:last_j][use].sum()) / pt_sum
    n_last = float(nr[last_j])
    s_b = float(fit.s_b[last_j])
    x_last = t[first:] - start
    delta_last = g.delta[first:]
    x_fit, delta_fit = x_last, delta_last
    if curve.coarse is not None:
        # The step heights with nearby drops grouped whole read censoring more stably (about 0.007
        # of N less event error without a risk table, benchmarks/reconstruction_accuracy.py).
        x_fit, delta_fit = drops_after(*curve.coarse, start)
    length = float(max(t_last - start, 0.0))
    model = fit_censoring(x_fit, delta_fit, n_last, s_b, length, target_events=target_events, prior_hazard=prior_hazard)
    inv_sb = 1.0 / s_b if s_b > 0 else 0.0
    fit.expected_events[first:] = n_last * inv_sb * model.survival(x_last) * delta_last
    events = int(min(round(float(fit.expected_events[first:].sum())), n_last))
    if target_events is not None:
        events = round(target_events)
    censor_times = np.zeros(0)
    if length > 0 and n_last > 0:
        censor_times = _censoring_times(g, first, start, length, n_last, s_b, model, events)
    return LastInterval(first, start, length, n_last, model, events, censor_times)


def drops_after(t: np.ndarray, s: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    """The clicks ``(t, s)`` from ``start`` on: their times from ``start`` and the drop at each
    (survival below :data:`ZERO_SURVIVAL` taken as 0)."""
    first = int(np.searchsorted(t, start, side="left"))
    x = t[first:] - start
    level = np.where(s >= ZERO_SURVIVAL, s, 0.0)
    before = level[first - 1 : -1] if first > 0 else np.concatenate(([1.0], level[:-1]))
    return x, np.maximum(before - level[first:], 0.0)


def _censoring_times(
    g: CurveGeometry,
    first: int,
    start: float,
    length: float,
    n0: float,
    s0: float,
    model: CensoringModel,
    events: int,
) -> np.ndarray:
    """Times of the censorings in the last interval under ``model``.

    Expected censorings in ``[x, x + dx)`` are ``n0 * S(x) / S0 * (-dG(x))``; S is piecewise
    constant between the interval's breakpoints (its start, its clicks, its end), so per piece
    ``i`` they are ``n0 / S0 * level_i * (G_i - G_{i+1})``. Their total, rounded half to even and
    capped so no more than ``n0 - events`` patients leave, are put at the midpoints of equal shares
    of the cumulative mass, G inverted linearly in the mass within the piece (a zero level gives G
    at the piece's start), then through the model, each time kept within its piece.
    """
    if not model.censors or s0 <= 0:
        return np.zeros(0)
    t, s = g.t, g.s
    knots = np.concatenate(([start], t[first:], [start + length]))
    levels = np.concatenate(([g.level_before[first] if first < t.size else s0], s[first:]))
    gk = model.survival(knots - start)
    k, gx = _quantiles(gk, levels, n0, s0, events)
    if k.size == 0:
        return np.zeros(0)
    x = model.inverse(np.minimum(np.maximum(gx, G_FLOOR), 1.0))
    return start + np.minimum(np.maximum(x, knots[k] - start), knots[k + 1] - start)


@kernel
def _quantiles(g: np.ndarray, levels: np.ndarray, n0: float, s0: float, events: int) -> tuple[np.ndarray, np.ndarray]:
    """The piece and the value of G at each censoring's expected quantile (:func:`_censoring_times`;
    a kernel: a sequential sum and a search per censoring)."""
    n_p = levels.size
    cum = np.empty(n_p + 1)
    cum[0] = 0.0
    scale = n0 / s0
    for i in range(n_p):
        cum[i + 1] = cum[i] + scale * levels[i] * (g[i] - g[i + 1])
    total = cum[n_p]
    c = int(min(np.rint(total), max(n0 - events, 0.0)))
    if c <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    k = np.empty(c, np.int64)
    gx = np.empty(c)
    for i in range(c):
        target = (i + 0.5) / c * total
        j = min(max(np.searchsorted(cum, target, side="right") - 1, 0), n_p - 1)
        k[i] = j
        gx[i] = g[j] - (target - cum[j]) / (scale * levels[j] if levels[j] > 0 else np.inf)
    return k, gx
