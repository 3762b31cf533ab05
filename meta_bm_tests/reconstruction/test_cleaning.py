"""Cleaning of digitized clicks: sorting, clamping, isotonic L1 fit, duplicates, origin, swapped corners
(pairs in the cleaned clicks, whole clusters in the censoring fit's view).

Expected curves are worked out by hand in the comments; the isotonic fit is checked against an exhaustive
search, which is exact because an L1 isotonic fit can always be chosen among the data values.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from meta_bm.reconstruction.cleaning import (
    VERTICAL_TOLERANCE,
    CleanCurve,
    CleaningChange,
    clean_clicks,
    isotonic_decreasing_l1,
)
from meta_bm.reconstruction.parsing import clicks_from_arrays, parse_clicks

ACTIONS = {"sorted", "moved", "clamped", "adjusted", "removed", "snapped", "added"}


def clean(time, surv, source="arm.csv"):
    clicks = clicks_from_arrays(time, surv, source=source)
    return clicks, clean_clicks(clicks)


def log_for(curve: CleanCurve, row: int | None, action: str | None = None) -> list[CleaningChange]:
    return [c for c in curve.log if c.row == row and (action is None or c.action == action)]


def assert_every_change_logged(clicks, curve: CleanCurve) -> None:
    """Each input row is either in the output unchanged, or has a log entry; removed rows say so."""
    out = {int(r): (float(t), float(s)) for r, t, s in zip(curve.rows, curve.time, curve.survival, strict=True)}
    for r, t, s in zip(clicks.rows, clicks.time, clicks.survival, strict=True):
        r = int(r)
        if r not in out:
            assert log_for(curve, r, "removed"), f"row {r} vanished without a 'removed' log entry"
        elif out[r][0] != float(t) or abs(out[r][1] - float(s)) > 1e-12:
            # (the isotonic step deliberately ignores survival changes of 1e-12 or less)
            assert log_for(curve, r), f"row {r} changed {(t, s)} -> {out[r]} without a log entry"
    input_rows = set(clicks.rows.tolist())
    for change in curve.log:
        assert change.action in ACTIONS
        assert change.reason.strip()
        assert change.row is None or change.row in input_rows
        assert (f"row {change.row}" if change.row is not None else "new point") in str(change)
        assert change.reason in str(change)


def running_min(y):
    return np.minimum.accumulate(np.asarray(y, float))


def l1(a, b) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).sum())


def brute_force_l1(y) -> float:
    """Smallest L1 loss of any non-increasing sequence, by exhaustive search over the data values."""
    y = np.asarray(y, float)
    values = sorted(set(y.tolist()), reverse=True)
    return min(l1(cand, y) for cand in itertools.combinations_with_replacement(values, y.size))


# --------------------------------------------------------------------------------------------------
# a stray low click


def test_stray_low_click_is_raised_not_propagated():
    t = [0, 1, 2, 3, 4, 5]
    s = [1, 0.9, 0.5, 0.88, 0.87, 0.6]  # row 3 (0.5) is a mis-click
    clicks, c = clean(t, s)
    assert c.time.tolist() == [0, 1, 2, 3, 4, 5]
    # block {0.5, 0.88, 0.87} pools to its median 0.87; the others are untouched
    np.testing.assert_allclose(c.survival, [1, 0.9, 0.87, 0.87, 0.87, 0.6], rtol=0, atol=1e-15)
    rm = running_min(s)
    assert rm.tolist() == [1, 0.9, 0.5, 0.5, 0.5, 0.5]
    # a running minimum would drag rows 4-6 down to 0.5; the cleaned curve keeps them at their level
    assert np.all(c.survival[3:] > rm[3:])
    assert c.survival[5] == 0.6
    assert c.survival[2] == pytest.approx(min(0.9, 0.88, 0.87))  # raised to its neighbours
    assert l1(c.survival, s) < l1(rm, s)
    assert {ch.row for ch in c.log if ch.action == "adjusted"} == {3, 4}
    (adj3,) = log_for(c, 3, "adjusted")
    assert adj3.before == (2.0, 0.5)
    assert adj3.after == pytest.approx((2.0, 0.87))
    assert "isotonic" in adj3.reason
    assert_every_change_logged(clicks, c)


def test_stray_low_click_in_a_longer_curve():
    s = [1, 0.95, 0.9, 0.3, 0.85, 0.8, 0.75, 0.5]
    clicks, c = clean(np.arange(8.0), s)
    # pools: {0.3, 0.85} -> 0.575 < 0.8 -> {0.3, 0.85, 0.8} -> median 0.8
    np.testing.assert_allclose(c.survival, [1, 0.95, 0.9, 0.8, 0.8, 0.8, 0.75, 0.5], atol=1e-15)
    assert l1(c.survival, s) == pytest.approx(brute_force_l1(s))
    # clicks after the stray keep their own levels
    assert c.survival[6:].tolist() == [0.75, 0.5]
    assert running_min(s)[6:].tolist() == [0.3, 0.3]
    assert_every_change_logged(clicks, c)


def test_module_docstring_example_through_parser():
    c = clean_clicks(parse_clicks("0,1\n1,0.9\n2,0.5\n3,0.88\n4,0.87\n5,0.6\n", source="doc.csv"))
    assert c.source == "doc.csv"
    assert c.survival.round(3).tolist() == [1.0, 0.9, 0.87, 0.87, 0.87, 0.6]
    assert c.rows.tolist() == [1, 2, 3, 4, 5, 6]


# --------------------------------------------------------------------------------------------------
# isotonic_decreasing_l1


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        ([], []),
        ([0.4], [0.4]),
        ([3, 2, 2, 1], [3, 2, 2, 1]),
        ([1, 2], [1.5, 1.5]),  # even block: mean of the two middle values
        ([1, 3, 2], [2, 2, 2]),
        ([5, 1, 4, 4, 0], [5, 4, 4, 4, 0]),
        ([0, 0, 0, 9], [0, 0, 0, 0]),
        ([1, 2, 3, 4], [2.5, 2.5, 2.5, 2.5]),
    ],
)
def test_isotonic_hand_examples(y, expected):
    out = isotonic_decreasing_l1(np.array(y, float))
    np.testing.assert_allclose(out, expected, atol=1e-15)
    if len(y) > 1:
        assert l1(out, y) == pytest.approx(brute_force_l1(y))


def test_isotonic_returns_a_copy():
    y = np.array([3.0, 2.0, 1.0])
    out = isotonic_decreasing_l1(y)
    out[0] = 99
    assert y[0] == 3.0


@settings(max_examples=100, deadline=None)
@given(
    y=st.lists(st.one_of(st.integers(0, 4).map(float), st.floats(-1, 2, allow_nan=False)), min_size=1, max_size=7),
    cands=st.lists(st.lists(st.floats(-1, 2, allow_nan=False), min_size=7, max_size=7), min_size=1, max_size=5),
)
def test_isotonic_is_optimal(y, cands):
    y = np.array(y)
    out = isotonic_decreasing_l1(y)
    assert out.shape == y.shape
    assert np.all(np.diff(out) <= 0)
    assert out.min() >= y.min() and out.max() <= y.max()
    loss = l1(out, y)
    assert loss <= brute_force_l1(y) + 1e-9
    assert loss <= l1(running_min(y), y) + 1e-12
    for cand in cands:
        cand = np.sort(np.array(cand[: y.size]))[::-1]  # any non-increasing candidate
        assert loss <= l1(cand, y) + 1e-12
    if np.all(np.diff(y) <= 0):
        np.testing.assert_array_equal(out, y)


# --------------------------------------------------------------------------------------------------
# clamping


def test_clamping_small_excursions():
    clicks, c = clean([-0.05, 2, 4, 6, 10], [1.02, 0.8, 0.6, 0.3, -0.02])
    assert c.time.tolist() == [0.0, 2.0, 4.0, 6.0, 10.0]
    assert c.survival.tolist() == [1.0, 0.8, 0.6, 0.3, 0.0]
    assert c.rows.tolist() == [1, 2, 3, 4, 5]
    clamped = log_for(c, 1, "clamped")
    reasons = " | ".join(ch.reason for ch in clamped)
    assert "time below 0" in reasons and "survival above 1" in reasons
    assert clamped[0].before == (-0.05, 1.02)
    assert clamped[-1].after == (0.0, 1.0)
    (low,) = log_for(c, 5, "clamped")
    assert "survival below 0" in low.reason
    assert low.before == (10.0, -0.02) and low.after == (10.0, 0.0)
    assert "row 5" in str(low)
    # the clamped first click is the origin: nothing added, nothing snapped
    assert not [ch for ch in c.log if ch.action in ("added", "snapped")]
    assert {ch.row for ch in c.log} == {1, 5}
    assert_every_change_logged(clicks, c)


def test_clamped_time_reorders_at_zero():
    # (-0.1, 0.995) clamps to t=0 beside (0, 1): order at t=0 is survival descending (a rise of
    # 0.005 is below SWAPPED_RISE, so the two are not first taken as swapped corners)
    clicks, c = clean([0, -0.1, 5, 10], [1.0, 0.995, 0.7, 0.4])
    assert c.time.tolist() == [0, 0, 5, 10]
    assert c.survival.tolist() == [1.0, 0.995, 0.7, 0.4]
    assert c.rows.tolist() == [1, 2, 3, 4]
    (ch,) = log_for(c, 2, "clamped")
    assert ch.before == (-0.1, 0.995) and ch.after == (0.0, 0.995)
    assert_every_change_logged(clicks, c)


# --------------------------------------------------------------------------------------------------
# sorting and duplicates


def test_unsorted_clicks_are_sorted_and_logged():
    clicks, c = clean([5, 0, 2, 10], [0.6, 1.0, 0.9, 0.2])
    assert c.time.tolist() == [0, 2, 5, 10]
    assert c.survival.tolist() == [1.0, 0.9, 0.6, 0.2]
    assert c.rows.tolist() == [2, 3, 1, 4]
    (s,) = [ch for ch in c.log if ch.action == "sorted"]
    assert s.row is None and "reordered" in s.reason
    assert_every_change_logged(clicks, c)


def test_exact_duplicates_removed_and_logged():
    clicks, c = clean([0, 1, 1, 2, 3, 3], [1, 0.9, 0.9, 0.5, 0.4, 0.3])
    assert c.time.tolist() == [0, 1, 2, 3, 3]
    assert c.survival.tolist() == [1, 0.9, 0.5, 0.4, 0.3]
    removed = [ch for ch in c.log if ch.action == "removed"]
    assert len(removed) == 1
    assert removed[0].row in (2, 3)
    assert {2, 3} - {removed[0].row} <= set(c.rows.tolist())
    assert removed[0].before == (1.0, 0.9) and removed[0].after is None
    assert "duplicate" in removed[0].reason
    # same time, different survival is a vertical drop, not a duplicate: both (3, .4) and (3, .3) stay
    assert c.rows.tolist()[-2:] == [5, 6]
    assert_every_change_logged(clicks, c)


# --------------------------------------------------------------------------------------------------
# origin


def test_clean_input_is_unchanged_and_log_empty():
    t = [0, 1, 1, 3, 3, 7]
    s = [1, 1, 0.8, 0.8, 0.55, 0.55]
    _, c = clean(t, s)
    assert c.time.tolist() == t
    assert c.survival.tolist() == s
    assert c.rows.tolist() == [1, 2, 3, 4, 5, 6]
    assert c.log == []
    assert len(c) == 6


def test_origin_added_when_missing():
    clicks, c = clean([1, 2, 5], [0.9, 0.8, 0.5])
    assert c.time.tolist() == [0, 1, 2, 5]
    assert c.survival.tolist() == [1, 0.9, 0.8, 0.5]
    assert c.rows.tolist() == [-1, 1, 2, 3]
    (add,) = log_for(c, None, "added")
    assert add.before is None and add.after == (0.0, 1.0)
    assert "missing" in add.reason and "new point" in str(add)
    assert_every_change_logged(clicks, c)


def test_origin_added_below_a_first_click_at_zero():
    # a first click at t=0 but survival 0.95 is a drop at 0, not the origin
    _, c = clean([0, 5, 10], [0.95, 0.8, 0.5])
    assert c.time.tolist() == [0, 0, 5, 10]
    assert c.survival.tolist() == [1, 0.95, 0.8, 0.5]
    assert c.rows.tolist() == [-1, 1, 2, 3]


def test_first_click_near_origin_is_snapped():
    # time range 10: tolerance 0.05 in time, 0.01 in survival
    clicks, c = clean([0.03, 3, 10], [0.995, 0.7, 0.4])
    assert c.time.tolist() == [0, 3, 10]
    assert c.survival.tolist() == [1, 0.7, 0.4]
    assert c.rows.tolist() == [1, 2, 3]
    (snap,) = log_for(c, 1, "snapped")
    assert snap.before == (0.03, 0.995) and snap.after == (0.0, 1.0)
    assert not log_for(c, None, "added")
    assert_every_change_logged(clicks, c)


@pytest.mark.parametrize(
    ("t0", "s0"),
    [(0.08, 0.995), (0.03, 0.98), (0.5, 1.0)],
    ids=["too late", "too low", "flat start away from 0"],
)
def test_first_click_outside_tolerance_is_not_snapped(t0, s0):
    _, c = clean([t0, 3, 10], [s0, 0.7, 0.4])
    assert c.time.tolist() == [0, t0, 3, 10]
    assert c.survival.tolist() == [1, s0, 0.7, 0.4]
    assert c.rows.tolist() == [-1, 1, 2, 3]
    assert not [ch for ch in c.log if ch.action == "snapped"]
    assert len(log_for(c, None, "added")) == 1


# --------------------------------------------------------------------------------------------------
# swapped corners of a vertical drop


def test_swapped_corners_put_on_one_time_top_then_bottom():
    # drop at t=2 from 0.9 to 0.7; pixel noise put the bottom corner (2.00) before the top (2.01).
    # time range 10 -> corner tolerance 0.04
    t = [0, 1, 2.01, 2.00, 5, 10]
    s = [1, 0.9, 0.9, 0.7, 0.7, 0.5]
    clicks, c = clean(t, s)
    mid = (2.00 + 2.01) / 2
    np.testing.assert_allclose(c.time, [0, 1, mid, mid, 5, 10], rtol=0, atol=1e-15)
    assert c.time[2] == c.time[3]
    assert c.survival.tolist() == [1, 0.9, 0.9, 0.7, 0.7, 0.5]
    assert c.rows.tolist() == [1, 2, 3, 4, 5, 6]
    moved = {ch.row: ch for ch in c.log if ch.action == "moved"}
    assert set(moved) == {3, 4}
    assert moved[3].before[0] == 2.01 and moved[4].before[0] == 2.00
    assert moved[3].after[0] == pytest.approx(mid)
    assert all("vertical drop" in ch.reason for ch in moved.values())
    # no survival was changed: the drop keeps its full height instead of being pooled to 0.8
    assert not [ch for ch in c.log if ch.action == "adjusted"]
    assert_every_change_logged(clicks, c)


def test_rise_farther_apart_than_tolerance_is_not_a_corner():
    # 0.1 apart in a range of 10 is beyond the 0.04 corner tolerance: the isotonic fit handles it
    clicks, c = clean([0, 1, 2.1, 2.0, 5, 10], [1, 0.9, 0.9, 0.7, 0.7, 0.5])
    assert c.time.tolist() == [0, 1, 2.0, 2.1, 5, 10]
    assert not [ch for ch in c.log if ch.action == "moved"]
    # sorted: 0.7 (t=2.0) then 0.9 (t=2.1) pools to the median of {0.7, 0.9} = 0.8
    np.testing.assert_allclose(c.survival, [1, 0.9, 0.8, 0.8, 0.7, 0.5], atol=1e-15)
    assert_every_change_logged(clicks, c)


def test_swapped_pair_keeps_the_next_step_apart():
    # drop at t=2.00 (corners swapped by x-noise) and the next step's top corner at 2.03, within the
    # 0.04 tolerance: only the swapped pair moves; the next step keeps its own time.
    t = [0, 1, 2.01, 2.00, 2.03, 2.03, 10]
    s = [1, 0.9, 0.9, 0.7, 0.7, 0.6, 0.6]
    clicks, c = clean(t, s)
    mid = (2.00 + 2.01) / 2
    np.testing.assert_allclose(c.time, [0, 1, mid, mid, 2.03, 2.03, 10], rtol=0, atol=1e-15)
    assert c.survival.tolist() == [1, 0.9, 0.9, 0.7, 0.7, 0.6, 0.6]
    assert {ch.row for ch in c.log if ch.action == "moved"} == {3, 4}
    assert_every_change_logged(clicks, c)
    # the censoring fit's view groups the whole cluster within the tolerance on one time (one drop
    # from 0.9 to 0.6; the two 0.7 corners become one point)
    ct, cs = c.coarse
    whole = (2.01 + 2.00 + 2.03 + 2.03) / 4
    np.testing.assert_allclose(ct, [0, 1, whole, whole, whole, 10], rtol=0, atol=1e-15)
    assert cs.tolist() == [1, 0.9, 0.9, 0.7, 0.6, 0.6]


def test_big_rise_a_little_farther_apart_is_a_swapped_drop():
    # drop at t=2 from 0.9 to 0.7 with its corners 0.07 apart (beyond the 0.05 tolerance of a range
    # of 10.1, within twice it): a rise of 0.2 is no level clicked twice, so the pair is put on one
    # time instead of being pooled to a level halfway down the drop
    t = [0, 1, 2.04, 1.97, 5, 10.1]
    s = [1, 0.9, 0.9, 0.7, 0.7, 0.5]
    clicks, c = clean(t, s)
    mid = (2.04 + 1.97) / 2
    np.testing.assert_allclose(c.time, [0, 1, mid, mid, 5, 10.1], rtol=0, atol=1e-15)
    assert c.survival.tolist() == [1, 0.9, 0.9, 0.7, 0.7, 0.5]
    assert not [ch for ch in c.log if ch.action == "adjusted"]
    # a small rise that far apart is left to the isotonic fit
    _, c2 = clean(t, [1, 0.9, 0.9, 0.895, 0.7, 0.5])
    assert [ch.row for ch in c2.log if ch.action == "moved"] == []
    assert_every_change_logged(clicks, c)


def test_duplicated_corner_is_removed_before_pairing():
    # the bottom corner (2.00, 0.7) was exported twice; the copy must not split the swapped pair
    t = [0, 1, 2.01, 2.00, 2.00, 5, 10]
    s = [1, 0.9, 0.9, 0.7, 0.7, 0.7, 0.5]
    clicks, c = clean(t, s)
    mid = (2.00 + 2.01) / 2
    np.testing.assert_allclose(c.time, [0, 1, mid, mid, 5, 10], rtol=0, atol=1e-15)
    assert c.survival.tolist() == [1, 0.9, 0.9, 0.7, 0.7, 0.5]
    assert [ch.row for ch in c.log if ch.action == "removed"] == [5]
    assert not [ch for ch in c.log if ch.action == "adjusted"]
    assert_every_change_logged(clicks, c)


# --------------------------------------------------------------------------------------------------
# properties


@st.composite
def noisy_clicks(draw):
    tmax = draw(st.sampled_from([1.0, 12.0, 60.0, 1000.0]))
    n = draw(st.integers(3, 30))
    unit = st.floats(-0.01, 1.0, allow_nan=False)
    u = draw(st.lists(unit, min_size=n - 1, max_size=n - 1))
    times = [*(x * tmax for x in u), tmax]  # one click at tmax keeps every negative time an excursion
    order = draw(st.permutations(range(n)))
    times = [times[i] for i in order]
    surv = draw(
        st.one_of(
            st.lists(st.floats(-0.04, 1.04, allow_nan=False), min_size=n, max_size=n),
            # near-monotone curves with noise, the realistic case
            st.lists(st.floats(0, 1), min_size=n, max_size=n).map(lambda v: sorted(v, reverse=True)),
        )
    )
    noise = draw(st.lists(st.floats(-0.04, 0.04, allow_nan=False), min_size=n, max_size=n))
    surv = [min(max(a + b, -0.04), 1.04) for a, b in zip(surv, noise, strict=True)]
    # round some clicks onto a grid so ties and exact duplicates occur
    if draw(st.booleans()):
        times = [round(x, 1) for x in times]
        surv = [round(x, 2) for x in surv]
    assume(max(times) > 0 and min(times) != max(times))
    return np.array(times), np.array(surv)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=noisy_clicks())
def test_cleaned_curve_properties(data):
    t, s = data
    clicks, c = clean(t, s)
    assert c.time.size == c.survival.size == c.rows.size
    assert np.all(np.diff(c.time) >= 0)
    assert np.all(np.diff(c.survival) <= 0)
    assert np.all((c.survival >= 0) & (c.survival <= 1))
    assert c.time[0] == 0.0 and c.survival[0] == 1.0
    assert np.all(c.time >= 0)
    # the last time is kept, up to a swapped-corner merge within VERTICAL_TOLERANCE of the range
    span = t.max() - min(t.min(), 0.0)
    assert t.max() - VERTICAL_TOLERANCE * span <= c.time[-1] <= t.max()
    # each input row survives at most once; -1 only for an added origin, at the front
    real = c.rows[c.rows != -1].tolist()
    assert len(real) == len(set(real))
    assert set(real) <= set(clicks.rows.tolist())
    assert (c.rows == -1).sum() == (1 if c.rows[0] == -1 else 0)
    logged = {ch.row for ch in c.log}
    assert all(r in real or r in logged for r in clicks.rows.tolist())
    assert_every_change_logged(clicks, c)
    # no exact duplicate points remain
    assert not np.any((np.diff(c.time) == 0) & (np.diff(c.survival) == 0))
    # the censoring fit's view is a cleaned curve too
    ct, cs = c.coarse
    assert ct.size == cs.size and ct[0] == 0.0 and cs[0] == 1.0
    assert np.all(np.diff(ct) >= 0) and np.all(np.diff(cs) <= 0)
    assert np.all((cs >= 0) & (cs <= 1)) and np.all(ct >= 0)
    assert not np.any((np.diff(ct) == 0) & (np.diff(cs) == 0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=noisy_clicks())
def test_cleaning_is_idempotent(data):
    _, c = clean(*data)
    assume(len(c) >= 3)  # duplicates can leave fewer points than clicks_from_arrays accepts
    _, again = clean(c.time, c.survival)
    np.testing.assert_array_equal(again.time, c.time)
    np.testing.assert_array_equal(again.survival, c.survival)
    assert again.log == []
