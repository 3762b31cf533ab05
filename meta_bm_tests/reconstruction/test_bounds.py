"""Plausibility limits at the reconstruction's entry points (issue 15): every number that enters is
bounded, so a bad input is refused with a message instead of exhausting memory or giving an empty
or absurd IPD. Valid input gives exactly what it gave before (test_engine covers the outputs)."""

from __future__ import annotations

import numpy as np
import pytest

from meta_bm.errors import MAX_CLICKS, MAX_N, MIN_SURVIVAL_FOR_IMPLIED_N, InputError
from meta_bm.reconstruction import (
    CleanCurve,
    Clicks,
    RiskTable,
    clicks_from_arrays,
    reconstruct,
    reconstruct_arrays,
    reconstruct_many,
)

# the curve: falls to 0 by time 2
T = [0, 1, 2, 3, 5]
S_ZERO = [1, 0.5, 0, 0, 0]
S_LOW = [1, 0.5, 0.001, 0.001, 0.001]


def test_implied_n_from_a_curve_at_zero_is_rejected_naming_the_risk_row():
    with pytest.raises(InputError) as info:
        reconstruct_arrays(T, S_ZERO, risk_time=[4], n_risk=[50], source="r.csv")
    exc = info.value
    assert exc.source == "r.csv" and exc.row == 1
    assert "curve is at 0 there" in str(exc) and "infinite" in str(exc) and "give the total N" in str(exc)


def test_implied_n_from_a_tiny_survival_is_rejected_instead_of_inventing_patients():
    with pytest.raises(InputError, match=r"it would be 50,000\); give the total N"):
        reconstruct_arrays(T, S_LOW, risk_time=[4], n_risk=[50])


def test_implied_n_is_still_used_where_the_curve_is_high_enough():
    s = [1, 0.9, 0.8, 0.8, 0.8]
    rec = reconstruct_arrays(T, s, risk_time=[4], n_risk=[40])
    assert rec.time.size == 50  # 40 / 0.8
    assert any("assumed 50 patients at time 0" in w for w in rec.warnings)
    assert MIN_SURVIVAL_FOR_IMPLIED_N < 0.8


def test_implied_n_above_the_limit_is_rejected():
    s = [1, 0.5, 0.1, 0.1, 0.1]
    with pytest.raises(InputError, match="above the limit of 1,000,000 patients per curve"):
        reconstruct_arrays(T, s, risk_time=[4], n_risk=[MAX_N])


def test_total_n_above_limit_is_rejected():
    with pytest.raises(InputError, match=r"total N 1,000,000,000 is above the limit of 1,000,000"):
        reconstruct_arrays(T, S_LOW, total_n=1_000_000_000)


@pytest.mark.parametrize("n", [0, -5])
def test_total_n_of_zero_or_less_is_rejected(n):
    with pytest.raises(InputError, match=f"total N {n} is below 1"):
        reconstruct_arrays(T, S_LOW, total_n=n)


@pytest.mark.parametrize(("value", "match"), [(True, "not bool"), ("40", "not str"), (12.5, "not a whole number")])
def test_total_n_of_the_wrong_type_is_rejected(value, match):
    with pytest.raises(InputError, match=match):
        reconstruct_arrays(T, S_LOW, total_n=value)


def test_total_events_of_the_wrong_type_or_size_is_rejected():
    with pytest.raises(InputError, match="total events must be a whole number, not bool"):
        reconstruct_arrays(T, S_LOW, total_n=10, total_events=True)
    with pytest.raises(InputError, match="total events -1 is below 0"):
        reconstruct_arrays(T, S_LOW, total_n=10, total_events=-1)


def test_risk_table_with_no_patients_at_time_zero_is_rejected_naming_the_row():
    with pytest.raises(InputError) as info:
        reconstruct_arrays(T, S_LOW, risk_time=[0], n_risk=[0], source="r.csv")
    assert info.value.row == 1 and "no patients at time 0" in str(info.value)


def test_a_risk_table_starting_later_with_nobody_at_risk_needs_a_total_n():
    with pytest.raises(InputError, match="no patients at time 0"):
        reconstruct_arrays(T, [1, 0.9, 0.8, 0.8, 0.8], risk_time=[4], n_risk=[0])


def test_objects_built_by_hand_are_bounded_too():
    big = np.linspace(0, 10, MAX_CLICKS + 5)
    clicks = Clicks(big, np.linspace(1, 0, big.size), np.arange(big.size), "hand", "probability")
    with pytest.raises(InputError, match="clicks, above the limit"):
        reconstruct(clicks, total_n=10)
    curve = CleanCurve(big, np.linspace(1, 0, big.size), np.arange(big.size), "hand")
    with pytest.raises(InputError, match="clicks, above the limit"):
        reconstruct(curve, total_n=10)
    small = clicks_from_arrays(T, S_LOW)
    table = RiskTable(np.array([0.0]), np.array([10**9]), np.array([1]), "hand")
    with pytest.raises(InputError, match="number at risk is above the limit"):
        reconstruct(small, table)
    with pytest.raises(InputError, match="must be a RiskTable"):
        reconstruct(small, [(0, 10)])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="must be Clicks or a CleanCurve"):
        reconstruct([(0, 1), (1, 0.5)], total_n=10)  # type: ignore[arg-type]


def test_batch_reports_bound_violations_per_curve():
    out = reconstruct_many(
        [
            {"name": "huge", "time": T, "survival": S_LOW, "total_n": 10**9},
            {"name": "fine", "time": T, "survival": S_LOW, "total_n": 10},
        ]
    )
    assert not out[0].ok and out[0].error.startswith("huge: ") and "above the limit" in out[0].error
    assert out[1].ok and out[1].reconstruction.time.size == 10
