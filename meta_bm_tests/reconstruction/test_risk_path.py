"""The risk-set path (a hidden Markov chain over the number at risk) against brute force and known IPD."""

import itertools
import math

import numpy as np
import pytest

from meta_bm.reconstruction import clicks_from_arrays, reconstruct
from meta_bm.reconstruction import risk_path as rp
from meta_bm.simulation import CAREFUL, digitize
from meta_bm.survival.km import kaplan_meier


def _weight(d: int, n: int, drop: float, lv: float, sigma: float, q: float) -> float:
    """The model's weight of ``d`` events among ``n`` for one drop (without the Gaussian's 1/sqrt(2 pi))."""
    if d == 0:
        return rp.P_ZERO * math.exp(-(drop**2) / (2 * sigma**2))
    r = drop - lv * d / n
    return (1 - rp.P_ZERO) * (1 - q) * q ** (d - 1) * math.exp(-(r**2) / (2 * sigma**2))


def _brute_force(delta, level, n0, sigma, rho, q):
    """Sum and n-weighted sums over every path (censorings, then events, drop by drop), enumerated."""
    k_n = len(delta)
    total = 0.0
    mean_n = np.zeros(k_n)
    # a path: the number at risk before each drop and the events at it
    for n_path in itertools.product(range(n0 + 1), repeat=k_n):
        for d_path in itertools.product(range(n0 + 1), repeat=k_n):
            w, prev = 1.0, n0
            for k in range(k_n):
                n, d = n_path[k], d_path[k]
                c = prev - n
                if c < 0 or d > n:
                    w = 0.0
                    break
                if c > 0 and rho[k] == 0:
                    w = 0.0
                    break
                if rho[k] > 0:
                    w *= (1 - rho[k]) * rho[k] ** c
                # the model considers d = 0 and the two counts around drop * n / level only
                d0 = max(int(delta[k] * n / level[k]), 1) if n > 0 else 0
                if d != 0 and not (d0 <= d <= d0 + 1):
                    w = 0.0
                    break
                w *= _weight(d, n, delta[k], level[k], sigma, q)
                prev = n - d
            if w > 0:
                total += w
                mean_n += w * np.array(n_path)
    return math.log(total) - k_n * math.log(sigma), mean_n / total


@pytest.mark.parametrize("rho0", [0.0, 0.3])
def test_forward_and_posterior_match_enumeration(rho0):
    delta = np.array([0.0, 0.26, 0.3])
    level = np.array([1.0, 1.0, 0.74])
    n0, sigma, q = 4, 0.05, 0.45
    rho = np.array([0.0, rho0, 0.5])
    fa = np.zeros((3, n0 + 1))
    band = np.zeros((3, 2), np.int64)
    chain = (delta, level, n0 + 1, 1.0, sigma, rho, q)
    ll = rp._forward(chain, fa, band, rp._weight_cache(delta, n0 + 1, sigma), -np.inf)
    mean_n = rp._posterior_mean_n(chain, fa, band)
    # the grid (with its cache of event weights) gives the same evidence
    cache = rp._weight_cache(delta, n0 + 1, sigma)
    grid, _ = rp._evidence_grid(
        delta, level, n0 + 1, 1.0, np.array([sigma]), rho[None, :], np.array([q]), -np.inf, cache
    )
    assert grid[0] == pytest.approx(ll, rel=1e-12)
    ll_ref, mean_ref = _brute_force(delta, level, n0, sigma, rho, q)
    assert ll == pytest.approx(ll_ref, rel=1e-12)
    np.testing.assert_allclose(mean_n, mean_ref, rtol=1e-8)


def test_grid_drops_only_sets_behind_the_best():
    # every drop's factor is at most 1, so a set whose running evidence falls below the best final
    # one is dropped (-inf); the best keeps its exact evidence. Sets that share (sigma, q) share
    # one cache of event weights: the evidence is still each set's own.
    rng = np.random.default_rng(4)
    n0 = 60
    level = np.cumprod(np.r_[1.0, 1 - 1 / np.arange(n0, n0 - 24, -1)])[:-1]
    delta = level / np.arange(n0, n0 - 24, -1) + rng.normal(0, 0.002, 24)
    # four (sigma, q) groups of five censoring levels, heaviest first
    rho = np.array([np.full(24, r) for r in (0.5, 0.2, 0.05, 0.01, 0.0)] * 4)
    sig = np.repeat([0.006, 0.003, 0.003, 0.0015], 5)
    q = np.repeat([0.9, 0.9, 0.45, 0.45], 5)
    full = [
        rp._forward(
            (delta, level, n0 + 1, 1.0, s, r, qq),
            np.empty((0, 0)),
            np.empty((0, 2), np.int64),
            rp._weight_cache(delta, n0 + 1, s),
            -np.inf,
        )
        for s, r, qq in zip(sig, rho, q, strict=True)
    ]
    grid, _ = rp._evidence_grid(
        delta, level, n0 + 1, 1.0, sig, rho, q, -np.inf, rp._weight_cache(delta, n0 + 1, sig[0])
    )
    best = int(np.argmax(full))
    assert int(np.argmax(grid)) == best and grid[best] == full[best]
    kept = np.isfinite(grid)
    np.testing.assert_array_equal(grid[kept], np.array(full)[kept])
    assert kept[:5].all() and kept[10:15].all() and not kept[15:].any()  # (the bound is used)
    assert all(full[i] < max(full[:i], default=-np.inf) for i in np.flatnonzero(~kept))
    # the first set of a group bounded by an earlier group's best is dropped as well
    cache = rp._weight_cache(delta, n0 + 1, sig[5])
    bounded, _ = rp._evidence_grid(delta, level, n0 + 1, 1.0, sig[5:], rho[5:], q[5:], max(full) + 1.0, cache)
    assert np.isneginf(bounded).all()


def _curve(time, event):
    km = kaplan_meier(time, event)
    return km.time, km.survival


def test_uncensored_curve_reads_as_uncensored():
    # 30 patients, distinct event times, no censoring: every drop is S/n with n = 30, 29, ...
    t = np.arange(1.0, 31.0)
    kt, ks = _curve(t, np.ones(30, int))
    x = np.concatenate(([0.0], kt))
    s = np.concatenate(([1.0], ks))
    delta = np.maximum(np.concatenate(([0.0], s[:-1] - s[1:])), 0.0)
    g = rp.censoring_free_fraction(x, delta, 30, 1.0)
    assert g.min() > 0.97


def test_tied_drops_are_events_not_censoring():
    # 60 patients dying in groups of 1 to 6 at 15 times: big drops are ties, not a shrinking risk set
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 7, 15)
    sizes[-1] += 60 - sizes.sum() if sizes.sum() < 60 else 0
    t = np.repeat(np.arange(1.0, 16.0), sizes)[:60]
    rec = reconstruct(clicks_from_arrays(*_curve(t, np.ones(t.size, int))), None, total_n=t.size)
    assert int(rec.event.sum()) == t.size


def test_heavily_censored_small_trial_keeps_single_events():
    # single events at a risk set thinned by heavy censoring (a digitized careful curve): the
    # events must not be read as doubles at twice the risk set
    rng = np.random.default_rng(11)
    n = 40
    death = rng.weibull(1.2, n) * 10
    cens = rng.uniform(0, 14, n)
    time = np.minimum(death, cens)
    event = (death <= cens).astype(int)
    sim = digitize(time, event, CAREFUL, seed=5)
    rec = reconstruct(clicks_from_arrays(sim.click_time, sim.click_survival), None, total_n=n)
    assert abs(int(rec.event.sum()) - int(event.sum())) <= 2
    assert "risk-set path" in rec.censoring.method


def test_coarse_states_approximate_the_exact_chain(monkeypatch):
    rng = np.random.default_rng(2)
    n = 300
    death = rng.exponential(8, n)
    cens = rng.uniform(0, 20, n)
    time, event = np.minimum(death, cens), (death <= cens).astype(int)
    sim = digitize(time, event, CAREFUL, seed=2)
    clicks = clicks_from_arrays(sim.click_time, sim.click_survival)
    s = np.concatenate(([1.0], clicks.survival))
    x = np.concatenate(([0.0], clicks.time))
    delta = np.maximum(np.concatenate(([0.0], s[:-1] - s[1:])), 0.0)
    exact = rp.censoring_free_fraction(x, delta, n, 1.0)
    monkeypatch.setattr(rp, "MAX_STATES", 100)  # three patients per state
    coarse = rp.censoring_free_fraction(x, delta, n, 1.0)
    assert np.all(np.diff(coarse) <= 1e-12) and coarse.max() <= 1.0
    assert np.abs(coarse - exact).max() < 0.15


def _full_grid_choice(x, delta, level, uncensored, n_states, unit):
    """The exhaustive choice: the noise level of highest evidence at the middle censoring, then every
    ``(q, load, shape)`` at that level (one forward pass each, no bound)."""

    def evidence(sigma, rho, q):
        chain = (delta, level, n_states, unit, sigma, rho, q)
        empty = (np.empty((0, 0)), np.empty((0, 2), np.int64))
        return rp._forward(chain, *empty, rp._weight_cache(delta, n_states, sigma), -np.inf)

    mid = rp._censoring_rho(x, uncensored, rp.LOADS[2], rp.SHAPES[0])
    sigma = max(rp.SIGMAS, key=lambda s: evidence(s, mid, rp.Q_RATIOS[0]))
    sets = [
        (q, rp._censoring_rho(x, uncensored, load, shape))
        for q in rp.Q_RATIOS
        for load in rp.LOADS
        for shape in rp.SHAPES
    ]
    q, rho = max(sets, key=lambda qr: evidence(sigma, qr[1], qr[0]))
    return sigma, q, rho


@pytest.mark.parametrize("seed", range(6))
def test_rounds_pick_the_full_grids_best(seed):
    # Simulated digitized curves (light to heavy censoring; tied event times in half of them, so
    # both branches of the second q's probe run): the rounds with their bounds and probe choose
    # what the exhaustive grid chooses.
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 150))
    death = rng.weibull(1.3, n) * 10
    if seed % 2:
        death = np.ceil(death)  # whole-month data: ties
    cens = rng.uniform(0, 10 + 20 * rng.random(), n)
    time, event = np.minimum(death, cens), (death <= cens).astype(int)
    sim = digitize(time, event, CAREFUL, seed=seed)
    clicks = clicks_from_arrays(sim.click_time, sim.click_survival)
    s = np.concatenate(([1.0], clicks.survival))
    x = np.concatenate(([0.0], clicks.time))
    delta = np.maximum(np.concatenate(([0.0], s[:-1] - s[1:])), 0.0)
    _, xs, ds, level, uncensored = rp._observations(x, delta, float(n), 1.0)
    args = (xs, ds, level, uncensored, n + 1, 1.0)
    sigma, q, rho, _ = rp._choose_parameters(*args)
    f_sigma, f_q, f_rho = _full_grid_choice(*args)
    assert (sigma, q) == (f_sigma, f_q)
    np.testing.assert_array_equal(rho, f_rho)
