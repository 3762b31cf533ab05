"""The number at risk along a Kaplan–Meier curve, read from its step heights as a hidden Markov chain.

Where no numbers at risk are published, the step heights are the only trace of censoring: a drop
of ``d`` events among ``n`` at risk lowers the curve from its level ``L`` by ``L * d / n``. This
module reads the whole sequence of drops at once:

* the hidden state is the number at risk ``n`` just before each drop (the clicks on one vertical
  line are one drop: a top corner clicked low or a duplicate click splits its height);
* a drop with ``d`` events is clicked as ``L * d / n`` plus Gaussian noise (sd ``sigma``); ``d`` has
  prior ``P(0) = P_ZERO`` (a corner click without an event), then geometric with ratio ``q``;
* between drops ``c`` patients are censored, geometric with mean ``mu = m * (Lambda(x_k) -
  Lambda(x_{k-1}))``: ``m`` the risk set there without censoring, ``Lambda(x) = load * (x / T) **
  shape`` a cumulative censoring hazard over the segment ``[0, T]``. Two clicks at one time have no
  censoring between them.

The path keeps ``n`` non-increasing, which ties the drops to one risk set: a run of single-event
drops cannot be read as double events at twice the risk set, and big drops (tied event times,
merged steps) cannot be read as heavy censoring when smaller drops after them show the risk set
is still large. The parameters ``(sigma, q, load, shape)`` are chosen by their marginal likelihood
(the forward algorithm, summed over all paths), and the posterior mean of ``n`` (forward-backward)
gives ``G = n / m``, the fraction not yet censored, at each drop.

Example
-------
>>> import numpy as np
>>> # 20 patients, no censoring: five single-event drops of S/n each
>>> level = np.cumprod([1.0, 19 / 20, 18 / 19, 17 / 18, 16 / 17])
>>> delta = level / np.arange(20, 15, -1)
>>> g = censoring_free_fraction(np.arange(1.0, 6.0), delta, 20, 1.0)
>>> g.round(3).tolist()  # nobody censored
[1.0, 1.0, 1.0, 1.0, 0.999]
"""

from __future__ import annotations

import math

import numpy as np

from meta_bm.reconstruction.jit import kernel

P_ZERO = 0.35  # prior probability that a drop holds no event (a corner click)
Q_RATIOS = (0.45, 0.9)  # P(d + 1) / P(d): mostly single events, or tied / merged steps
SIGMAS = (0.0015, 0.003, 0.006)  # digitizing noise of one drop, survival units
# Cumulative censoring hazard at the end of the segment, and its shape over time: steady (1) or
# late (3, as when follow-up ends by accrual).
LOADS = (0.03, 0.1, 0.3, 1.0)
SHAPES = (1.0, 3.0)
# Above this many patients the number at risk is tracked in steps of n0 / MAX_STATES, which bounds
# the time (about n0 x drops x 20 ns per parameter set) at some cost in accuracy.
MAX_STATES = 600
_PRUNE = 1e-8  # states below this fraction of the most probable one are dropped
# The second q is tried across the censoring grid only when, at the best censoring of the first,
# its evidence is within this many nats of the best (it never was more and then won, on the
# simulated set).
Q_PROBE_MARGIN = 20.0


@kernel(inline=True)
def _censor(b: np.ndarray, a: np.ndarray, lo: int, hi: int, rho: float) -> int:
    """``a[m] = sum_{n >= m} b[n] (1 - rho) rho^(n - m)`` (``b`` is 0 outside ``[lo, hi]``), down to
    the lowest ``m`` whose value is above ``_PRUNE`` times the largest; returns that ``m``. (Below
    ``lo`` the values fall geometrically, so the sweep stops at the first one under the bar.)"""
    run = 0.0
    top = 0.0
    for m in range(hi, lo - 1, -1):
        run = b[m] + rho * run
        a[m] = (1.0 - rho) * run
        top = max(top, a[m])
    bar = top * _PRUNE
    m = lo - 1
    while m >= 0:
        run *= rho
        if (1.0 - rho) * run <= bar:
            break
        a[m] = (1.0 - rho) * run
        m -= 1
    m += 1
    # (the tail stopped at once: the band may start higher; never past ``hi``, where an all-zero or
    # infinite band, which degenerate input can give, would otherwise read beyond the array)
    while m < hi and a[m] <= bar:
        m += 1
    return m


@kernel(inline=True)
def _landing(i: int, d: int, unit: float) -> tuple[int, float]:
    """State index (and the fraction that goes one index up) after ``d`` events from state ``i``."""
    t = i - d / unit
    j = int(t)
    return j, t - j


@kernel(inline=True)
def _event_weights(
    dk: float, ratio: float, lv: float, n: float, lp1: float, lq: float, hp: float, floor: float, relative: bool
) -> tuple[int, float, float]:
    """The two event counts considered for a drop ``dk`` at ``n`` at risk, ``d0`` and ``d0 + 1``
    around ``dk * n / lv`` (``ratio = dk / lv``), and their weights ``P(d) exp(-r^2 / 2 sigma^2)``
    (``lp1 = log P(1)``, ``lq = log q``, ``hp = 1 / 2 sigma^2``). A weight whose log is below
    ``floor`` (or, ``relative``, more than 37 below that of the other count: 1e-16 of it) is left
    at 0 without calling exp."""
    step = lv / n  # the drop of one event
    d0 = max(int(ratio * n), 1)
    r1 = dk - step * d0
    e1 = lp1 + (d0 - 1) * lq - r1 * r1 * hp if d0 <= n else -math.inf
    e2 = -math.inf
    if d0 + 1 <= n:
        r2 = r1 - step
        e2 = lp1 + d0 * lq - r2 * r2 * hp
    if relative:
        floor = max(floor, max(e1, e2) - 37.0)
    return d0, (math.exp(e1) if e1 > floor else 0.0), (math.exp(e2) if e2 > floor else 0.0)


@kernel
def _weight_cache(delta: np.ndarray, n_states: int, sigma: float) -> tuple:
    """An empty cache of the event weights of every drop and state, for one ``(sigma, q)``.

    ``(lo, hi, d0, w1, w2, zero, log_zero)``: per drop the range of states filled so far (empty:
    ``lo > hi``), then per drop and state :func:`_event_weights`' count ``d0`` and weights, and per
    drop the weight of no event and its log. The parameter sets of a grid that share ``(sigma,
    q)`` differ in their censoring only, so they share the weights (the ``exp`` calls are half the
    forward pass), and the winner's carry into the final pass.
    """
    k_n = delta.size
    log_zero = math.log(P_ZERO) - delta * delta * (0.5 / (sigma * sigma))
    return (
        np.ones(k_n, np.int64),
        np.zeros(k_n, np.int64),
        np.empty((k_n, n_states), np.int64),
        np.empty((k_n, n_states)),
        np.empty((k_n, n_states)),
        np.exp(log_zero),
        log_zero,
    )


@kernel(inline=True)
def _fill_weights(chain: tuple, cache: tuple, k: int, lo: int, hi: int, lp1: float, lq: float, hp: float) -> None:
    """Make the cache hold drop ``k``'s event weights for the states ``lo .. hi`` (``lp1``, ``lq``,
    ``hp`` as in :func:`_event_weights`)."""
    c_lo, c_hi, d0s, w1s, w2s, _, log_zero = cache
    was_lo, was_hi = c_lo[k], c_hi[k]
    if was_lo <= lo and hi <= was_hi:
        return
    delta, level, _, unit, _, _, _ = chain
    dk, lv = delta[k], level[k]
    ratio = dk / lv if lv > 0.0 else 0.0
    if was_lo > was_hi:  # (nothing yet)
        was_lo, was_hi = lo, lo - 1
    for i in range(min(lo, was_lo), max(hi, was_hi) + 1):
        if was_lo <= i <= was_hi:
            continue
        if i == 0 or lv <= 0.0:  # (no event possible)
            d0s[k, i], w1s[k, i], w2s[k, i] = 0, 0.0, 0.0
            continue
        # (terms 1e-16 below another of the state's are skipped: they cannot change the evidence)
        d0, w1, w2 = _event_weights(dk, ratio, lv, i * unit, lp1, lq, hp, log_zero[k] - 37.0, True)
        d0s[k, i], w1s[k, i], w2s[k, i] = d0, w1, w2
    c_lo[k], c_hi[k] = min(lo, was_lo), max(hi, was_hi)


@kernel
def _forward(chain: tuple, fa: np.ndarray, band: np.ndarray, cache: tuple, give_up: float = -math.inf) -> float:
    """Forward algorithm: the log marginal likelihood of the drops (up to a constant that does not
    depend on the parameters).

    ``chain = (delta, level, n_states, unit, sigma, rho, q)``: the drops, the survival just before
    each, the number of states, patients per state, the noise, the geometric ratio of the
    censorings before each drop, the ratio of tied events. State ``i`` is ``i * unit`` at risk
    (``unit`` > 1 coarsens a large risk set; events then land between two states, split linearly).
    Fills ``fa[k]`` with the scaled probabilities of the states before drop ``k`` and ``band[k]``
    with the range of states that carry them; with an empty ``fa`` only the evidence is computed.
    ``cache`` is :func:`_weight_cache` for this chain's ``(sigma, q)``.

    Each drop's factor ``s`` is at most 1 (the weights of the event counts are probabilities times
    Gaussian kernels of at most 1), so the evidence only falls drop by drop: once it is below
    ``give_up`` the result is ``-inf`` without the remaining drops (branch and bound over a grid).
    """
    delta, _, n_states, unit, sigma, rho, q = chain
    _, _, d0s, w1s, w2s, zeros, _ = cache
    hp = 0.5 / (sigma * sigma)
    lp1 = math.log((1.0 - P_ZERO) * (1.0 - q))
    lq = math.log(q)
    k_n = delta.size
    top_i = n_states - 1
    whole = unit == 1.0  # (events land on a state)
    store = fa.shape[0] > 0  # (an empty fa: the evidence only)
    scratch = np.empty(n_states)
    b = np.zeros(n_states)
    b[top_i] = 1.0
    lo, hi = top_i, top_i
    total = 0.0
    bar = give_up + k_n * math.log(sigma)
    for k in range(k_n):
        a = fa[k] if store else scratch
        b_lo = lo  # (b is 0 outside [lo, hi])
        if rho[k] > 0.0:
            lo = _censor(b, a, lo, hi, rho[k] if whole else rho[k] ** unit)
        else:
            a[lo : hi + 1] = b[lo : hi + 1]
        if store:
            band[k, 0], band[k, 1] = lo, hi
        b[b_lo : hi + 1] = 0.0
        _fill_weights(chain, cache, k, lo, hi, lp1, lq, hp)
        zero = zeros[k]
        new_lo = lo
        for i in range(lo, hi + 1):
            ai = a[i]
            if ai <= 0.0:
                continue
            b[i] += ai * zero
            d0, w1, w2 = d0s[k, i], w1s[k, i], w2s[k, i]
            for d, w in ((d0, w1), (d0 + 1, w2)):
                if w <= 0.0:
                    continue
                if whole:
                    b[i - d] += ai * w
                    new_lo = min(new_lo, i - d)
                    continue
                v = ai * w
                j, f = _landing(i, d, unit)
                b[j] += v * (1.0 - f)
                if f > 0.0:
                    b[j + 1] += v * f
                new_lo = min(new_lo, j)
        s = 0.0
        top = 0.0
        for i in range(new_lo, hi + 1):
            s += b[i]
            top = max(top, b[i])
        if s <= 0.0:
            return -math.inf
        # states far above the likely ones are dropped as those below are (n only falls, so
        # mass never moves back up to them)
        # (never below new_lo: an infinite top, which degenerate input can give, bars every state)
        while hi > new_lo and b[hi] <= top * _PRUNE:
            b[hi] = 0.0
            hi -= 1
        inv_s = 1.0 / s
        for i in range(new_lo, hi + 1):
            b[i] *= inv_s
        total += math.log(s)
        if total < bar:
            return -math.inf
        lo = new_lo
    return total - k_n * math.log(sigma)


@kernel
def _posterior_mean_n(chain: tuple, fa: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Posterior mean of the number at risk before each drop (the backward pass over the forward
    probabilities ``fa`` of :func:`_forward`, within its bands)."""
    delta, level, n_states, unit, sigma, rho, q = chain
    k_n = delta.size
    hp = 0.5 / (sigma * sigma)
    lp1 = math.log((1.0 - P_ZERO) * (1.0 - q))
    lq = math.log(q)
    after = np.ones(n_states)  # P(later drops | state after drop k), rescaled
    before = np.zeros(n_states)  # P(drops k.. | state before drop k), rescaled
    mean_n = np.zeros(k_n)
    for k in range(k_n - 1, -1, -1):
        lo, hi = band[k, 0], band[k, 1]
        dk, lv = delta[k], level[k]
        log_zero = math.log(P_ZERO) - dk * dk * hp
        zero = math.exp(log_zero)
        a = fa[k]
        tot = 0.0
        sn = 0.0
        top = 0.0
        before[:] = 0.0
        ratio = dk / lv if lv > 0.0 else 0.0
        for i in range(lo, hi + 1):
            v = zero * after[i]
            n = i * unit
            if i > 0 and lv > 0.0:
                d0, w1, w2 = _event_weights(dk, ratio, lv, n, lp1, lq, hp, -745.0, False)
                for d, w in ((d0, w1), (d0 + 1, w2)):
                    if w <= 0.0:
                        continue
                    j, f = _landing(i, d, unit)
                    later = after[j] * (1.0 - f) + (after[j + 1] * f if f > 0.0 else 0.0)
                    v += w * later
            before[i] = v
            top = max(top, v)
            tot += a[i] * v
            sn += a[i] * v * n
        mean_n[k] = sn / tot if tot > 0.0 else hi * unit
        if top > 0.0:
            for i in range(lo, hi + 1):
                before[i] /= top
        # censorings before drop k: after(i) = sum_{m <= i} (1 - rho) rho^(i - m) before(m)
        if k == 0:
            break
        # (drop k - 1 reads states up to one above its band)
        upper = min(n_states - 1, band[k - 1, 1] + 1)
        if rho[k] > 0.0:
            rk = rho[k] ** unit
            run = 0.0
            for i in range(upper + 1):
                run = before[i] + rk * run
                after[i] = (1.0 - rk) * run
        else:
            after[: upper + 1] = before[: upper + 1]
    return mean_n


@kernel
def _evidence_grid(
    delta: np.ndarray,
    level: np.ndarray,
    n_states: int,
    unit: float,
    sigma: np.ndarray,
    rho: np.ndarray,
    q: np.ndarray,
    best: float,
    cache: tuple,
) -> tuple[np.ndarray, tuple]:
    """:func:`_forward`'s evidence for each parameter set ``(sigma[c], rho[c], q[c])``, or ``-inf``
    for a set that fell behind ``best`` or an earlier set (branch and bound, exact for the best);
    and the cache of event weights of the last set's ``(sigma, q)``.

    ``cache`` holds the weights of the first set's ``(sigma, q)`` (a new :func:`_weight_cache`, or
    one an earlier grid filled); consecutive sets with the same ``(sigma, q)`` share one. (A
    ``prange`` over the sets halves the time on two cores, but numba's threading layers are not
    all safe under threads or fork; the platform runs studies in parallel processes instead.)
    """
    out = np.empty(q.size)
    empty_fa, empty_band = np.empty((0, 0)), np.empty((0, 2), np.int64)
    for c in range(q.size):
        if c > 0 and (sigma[c] != sigma[c - 1] or q[c] != q[c - 1]):
            cache = _weight_cache(delta, n_states, sigma[c])
        chain = (delta, level, n_states, unit, sigma[c], rho[c], q[c])
        out[c] = _forward(chain, empty_fa, empty_band, cache, best)
        best = max(best, out[c])
    return out, cache


@kernel
def _censoring_rho(x: np.ndarray, uncensored: np.ndarray, load: float, shape: float) -> np.ndarray:
    """Per drop, the geometric ratio ``mu / (1 + mu)`` of the censorings just before it, for the
    cumulative hazard ``load * (x / x[-1]) ** shape``."""
    span = max(x[-1], 1e-300)
    rho = np.empty(x.size)
    before = 0.0
    for k in range(x.size):
        cum = load * (x[k] / span) ** shape
        mu = uncensored[k] * (cum - before)
        rho[k] = mu / (1.0 + mu)
        before = cum
    return rho


@kernel
def _choose_parameters(
    x: np.ndarray, delta: np.ndarray, level: np.ndarray, uncensored: np.ndarray, n_states: int, unit: float
) -> tuple[float, float, np.ndarray, tuple]:
    """``(sigma, q, rho)`` of highest evidence, in rounds (branch and bound within each), and the
    cache of event weights of its ``(sigma, q)`` (for the final pass):

    1. the noise level, the others at middle values (the noise level depends little on them);
    2. the load and the shape of the censoring on their grid, at the first ``q``;
    3. the second ``q`` at the censoring that won round 2, and only if that is within
       ``Q_PROBE_MARGIN`` of the best, at the rest of the grid (tied events change the evidence
       nearly alike at every censoring).

    On the 970 risk-set paths of the no-table curves of three benchmark seeds this picks the same
    set as the full grid at round 1's noise level, with about 10.5 instead of 15 forward passes
    (bounded passes counted by the drops they ran) at the median.
    """
    k_n = x.size
    mid_rho = _censoring_rho(x, uncensored, LOADS[2], SHAPES[0])
    # round 1: the noise level (each level's weights kept for the rounds after it if it wins)
    sigma, known = SIGMAS[0], -math.inf
    q0 = np.full(1, Q_RATIOS[0])
    one_rho = np.empty((1, k_n))
    one_rho[0] = mid_rho
    win_cache = _weight_cache(delta, n_states, SIGMAS[0])
    for c in range(len(SIGMAS)):
        cache = win_cache if c == 0 else _weight_cache(delta, n_states, SIGMAS[c])
        ev = _evidence_grid(delta, level, n_states, unit, np.full(1, SIGMAS[c]), one_rho, q0, known, cache)[0][0]
        if ev > known:
            sigma, known, win_cache = SIGMAS[c], ev, cache
    # round 2: the censoring grid at the first q, without round 1's set
    n_cens = len(LOADS) * len(SHAPES)
    rho2 = np.empty((n_cens - 1, k_n))
    r = 0
    for i_l in range(len(LOADS)):
        for i_s in range(len(SHAPES)):
            if not (i_l == 2 and i_s == 0):
                rho2[r] = _censoring_rho(x, uncensored, LOADS[i_l], SHAPES[i_s])
                r += 1
    sig2, q2 = np.full(n_cens - 1, sigma), np.full(n_cens - 1, Q_RATIOS[0])
    ev2, _ = _evidence_grid(delta, level, n_states, unit, sig2, rho2, q2, known, win_cache)
    i = int(np.argmax(ev2))
    best_rho, best_q = mid_rho, Q_RATIOS[0]
    if ev2[i] > known:
        best_rho, known = rho2[i], ev2[i]
    # round 3: the second q, probed at the winning censoring
    q1 = np.full(1, Q_RATIOS[1])
    one_rho[0] = best_rho
    q1_cache = _weight_cache(delta, n_states, sigma)
    probe = _evidence_grid(
        delta, level, n_states, unit, np.full(1, sigma), one_rho, q1, known - Q_PROBE_MARGIN, q1_cache
    )[0][0]
    if probe == -math.inf:
        return sigma, best_q, best_rho, win_cache
    # the rest of the grid at the second q (every censoring but the probed one, which may repeat)
    rest = np.empty((n_cens, k_n))
    r = 0
    for c in range(n_cens):
        cand = mid_rho if c == n_cens - 1 else rho2[c]
        if not (cand == best_rho).all():
            rest[r] = cand
            r += 1
    if probe > known:
        best_rho, best_q, known = one_rho[0].copy(), Q_RATIOS[1], probe
    if r > 0:
        ev3 = _evidence_grid(
            delta, level, n_states, unit, np.full(r, sigma), rest[:r], np.full(r, Q_RATIOS[1]), known, q1_cache
        )[0]
        i = int(np.argmax(ev3))
        if ev3[i] > known:
            return sigma, Q_RATIOS[1], rest[i], q1_cache
    return sigma, best_q, best_rho, (q1_cache if best_q == Q_RATIOS[1] else win_cache)


def censoring_free_fraction(x: np.ndarray, delta: np.ndarray, n0: int, s0: float) -> np.ndarray:
    """``G`` (fraction of the risk set not yet censored) just before each click, from the step heights.

    Parameters
    ----------
    x, delta:
        Click times from the segment start (sorted) and the drop in survival at each click (>= 0).
    n0, s0:
        Number at risk at the segment start and the survival just before it.

    The parameters are those of highest evidence (:func:`_choose_parameters`); ``G`` is the
    posterior mean of the number at risk over the risk set without censoring.
    """
    n_states = min(n0, MAX_STATES) + 1
    unit = n0 / (n_states - 1) if n0 > 0 else 1.0
    x = np.ascontiguousarray(x, float)
    delta = np.ascontiguousarray(delta, float)
    return _censoring_free_fraction(x, delta, float(n0), float(s0), n_states, unit)


@kernel
def _observations(x: np.ndarray, delta: np.ndarray, n0: float, s0: float) -> tuple:
    """One observation per vertical line of clicks (compiled with numba): ``(seg, xs, ds, level,
    uncensored)``, the observation of each click, then per observation its time, summed drop,
    the level just before it and the number at risk there without censoring."""
    k_all = x.size
    seg = np.empty(k_all, np.int64)
    m = -1
    for k in range(k_all):
        if k == 0 or x[k] - x[k - 1] > 0:
            m += 1
        seg[k] = m
    n_obs = m + 1
    xs, ds, level = np.empty(n_obs), np.zeros(n_obs), np.empty(n_obs)
    before = 0.0  # the drops before this click
    for k in range(k_all):
        if k == 0 or seg[k] != seg[k - 1]:
            xs[seg[k]], level[seg[k]] = x[k], s0 - before
            ds[seg[k]] = delta[k]
        else:
            ds[seg[k]] += delta[k]
        before += delta[k]
    uncensored = np.empty(n_obs)
    for i in range(n_obs):
        uncensored[i] = n0 * max(level[i], 1e-12) / s0
    return seg, xs, ds, level, uncensored


@kernel
def _censoring_free_fraction(
    x: np.ndarray, delta: np.ndarray, n0: float, s0: float, n_states: int, unit: float
) -> np.ndarray:
    """:func:`censoring_free_fraction` on ``n_states`` states of ``unit`` patients (compiled with
    numba)."""
    seg, xs, ds, level, uncensored = _observations(x, delta, n0, s0)
    n_obs = xs.size
    sigma, q, rho, cache = _choose_parameters(xs, ds, level, uncensored, n_states, unit)
    chain = (ds, level, n_states, unit, sigma, rho, q)
    # (the forward pass writes every state of each drop's band, and the backward pass reads no
    # other; only a pass that fails, no path fitting the drops, leaves rows unwritten)
    fa = np.empty((n_obs, n_states))
    band = np.empty((n_obs, 2), np.int64)
    if _forward(chain, fa, band, cache, -math.inf) == -math.inf:
        fa[:] = 0.0
        band[:] = 0
        _forward(chain, fa, band, cache, -math.inf)
    mean_n = _posterior_mean_n(chain, fa, band)
    # G: the posterior mean over the uncensored risk set, within [1e-6, 1], never rising
    g = np.empty(n_obs)
    for i in range(n_obs):
        g[i] = min(max(mean_n[i] / uncensored[i], 1e-6), 1.0)
        if i > 0:
            g[i] = min(g[i], g[i - 1])
    # back to one value per click (clicks on one vertical line share it)
    out = np.empty(x.size)
    for k in range(x.size):
        out[k] = g[seg[k]]
    return out
