"""Weighted least-squares isotonic regression (the compiled PAV kernel) against scipy's."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import isotonic_regression

from meta_bm.reconstruction.isotonic import isotonic_decreasing, isotonic_increasing


def test_hand_example():
    # (3 * 1 + 1 * 3) / 4 = 1.5 for the pooled pair; the first point stays
    out = isotonic_increasing([0.0, 3.0, 1.0], [1.0, 1.0, 3.0])
    np.testing.assert_allclose(out, [0.0, 1.5, 1.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(isotonic_decreasing([1.0, 3.0, 2.0], [1.0, 1.0, 1.0]), [2.0, 2.0, 2.0])


def test_empty_and_single():
    assert isotonic_increasing([], []).size == 0
    assert isotonic_increasing([4.0], [2.0]).tolist() == [4.0]


@settings(max_examples=200, deadline=None)
@given(
    yw=st.lists(
        st.tuples(st.floats(-100, 100, allow_nan=False), st.floats(0.01, 100, allow_nan=False)), min_size=1, max_size=40
    )
)
def test_matches_scipy(yw):
    y = np.array([a for a, _ in yw])
    w = np.array([b for _, b in yw])
    ours = isotonic_increasing(y, w)
    ref = isotonic_regression(y, weights=w, increasing=True).x
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(ours) >= -1e-12)
    # weighted mean is preserved by pooling
    assert float(w @ ours) == pytest.approx(float(w @ y), rel=1e-9, abs=1e-9)
