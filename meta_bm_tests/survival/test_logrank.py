"""Log-rank test against R's ``survdiff`` published output, lifelines (unstratified) and an independent
brute-force computation of the stratified statistic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines.datasets import load_lung, load_rossi, load_waltons
from lifelines.statistics import logrank_test as ll_logrank
from lifelines.statistics import multivariate_logrank_test as ll_multi
from scipy import stats

from meta_bm.survival.coxph import cox_ph
from meta_bm.survival.logrank import logrank_test

# R's aml data (survival package), as listed in survival's tests/difftest.R; the "Dummy" group of early
# censorings is the aml3 data set of that test.
AML_TIME = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161, 5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
AML_STATUS = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
AML_X = ["Maintained"] * 11 + ["Nonmaintained"] * 12


def _lung():
    d = load_lung()
    return d  # lifelines' copy: status already 1 = death, 0 = censored (R's lung codes 2/1)


def test_aml_matches_survdiff_output():
    # survival tests/difftest.Rout.save: survdiff(Surv(time, status) ~ x, aml)
    #   x=Maintained 11 7 10.69 ; x=Nonmaintained 12 11 7.31 ; Chisq= 3.4 on 1 degrees of freedom, p= 0.07
    r = logrank_test(AML_TIME, AML_STATUS, AML_X)
    assert r.groups == ["Maintained", "Nonmaintained"]
    assert r.observed.tolist() == [7.0, 11.0]
    np.testing.assert_allclose(r.expected, [10.69, 7.31], atol=0.005)
    assert round(r.chisq, 1) == 3.4
    assert r.df == 1
    assert round(r.p_value, 2) == 0.07
    assert not r.stratified


def test_group_with_zero_expected_is_left_out_as_in_r():
    # survival tests/difftest.R (aml3): a third group of 7 subjects censored before the first death has
    # expected 0; R drops it and prints the same "Chisq= 3.4 on 1 degrees of freedom".
    time = [*AML_TIME, 1, 2, 2, 3, 3, 3, 4]
    status = [*AML_STATUS, 0, 0, 0, 0, 0, 0, 0]
    group = [*AML_X, *(["Dummy"] * 7)]
    r3 = logrank_test(time, status, group)
    r2 = logrank_test(AML_TIME, AML_STATUS, AML_X)
    assert r3.groups == ["Dummy", "Maintained", "Nonmaintained"]
    assert r3.expected[0] == 0.0 and r3.observed[0] == 0.0
    assert r3.df == 1
    assert r3.chisq == pytest.approx(r2.chisq, rel=1e-12)


def test_lung_sex_matches_survdiff_output():
    # R: survdiff(Surv(time, status) ~ sex, data = lung):
    #   sex=1 N=138 Observed 112 Expected 91.6 ; sex=2 N=90 Observed 53 Expected 73.4 ;
    #   Chisq= 10.3 on 1 degrees of freedom, p= 0.001
    d = _lung()
    r = logrank_test(d["time"], d["status"], d["sex"])
    assert r.groups == [1, 2]
    assert r.observed.tolist() == [112.0, 53.0]
    np.testing.assert_allclose(r.expected, [91.6, 73.4], atol=0.05)
    assert round(r.chisq, 1) == 10.3
    assert r.df == 1
    assert round(r.p_value, 3) == 0.001
    # two groups: chisq = (O1 - E1)^2 / V11
    assert r.chisq == pytest.approx((r.observed[0] - r.expected[0]) ** 2 / r.variance[0, 0], rel=1e-12)


def _two_group_cases():
    lung = _lung()
    rossi = load_rossi()
    waltons = load_waltons()
    return {
        "lung-sex": (lung["time"], lung["status"], lung["sex"]),
        "rossi-fin": (rossi["week"], rossi["arrest"], rossi["fin"]),
        "waltons-group": (waltons["T"], waltons["E"], waltons["group"]),
    }


@pytest.mark.parametrize("case", ["lung-sex", "rossi-fin", "waltons-group"])
def test_two_groups_equal_lifelines(case):
    time, event, group = (np.asarray(v) for v in _two_group_cases()[case])
    r = logrank_test(time, event, group)
    a, b = r.groups
    ma, mb = group == a, group == b
    ref = ll_logrank(time[ma], time[mb], event[ma], event[mb])
    assert r.chisq == pytest.approx(ref.test_statistic, rel=1e-10)
    assert r.p_value == pytest.approx(ref.p_value, rel=1e-8)


def test_multigroup_equals_lifelines():
    lung = _lung().dropna(subset=["ph.ecog"])  # 4 groups, one with a single subject
    r = logrank_test(lung["time"], lung["status"], lung["ph.ecog"])
    ref = ll_multi(lung["time"], lung["ph.ecog"], lung["status"])
    assert r.groups == [0.0, 1.0, 2.0, 3.0]
    assert r.df == 3
    assert r.chisq == pytest.approx(ref.test_statistic, rel=1e-10)
    assert r.p_value == pytest.approx(ref.p_value, rel=1e-8)

    rossi = load_rossi()
    prio = np.digitize(rossi["prio"], [1, 3, 6])  # 4 ordered groups
    labels = np.array(["none", "low", "mid", "high"])[prio]  # string labels, sorted alphabetically
    r = logrank_test(rossi["week"], rossi["arrest"], labels)
    ref = ll_multi(rossi["week"], labels, rossi["arrest"])
    assert r.groups == ["high", "low", "mid", "none"]
    assert r.chisq == pytest.approx(ref.test_statistic, rel=1e-10)
    # the variance matrix is a generalized-inverse problem: rows sum to zero
    np.testing.assert_allclose(r.variance.sum(axis=1), 0.0, atol=1e-10)
    np.testing.assert_allclose(r.observed.sum(), r.expected.sum(), rtol=1e-12)


def _brute_force_stratified(time, event, group, strata):
    """Independent stratified log-rank: per stratum, per distinct death time, explicit loops."""
    time, event, group, strata = (np.asarray(v) for v in (time, event, group, strata))
    levels = sorted(set(group.tolist()))
    k = len(levels)
    o_minus_e = np.zeros(k)
    var = np.zeros((k, k))
    for s in sorted(set(strata.tolist())):
        ins = strata == s
        for t in sorted(set(time[ins & (event == 1)].tolist())):
            at_risk = np.array([np.sum(ins & (time >= t) & (group == g)) for g in levels], dtype=float)
            dead = np.array([np.sum(ins & (time == t) & (event == 1) & (group == g)) for g in levels], dtype=float)
            n, d = at_risk.sum(), dead.sum()
            o_minus_e += dead - d * at_risk / n
            if n > 1:
                for i in range(k):
                    for j in range(k):
                        var[i, j] += d * (n - d) / (n - 1) * at_risk[i] / n * ((i == j) - at_risk[j] / n)
    keep = np.arange(1, k)
    chisq = o_minus_e[keep] @ np.linalg.solve(var[np.ix_(keep, keep)], o_minus_e[keep])
    return chisq, o_minus_e, var


@pytest.mark.parametrize(
    "case",
    ["lung-sex-by-inst", "lung-ecog-by-sex", "rossi-fin-by-wexp", "random-3-groups"],
)
def test_stratified_matches_brute_force(case):
    if case.startswith("lung"):
        d = _lung().dropna(subset=["inst", "ph.ecog"])
        d = d[d["ph.ecog"] < 3]
        time, event = d["time"], d["status"]
        group, strata = (d["sex"], d["inst"]) if case == "lung-sex-by-inst" else (d["ph.ecog"], d["sex"])
    elif case == "rossi-fin-by-wexp":
        d = load_rossi()
        time, event, group, strata = d["week"], d["arrest"], d["fin"], d["wexp"]
    else:
        rng = np.random.default_rng(7)
        n = 240
        group = rng.choice(["a", "b", "c"], n)
        strata = rng.integers(0, 4, n)
        time = np.round(rng.exponential(10, n) * (1 + (group == "b")), 0) + 1  # many ties
        event = (rng.random(n) < 0.75).astype(int)
    r = logrank_test(time, event, group, strata=strata)
    chisq, o_minus_e, var = _brute_force_stratified(time, event, group, strata)
    assert r.stratified
    assert r.chisq == pytest.approx(chisq, rel=1e-10)
    np.testing.assert_allclose(r.observed - r.expected, o_minus_e, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(r.variance, var, rtol=1e-10, atol=1e-10)
    assert r.p_value == pytest.approx(stats.chi2.sf(chisq, r.df), rel=1e-10)


def test_stratified_equals_cox_score_test_without_tied_deaths():
    # survival tests/difftest.R: with no tied times within strata the stratified log-rank equals the score
    # test of the stratified Cox model with dummy-coded groups (R checks fit$var[-1,-1] == solve(cfit$var)).
    d = _lung().dropna(subset=["inst", "pat.karno"])
    d = d[d["pat.karno"].isin([60, 70, 80, 90])]
    deaths = d[d["status"] == 1]
    assert not deaths.duplicated(subset=["inst", "time"]).any()  # precondition: no tied deaths per stratum
    r = logrank_test(d["time"], d["status"], d["pat.karno"], strata=d["inst"])
    x = np.column_stack([(d["pat.karno"] == v).to_numpy(float) for v in (70, 80, 90)])
    fit = cox_ph(d["time"], d["status"], x, strata=d["inst"])
    assert r.df == 3
    assert r.chisq == pytest.approx(fit.score_chisq, rel=1e-9)


def test_single_stratum_equals_unstratified():
    d = _lung()
    a = logrank_test(d["time"], d["status"], d["sex"])
    b = logrank_test(d["time"], d["status"], d["sex"], strata=np.full(len(d), "all"))
    assert b.stratified and not a.stratified
    assert a.chisq == pytest.approx(b.chisq, rel=1e-13)
    np.testing.assert_allclose(a.variance, b.variance, rtol=1e-13)


def test_numeric_labels_sorted_like_r_factor_levels():
    r = logrank_test([5, 3, 8, 1, 9, 2], [1, 1, 0, 1, 1, 1], [10, 2, 10, 2, 33, 33])
    assert r.groups == [2, 10, 33]
    assert r.observed.tolist() == [2.0, 1.0, 2.0]


def test_single_group_has_no_test():
    r = logrank_test([1, 2, 3], [1, 0, 1], ["a", "a", "a"])
    assert r.chisq == 0.0 and r.df == 0 and np.isnan(r.p_value)


def test_input_validation():
    with pytest.raises(ValueError, match="0 \\(censored\\) / 1"):
        logrank_test([1, 2], [1, 2], [0, 1])
    with pytest.raises(ValueError, match="same length"):
        logrank_test([1, 2], [1, 1], [0])
    with pytest.raises(ValueError, match="finite"):
        logrank_test([1, np.nan], [1, 1], [0, 1])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 12), st.booleans(), st.sampled_from(["x", "y", "z"])),
        min_size=4,
        max_size=60,
    )
)
def test_random_data_equals_lifelines(rows):
    df = pd.DataFrame(rows, columns=["t", "e", "g"])
    df["e"] = df["e"].astype(int)
    r = logrank_test(df["t"], df["e"], df["g"])
    if r.df == 0 or df["e"].sum() == 0:
        return
    if len(r.groups) != r.df + 1:  # a group with expected 0: R (and we) drop it, lifelines does not
        return
    ref = ll_multi(df["t"], df["g"], df["e"])
    assert r.chisq == pytest.approx(ref.test_statistic, rel=1e-8, abs=1e-10)
