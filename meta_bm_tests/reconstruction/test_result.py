"""The result's numbers: the KM of the IPD (one product-limit) and a click's error as drawn, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from meta_bm.reconstruction import clean_clicks, clicks_from_arrays
from meta_bm.reconstruction.result import click_errors, fidelity, km_steps
from meta_bm.survival.km import kaplan_meier


def test_km_steps_are_kaplan_meier_to_the_bit():
    rng = np.random.default_rng(3)
    time = np.sort(np.round(rng.exponential(5, 300), 1))  # many ties
    event = rng.integers(0, 2, time.size)
    t, s = km_steps(time, event.astype(np.int64))
    km = kaplan_meier(time, event)
    np.testing.assert_array_equal(t, km.time)
    np.testing.assert_array_equal(s, km.survival)
    # and more than 127 events at one time (an int8 count would wrap)
    t, s = km_steps(np.zeros(300), np.ones(300, np.int64))
    assert s.tolist() == [0.0]


def test_click_errors_measure_the_curve_as_drawn():
    # KM: 1 until t=1, then 0.8; a drop is a vertical segment from 1 to 0.8 at t=1
    km_t, km_s = np.array([1.0]), np.array([0.8])
    ct = np.array([0.5, 1.0, 1.0, 1.5, 0.5])
    cs = np.array([1.0, 0.9, 0.8, 0.7, 0.95])
    np.testing.assert_allclose(click_errors(km_t, km_s, ct, cs), [0.0, 0.0, 0.0, 0.1, 0.05], atol=1e-15)


def test_fidelity_by_hand():
    # 5 patients, events at 1 and 2, censored at 3, 4, 4: KM 0.8 after 1, 0.6 after 2
    curve = clean_clicks(clicks_from_arrays([0, 1, 1, 2, 2, 4], [1, 1, 0.8, 0.8, 0.5, 0.5]))
    f = fidelity(np.array([1.0, 2, 3, 4, 4]), np.array([1, 1, 0, 0, 0]), curve)
    # clicks (2, 0.5) and (4, 0.5) lie 0.1 below the curve (0.6 after t=2); the others on it
    assert f.max_abs_error == pytest.approx(0.1)
    assert f.rmse == pytest.approx(np.sqrt(2 * 0.01 / len(curve)))
    assert (f.n_patients, f.events, f.median) == (5, 2, pytest.approx(float("nan"), nan_ok=True))
