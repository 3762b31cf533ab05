"""Risk intervals: the closed-form censoring and expected events by hand, the table from time 0, the allocation."""

from __future__ import annotations

import numpy as np
import pytest

from meta_bm.errors import InputError
from meta_bm.reconstruction import risk_table_from_arrays
from meta_bm.reconstruction.risk_intervals import allocate, fit_intervals, snap_to_risk_times, table_from_zero

T = np.array([0.0, 2, 2, 5, 5, 8])
S = np.array([1.0, 1, 0.9, 0.9, 0.75, 0.75])


def test_closed_form_censoring_by_hand():
    # [0, 4): 20 at risk, S(4-) = 0.9, F(4) = 2/1 + 2/0.9; c solves 20 * 0.9 - c * 0.9 * F(4) / 4 = 16:
    # c = 2 * 4 / (0.9 * (2 + 2 / 0.9)) = 2.105 -> 2
    g, fit = fit_intervals(T, S, np.array([0.0, 4.0]), np.array([20, 16]))
    assert fit.censored.tolist() == [2, 0] and fit.capped.tolist() == [False, False]
    assert g.j_of.tolist() == [0, 0, 0, 1, 1, 1] and g.first.tolist() == [0, 3, 6] and g.last_j == 1
    np.testing.assert_allclose(g.length, [4.0, 4.0])
    np.testing.assert_allclose(fit.s_b, [1.0, 0.9])
    # events at the drop at t=2: n(2-)/S(2-) = 20 - (2/4) * F(2) = 19, times the drop 0.1
    assert fit.expected_events[2] == pytest.approx(1.9)
    # after the last risk time (no censoring yet): 16 / 0.9 * 0.15
    assert fit.expected_events[4] == pytest.approx(16 / 0.9 * 0.15)


def test_a_curve_falling_faster_than_the_table_is_capped():
    # the curve halves in [0, 4) but the table loses only one patient of 20
    _, fit = fit_intervals(
        np.array([0.0, 1, 1, 6]), np.array([1.0, 1, 0.5, 0.5]), np.array([0.0, 4.0]), np.array([20, 19])
    )
    assert fit.capped.tolist() == [True, False] and fit.censored.tolist() == [0, 0]


def test_allocation_meets_each_total_and_follows_the_cumulative_weights():
    rng = np.random.default_rng(1)
    group = np.sort(rng.integers(0, 5, 200))
    weights = rng.exponential(1.0, 200)
    totals = np.array([float(rng.integers(0, 30)) for _ in range(5)])
    out = allocate(weights, group, totals)
    assert np.bincount(group, weights=out, minlength=5).tolist() == totals.tolist()
    for g in range(5):
        w = weights[group == g]
        exact = np.cumsum(w * totals[g] / w.sum())
        assert np.all(np.abs(np.cumsum(out[group == g]) - exact) <= 0.5 + 1e-9)


def test_table_from_zero():
    warnings: list[str] = []
    tau, nr = table_from_zero(T, S, None, 12, "x.csv", warnings)
    assert tau.tolist() == [0.0] and nr.tolist() == [12]
    late = risk_table_from_arrays([3.0, 6.0], [18, 10], "risk.csv")
    tau, nr = table_from_zero(T, S, late, None, "x.csv", warnings)
    # no censoring before 3: N = ceil(18 / S(3-)) = ceil(18 / 0.9) = 20
    assert tau.tolist() == [0.0, 3.0, 6.0] and nr.tolist() == [20, 18, 10]
    assert "assumed 20 patients" in warnings[-1]
    with pytest.raises(InputError, match="smaller than the first number at risk") as exc:
        table_from_zero(T, S, late, 15, "x.csv", [])
    assert "risk.csv" in str(exc.value)
    with pytest.raises(InputError, match="total N is required"):
        table_from_zero(T, S, None, None, "x.csv", [])


def test_clicks_just_before_a_risk_time_move_onto_it():
    # the table loses 2 of 10 by t=5, but the curve already drops by 0.5 at 4.99 (5 events):
    # those events belong after 5, where the table counts them
    t = np.array([0.0, 4.99, 4.99, 9.0])
    s = np.array([1.0, 1.0, 0.5, 0.5])
    warnings: list[str] = []
    out = snap_to_risk_times(t, s, np.array([0.0, 5.0]), np.array([10, 8]), warnings)
    assert out.tolist() == [0.0, 5.0, 5.0, 9.0] and "moved onto it" in warnings[0]
    assert snap_to_risk_times(t, s, np.array([0.0, 5.0]), np.array([10, 5]), []) is t  # the table agrees
