"""Event tracking and the placement search: the KM they compute without building the IPD is the IPD's KM."""

from __future__ import annotations

import numpy as np
import pytest

from meta_bm.reconstruction import clean_clicks, clicks_from_arrays
from meta_bm.reconstruction.event_tracking import km_of_tracked, mean_click_error
from meta_bm.reconstruction.result import fidelity
from meta_bm.survival.km import kaplan_meier


def test_km_of_tracked_events_matches_the_ipd():
    rng = np.random.default_rng(5)
    t = np.sort(np.round(rng.uniform(0, 10, 30), 1))  # clicks, with ties
    d = rng.integers(0, 3, t.size)
    cens = np.sort(np.r_[np.round(rng.uniform(0, 10, 12), 1), t[[3, 8]]])  # some at click times
    n0 = int(d.sum() + cens.size + 7)  # 7 more censored after the last click
    times = np.r_[t.repeat(d), cens, np.full(7, 11.0)]
    flags = np.r_[np.ones(d.sum(), int), np.zeros(cens.size + 7, int)]
    order = np.lexsort((1 - flags, times))
    km = kaplan_meier(times[order], flags[order])
    ref_t, ref_s = km.time, km.survival
    km_t, km_s = km_of_tracked(t, d, cens, n0)
    has = np.isin(ref_t, km_t)  # (the IPD's KM also lists censoring-only times, where it is flat)
    np.testing.assert_array_equal(km_t, ref_t[has])
    np.testing.assert_allclose(km_s, ref_s[has], rtol=1e-14)
    # and the mean distance of some clicks to it, as fidelity() measures it on the IPD
    clicks = clean_clicks(clicks_from_arrays(np.r_[0.0, t[::3], 10.5], np.r_[1.0, np.linspace(0.95, 0.2, 10), 0.2]))
    mean_err = mean_click_error(t, d, cens[::2], cens[1::2], n0, clicks.time, clicks.survival)
    assert mean_err == pytest.approx(fidelity(times, flags, clicks).mean_abs_error, rel=1e-12)
