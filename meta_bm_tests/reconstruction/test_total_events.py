"""Meeting a published total of events: flags flipped where the curve moves least, calibration shares."""

from __future__ import annotations

import numpy as np

from meta_bm.reconstruction.total_events import apportion, calibrate_intervals, flip_to_total


def test_total_events_flips_where_the_curve_moves_least():
    times = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 10.0])
    events = np.array([1, 0, 1, 0, 1, 0, 1, 0, 0, 0], np.int8)
    # one more event: the censoring with the least area after it per patient at risk is at t = 8
    # (KM 0.492 for 2 time units, over 3 at risk), not an end-of-follow-up one (no drop the figure shows there)
    out = flip_to_total(times, events, 5, 10.0)
    assert out.sum() == 5
    assert np.flatnonzero(out != events).tolist() == [7]
    # one fewer: the latest event (t = 7) lifts the curve least
    out = flip_to_total(times, events, 3, 10.0)
    assert np.flatnonzero(out != events).tolist() == [6]
    # more than the censorings before the end: the end-of-follow-up ones are used last
    out = flip_to_total(times, events, 9, 10.0)
    assert out.sum() == 9 and out[8:].sum() == 1


def test_apportion_is_largest_remainder_and_capped():
    # 5 over capacities 3, 2, 1 (total 6): exact shares 2.5, 1.67, 0.83 -> 2, 1, 0 then the
    # largest remainders (0.83, 0.67) get one each
    assert apportion(np.array([3, 2, 1]), 5).tolist() == [2, 2, 1]
    assert apportion(np.array([1, 1]), 5).tolist() == [1, 1]  # never above capacity
    assert apportion(np.array([0, 0]), 3).tolist() == [0, 0]


def test_calibration_moves_censorings_into_events_inside_risk_intervals():
    # intervals: events 4, 2 and the last interval's 3; censorings 6, 2 (last 0); total 12 needs 3
    # more, taken from the risk intervals' censorings in proportion (6:2 -> 2, 1 by largest remainder)
    events, censored = calibrate_intervals([4, 2, 3], [6, 2, 0], 12)
    assert events == [6, 3, 3] and censored == [4, 1, 0]
    assert calibrate_intervals([4, 2, 3], [6, 2, 0], 9) is None  # already met
    assert calibrate_intervals([3], [0], 5) is None  # no risk interval to move anything in
