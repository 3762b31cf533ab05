"""The exact path: an exact KM curve with exact censoring marks gives back the exact IPD.

The inputs are built straight from known IPD, as a vector figure holds them: the KM corners (both
ends of every horizontal run), the distinct censored times as the marks, and the numbers at risk
(patients with time >= t) at the axis ticks, or only N.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meta_bm.reconstruction import reconstruct_arrays
from meta_bm.reconstruction.exact_path import NotExact, exact_ipd
from meta_bm.simulation.km_figures import month_ticks, simulate_arms
from meta_bm.survival.km import kaplan_meier

# Times and counts must come back to this (the coordinates are exact here; the PDF reader's are to ~1e-7).
EXACT = 1e-6


def corners(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both ends of every horizontal run of the KM of (time, event), from (0, 1) to the last time."""
    km = kaplan_meier(np.asarray(time, float), np.asarray(event))
    has = km.n_event > 0
    ts, after = km.time[has], km.survival[has]
    before = np.concatenate(([1.0], after[:-1]))[: after.size]
    t = np.concatenate(([0.0], np.repeat(ts, 2), [float(np.max(time))]))
    s = np.concatenate(([1.0], np.column_stack([before, after]).ravel(), [after[-1] if after.size else 1.0]))
    return t, s


def at_risk(time: np.ndarray, at) -> list[int]:
    return [int((time >= x).sum()) for x in at]


def reconstruct_exactly(time, event, risk_time=None, total_n=None, **kw):
    time, event = np.asarray(time, float), np.asarray(event)
    t, s = corners(time, event)
    marks = np.unique(time[event == 0])
    if risk_time is not None:
        kw |= {"risk_time": risk_time, "n_risk": at_risk(time, risk_time)}
    return reconstruct_arrays(t, s, total_n=total_n, censor_times=marks, exact_marks=True, **kw)


def same_ipd(rec, time, event) -> bool:
    """Sorted event times and censored times equal to EXACT, counts equal."""
    for flag in (0, 1):
        want, got = np.sort(np.asarray(time)[np.asarray(event) == flag]), np.sort(rec.time[rec.event == flag])
        if want.size != got.size or (want.size and np.abs(want - got).max() > EXACT):
            return False
    return True


def reproduces_inputs(rec, time, event, risk_time) -> bool:
    """The reconstruction's KM goes through every corner, its censored times are the marks and it
    meets every number at risk: what any IPD the data allow must do."""
    time, event = np.asarray(time, float), np.asarray(event)
    truth, got = kaplan_meier(time, event), kaplan_meier(rec.time, rec.event)
    drops = np.unique(time[event == 1])
    s_true = truth.survival[np.searchsorted(truth.time, drops)]
    s_got = got.survival[np.searchsorted(got.time, drops)] if got.time.size else np.ones(drops.size)
    same_drops = np.array_equal(np.unique(rec.time[rec.event == 1]), drops)
    same_marks = np.array_equal(np.unique(rec.time[rec.event == 0]), np.unique(time[event == 0]))
    table = risk_time is None or at_risk(rec.time, risk_time) == at_risk(time, risk_time)
    return bool(same_drops and np.abs(s_true - s_got).max(initial=0.0) < 1e-12 and same_marks and table)


# ---- the bug that started it --------------------------------------------------------------------------


def test_seed_21_non_surgical_comes_back_exact():
    # The general path read 51 censorings into 12-18 (50 true: Guyot's even-censoring count),
    # capped the event at 17.94 to keep 31 at risk at 18 and caught it up at 18.02, leaving the
    # interval 18-24 one censoring short of its 27 marks.
    label, time, event = simulate_arms(2, 21)[1]
    assert label == "Non-surgical"
    ticks = month_ticks(time.max())[1]
    rec = reconstruct_exactly(time, event, risk_time=ticks)
    assert same_ipd(rec, time, event)
    assert rec.warnings == [] and rec.inputs["exact_path"]
    assert rec.intervals.row(3, named=True)["events"] == 4 and rec.intervals.row(3, named=True)["censored"] == 27
    assert rec.fidelity.max_abs_error < 1e-12


# ---- many simulated arms ------------------------------------------------------------------------------

SEEDS = range(40)


@pytest.mark.parametrize("with_table", [True, False], ids=["risk table", "total N only"])
def test_simulated_arms_come_back_exact(with_table):
    # 40 seeds x 2 arms, 30-300 patients each, continuous times (to 1e-6 month): every arm exact.
    n_exact, last_zero = 0, 0
    for seed in SEEDS:
        for _, time, event in simulate_arms(2, seed):
            ticks = month_ticks(time.max())[1]
            rec = reconstruct_exactly(time, event, risk_time=ticks if with_table else None, total_n=time.size)
            assert rec.warnings == [], (seed, rec.warnings)
            assert rec.inputs["exact_path"]
            n_exact += same_ipd(rec, time, event)
            last_zero += at_risk(time, ticks[-1:]) == [0]
    assert n_exact == 2 * len(SEEDS)
    assert last_zero > len(SEEDS)  # most tables end with 0 at risk (the axis ends after the last time)


@pytest.mark.parametrize("whole", [0.1, 0.5, 1.0])
def test_tied_times_come_back_as_far_as_the_data_say(whole):
    # Times rounded to `whole` months: tied events, several censored at one mark, censored at event
    # and risk times. The data fix the events and the number at risk at every drop, but not how the
    # censorings between two drops share several marks: the reconstruction always reproduces every
    # figure, is exact whenever it warns of nothing, and says what it could not tell otherwise.
    counts = {"exact": 0, "warned": 0, "exact events": 0}
    for seed in SEEDS:
        for _, time, event in simulate_arms(2, seed):
            time = np.maximum(np.round(time / whole) * whole, whole)
            ticks = month_ticks(time.max())[1]
            rec = reconstruct_exactly(time, event, risk_time=ticks)
            assert rec.inputs["exact_path"] and reproduces_inputs(rec, time, event, ticks)
            exact = same_ipd(rec, time, event)
            counts["exact"] += exact
            counts["warned"] += bool(rec.warnings)
            assert exact or rec.warnings
            if not any("allow more than one number at risk" in w for w in rec.warnings):
                got, want = np.sort(rec.time[rec.event == 1]), np.sort(time[event == 1])
                counts["exact events"] += 1
                np.testing.assert_allclose(got, want, atol=EXACT, rtol=0)
    n = 2 * len(SEEDS)
    assert counts["exact"] >= n // 5  # measured: 0.1: 27, 0.5: 24, 1.0: 23 of 80
    assert counts["exact events"] >= n * 7 // 8  # measured: 0.1: 79, 0.5: 78, 1.0: 72 of 80


# ---- ties built by hand -------------------------------------------------------------------------------

# 20 patients: 3 die together at 2; 3 censored at 3 (one mark, alone between the drops at 2 and 4);
# at 4 one dies and 2 are censored (censored at an event time: at risk there); one dies and one is
# censored at the risk time 6; the last 5 censored together at 10, the end.
TIME = np.array([1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 6, 6, 7, 8, 10, 10, 10, 10, 10], float)
EVENT = np.array([1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("risk_time", [[0, 3, 6, 9, 12], [0, 6], None], ids=["table", "short table", "N"])
def test_hand_built_ties_come_back_exact(risk_time):
    rec = reconstruct_exactly(TIME, EVENT, risk_time=risk_time, total_n=TIME.size)
    assert same_ipd(rec, TIME, EVENT)
    # After the last drop (7) the 6 left are censored at the marks 8 and 10: how they share them
    # only the count at risk at 9 says; without it they go to the end of follow-up (right here).
    unsaid = (
        []
        if risk_time and 9 in risk_time
        else [
            "exact curve: 4 patient(s) beyond one per mark after the last drop were censored at the last mark "
            "(the curve does not say which mark holds them)"
        ]
    )
    assert rec.warnings == unsaid


def test_ties_at_several_marks_between_two_drops_are_shared_and_said():
    # 3 censored at 2.5 and 1 at 3 between the drops at 2 and 4: 4 censorings over 2 marks, which
    # mark holds the extra ones the curve cannot say (shared evenly: 2 and 2); the rest is exact.
    time = np.array([1, 2, 2.5, 2.5, 2.5, 3, 4, 5, 6, 6], float)
    event = np.array([1, 1, 0, 0, 0, 0, 1, 1, 0, 0])
    rec = reconstruct_exactly(time, event, total_n=10)
    cens = rec.time[rec.event == 0]
    assert [int((cens == m).sum()) for m in (2.5, 3.0, 6.0)] == [2, 2, 2]
    np.testing.assert_array_equal(np.sort(rec.time[rec.event == 1]), [1, 2, 4, 5])
    assert any("2 censoring(s) beyond one per mark fall between drops with several marks" in w for w in rec.warnings)


def test_a_drop_the_data_cannot_pin_is_said():
    # 2 at risk at 1, both die (S 0): 1 of 1 and 2 of 2 look the same, and no table tells whether
    # the mark at 0.5 held one patient or two.
    time, event = np.array([0.5, 0.5, 1, 1]), np.array([0, 0, 1, 1])
    t, s = corners(time, event)
    rec = reconstruct_arrays(t, s, total_n=4, censor_times=[0.5], exact_marks=True)
    # (ties among events are scored a little dearer than among censorings: 1 of 1 is kept)
    assert rec.event.sum() == 1 and (rec.time[rec.event == 0] == 0.5).sum() == 3
    assert any("allow more than one number at risk" in w for w in rec.warnings)


# ---- when no IPD fits exactly --------------------------------------------------------------------------


def test_merged_drops_with_a_mark_between_fall_back_with_a_warning():
    # The plotting program merged the drops at 4 and 4.01 (with a censoring between) into one:
    # 20 at risk, 1 dies at 4, 1 censored at 4.005, 1 of 18 dies at 4.01. One drop of
    # 1 - (19/20)(17/18) = 31/360 is no d / n with n <= 20: the general path runs, and says why.
    time = np.array([4, 4.005, 4.01] + [9] * 17, float)
    event = np.array([1, 0, 1] + [0] * 17)
    t, s = corners(time, event)
    t, s = np.delete(t, [2, 3]), np.delete(s, [2, 3])  # (the corners between the two drops)
    rec = reconstruct_arrays(t, s, risk_time=[0, 5], n_risk=[20, 17], censor_times=[4.005, 9.0], exact_marks=True)
    assert "exact_path" not in rec.inputs
    assert any("admit no exact IPD (no number at risk at the drop at 4" in w for w in rec.warnings)
    assert rec.fidelity.risk_table["difference"].to_list() == [0, 0]


def test_a_missing_mark_falls_back():
    # the table needs a censoring before 5 that no mark shows
    t, s = corners(np.array([2, 3, 6, 8.0]), np.array([1, 0, 1, 0]))
    rec = reconstruct_arrays(t, s, risk_time=[0, 5], n_risk=[4, 2], censor_times=[8.0], exact_marks=True)
    assert "exact_path" not in rec.inputs
    assert any(
        "admit no exact IPD (no number at risk at the risk time 5 (2 at risk published)" in w for w in rec.warnings
    )


def test_published_total_events_is_a_constraint():
    time, event = TIME, EVENT
    t, s = corners(time, event)
    marks = np.unique(time[event == 0])
    ticks = [0, 3, 6, 9, 12]
    kw = {"risk_time": ticks, "n_risk": at_risk(time, ticks), "censor_times": marks, "exact_marks": True}
    rec = reconstruct_arrays(t, s, total_events=int(event.sum()), **kw)
    assert same_ipd(rec, time, event) and rec.warnings == []
    other = reconstruct_arrays(t, s, total_events=int(event.sum()) + 1, **kw)
    assert any("the curve holds 8 events, the published total is 9" in w for w in other.warnings)
    assert int(other.event.sum()) == 9


def test_exact_ipd_says_where_it_fails():
    with pytest.raises(NotExact, match="the drop at 2"):
        # a drop of a third from 10 at risk: no whole d / n with n = 10
        exact_ipd(
            np.array([0, 2, 2, 3.0]),
            np.array([1, 1, 2 / 3, 2 / 3]),
            np.array([3.0]),
            np.array([0.0]),
            np.array([10]),
            3.0,
        )


# ---- random small IPD with ties --------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.integers(1, 12), st.booleans()), min_size=1, max_size=40),
    st.sampled_from([None, (0, 4, 8), (0, 3, 6, 9, 12)]),
)
def test_any_ipd_on_a_grid_is_reproduced_exactly(rows, risk_time):
    # whole-number times: ties everywhere. Whatever IPD the exact path picks reproduces every
    # corner, mark and number at risk, and it is the truth whenever it warns of nothing.
    time = np.array([r[0] for r in rows], float)
    event = np.array([int(r[1]) for r in rows])
    assume(event.any())  # (a curve without a drop is two clicks, refused as too few)
    rec = reconstruct_exactly(time, event, risk_time=risk_time, total_n=time.size)
    assert rec.inputs.get("exact_path"), rec.warnings
    assert reproduces_inputs(rec, time, event, risk_time)
    if not rec.warnings:
        assert same_ipd(rec, time, event)
