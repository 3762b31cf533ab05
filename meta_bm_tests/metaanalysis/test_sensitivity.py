"""Leave-one-out and cumulative meta-analysis against R metafor 3.8-1 ``leave1out`` and ``cumul``.

Reference: data/metafor_reference.r.json (scripts/r_reference_metafor.R): for five data sets and
FE/DL/REML x z/knha, ``leave1out(res)`` and ``cumul(res, order=<sort key>)``, plus ``cumul(res)`` in
study order for DL. metafor reports no tau² for FE (exported as an empty object; 0 here).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest

from meta_bm.metaanalysis import Cumulative, LeaveOneOut, cumulative, leave_one_out, meta_analysis
from meta_bm_tests.metaanalysis.metafor_reference import DATA, I2_TOL, REF, TOL

COLUMNS = ["label", "k", "estimate", "se", "lower", "upper", "p_value", "tau2", "i2", "q", "q_p"]
PAIRS = {
    "estimate": "estimate",
    "se": "se",
    "z": "stat",
    "p_value": "pval",
    "lower": "ci_lb",
    "upper": "ci_ub",
    "tau2": "tau2",
    "i2": "I2",
    "h2": "H2",
    "q": "Q",
    "q_p": "Qp",
}


def _assert_rows(fits, r):
    for ours, theirs in PAIRS.items():
        want = r[theirs]
        if isinstance(want, dict):  # FE: metafor has no tau² column
            want = [0.0] * len(fits)
        got = [getattr(f, ours) for f in fits]
        assert got == pytest.approx(want, **(I2_TOL if ours == "i2" else TOL)), ours


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FE + knha warns, as metafor
        return fn(*args, **kwargs)


@pytest.mark.parametrize("r", REF["leave1out"], ids=lambda r: f"{r['dataset']}-{r['method']}-{r['test']}")
def test_leave_one_out_matches_metafor(r):
    d = DATA[r["dataset"]]
    res = _quiet(leave_one_out, d["yi"], d["vi"], d["labels"], method=r["method"], test=r["test"])
    assert isinstance(res, LeaveOneOut)
    assert res.labels == d["labels"]
    assert [f.k for f in res.fits] == [len(d["yi"]) - 1] * len(d["yi"])
    _assert_rows(res.fits, r)


@pytest.mark.parametrize("r", REF["cumul"], ids=lambda r: f"{r['dataset']}-{r['method']}-{r['test']}-{r['by']}")
def test_cumulative_matches_metafor(r):
    d = DATA[r["dataset"]]
    order = d["order"] if r["by"] == "order" else None
    res = _quiet(cumulative, d["yi"], d["vi"], d["labels"], order=order, method=r["method"], test=r["test"])
    assert isinstance(res, Cumulative)
    assert res.labels == [d["labels"][i - 1] for i in r["order"]]  # R's 1-based study ids in added order
    assert [f.k for f in res.fits] == list(range(1, len(d["yi"]) + 1))
    _assert_rows(res.fits, r)


def test_cumulative_order_is_a_sort_key_with_stable_ties():
    # bcg years: 1973 twice (Frimodt-Moller 5th, Vandiviere 7th in study order) -> added 5 then 7, as R's order()
    d = DATA["bcg"]
    res = cumulative(d["yi"], d["vi"], d["labels"], order=d["order"], method="DL")
    years = [int(lab.rsplit(" ", 1)[1]) for lab in res.labels]
    assert years == sorted(years)
    assert res.labels.index(d["labels"][4]) + 1 == res.labels.index(d["labels"][6])


def test_cumulative_knha_first_step_is_the_z_fit_of_one_study():
    # metafor cumul(rma(..., test="knha")): row 1 has z-based CI (k = 1 switches to test="z"), no warning
    d = DATA["loghr12"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = cumulative(d["yi"], d["vi"], d["labels"], order=d["order"], test="knha")
    first = res.fits[0]
    i = int(np.argmin(d["order"]))
    single = meta_analysis([d["yi"][i]], [d["vi"][i]])
    assert first.test == "z" and first.df is None
    assert (first.estimate, first.se, first.lower, first.upper) == (
        single.estimate,
        single.se,
        single.lower,
        single.upper,
    )
    assert (first.tau2, first.i2, first.q, first.q_p) == (0.0, 0.0, 0.0, 1.0)
    assert [f.df for f in res.fits[1:]] == list(range(1, 12))


def test_leave_one_out_of_two_studies_leaves_single_study_fits():
    # metafor leave1out on k = 2: each row is a single study, tau² 0, Q 0 (p 1), I² 0, H² 1; knha -> z
    res = leave_one_out([-0.5, 0.4], [0.02, 0.05], ["A", "B"], method="REML", test="knha")
    for fit, (y, v) in zip(res.fits, [(0.4, 0.05), (-0.5, 0.02)], strict=True):
        assert fit.k == 1 and fit.estimate == y and fit.se == pytest.approx(math.sqrt(v), rel=1e-15)
        assert (fit.tau2, fit.q, fit.q_p, fit.i2, fit.h2, fit.test, fit.df) == (0.0, 0.0, 1.0, 0.0, 1.0, "z", None)


def test_frame_has_the_columns_and_the_fit_values():
    d = DATA["bcg"]
    loo = leave_one_out(d["yi"], d["vi"], d["labels"], method="DL")
    frame = loo.frame()
    assert frame.columns == COLUMNS
    assert frame.height == 13
    assert frame.schema["k"] == pl.Int64 and frame.schema["estimate"] == pl.Float64
    assert frame["label"].to_list() == d["labels"]
    for col in COLUMNS[1:]:
        assert frame[col].to_list() == [getattr(f, col) for f in loo.fits]
    cum = cumulative(d["yi"], d["vi"], d["labels"], order=d["order"], method="FE")
    assert cum.frame()["k"].to_list() == list(range(1, 14))
    assert cum.frame()["label"].to_list() == cum.labels


def test_fe_knha_warns_once():
    with pytest.warns(UserWarning, match="FE model") as record:
        leave_one_out([0.1, 0.3, -0.2, 0.0], [0.04, 0.02, 0.03, 0.05], list("abcd"), method="FE", test="knha")
    assert len(record) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: leave_one_out([0.1], [0.04], ["a"]), "at least 2 studies"),
        (lambda: leave_one_out([0.1, 0.2], [0.04, 0.02], None), "labels must be a sequence"),
        (lambda: leave_one_out([0.1, 0.2], [0.04, 0.02], ["a"]), "labels has 1 entries for 2 studies"),
        (lambda: leave_one_out([0.1, 0.2], [0.04, -0.02], ["a", "b"]), "b: sampling variance"),
        (lambda: leave_one_out([0.1, 0.2], [0.04, 0.02], ["a", "b"], method="PM"), "method must be one of"),
        (lambda: leave_one_out([0.1, 0.2], [0.04, 0.02], ["a", "b"], test="t"), "test must be one of"),
        (lambda: cumulative([0.1, 0.2], [0.04, 0.02], ["a", "b"], level=1.0), "level must be"),
        (lambda: cumulative([0.1, 0.2], [0.04, 0.02], ["a", "b"], order=[1]), "one sort key per study"),
        (lambda: cumulative([0.1, 0.2], [0.04, 0.02], ["a", "b"], order=[1, math.nan]), "non-finite sort keys for: b"),
        (lambda: cumulative([0.1, math.inf], [0.04, 0.02], ["a", "b"]), "b: estimate yi is not a finite"),
        (lambda: cumulative([], [], []), "no studies"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_repeated_labels_are_kept_as_given():
    loo = leave_one_out([0.1, 0.2, 0.4], [0.04, 0.02, 0.03], ["Smith 2001", "Smith 2001", "Lee 2003"], method="FE")
    assert loo.labels == ["Smith 2001", "Smith 2001", "Lee 2003"]
    assert loo.fits[0].estimate != loo.fits[1].estimate


def test_order_is_not_a_permutation_of_indices():
    # metafor 3.8 cumul(res, order=x) sorts by x; an index permutation [2, 0, 1] is read as keys -> b, c, a
    cum = cumulative([0.1, 0.2, 0.4], [0.04, 0.02, 0.03], ["a", "b", "c"], order=[2, 0, 1], method="FE")
    assert cum.labels == ["b", "c", "a"]
