"""Censoring marks: censorings at the marks' times, counts from the step heights, against known IPD."""

from __future__ import annotations

import numpy as np
import pytest

from meta_bm.errors import MAX_CLICKS, InputError
from meta_bm.reconstruction import (
    CensorMarks,
    parse_censor_marks,
    read_censor_marks,
    reconstruct,
    reconstruct_arrays,
)
from meta_bm.reconstruction.censor_marks import gap_counts, survivors_at_marks
from meta_bm.simulation import CAREFUL, digitize, km_area_difference, simulate_ipd
from meta_bm_tests.reconstruction.test_engine import corner_clicks


def ipd(rec) -> list[tuple[float, int]]:
    return sorted(zip(rec.time.tolist(), rec.event.tolist(), strict=True))


# 18 patients: two censored at 5 (one mark), events and censorings together at 10, 12 the end.
TIME = np.array([1, 1, 2, 3, 3.5, 4, 5, 5, 6, 7, 8, 9, 10, 10, 10, 11, 12, 12], float)
EVENT = np.array([1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0])
MARKS = np.unique(TIME[EVENT == 0])  # 2, 3.5, 5, 8, 10, 12


def test_exact_clicks_and_true_marks_recover_the_ipd():
    t, s = corner_clicks(TIME, EVENT)
    n_risk = [18, 13, 8]
    assert n_risk == [int((TIME >= r).sum()) for r in (0, 4, 8)]
    rec = reconstruct_arrays(t, s, risk_time=[0, 4, 8], n_risk=n_risk, censor_times=MARKS[::-1])  # (any order)
    assert ipd(rec) == sorted(zip(TIME.tolist(), EVENT.tolist(), strict=True))
    assert rec.warnings == []
    assert rec.inputs["n_censor_marks"] == MARKS.size
    # without the marks the censorings are spread: the events are right, the censored times are not
    plain = reconstruct_arrays(t, s, risk_time=[0, 4, 8], n_risk=n_risk)
    assert sorted(plain.time[plain.event == 1].tolist()) == sorted(TIME[EVENT == 1].tolist())
    assert sum(x in MARKS for x in plain.time[plain.event == 0].tolist()) == 3  # of 9


def test_exact_clicks_and_true_marks_without_a_table():
    # Without a table the number at a mark leans toward one (LAST_PRIOR_WEIGHT): the two censored at
    # 5 are read from the drop at 6, but of the two at 10 (with an event) one is read as a survivor.
    t, s = corner_clicks(TIME, EVENT)
    rec = reconstruct_arrays(t, s, total_n=18, censor_times=MARKS)
    assert sorted(rec.time[rec.event == 1].tolist()) == sorted(TIME[EVENT == 1].tolist())
    cens = rec.time[rec.event == 0]
    assert np.isin(cens, MARKS).all() and rec.warnings == []
    assert [int((cens == m).sum()) for m in MARKS] == [1, 1, 2, 1, 1, 3]  # truth: 1, 1, 2, 1, 2, 2
    plain = reconstruct_arrays(t, s, total_n=18)
    assert np.isin(plain.time[plain.event == 0], MARKS).sum() == 1


def test_two_patients_at_one_mark_are_read_from_the_step_height():
    # 10 at risk; 1 dies at 1 (S .9), two censored at 2 (one mark), then 1 of 7 dies at 3:
    # S = .9 * 6/7. One censoring at the mark would read that drop as 1 of 8.
    time = np.array([1, 2, 2, 3, 4, 4, 4, 4, 4, 4], float)
    event = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    t, s = corner_clicks(time, event)
    rec = reconstruct_arrays(t, s, total_n=10, censor_times=[2.0, 4.0])
    assert ipd(rec) == sorted(zip(time.tolist(), event.tolist(), strict=True))


def test_duplicated_mark_times_are_two_marks():
    # 9 patients left after the last drop are shared evenly between the marks after it: two marks
    # on one spot take two shares.
    rec = reconstruct_arrays([0, 1, 1, 4], [1, 1, 0.9, 0.9], total_n=10, censor_times=[2.0, 4.0, 2.0])
    assert (rec.time[rec.event == 0] == 2.0).sum() == 6
    assert (rec.time[rec.event == 0] == 4.0).sum() == 3
    assert rec.event.sum() == 1 and rec.warnings == []


def test_more_marks_than_censorings_warns_and_keeps_to_the_table():
    # 20 at risk, 2 die at 2, 16 at risk at 4: 2 censorings in [0, 4) but three marks there.
    rec = reconstruct_arrays(
        [0, 2, 2, 5, 5, 8], [1, 1, 0.9, 0.9, 0.75, 0.75], risk_time=[0, 4], n_risk=[20, 16], censor_times=[1, 2.5, 3]
    )
    first = rec.intervals.row(0, named=True)
    assert (first["events"], first["censored"]) == (2, 2)
    cens = rec.time[(rec.event == 0) & (rec.time < 4)]
    assert set(cens.tolist()) <= {1.0, 2.5, 3.0} and cens.size == 2
    assert any("1 censoring mark(s) more than the censorings" in w for w in rec.warnings)
    assert rec.fidelity.risk_table["difference"].to_list() == [0, 0]


def test_censorings_the_table_needs_without_a_mark_are_spread_and_warned():
    rec = reconstruct_arrays(
        [0, 2, 2, 5, 5, 8], [1, 1, 0.9, 0.9, 0.75, 0.75], risk_time=[0, 4], n_risk=[20, 16], censor_times=[6.0, 8.0]
    )
    assert ((rec.time < 4) & (rec.event == 0)).sum() == 2  # the table still holds
    assert any("interval 0-4: 2 censoring(s) placed without a censoring mark" in w for w in rec.warnings)
    after = rec.time[(rec.event == 0) & (rec.time >= 4)]
    assert set(after.tolist()) <= {6.0, 8.0}


def test_survivors_without_a_mark_after_the_last_drop_stay_at_the_end_with_a_warning():
    t, s = corner_clicks(TIME, EVENT)
    rec = reconstruct_arrays(t, s, total_n=18, censor_times=MARKS[MARKS < 11])
    assert any("no censoring mark follows the last drop" in w for w in rec.warnings)
    assert (rec.time[rec.event == 0] == 12.0).sum() >= 2


def test_no_marks_at_all_on_an_uncensored_curve():
    time = np.arange(1.0, 11.0)
    t, s = corner_clicks(time, np.ones(10, int))
    rec = reconstruct_arrays(t, s, total_n=10, censor_times=[])
    np.testing.assert_array_equal(np.sort(rec.time), time)
    assert rec.event.sum() == 10 and rec.warnings == []


def test_gap_counts_by_hand():
    # drops at which 0.2 and 2.9 censorings are implied; marks before each drop, none after:
    # one censoring at the first mark, two at the second, none after the last drop
    x, excess, unmarked = gap_counts(np.array([0.2, 2.9]), np.ones(2), np.array([1, 1, 0]), 3, True)
    assert (x.tolist(), excess, unmarked) == ([1, 2, 0], 0, 0)
    # three marks, one censoring: the gap the step heights point to (before the second drop) wins
    x, excess, _ = gap_counts(np.array([0.0, 1.0]), np.ones(2), np.array([1, 1, 1]), 1, True)
    assert (x.tolist(), excess) == ([0, 1, 0], 2)
    # no mark in the interval: the counts force the censorings where the heights say
    x, _, unmarked = gap_counts(np.array([0.0, 2.0]), np.ones(2), np.array([0, 0, 0]), 2, True)
    assert (x.tolist(), unmarked) == ([0, 2, 0], 2)
    # the last interval: the gap after the last drop gets one per mark, the rest are survivors
    x, _, _ = gap_counts(np.array([0.0, 1.0]), np.ones(2), np.array([0, 1, 2]), 10, False)
    assert x.tolist() == [0, 1, 2]


def test_survivors_share_the_marks_after_the_last_drop():
    out, left = survivors_at_marks(np.array([1.0, 5.0, 7.0]), np.array([1.0, 5.0, 7.0]), 4.0, 4)
    assert (out.tolist(), left) == ([1.0, 5.0, 5.0, 5.0, 7.0, 7.0, 7.0], 0)
    out, left = survivors_at_marks(np.array([1.0]), np.array([1.0]), 4.0, 3)
    assert (out.tolist(), left) == ([1.0], 3)


# --- simulated curves: marks help on average -------------------------------------------------------


def censor_time_error(rec, time, event) -> float:
    """Mean |difference| / follow-up of the censored times matched by order (at equal quantiles)."""
    a = np.sort(rec.time[rec.event == 0])
    b = np.sort(time[event == 0])
    n = max(a.size, b.size)
    q = (np.arange(n) + 0.5) / n
    return float(np.mean(np.abs(a[(q * a.size).astype(int)] - b[(q * b.size).astype(int)])) / time.max())


def simulated_errors(with_table: bool, marks: str) -> tuple[float, float]:
    """Mean area between KMs and censoring-time error over 12 careful digitizations (fixed seeds)."""
    area, cens = [], []
    for seed in range(12):
        truth = simulate_ipd(80 + 20 * (seed % 4), shape=1.2, median=12, dropout_rate=0.03, seed=seed)
        sim = digitize(truth.time, truth.event, CAREFUL, seed=seed)
        times = np.unique(truth.time[truth.event == 0])
        if marks == "jittered":  # up to half a pixel of a 600 px plot either way
            px = sim.x_max / 600
            times = np.clip(times + np.random.default_rng(seed).uniform(-px / 2, px / 2, times.size), 0, None)
        kw = {"risk_time": sim.risk_time, "n_risk": sim.n_risk} if with_table else {"total_n": sim.total_n}
        rec = reconstruct_arrays(
            sim.click_time, sim.click_survival, censor_times=None if marks == "none" else times, **kw
        )
        area.append(km_area_difference(rec.time, rec.event, truth.time, truth.event, float(truth.time.max())))
        cens.append(censor_time_error(rec, truth.time, truth.event))
    return float(np.mean(area)), float(np.mean(cens))


@pytest.mark.parametrize(
    ("with_table", "area_ratio", "cens_ratio"),
    # measured (none -> exact, jittered): with a table area .00247 -> .00183, .00167, censoring
    # .0232 -> .0065, .0059; N only area .00364 -> .00270, .00266, censoring .0242 -> .0172, .0173
    [(True, 0.85, 0.4), (False, 0.8, 0.8)],
    ids=["risk table", "N only"],
)
def test_marks_improve_simulated_reconstructions(with_table, area_ratio, cens_ratio):
    area0, cens0 = simulated_errors(with_table, "none")
    for marks in ("exact", "jittered"):
        area, cens = simulated_errors(with_table, marks)
        assert area < area_ratio * area0, (marks, area, area0)
        assert cens < cens_ratio * cens0, (marks, cens, cens0)


# --- input checks ------------------------------------------------------------------------------


def test_marks_out_of_range_are_refused_naming_the_source():
    t, s = [0, 2, 2, 5, 5, 8], [1, 1, 0.9, 0.9, 0.75, 0.75]
    with pytest.raises(InputError, match=r"arm\.csv, row 2: censoring mark at a negative time -1"):
        reconstruct_arrays(t, s, total_n=20, censor_times=[1, -1], source="arm.csv")
    with pytest.raises(InputError, match=r"row 1: censoring mark at 9 is after the curve's end at 8"):
        reconstruct_arrays(t, s, total_n=20, censor_times=[9.0], source="arm.csv")
    with pytest.raises(InputError, match="non-finite"):
        reconstruct_arrays(t, s, total_n=20, censor_times=[1.0, np.nan])
    with pytest.raises(InputError, match="sequence of numbers"):
        reconstruct_arrays(t, s, total_n=20, censor_times=["a"])
    with pytest.raises(InputError, match="1-D"):
        reconstruct_arrays(t, s, total_n=20, censor_times=[[1.0, 2.0]])
    with pytest.raises(InputError, match="above the limit"):
        reconstruct_arrays(t, s, total_n=20, censor_times=np.ones(MAX_CLICKS + 1))
    # a mark a pixel past the end is the end
    rec = reconstruct_arrays(t, s, total_n=20, censor_times=[8.01])
    assert rec.time.max() == 8.0


def test_a_bad_mark_from_a_file_names_file_and_row():
    marks = parse_censor_marks("time\n1\n\n# late\n30\n", "arm_censor.csv")
    clicks_t, clicks_s = [0, 2, 2, 5, 5, 8], [1, 1, 0.9, 0.9, 0.75, 0.75]
    from meta_bm.reconstruction import clicks_from_arrays

    with pytest.raises(InputError, match=r"arm_censor\.csv, row 5: censoring mark at 30 is after"):
        reconstruct(clicks_from_arrays(clicks_t, clicks_s), total_n=20, censor_times=marks)


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("time\n3\n1.5\n", [3.0, 1.5]),
        ("3\n1.5\n", [3.0, 1.5]),
        ("# marks read from fig 2\ntime\n2,5\n4\n", [2.5, 4.0]),  # decimal comma, one column
        ("2,5\n4,0\n", [2.5, 4.0]),  # no '.' anywhere: decimal commas
        ("time;survival\n2,5;0,8\n4;0,7\n", [2.5, 4.0]),
        ("survival,time\n0.8,2.5\n0.7,4\n", [2.5, 4.0]),  # the header names the time column
        ("2.5,0.8\n4,0.7\n", [2.5, 4.0]),  # no header: time first
        ("2.5\t0.8\n4\t0.7\n", [2.5, 4.0]),
        ("\ufefftime\r\n1\r\n1\r\n", [1.0, 1.0]),  # duplicates kept: two marks
        ("time\n", []),  # a curve without marks
    ],
)
def test_parse_censor_marks(text, expected):
    marks = parse_censor_marks(text, "k_censor.csv")
    assert isinstance(marks, CensorMarks)
    assert marks.time.tolist() == expected
    assert marks.source == "k_censor.csv"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("when\n1\n", "header must name a 'time' column, found 'when'"),
        ("time\n1\nabc\n", "row 3: non-numeric censoring mark time 'abc'"),
        ("time\n1\n-2\n", "row 3: censoring mark at a negative time -2"),
        ("time\n1\n1e9\n", "row 3: censoring mark time 1e\\+09 is beyond the limit"),
        ("1;2;3\n", "row 1: expected 1 or 2 \\(time first\\) column"),
        ("time,survival\n1,0.5,7\n", "row 2: expected 2 column"),
        ("time\nnan\n", "non-numeric"),
    ],
)
def test_parse_censor_marks_errors(text, message):
    with pytest.raises(InputError, match=message) as err:
        parse_censor_marks(text, "k_censor.csv")
    assert "k_censor.csv" in str(err.value)


def test_parse_censor_marks_row_limit():
    text = "time\n" + "1\n" * (MAX_CLICKS + 1)
    with pytest.raises(InputError, match="above the limit"):
        parse_censor_marks(text, "big_censor.csv")
    assert len(parse_censor_marks("time\n" + "1\n" * MAX_CLICKS, "ok_censor.csv")) == MAX_CLICKS


def test_read_censor_marks(tmp_path):
    path = tmp_path / "1_censor.csv"
    path.write_text("time\n4\n2\n")
    marks = read_censor_marks(path)
    assert marks.time.tolist() == [4.0, 2.0] and marks.rows.tolist() == [2, 3]
    assert marks.source == str(path)
    with pytest.raises(InputError, match="file not found"):
        read_censor_marks(tmp_path / "missing_censor.csv")
