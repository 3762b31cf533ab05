"""The simulator the reconstruction is judged by: Weibull IPD, a person digitizing a KM curve, the KM
area distance. Each property is checked against truth computed here by hand or by scipy, not by the
simulator itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import integrate, stats

from meta_bm.simulation import CAREFUL, SLOPPY, digitize, km_area_difference, simulate_ipd
from meta_bm.simulation.digitizer import nice_axis_max
from meta_bm.survival.coxph import cox_ph
from meta_bm.survival.km import kaplan_meier

NO_CENSORING = {"accrual": 0.0, "follow_up": 1e9, "dropout_rate": 0.0}


def _weibull_scale(median: float, shape: float) -> float:
    """Scale of the Weibull S(t) = exp(-(t / scale)^shape) whose median is ``median``: S(median) = 1/2."""
    return median / np.log(2) ** (1 / shape)


# --------------------------------------------------------------------------------------------------------
# simulate_ipd
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "median"), [(0.8, 12.0), (1.0, 6.0), (1.6, 20.0)])
def test_uncensored_times_follow_the_requested_weibull(shape, median):
    n = 20_000
    ipd = simulate_ipd(n, shape=shape, median=median, seed=11, **NO_CENSORING)
    assert ipd.event.sum() == n  # nobody censored
    scale = _weibull_scale(median, shape)
    # the sample median is within 4 standard errors of the requested one: SE = 1 / (2 f(m) sqrt(n)), with
    # the Weibull density at its median f(m) = (shape / m) ln(2) S(m) = (shape / m) ln(2) / 2
    density = shape / median * np.log(2) / 2
    assert abs(np.median(ipd.time) - median) < 4 / (2 * density * np.sqrt(n))
    # the whole distribution is scipy's Weibull (times are rounded to 1e-6: far below the KS resolution)
    assert stats.kstest(ipd.time, stats.weibull_min(shape, scale=scale).cdf).pvalue > 1e-3


def test_censoring_is_administrative_after_accrual_plus_follow_up():
    shape, median, accrual, follow_up = 1.2, 12.0, 24.0, 12.0
    n = 20_000
    ipd = simulate_ipd(n, shape, median, accrual, follow_up, dropout_rate=0.0, seed=5)
    censored = ipd.event == 0
    # patients enter uniformly over the accrual period: censoring times lie in [follow_up, follow_up + accrual]
    assert ipd.time[censored].min() >= follow_up - 1e-6 and ipd.time.max() <= follow_up + accrual + 1e-6
    # P(censored) = P(T > C), C ~ U(follow_up, follow_up + accrual): the mean of S over that interval
    scale = _weibull_scale(median, shape)
    p, _ = integrate.quad(lambda c: np.exp(-((c / scale) ** shape)), follow_up, follow_up + accrual)
    p /= accrual
    assert abs(censored.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    # and the Kaplan–Meier median of the censored sample still estimates the requested median
    assert abs(kaplan_meier(ipd.time, ipd.event).median() - median) < 0.5


def test_loss_to_follow_up_is_exponential_at_the_dropout_rate():
    # with no events to speak of (a huge median) and no administrative censoring, every time is a dropout time
    ipd = simulate_ipd(20_000, median=1e9, accrual=0.0, follow_up=1e9, dropout_rate=0.05, seed=2)
    assert ipd.event.sum() == 0
    assert stats.kstest(ipd.time, stats.expon(scale=1 / 0.05).cdf).pvalue > 1e-3


def test_hr_multiplies_the_exponential_rate():
    # exponential (shape 1): the rate MLE is events / total time; the log rate ratio has SE sqrt(1/d_a + 1/d_b)
    a = simulate_ipd(5_000, shape=1.0, median=10.0, hr=1.0, seed=1, **NO_CENSORING)
    b = simulate_ipd(5_000, shape=1.0, median=10.0, hr=0.5, seed=2, **NO_CENSORING)
    rate_a = a.event.sum() / a.time.sum()
    rate_b = b.event.sum() / b.time.sum()
    assert rate_a == pytest.approx(np.log(2) / 10.0, rel=4 / np.sqrt(5_000))
    se = np.sqrt(1 / a.event.sum() + 1 / b.event.sum())
    assert abs(np.log(rate_b / rate_a) - np.log(0.5)) < 4 * se


def test_hr_is_the_cox_hazard_ratio_under_censoring():
    # Weibull arms with proportional hazards (hr on the hazard), censored: Cox recovers log(hr)
    a = simulate_ipd(2_000, shape=1.5, median=12.0, hr=1.0, seed=3)
    b = simulate_ipd(2_000, shape=1.5, median=12.0, hr=0.6, seed=4)
    x = np.r_[np.zeros(a.time.size), np.ones(b.time.size)]
    fit = cox_ph(np.r_[a.time, b.time], np.r_[a.event, b.event], x)
    assert abs(fit.coef[0] - np.log(0.6)) < 4 * fit.se[0]
    assert 0 < (a.event == 0).mean() < 1  # both arms censored: the check is not the uncensored one again


def test_same_seed_same_patients():
    a = simulate_ipd(200, seed=9)
    b = simulate_ipd(200, seed=9)
    np.testing.assert_array_equal(a.time, b.time)
    np.testing.assert_array_equal(a.event, b.event)
    assert not np.array_equal(a.time, simulate_ipd(200, seed=10).time)


# --------------------------------------------------------------------------------------------------------
# digitize
# --------------------------------------------------------------------------------------------------------

# 20 patients, deaths at 2, 4, ..., 38 months, one censored at 45: the KM drops by 1/20 every 2 months.
# On the 600 x 400 px plot of a 0-50 month axis a step is 24 px wide and 20 px high, far apart from the
# next, so a careful digitizer clicks every corner and nothing merges.
HAND_TIME = np.r_[np.arange(2.0, 39.0, 2.0), 45.0]
HAND_EVENT = np.r_[np.ones(19, int), 0]


def _hand_corners() -> np.ndarray:
    """The corners a careful digitizer clicks, written out: the start, top and bottom of each step, the end."""
    pts = [(0.0, 1.0)]
    for k in range(1, 20):
        pts += [(2.0 * k, 1 - (k - 1) / 20), (2.0 * k, 1 - k / 20)]
    pts.append((45.0, 1 / 20))
    return np.array(pts)


def test_nice_axis_of_the_hand_curve():
    assert nice_axis_max(45.0) == (50.0, 10.0)  # 45 / 6 = 7.5 -> ticks every 10, axis to 50
    assert nice_axis_max(23.0) == (25.0, 5.0)  # 23 / 6 = 3.8 -> ticks every 5


def test_careful_clicks_are_the_true_corners_within_the_pixel_noise():
    corners = _hand_corners()
    px = np.array([50.0 / CAREFUL.width_px, 1.0 / CAREFUL.height_px])  # months and survival per pixel
    residuals = []
    for seed in range(5):
        sim = digitize(HAND_TIME, HAND_EVENT, CAREFUL, seed=seed)
        clicks = np.column_stack([sim.click_time, sim.click_survival])
        assert clicks.shape == corners.shape  # every corner clicked once, nothing missed, merged or doubled
        assert np.all(np.diff(sim.click_time) >= 0)  # a careful export is sorted by time
        # corners are >= 20 px apart: each click belongs to the corner nearest to it, one click per corner
        dist = np.linalg.norm((clicks[:, None, :] - corners[None, :, :]) / px, axis=2)
        nearest = dist.argmin(axis=1)
        assert sorted(nearest) == list(range(len(corners)))
        residuals.append((clicks - corners[nearest]) / px)
    r = np.concatenate(residuals)  # 200 clicks x 2 axes, in pixels
    assert np.abs(r).max() < 4.5 * CAREFUL.noise_px
    # the noise is CAREFUL's 0.5 px per axis: sample SD of 400 draws within 20% (about 6 standard errors)
    assert np.std(r) == pytest.approx(CAREFUL.noise_px, rel=0.2)
    assert abs(r.mean()) < 4 * CAREFUL.noise_px / np.sqrt(r.size)


def _exact_clicks(n: int, seed: int):
    """A simulated curve digitized carefully but without pixel noise, and its true KM."""
    ipd = simulate_ipd(n, shape=1.3, median=14.0, seed=seed)
    sim = digitize(ipd.time, ipd.event, dataclasses.replace(CAREFUL, noise_px=0.0), seed=seed)
    return ipd, sim, kaplan_meier(ipd.time, ipd.event)


@pytest.mark.parametrize("seed", range(3))
def test_noise_free_clicks_sit_on_true_levels_at_true_event_times(seed):
    # Merged steps move a drop along the curve but never invent a level or a time: without pixel noise
    # every click is at a survival the KM takes and at time 0, an event time or the end of follow-up.
    ipd, sim, km = _exact_clicks(400, seed)
    levels = np.r_[1.0, km.survival[km.n_event > 0]]
    assert np.isin(sim.click_survival, levels).all()
    times = np.r_[0.0, km.time[km.n_event > 0], ipd.time.max()]
    assert np.isin(sim.click_time, times).all()
    assert (sim.click_time[0], sim.click_survival[0]) == (0.0, 1.0)
    assert np.all(np.diff(sim.click_survival) <= 0)  # read left to right, a KM curve never goes up
    assert sim.click_survival[-1] == km.survival[-1]  # the curve is followed down to its last level


def _mean_gap_px(ipd, sim, km) -> float:
    """Mean vertical distance in pixels between the step curve through the clicks and the true KM."""
    t_end = float(ipd.time.max())
    grid = np.union1d(np.union1d(sim.click_time, km.time), [0.0, t_end])
    grid = grid[grid <= t_end]
    level = np.minimum.accumulate(sim.click_survival)[np.searchsorted(sim.click_time, grid[:-1], side="right") - 1]
    area = np.sum(np.abs(level - km.at(grid[:-1])) * np.diff(grid)) / t_end
    return float(area * CAREFUL.height_px)


@pytest.mark.parametrize(
    "n",
    [
        60,
        pytest.param(
            2000,
            marks=pytest.mark.xfail(
                strict=True,
                reason="known simulator limit: digitize merges any chain of steps less than merge_gap_px apart "
                "into one drop, however long the chain, so a dense curve (n=2000 on 600 px) is clicked as a few "
                "big drops, 27-75 px from the true curve on average; see the report of issue 16",
            ),
        ),
    ],
)
def test_noise_free_careful_clicks_trace_the_true_curve_within_a_pixel(n):
    for seed in range(3):
        assert _mean_gap_px(*_exact_clicks(n, seed)) < 0.5


def test_risk_table_counts_the_patients_still_at_risk_at_each_tick():
    sim = digitize(HAND_TIME, HAND_EVENT, CAREFUL, seed=0)
    # ticks every 10 months up to the last time (45); at risk = patients with time >= tick, counted by hand
    np.testing.assert_array_equal(sim.risk_time, [0, 10, 20, 30, 40])
    np.testing.assert_array_equal(sim.n_risk, [20, 16, 11, 6, 1])
    assert (sim.total_n, sim.total_events, sim.x_max) == (20, 19, 50.0)

    ipd = simulate_ipd(300, seed=6)
    sim = digitize(ipd.time, ipd.event, SLOPPY, seed=6)
    assert sim.risk_time[0] == 0 and sim.risk_time[-1] <= ipd.time.max()
    assert list(sim.n_risk) == [sum(1 for t in ipd.time if t >= tick) for tick in sim.risk_time]
    assert (sim.total_n, sim.total_events) == (300, int(ipd.event.sum()))


def test_sloppy_exports_are_unsorted_with_duplicates_and_missed_tops():
    ipd = simulate_ipd(400, shape=1.3, median=14.0, seed=8)
    careful = digitize(ipd.time, ipd.event, CAREFUL, seed=8)
    sloppy = digitize(ipd.time, ipd.event, SLOPPY, seed=8)
    assert np.any(np.diff(sloppy.click_time) < 0)
    # duplicates: the same click twice, exactly
    pairs = np.column_stack([sloppy.click_time, sloppy.click_survival])
    assert len(np.unique(pairs, axis=0)) < len(pairs)
    # SLOPPY merges more (2 px vs 1.5 px) and misses 15% of the tops: fewer distinct clicks than CAREFUL
    assert len(np.unique(pairs, axis=0)) < careful.click_time.size


def test_same_seed_same_digitization():
    ipd = simulate_ipd(150, seed=3)
    a, b = (digitize(ipd.time, ipd.event, SLOPPY, seed=12) for _ in range(2))
    np.testing.assert_array_equal(a.click_time, b.click_time)
    np.testing.assert_array_equal(a.click_survival, b.click_survival)


# --------------------------------------------------------------------------------------------------------
# km_area_difference
# --------------------------------------------------------------------------------------------------------


def test_area_between_identical_curves_is_zero():
    ipd = simulate_ipd(120, seed=1)
    assert km_area_difference(ipd.time, ipd.event, ipd.time, ipd.event, 30.0) == 0.0


def test_area_between_two_hand_step_functions():
    # S_a: 1 on [0, 1), 1/2 on [1, 3), 0 from 3;  S_b: 1 on [0, 2), 0 from 2.
    # |S_a - S_b| is 1/2 on [1, 3) and 0 elsewhere: area 1, over a horizon of 4 -> 1/4
    assert km_area_difference([1.0, 3.0], [1, 1], [2.0], [1], 4.0) == pytest.approx(0.25, abs=1e-15)
    # the horizon cuts the integral: on [0, 2) the area is 1/2 -> 1/4 again; symmetric in the two curves
    assert km_area_difference([2.0], [1], [1.0, 3.0], [1, 1], 2.0) == pytest.approx(0.25, abs=1e-15)
    # with censoring: S_a = 1 on [0, 1), 2/3 on [1, 4) (the censoring at 2 does not drop it), 0 from 4;
    # S_b = 1 on [0, 3), 0 from 3. |S_a - S_b| = 1/3 on [1, 3), 2/3 on [3, 4): area 4/3 over 5 -> 4/15
    got = km_area_difference([1.0, 2.0, 4.0], [1, 0, 1], [3.0], [1], 5.0)
    assert got == pytest.approx(4 / 15, abs=1e-15)
