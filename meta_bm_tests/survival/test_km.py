"""Kaplan–Meier estimate: against lifelines on its bundled data sets, hand computations and R's median rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_lung, load_rossi, load_waltons

from meta_bm.survival.km import KaplanMeier, kaplan_meier, quantile_time


def _waltons(group: str | None):
    d = load_waltons()
    if group is not None:
        d = d[d["group"] == group]
    return d["T"].to_numpy(float), d["E"].to_numpy(int)


DATASETS = {
    "waltons": lambda: _waltons(None),
    "waltons-control": lambda: _waltons("control"),
    "waltons-miR-137": lambda: _waltons("miR-137"),
    "lung": lambda: (load_lung()["time"].to_numpy(float), load_lung()["status"].to_numpy(int)),
    "rossi": lambda: (load_rossi()["week"].to_numpy(float), load_rossi()["arrest"].to_numpy(int)),
}


@pytest.mark.parametrize("name", list(DATASETS))
def test_matches_lifelines(name):
    time, event = DATASETS[name]()
    km = kaplan_meier(time, event)
    kmf = KaplanMeierFitter().fit(pd.Series(time), pd.Series(event))
    table = kmf.event_table.loc[km.time]
    surv = kmf.survival_function_["KM_estimate"].loc[km.time].to_numpy()

    np.testing.assert_array_equal(km.time, np.unique(time))
    np.testing.assert_allclose(km.survival, surv, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(km.n_risk, table["at_risk"].to_numpy())
    np.testing.assert_array_equal(km.n_event, table["observed"].to_numpy())
    np.testing.assert_array_equal(km.n_censor, table["censored"].to_numpy())
    assert km.n_risk[0] == time.size
    assert km.n_event.sum() == event.sum()
    assert (km.n_event + km.n_censor).sum() == time.size

    # S(t) between and beyond the table times (lifelines has no value before 0)
    grid = np.linspace(0.0, time.max() + 5, 401)
    expected = kmf.survival_function_at_times(grid).to_numpy()
    np.testing.assert_allclose(km.at(grid), expected, rtol=1e-12, atol=1e-12)

    # away from an exact 0.5 plateau R's median and lifelines' agree
    assert not np.any(np.abs(km.survival - 0.5) < 1e-9)
    m = kmf.median_survival_time_
    if math.isinf(m):
        assert math.isnan(km.median())
    else:
        assert km.median() == m


def test_lung_median_is_r_value():
    # survfit(Surv(time, status) ~ 1, data = lung): n = 228, events = 165, median = 310
    time, event = DATASETS["lung"]()
    km = kaplan_meier(time, event)
    assert km.n_risk[0] == 228 and km.n_event.sum() == 165
    assert km.median() == 310.0


def test_rossi_median_not_reached():
    km = kaplan_meier(*DATASETS["rossi"]())
    assert km.survival.min() > 0.5
    assert math.isnan(km.median())


# --------------------------------------------------------------------------------------------------
# a hand-computed example

HAND_TIME = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3], float)
HAND_EVENT = np.array([1, 0, 1, 1, 0, 1, 1, 0, 1, 1])
# sorted: (1,c) (1,e) (2,e) (3,e) (3,e) (4,e) (5,c) (5,e) (6,c) (9,e)
# t  n  d  c  S
# 1 10  1  1  9/10            = 0.9
# 2  8  1  0  0.9 * 7/8       = 0.7875
# 3  7  2  0  0.7875 * 5/7    = 0.5625
# 4  5  1  0  0.5625 * 4/5    = 0.45
# 5  4  1  1  0.45 * 3/4      = 0.3375
# 6  2  0  1  0.3375
# 9  1  1  0  0


def test_hand_example():
    km = kaplan_meier(HAND_TIME, HAND_EVENT)
    assert isinstance(km, KaplanMeier)
    assert km.time.tolist() == [1, 2, 3, 4, 5, 6, 9]
    assert km.n_risk.tolist() == [10, 8, 7, 5, 4, 2, 1]
    assert km.n_event.tolist() == [1, 1, 2, 1, 1, 0, 1]
    assert km.n_censor.tolist() == [1, 0, 0, 0, 1, 1, 0]
    np.testing.assert_allclose(km.survival, [0.9, 0.7875, 0.5625, 0.45, 0.3375, 0.3375, 0.0], rtol=0, atol=1e-15)
    assert km.median() == 4.0


def test_input_order_and_event_dtype_do_not_matter():
    ref = kaplan_meier(HAND_TIME, HAND_EVENT)
    perm = np.random.default_rng(3).permutation(HAND_TIME.size)
    for km in (
        kaplan_meier(HAND_TIME[perm], HAND_EVENT[perm]),
        kaplan_meier(HAND_TIME, HAND_EVENT.astype(bool)),
        kaplan_meier(HAND_TIME.astype(int).tolist(), HAND_EVENT.tolist()),
    ):
        np.testing.assert_array_equal(km.time, ref.time)
        np.testing.assert_array_equal(km.n_risk, ref.n_risk)
        np.testing.assert_array_equal(km.n_event, ref.n_event)
        np.testing.assert_array_equal(km.n_censor, ref.n_censor)
        np.testing.assert_allclose(km.survival, ref.survival, rtol=1e-15)


@pytest.mark.parametrize(
    ("t", "right", "left"),
    [
        (-1.0, 1.0, 1.0),
        (0.0, 1.0, 1.0),
        (0.5, 1.0, 1.0),
        (1.0, 0.9, 1.0),
        (2.0, 0.7875, 0.9),
        (2.5, 0.7875, 0.7875),
        (3.0, 0.5625, 0.7875),
        (5.0, 0.3375, 0.45),
        (6.0, 0.3375, 0.3375),  # censoring only: no step
        (8.9, 0.3375, 0.3375),
        (9.0, 0.0, 0.3375),
        (100.0, 0.0, 0.0),
    ],
)
def test_at_sides(t, right, left):
    km = kaplan_meier(HAND_TIME, HAND_EVENT)
    assert km.at(t).tolist() == pytest.approx([right], abs=1e-15)
    assert km.at(t, side="right").tolist() == pytest.approx([right], abs=1e-15)
    assert km.at(t, side="left").tolist() == pytest.approx([left], abs=1e-15)


def test_at_vectorized():
    km = kaplan_meier(HAND_TIME, HAND_EVENT)
    out = km.at(np.array([9.0, 0.0, 3.0]))
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [0.0, 1.0, 0.5625], atol=1e-15)
    np.testing.assert_allclose(km.at(np.array([9.0, 0.0, 3.0]), side="left"), [0.3375, 1.0, 0.7875], atol=1e-15)


@pytest.mark.parametrize(
    ("t", "n"),
    [
        (-5, 10),
        (0, 10),
        (1, 10),
        (1.5, 8),
        (2, 8),
        (3, 7),
        (3.5, 5),
        (5, 4),
        (5.5, 2),
        (6, 2),
        (9, 1),
        (9.1, 0),
        (50, 0),
    ],
)
def test_at_risk(t, n):
    km = kaplan_meier(HAND_TIME, HAND_EVENT)
    assert km.at_risk(t).tolist() == [n]
    assert n == int(np.sum(HAND_TIME >= t))


def test_at_risk_vectorized():
    km = kaplan_meier(HAND_TIME, HAND_EVENT)
    grid = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 10], float)
    np.testing.assert_array_equal(km.at_risk(grid), [np.sum(HAND_TIME >= g) for g in grid])


# --------------------------------------------------------------------------------------------------
# median: R's midpoint rule


@pytest.mark.parametrize(
    ("time", "event", "median"),
    [
        # S = .75 .5 .25 0: S = 0.5 exactly on [2, 3) -> (2 + 3) / 2 (lifelines would say 2)
        ([1, 2, 3, 4], [1, 1, 1, 1], 2.5),
        # S = 5/6 4/6 1/2 | 1/2 (censored at 4) | 1/4 0: the flat runs to the next event, 5
        ([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 1], 4.0),
        # S = .75 .5 then censored to the end at 4: R takes (2 + last time) / 2
        ([1, 2, 3, 4], [1, 1, 0, 0], 3.0),
        ([1, 2], [1, 0], 1.5),
        # S reaches 0.5 at the last time: that time
        ([2, 2], [1, 0], 2.0),
        # no exact 0.5: first time with S <= 0.5
        ([1, 2, 3], [1, 1, 1], 2.0),  # S = 2/3, 1/3, 0
        ([1, 2, 2, 3, 4], [1, 1, 0, 1, 1], 3.0),  # S = .8 .6 .3 0
        ([1, 2], [0, 1], 2.0),  # S = 1, 0
    ],
)
def test_median_r_rule(time, event, median):
    km = kaplan_meier(np.array(time, float), np.array(event))
    assert km.median() == median


def test_median_not_reached_is_nan():
    km = kaplan_meier(np.array([1, 2, 3.0]), np.array([1, 0, 0]))  # S = 2/3 to the end
    assert math.isnan(km.median())
    assert math.isnan(kaplan_meier(np.array([1, 2, 3.0]), np.array([0, 0, 0])).median())


def test_quantile_time_other_levels():
    time = np.array([1, 2, 3, 4.0])
    surv = np.array([0.75, 0.5, 0.25, 0.0])
    assert quantile_time(time, surv, 0.75) == 1.5  # S = .75 on [1, 2)
    assert quantile_time(time, surv, 0.25) == 3.5
    assert quantile_time(time, surv, 0.6) == 2.0
    assert quantile_time(time, surv, 0.0) == 4.0
    assert quantile_time(time, surv, 0.8) == 1.0  # S drops from 1 to .75 at 1, passing .8
    assert math.isnan(quantile_time(time, np.array([0.9, 0.8, 0.7, 0.6]), 0.5))


# --------------------------------------------------------------------------------------------------
# degenerate inputs


def test_empty_input():
    km = kaplan_meier(np.array([]), np.array([]))
    assert km.time.size == km.survival.size == km.n_risk.size == 0
    assert km.at(3.0).tolist() == [1.0]
    assert km.at_risk(3.0).tolist() == [0]
    assert math.isnan(km.median())


def test_all_censored():
    km = kaplan_meier(np.array([4, 2, 2, 7.0]), np.array([0, 0, 0, 0]))
    assert km.time.tolist() == [2, 4, 7]
    assert km.survival.tolist() == [1.0, 1.0, 1.0]
    assert km.n_risk.tolist() == [4, 2, 1]
    assert km.n_censor.tolist() == [2, 1, 1]


def test_event_at_time_zero():
    km = kaplan_meier(np.array([0, 0, 1, 2.0]), np.array([1, 0, 1, 1]))
    assert km.time.tolist() == [0, 1, 2]
    np.testing.assert_allclose(km.survival, [0.75, 0.375, 0.0], atol=1e-15)
    assert km.at(0.0, side="left").tolist() == [1.0]
    assert km.at(0.0).tolist() == [0.75]


# --------------------------------------------------------------------------------------------------
# property: agrees with the product-limit definition computed by brute force


@settings(max_examples=100, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 12), st.booleans()), min_size=1, max_size=40),
    probes=st.lists(st.floats(-2, 15, allow_nan=False), min_size=1, max_size=10),
)
def test_matches_definition(data, probes):
    time = np.array([t for t, _ in data], float)
    event = np.array([e for _, e in data], int)
    km = kaplan_meier(time, event)

    distinct = sorted(set(time.tolist()))
    assert km.time.tolist() == distinct
    s = 1.0
    expected_surv = []
    for u in distinct:
        n = int(np.sum(time >= u))
        d = int(np.sum((time == u) & (event == 1)))
        c = int(np.sum((time == u) & (event == 0)))
        i = distinct.index(u)
        assert (km.n_risk[i], km.n_event[i], km.n_censor[i]) == (n, d, c)
        s *= 1 - d / n
        expected_surv.append(s)
    np.testing.assert_allclose(km.survival, expected_surv, rtol=1e-12, atol=1e-15)

    def surv_at(t: float, strict: bool) -> float:
        out = 1.0
        for u in distinct:
            if u < t or (u == t and not strict):
                n = np.sum(time >= u)
                out *= 1 - np.sum((time == u) & (event == 1)) / n
        return out

    grid = np.array(probes + distinct, float)
    np.testing.assert_allclose(km.at(grid), [surv_at(g, strict=False) for g in grid], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        km.at(grid, side="left"), [surv_at(g, strict=True) for g in grid], rtol=1e-12, atol=1e-15
    )
    np.testing.assert_array_equal(km.at_risk(grid), [np.sum(time >= g) for g in grid])
