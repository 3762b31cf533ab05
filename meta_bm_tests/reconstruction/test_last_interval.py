"""The last interval: drops read from the clicks, censorings at the model's expected quantiles (by hand)."""

from __future__ import annotations

import numpy as np

from meta_bm.reconstruction.last_interval import _quantiles, drops_after


def test_drops_after_a_time():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    s = np.array([1.0, 0.8, 0.5, 1e-13])  # the last below 1e-12: zero
    x, d = drops_after(t, s, 1.5)
    np.testing.assert_allclose(x, [0.5, 1.5])
    np.testing.assert_allclose(d, [0.3, 0.5])
    x, d = drops_after(t, s, 0.0)
    np.testing.assert_allclose(d, [0.0, 0.2, 0.3, 0.5])


def test_censorings_at_equal_shares_of_the_expected_mass():
    # two pieces at S = 1, G falling 1 -> 0.5 -> 0 over them, 10 at risk, S0 = 1: 5 censorings
    # expected on each; 10 of them at the midpoints of tenths of the mass, G linear within a piece
    k, gx = _quantiles(np.array([1.0, 0.5, 0.0]), np.array([1.0, 1.0]), 10.0, 1.0, 0)
    assert k.tolist() == [0] * 5 + [1] * 5
    np.testing.assert_allclose(gx, 1.0 - (np.arange(10) + 0.5) / 10)
    # no more leave than are left after the interval's events
    k, _ = _quantiles(np.array([1.0, 0.5, 0.0]), np.array([1.0, 1.0]), 10.0, 1.0, 7)
    assert k.size == 3
    # a piece at S = 0 holds no one to censor
    k, _ = _quantiles(np.array([1.0, 0.5, 0.0]), np.array([1.0, 0.0]), 10.0, 1.0, 0)
    assert k.tolist() == [0] * 5
