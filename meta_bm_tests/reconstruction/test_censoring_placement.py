"""Censoring placement inside the risk intervals: the prior's shape against the hand-integrated rate."""

from __future__ import annotations

import numpy as np

from meta_bm.reconstruction.censoring_placement import censoring_shape, spread


def _shape_args(tk, je, tau, length, nr, counts):
    """Arguments of the ``censoring_shape`` kernel (float and int64 arrays)."""
    f, i = (lambda v: np.array(v, float)), (lambda v: np.array(v, np.int64))
    return f(tk), i(je), f(tau), f(length), i(nr), i(counts)


def test_censoring_shape_follows_the_shrinking_risk_set():
    # One risk interval [0, 10): 100 -> 80 at risk, 20 censorings, so the hazard is constant and the
    # censoring rate is proportional to n(x) = 100 - 20x: W(x) = 100x - 10x^2, W(1) = 90.
    frac = censoring_shape(*_shape_args([2.5, 5.0, 10.0], [0, 0, 0], [0.0, 10.0], [10.0, 1.0], [100, 80], [20, 0]))
    np.testing.assert_allclose(frac, [(25 - 0.625) / 90, (50 - 2.5) / 90, 1.0], rtol=1e-12)
    # a later interval with more censoring pulls the rate up towards its end (more than uniform)
    frac = censoring_shape(*_shape_args([5.0], [0], [0.0, 10.0, 20.0], [10.0, 10.0, 1.0], [100, 90, 50], [2, 30, 0]))
    assert frac[0] < 0.5


def test_spread_puts_counts_at_bin_midpoints():
    out = spread(np.array([0.0, 10.0]), np.array([4.0, 2.0]), np.array([2, 4]))
    np.testing.assert_allclose(out, [1.0, 3.0, 10.25, 10.75, 11.25, 11.75])
