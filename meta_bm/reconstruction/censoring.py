"""Estimate censoring from the heights of the visible steps of a Kaplan–Meier curve.

Where no numbers at risk are published (no risk table, or after the last risk time), the only
information on censoring is in the step heights: ``d`` events among ``n`` at risk lower S by
``S(t-) * d / n``. With ``n(t-) = n0 * S(t-) / S0 * G(t)``, where ``G`` is the probability of not
yet being censored, a drop of ``d`` events measures ``delta = d * S0 / (n0 * G(t))``: single-event
drops grow as censoring thins the risk set, whatever the survival level.

We fit ``G`` from a Weibull family ``G(x) = exp(-(x / beta) ** alpha)`` (``alpha`` in {0.5, 1, 2, 3},
plus "no censoring") by maximizing the marginal likelihood of the observed drops, each a Gaussian
around ``d * unit`` with a prior on the unknown event count ``d`` that favours fewer events per
step (0 for a corner click with no drop, then geometric). The digitizing noise is profiled over a
small grid. A target total number of events, when known, constrains ``beta`` for each ``alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meta_bm.reconstruction.isotonic import isotonic_decreasing

ALPHAS = (1.0, 2.0, 3.0)
# beta as a multiple of the segment length: from heavy early censoring to almost none.
BETA_MULTIPLES = np.geomspace(0.15, 40.0, 48)
SIGMAS = (0.0015, 0.003, 0.006)  # digitizing noise of one drop, survival units
P_ZERO = 0.35  # prior probability that a click carries no events
Q_GEOM = 0.45  # P(d + 1) / P(d) for d >= 1
PRIOR_LOG_SD = 1.5
RESOLVABLE_UNIT = 0.006  # a single-event drop at least this high is told apart from noise
STEP_SIGMA = 0.002
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
        return bool(self.knots_x) or bool(np.isfinite(self.beta))

    def survival(self, x: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(x, float), 0.0)
        if self.knots_x:
            return np.interp(x, self.knots_x, self.knots_g)
        if not np.isfinite(self.beta):
            return np.ones_like(x)
        return np.exp(-((x / self.beta) ** self.alpha))

    def inverse(self, g: np.ndarray) -> np.ndarray:
        """Smallest x with G(x) = g (G non-increasing)."""
        g = np.asarray(g, float)
        if self.knots_x:
            return np.interp(-g, -np.asarray(self.knots_g), np.asarray(self.knots_x))
        return self.beta * (-np.log(np.clip(g, 1e-300, 1.0))) ** (1.0 / self.alpha)


def _refine_nonparametric(x: np.ndarray, delta: np.ndarray, scale: float, start: CensoringModel) -> CensoringModel:
    """Free-form non-increasing G from the drops when single events are resolvable.

    Alternates: events per drop ``d = round(delta * scale * G)`` (at least 1), implied
    ``G = d / (scale * delta)``, weighted isotonic fit (weights = precision of each implied G).
    """
    model = start
    real = delta > 0.5 / (scale * np.maximum(start.survival(x), 1e-9))
    if real.sum() < 3:
        return start
    xr, dr = x[real], delta[real]
    for _ in range(4):
        g = model.survival(xr)
        d = np.maximum(np.rint(dr * scale * g), 1.0)
        implied = np.minimum(d / (scale * dr), 1.0)
        w = (dr / (STEP_SIGMA * d)) ** 2
        fit = np.clip(isotonic_decreasing(implied, w), 1e-6, 1.0)
        kx = np.concatenate(([0.0], xr))
        kg = np.minimum.accumulate(np.concatenate(([1.0], fit)))
        model = CensoringModel(1.0, np.inf, "step heights (free-form, resolvable single events)", tuple(kx), tuple(kg))
    return model


def _expected_events(g: np.ndarray, scale: float, delta: np.ndarray) -> np.ndarray:
    """Continuous expected events for candidate G rows: sum_k scale * G(x_k) * delta_k."""
    return scale * (g @ delta)


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
    if length <= 0 or n0 <= 0 or s0 <= 0 or x.size == 0:
        return CensoringModel(1.0, np.inf, "none: empty segment")
    scale = n0 / s0
    betas = BETA_MULTIPLES * length
    alpha_col = np.repeat(np.asarray(ALPHAS), betas.size)
    beta_col = np.tile(betas, len(ALPHAS))
    # Rows: candidates (last row = no censoring); columns: clicks.
    g = np.exp(-((x[None, :] / beta_col[:, None]) ** alpha_col[:, None]))
    g = np.vstack([g, np.ones((1, x.size))])
    alpha_col = np.append(alpha_col, 1.0)
    beta_col = np.append(beta_col, np.inf)

    keep = delta > 1e-9
    if not keep.any():
        if prior_hazard is not None and prior_hazard > 0 and target_events is None:
            return CensoringModel(1.0, 1.0 / prior_hazard, "hazard of the risk-table intervals")
        return CensoringModel(1.0, np.inf, "none: no steps to estimate censoring from")

    if target_events is None:
        # When even the early steps (little censoring yet) hold several events each, the step
        # heights cannot tell "fewer at risk" from "more events per step".
        early = delta[keep][: max(1, int(keep.sum()) // 2)]
        if keep.sum() >= 4 and float(np.median(early)) * scale >= UNRESOLVED_STEP_EVENTS:
            if prior_hazard is not None and prior_hazard > 0:
                return CensoringModel(1.0, 1.0 / prior_hazard, "hazard of the risk-table intervals")
            return CensoringModel(1.0, np.inf, "none: steps hold several events each, censoring not identifiable")
    if prior_hazard is not None:
        # after a risk table: censoring that starts at once (alpha < 1) is not plausible a priori
        late = alpha_col >= 1.0
        g, alpha_col, beta_col = g[late], alpha_col[late], beta_col[late]
    loglik = _marginal_loglik(g[:, keep], scale, delta[keep])
    if prior_hazard is not None and prior_hazard > 0:
        # weak log-normal prior: the censoring hazard seen in the risk-table intervals
        eff = np.where(np.isfinite(beta_col), (length / beta_col) ** alpha_col / length, prior_hazard * 1e-2)
        loglik = loglik - 0.5 * ((np.log(np.maximum(eff, 1e-300)) - np.log(prior_hazard)) / PRIOR_LOG_SD) ** 2
    if target_events is not None:
        ev = _expected_events(g, scale, delta)
        if target_events >= ev[-1] - 1e-9:
            return CensoringModel(1.0, np.inf, "none: total events reached without censoring")
        best: tuple[float, float, float] | None = None
        for a in ALPHAS:
            rows = np.flatnonzero(alpha_col == a)
            if rows.size < 2:
                continue
            e_a = ev[rows]  # increasing in beta
            if not (e_a[0] <= target_events <= e_a[-1]):
                continue
            k = int(np.searchsorted(e_a, target_events))
            k = min(max(k, 1), rows.size - 1)
            # interpolate log(beta) between grid neighbours, likelihood at the nearer one
            lo, hi = rows[k - 1], rows[k]
            w = (target_events - ev[lo]) / max(ev[hi] - ev[lo], 1e-12)
            beta = float(np.exp((1 - w) * np.log(beta_col[lo]) + w * np.log(beta_col[hi])))
            ll = float(loglik[lo] if w < 0.5 else loglik[hi])
            if best is None or ll > best[2]:
                best = (a, beta, ll)
        if best is None:
            # Even the heaviest censoring leaves too many events: take the heaviest.
            return CensoringModel(1.0, float(betas[0]), "heaviest censoring (total events below reach)")
        beta = _refine_beta(x, delta, scale, best[0], best[1], target_events)
        return CensoringModel(best[0], beta, "step heights, constrained to the total events")
    i = int(np.argmax(loglik))
    best_model = CensoringModel(float(alpha_col[i]), float(beta_col[i]), "step heights (marginal likelihood)")
    if s0 / n0 >= RESOLVABLE_UNIT:
        return _refine_nonparametric(x, delta, scale, best_model)
    return best_model


def _refine_beta(x: np.ndarray, delta: np.ndarray, scale: float, alpha: float, beta: float, target: float) -> float:
    """Bisection on log(beta) so that the expected events equal ``target``."""
    lb0 = float(np.clip(np.log(beta), -60.0, 50.0)) if beta > 0 and np.isfinite(beta) else 0.0
    lo, hi = lb0 - 0.5, lb0 + 0.5

    def ev(lb: float) -> float:
        return float(scale * np.sum(np.exp(-((x / np.exp(lb)) ** alpha)) * delta))

    while ev(lo) > target and lo > -60:
        lo -= 1.0
    while ev(hi) < target and hi < 50:
        hi += 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if ev(mid) < target:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def _marginal_loglik(g: np.ndarray, scale: float, delta: np.ndarray) -> np.ndarray:
    """Log marginal likelihood of the drops for each candidate row of ``g``.

    Each drop is ``d * unit + noise`` with ``unit = 1 / (scale * G)``, ``d`` unknown (prior: P(0),
    then geometric), noise Gaussian; the noise scale is profiled over :data:`SIGMAS`.
    """
    unit = 1.0 / (scale * np.maximum(g, 1e-12))  # (C, K)
    ratio = delta[None, :] / unit
    base = np.floor(ratio)
    # Candidate event counts: 0 and the four integers around the ratio.
    cands = np.stack([np.zeros_like(base)] + [np.maximum(base + o, 1.0) for o in (-1, 0, 1, 2)], axis=-1)
    logprior = np.where(
        cands == 0,
        np.log(P_ZERO),
        np.log(1 - P_ZERO) + np.log(1 - Q_GEOM) + (cands - 1) * np.log(Q_GEOM),
    )
    # Duplicated candidates (from the max(.,1) clamp) must not count twice.
    dup = np.zeros_like(cands, dtype=bool)
    for j in range(2, cands.shape[-1]):
        dup[..., j] = np.any(cands[..., 1:j] == cands[..., j : j + 1], axis=-1)
    resid = delta[None, :, None] - cands * unit[..., None]
    best = None
    for sigma in SIGMAS:
        lp = logprior - 0.5 * (resid / sigma) ** 2 - np.log(sigma)
        lp = np.where(dup, -np.inf, lp)
        m = lp.max(axis=-1, keepdims=True)
        ll = (m[..., 0] + np.log(np.exp(lp - m).sum(axis=-1))).sum(axis=-1)
        best = ll if best is None else np.maximum(best, ll)
    assert best is not None
    return best
