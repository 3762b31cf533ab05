"""Estimate censoring from the heights of the visible steps of a Kaplan–Meier curve.

Where no numbers at risk are published (no risk table, or after the last risk time), the only
information on censoring is in the step heights: ``d`` events among ``n`` at risk lower S by
``S(t-) * d / n``. With ``n(t-) = n0 * S(t-) / S0 * G(t)``, where ``G`` is the probability of not
yet being censored, a drop of ``d`` events measures ``delta = d * S0 / (n0 * G(t))``: single-event
drops grow as censoring thins the risk set, whatever the survival level.

Two readings of the drops, chosen by how much they can say:

* where one event is a visible drop (``S0 / n0 >= RESOLVABLE_UNIT``, up to about 170 patients at
  the start), the risk-set chain of :mod:`meta_bm.reconstruction.risk_path` (posterior mean) reads
  every drop against one non-increasing number at risk;
* a Weibull family ``G(x) = exp(-(x / beta) ** alpha)`` (``alpha`` in :data:`ALPHAS`, plus "no
  censoring") fitted by the marginal likelihood of the drops, each a Gaussian around ``d * unit``
  with a prior on the unknown event count ``d`` that favours fewer events per step (0 for a corner
  click with no drop, then geometric); the digitizing noise is profiled over a small grid. After a
  risk table this fit is used alone, with the table's censoring hazard as a weak prior; without
  one, for larger N, it is averaged with the risk-set path (their errors run in opposite
  directions on the simulated set).

A target total number of events, when known, constrains ``beta`` for each ``alpha``.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from meta_bm.reconstruction.jit import kernel

# the digitizing-noise grid and the corner-click prior are the risk-set path's: one noise model
from meta_bm.reconstruction.risk_path import P_ZERO, SIGMAS, censoring_free_fraction

ALPHAS = (1.0, 2.0, 3.0)
# beta as a multiple of the segment length: from heavy early censoring to almost none.
BETA_MULTIPLES = np.geomspace(0.15, 40.0, 48)
Q_GEOM = 0.45  # P(d + 1) / P(d) for d >= 1
PRIOR_LOG_SD = 1.5
RESOLVABLE_UNIT = 0.006  # a single-event drop at least this high is told apart from noise
UNRESOLVED_STEP_EVENTS = 2.5  # median events per early step above which steps are not single events


@dataclass(frozen=True)
class CensoringModel:
    """Censoring-free probability ``G(x) = exp(-(x / beta) ** alpha)`` on a segment (x from its start).

    ``beta = inf`` means no censoring. ``method`` says how it was chosen.
    """

    alpha: float
    beta: float
    method: str
    knots_x: tuple[float, ...] = ()
    knots_g: tuple[float, ...] = ()

    @property
    def censors(self) -> bool:
        return bool(self.knots_x) or math.isfinite(self.beta)

    def __getstate__(self) -> dict:
        # (the knots' arrays are rebuilt on use rather than shipped between processes)
        return {k: v for k, v in self.__dict__.items() if k != "_knots"}

    @cached_property
    def _knots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The knots as arrays (x, G, -G), converted once: the tuples keep the model hashable."""
        kx, kg = np.array(self.knots_x, float), np.array(self.knots_g, float)
        return kx, kg, -kg

    def survival(self, x: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(x, float), 0.0)
        if self.knots_x:
            kx, kg, _ = self._knots
            return np.interp(x, kx, kg)
        if not math.isfinite(self.beta):
            return np.ones_like(x)
        return np.exp(-((x / self.beta) ** self.alpha))

    def inverse(self, g: np.ndarray) -> np.ndarray:
        """Smallest x with G(x) = g (G non-increasing)."""
        g = np.asarray(g, float)
        if self.knots_x:
            kx, _, neg_kg = self._knots
            return np.interp(-g, neg_kg, kx)
        # (np.minimum(np.maximum(.)) is np.clip without its Python overhead)
        return self.beta * (-np.log(np.minimum(np.maximum(g, 1e-300), 1.0))) ** (1.0 / self.alpha)


def _free_form(x: np.ndarray, g: np.ndarray, method: str) -> CensoringModel:
    """A free-form model with ``G = g`` at the clicks ``x`` (and 1 at 0), interpolated linearly.

    The knots are Python floats (``tolist``): a tuple of numpy scalars pickles one object per
    knot, which made shipping a result between processes cost more than reconstructing it.
    """
    kx, kg = np.concatenate(([0.0], x)), np.concatenate(([1.0], g))
    return CensoringModel(1.0, np.inf, method, tuple(kx.tolist()), tuple(kg.tolist()))


def _make_candidates(late_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Candidate rows ``(alpha, beta / length)``; ``late_only`` drops alpha < 1."""
    alpha_col = np.append(np.repeat(np.asarray(ALPHAS), BETA_MULTIPLES.size), 1.0)
    beta_mult = np.append(np.tile(BETA_MULTIPLES, len(ALPHAS)), np.inf)
    if late_only:
        # after a risk table: censoring that starts at once (alpha < 1) is not plausible a priori
        late = alpha_col >= 1.0
        alpha_col, beta_mult = alpha_col[late], beta_mult[late]
    alpha_col.flags.writeable = beta_mult.flags.writeable = False
    return alpha_col, beta_mult


# Candidate rows ``(alpha, beta / length)``: the Weibull grid, then "no censoring" (beta = inf);
# built once, without and with a prior hazard.
_CANDIDATES = {late_only: _make_candidates(late_only) for late_only in (False, True)}


def _candidates(prior_hazard: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Candidate rows ``(alpha, beta / length)`` (read-only arrays)."""
    return _CANDIDATES[prior_hazard is not None]


@kernel(inline=True)
def _censoring_free(x: float, alpha: float, beta: float) -> float:
    """``G(x) = exp(-(x / beta) ** alpha)`` for one click and one candidate (beta = inf gives 1)."""
    r = x / beta
    if alpha == 1.0:
        return math.exp(-r)
    if alpha == 2.0:
        return math.exp(-(r * r))
    if alpha == 3.0:
        return math.exp(-(r * r * r))
    return math.exp(-(r**alpha))


@kernel
def _log_prior_penalty(alpha_col: np.ndarray, beta_col: np.ndarray, length: float, prior_hazard: float) -> np.ndarray:
    """Weak log-normal prior on the censoring hazard: the hazard seen in the risk-table intervals
    (minus the log density, up to a constant; compiled with numba). A candidate's hazard is its
    cumulative hazard over the segment divided by the segment's length; "no censoring" counts as
    a hundredth of the prior hazard."""
    out = np.empty(alpha_col.size)
    log_prior = math.log(prior_hazard)
    for c in range(alpha_col.size):
        if np.isinf(beta_col[c]):
            eff = prior_hazard * 1e-2
        else:
            eff = (length / beta_col[c]) ** alpha_col[c] / length
        z = (math.log(max(eff, 1e-300)) - log_prior) / PRIOR_LOG_SD
        out[c] = 0.5 * (z * z)
    return out


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a`` marked read-only, like the cached candidate grid: numba compiles a kernel once per
    argument type, and writability is part of the type."""
    a.flags.writeable = False
    return a


def fit_censoring(
    x: np.ndarray,
    delta: np.ndarray,
    n0: float,
    s0: float,
    length: float,
    target_events: float | None = None,
    prior_hazard: float | None = None,
) -> CensoringModel:
    """Fit the censoring model of one segment from its step heights.

    Parameters
    ----------
    x:
        Time of each click since the segment start.
    delta:
        Drop in survival at each click (``S(t-) - S(t)``, >= 0).
    n0, s0:
        Number at risk at the segment start and the survival just before it.
    length:
        Length of the segment (start to last click).
    target_events:
        Total events the segment must hold, when known.
    prior_hazard:
        Censoring hazard seen before the segment (risk-table intervals), used when the segment has
        too few drops to estimate anything.
    """
    x = np.asarray(x, float)
    delta = np.asarray(delta, float)
    if prior_hazard is not None and not math.isfinite(prior_hazard):
        prior_hazard = None  # (risk intervals so short that their person-time underflows)
    # (a length so small that the shortest candidate beta underflows to 0 is empty too)
    if BETA_MULTIPLES[0] * length <= 0 or n0 <= 0 or s0 <= 0 or x.size == 0:
        return CensoringModel(1.0, np.inf, "none: empty segment")
    scale = n0 / s0
    keep = delta > 1e-9
    n_keep = int(np.count_nonzero(keep))
    if n_keep == 0:
        if prior_hazard is not None and prior_hazard > 0 and target_events is None:
            return CensoringModel(1.0, 1.0 / prior_hazard, "hazard of the risk-table intervals")
        return CensoringModel(1.0, np.inf, "none: no steps to estimate censoring from")
    x_keep, delta_keep = (x, delta) if n_keep == x.size else (x[keep], delta[keep])

    if target_events is None:
        # When even the early steps (little censoring yet) hold several events each, the step
        # heights cannot tell "fewer at risk" from "more events per step".
        early = delta_keep[: max(1, n_keep // 2)].tolist()
        if n_keep >= 4 and statistics.median(early) * scale >= UNRESOLVED_STEP_EVENTS:
            if prior_hazard is not None and prior_hazard > 0:
                return CensoringModel(1.0, 1.0 / prior_hazard, "hazard of the risk-table intervals")
            return CensoringModel(1.0, np.inf, "none: steps hold several events each, censoring not identifiable")
    alpha_col, beta_mult = _candidates(prior_hazard)
    beta_col = beta_mult * length
    with_prior = prior_hazard is not None and prior_hazard > 0

    if target_events is None:
        if not with_prior and s0 / n0 >= RESOLVABLE_UNIT:
            # single-event drops are resolvable: the risk-set path reads them directly
            return _free_form(x, censoring_free_fraction(x, delta, round(n0), s0), "step heights (risk-set path)")
        loglik = _marginal_loglik(x_keep, alpha_col, beta_col, scale, delta_keep)
        if with_prior:
            loglik = loglik - _log_prior_penalty(alpha_col, beta_col, length, prior_hazard)
        i = int(loglik.argmax())
        best_model = CensoringModel(float(alpha_col[i]), float(beta_col[i]), "step heights (marginal likelihood)")
        if with_prior:
            # After a risk table (a few late drops, the table's hazard as prior) the risk-set path
            # adds nothing measurable on the simulated set: the Weibull fit is kept.
            return best_model
        # Single events below the noise (large N): the risk-set path follows noisy drops into too
        # much censoring, the smooth Weibull misses late censoring; their mean is better than
        # either on the simulated set (benchmarks/reconstruction_accuracy.py).
        g_mean = 0.5 * (censoring_free_fraction(x, delta, round(n0), s0) + best_model.survival(x))
        return _free_form(x, g_mean, "step heights (risk-set path and Weibull fit, averaged)")

    if target_events >= _expected_events(x, delta, float(scale), 1.0, np.inf) - 1e-9:  # (no censoring)
        return CensoringModel(1.0, np.inf, "none: total events reached without censoring")
    # Per alpha: the beta (log-interpolated between grid neighbours) that meets the target, judged
    # by the likelihood of the nearer neighbour; only those rows need the likelihood.
    found: list[tuple[float, float, int]] = []
    for a in ALPHAS:
        rows = np.flatnonzero(alpha_col == a)
        if rows.size < 2:
            continue
        k, e_lo, e_hi = _events_bracket(x, delta, float(scale), float(a), beta_col[rows], float(target_events))
        if k < 0:
            continue
        lo, hi = rows[k - 1], rows[k]
        w = (target_events - e_lo) / max(e_hi - e_lo, 1e-12)
        beta = float(np.exp((1 - w) * np.log(beta_col[lo]) + w * np.log(beta_col[hi])))
        found.append((a, beta, int(lo if w < 0.5 else hi)))
    if not found:
        # Even the heaviest censoring leaves too many events: take the heaviest.
        return CensoringModel(1.0, float(beta_col[0]), "heaviest censoring (total events below reach)")
    rows = np.array([r for _, _, r in found])
    alpha_sel, beta_sel = _read_only(alpha_col[rows]), beta_col[rows]  # (the types of the call above)
    loglik = _marginal_loglik(x_keep, alpha_sel, beta_sel, scale, delta_keep)
    if with_prior:  # (the engine passes a target only without a risk table)
        loglik = loglik - _log_prior_penalty(alpha_sel, beta_sel, length, prior_hazard)
    best: tuple[float, float, float] | None = None
    for (a, beta, _), ll in zip(found, loglik.tolist(), strict=True):
        if best is None or ll > best[2]:
            best = (a, beta, ll)
    assert best is not None
    beta = _refine_beta(x, delta, float(scale), float(best[0]), float(best[1]), float(target_events))
    return CensoringModel(best[0], beta, "step heights, constrained to the total events")


@kernel(inline=True)
def _expected_events(x: np.ndarray, delta: np.ndarray, scale: float, alpha: float, beta: float) -> float:
    """Continuous expected events of the candidate ``(alpha, beta)``: sum_k scale * G(x_k) * delta_k."""
    acc = 0.0
    for k in range(x.size):
        acc += _censoring_free(x[k], alpha, beta) * delta[k]
    return scale * acc


@kernel
def _events_bracket(
    x: np.ndarray, delta: np.ndarray, scale: float, alpha: float, beta: np.ndarray, target: float
) -> tuple[int, float, float]:
    """For the candidates ``(alpha, beta[i])``, ``beta`` increasing: ``k`` with the target between
    the expected events of ``beta[k - 1]`` and ``beta[k]`` (``k`` as ``np.searchsorted(events,
    target)``, kept within ``1 .. size - 1``) and those two expected events, or ``(-1, nan, nan)``
    when the target is outside their range. The expected events (:func:`_expected_events`) rise
    with ``beta`` (less censoring), so a bisection finds ``k`` from a few of them."""

    def events(i: int) -> float:
        return _expected_events(x, delta, scale, alpha, beta[i])

    n = beta.size
    if not (events(0) <= target <= events(n - 1)):
        return -1, math.nan, math.nan
    # the first index whose events reach the target: in (lo, hi], events(lo) < target <= events(hi)
    lo, hi = -1, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if events(mid) >= target:
            hi = mid
        else:
            lo = mid
    k = min(max(hi, 1), n - 1)
    return k, events(k - 1), events(k)


@kernel
def _refine_beta(x: np.ndarray, delta: np.ndarray, scale: float, alpha: float, beta: float, target: float) -> float:
    """Bisection on log(beta) so that the expected events ``scale * sum G(x) * delta`` equal
    ``target`` (40 halvings from a bracket of width 1 around ``beta``, widened as needed)."""

    def events(log_beta: float) -> float:
        return _expected_events(x, delta, scale, alpha, math.exp(log_beta))

    lb0 = min(max(math.log(beta), -60.0), 50.0) if beta > 0 and math.isfinite(beta) else 0.0
    lo, hi = lb0 - 0.5, lb0 + 0.5
    while events(lo) > target and lo > -60:
        lo -= 1.0
    while events(hi) < target and hi < 50:
        hi += 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if events(mid) < target:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


# log prior of the event count of one drop: P(0) = P_ZERO, then geometric from P(1)
_LOG_P_ZERO = math.log(P_ZERO)
_LOG_P_ONE = math.log(1 - P_ZERO) + math.log(1 - Q_GEOM)
_LOG_Q = math.log(Q_GEOM)
# The likelihood reuses exp(-b / (2 sigma^2)) across noise levels by raising it to the 4th power:
# each level is twice the one before.
assert all(b == 2 * a for a, b in itertools.pairwise(SIGMAS)), "SIGMAS must double from one to the next"
_HALF_PRECISION_WIDEST = 0.5 / SIGMAS[-1] ** 2
_LOG_SIGMAS = tuple(math.log(s) for s in SIGMAS)
_Q_POW = tuple(Q_GEOM**k for k in range(-3, 4))  # Q^k, k = -3 .. 3
# A term whose log lies this far below the largest adds nothing to their sum in double precision
# (the sum is at least 1; exp(-45) times the largest prior ratio Q^-2, four times over, is below
# half its last bit).
_NEGLIGIBLE = 45.0


@kernel
def _marginal_loglik(x: np.ndarray, alpha: np.ndarray, beta: np.ndarray, scale: float, delta: np.ndarray) -> np.ndarray:
    """Log marginal likelihood of the drops for each candidate ``(alpha[c], beta[c])`` (compiled with numba).

    Each drop is ``d * unit + noise`` with ``unit = 1 / (scale * G)``, ``d`` unknown (prior: P(0),
    then geometric), noise Gaussian; the noise scale is profiled over :data:`SIGMAS` (the best
    one per candidate).

    The event counts considered are 0 and the integers ``base - 1 .. base + 2`` around the ratio
    ``delta / unit`` (``base`` its floor), those below 1 left out: the others lie farther from the
    drop and carry no weight. Per drop, the terms are summed relative to the count nearest the drop
    (log-sum-exp), with ``exp(-b / (2 sigma^2))`` of the widest noise level raised to the 4th and
    16th power for the narrower ones. (The term of the count 0 does not depend on the candidate, so
    where it dominates, candidates tie exactly, as they should.)
    """
    n_s = len(SIGMAS)
    out = np.empty(alpha.size)
    log_acc = np.empty(n_s)
    prod = np.empty(n_s)  # running product of the per-drop sums, folded into log_acc before it grows large
    lp = np.empty(5)
    sq = np.empty(5)
    for c in range(alpha.size):
        log_acc[:] = 0.0
        prod[:] = 1.0
        for k in range(x.size):
            unit = 1.0 / (max(_censoring_free(x[k], alpha[c], beta[c]), 1e-12) * scale)
            dk = delta[k]
            base = math.floor(dk / unit)
            resid = dk - base * unit
            # d = 0, then d = base - 1 .. base + 2 (index 1..4): log prior, log P(d) = log P(1) +
            # (d - 1) log Q, and squared residual; the nearest count is the reference
            lp[0], sq[0] = _LOG_P_ZERO, dk * dk
            ref = 0
            for i in range(1, 5):
                r = resid - (i - 2) * unit
                lp[i] = _LOG_P_ONE + (base + i - 3) * _LOG_Q
                sq[i] = r * r
                if i >= 3 - min(base, 2) and sq[i] < sq[ref]:
                    ref = i
            # per noise level: sum_i exp(lp_i - lp_ref) * exp(-(sq_i - sq_ref) * hp), hp = 1 / (2 sigma^2)
            f0 = f1 = f2 = 1.0  # the sums for SIGMAS[0], [1], [2] (the reference term is 1)
            for i in range(3 - min(base, 2), 5):
                if i == ref:
                    continue
                b = (sq[i] - sq[ref]) * _HALF_PRECISION_WIDEST
                # prior ratio: Q^(i - ref) between two counts from 1 on
                a = (i - ref) * _LOG_Q if ref != 0 else lp[i] - lp[ref]
                if a - b > -_NEGLIGIBLE:
                    w = _Q_POW[i - ref + 3] if ref != 0 else math.exp(a)
                    e = math.exp(-b)
                    e4 = e * e
                    e4 *= e4
                    e16 = e4 * e4
                    e16 *= e16
                    f2 += w * e
                    f1 += w * e4
                    f0 += w * e16
            if ref != 0:  # the count 0, in the log domain (its prior ratio can be large)
                a = lp[0] - lp[ref]
                b = (sq[0] - sq[ref]) * _HALF_PRECISION_WIDEST
                if a - b > -_NEGLIGIBLE:
                    f2 += math.exp(a - b)
                    f1 += math.exp(a - 4.0 * b)
                    f0 += math.exp(a - 16.0 * b)
            for s in range(n_s):
                hp = _HALF_PRECISION_WIDEST * (16.0 if s == 0 else (4.0 if s == 1 else 1.0))
                log_acc[s] += lp[ref] - sq[ref] * hp
                f = f0 if s == 0 else (f1 if s == 1 else f2)
                if f > 1e100:
                    log_acc[s] += math.log(f)
                else:
                    prod[s] *= f
                    if prod[s] > 1e150:
                        log_acc[s] += math.log(prod[s])
                        prod[s] = 1.0
        best = -math.inf
        for s in range(n_s):
            best = max(best, log_acc[s] + math.log(prod[s]) - x.size * _LOG_SIGMAS[s])
        out[c] = best
    return out
