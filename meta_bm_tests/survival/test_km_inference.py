"""KM inference (Greenwood SE, median CI, landmark survival, RMST) against R, SPSS's algorithm, lifelines and hand sums.

Sources of the reference values:
- "published": R output printed in documents, cited where used.
- "R 3.5.3": R 4.2.2 with survival 3.5.3 (Debian bookworm packages r-base-core 4.2.2.20221110-2 and
  r-cran-survival 3.5-3-1) run on the same data as below (lifelines' ``load_lung`` equals R's ``lung``
  with ``status - 1``, checked in R with ``all.equal``). Medians and their CIs come from
  ``summary(survfit(Surv(t, e) ~ 1, conf.type=, conf.int=))$table`` (what ``print`` shows), landmarks from
  ``summary(fit, times=)``, RMST from ``summary(fit, rmean=tau)$table``; printed with ``sprintf("%.17g")``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_leukemia, load_lung, load_rossi, load_waltons
from lifelines.utils import median_survival_times, restricted_mean_survival_time
from scipy.stats import norm

from meta_bm.survival.km import KaplanMeier, kaplan_meier
from meta_bm.survival.km_inference import (
    RMST,
    MedianCI,
    SurvivalAt,
    greenwood_se,
    median_ci,
    median_followup,
    rmst,
    survival_at,
)

Z95 = norm.ppf(0.975)
NAN = math.nan

# R's survival::aml (Miller 1981), by arm
AML_MAINTAINED = ([9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161], [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0])
AML_NONMAINTAINED = ([5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45], [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1])

# the hand example of test_km.py
HAND_TIME = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
HAND_EVENT = [1, 0, 1, 1, 0, 1, 1, 0, 1, 1]
# t  n  d  c  S        Greenwood sum d/(n(n-d))
# 1 10  1  1  0.9      1/90                     = 0.011111
# 2  8  1  0  0.7875   + 1/56                   = 0.028968
# 3  7  2  0  0.5625   + 2/35                   = 0.086111
# 4  5  1  0  0.45     + 1/20                   = 0.136111
# 5  4  1  1  0.3375   + 1/12                   = 0.219444
# 6  2  0  1  0.3375   + 0                      = 0.219444
# 9  1  1  0  0        n = d: infinite


def _lung(sex: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    d = load_lung()
    if sex is not None:
        d = d[d["sex"] == sex]
    return d["time"].to_numpy(float), d["status"].to_numpy(int)


def _leukemia(rx: int) -> tuple[np.ndarray, np.ndarray]:
    d = load_leukemia()
    d = d[d["Rx"] == rx]
    return d["t"].to_numpy(float), d["status"].to_numpy(int)


def _waltons(group: str) -> tuple[np.ndarray, np.ndarray]:
    d = load_waltons()
    d = d[d["group"] == group]
    return d["T"].to_numpy(float), d["E"].to_numpy(int)


DATA = {
    "lung": lambda: _lung(),
    "lung_m": lambda: _lung(1),
    "lung_f": lambda: _lung(2),
    "leuk_6mp": lambda: _leukemia(0),  # Freireich 6-MP arm (the SPSS worked example)
    "leuk_placebo": lambda: _leukemia(1),
    "aml_m": lambda: AML_MAINTAINED,
    "aml_n": lambda: AML_NONMAINTAINED,
    "wal_c": lambda: _waltons("control"),
    "wal_m": lambda: _waltons("miR-137"),
    "rossi": lambda: (load_rossi()["week"].to_numpy(float), load_rossi()["arrest"].to_numpy(int)),
    "hand": lambda: (HAND_TIME, HAND_EVENT),
    "plateau": lambda: ([1, 2, 3, 4], [1, 1, 1, 1]),  # S = .75 .5 .25 0: S = 0.5 on [2, 3)
    "plateau_censored": lambda: ([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 1]),  # S = 0.5 on [3, 5)
    "plateau_to_end": lambda: ([1, 2, 3, 4], [1, 1, 0, 0]),  # S = 0.5 from 2 to the last time 4
    "all_censored": lambda: ([4, 2, 2, 7], [0, 0, 0, 0]),
    "not_reached": lambda: ([1, 2, 3], [1, 0, 0]),  # S = 2/3 to the end
    "ten": lambda: (list(range(1, 11)), [1] * 10),  # S = .9 .8 ... 0
    "quantile_test1": lambda: ([9, 1, 1, 6, 6, 8, 10], [1, 1, 0, 1, 1, 0, 0]),
}


def km_of(name: str) -> KaplanMeier:
    t, e = DATA[name]()
    return kaplan_meier(np.asarray(t, float), np.asarray(e, int))


def _close(a: float, b: float, tol: float = 1e-9) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


# --------------------------------------------------------------------------------------------------
# median CI: R


def test_lung_published_print():
    # survfit(Surv(time, status) ~ 1, data = lung) and ~ sex, as printed in countless R tutorials and the
    # survival package documentation: n 228, events 165, median 310 (285, 363); sex=1: 138, 112, 270 (212, 310);
    # sex=2: 90, 53, 426 (348, 550)
    for sex, n, events, expected in [
        (None, 228, 165, (310, 285, 363)),
        (1, 138, 112, (270, 212, 310)),
        (2, 90, 53, (426, 348, 550)),
    ]:
        t, e = _lung(sex)
        km = kaplan_meier(t, e)
        assert (km.n_risk[0], km.n_event.sum()) == (n, events)
        m = median_ci(km)
        assert (m.median, m.lower, m.upper) == expected
        assert (m.method, m.level) == ("log", 0.95)


# R 3.5.3: (data, conf.type, conf.int) -> (median, LCL, UCL)
R_MEDIAN = {
    ("lung", "log", 0.95): (310, 285, 363),
    ("lung", "log-log", 0.95): (310, 284, 361),
    ("lung", "plain", 0.95): (310, 284, 361),
    ("lung", "log", 0.9): (310, 285, 353),
    ("lung_m", "log-log", 0.95): (270, 210, 306),
    ("lung_m", "plain", 0.95): (270, 212, 306),
    ("lung_m", "log", 0.9): (270, 222, 306),
    ("lung_m", "log-log", 0.9): (270, 218, 303),
    ("lung_f", "log-log", 0.95): (426, 345, 524),
    ("lung_f", "log", 0.9): (426, 350, 524),
    ("leuk_6mp", "log", 0.95): (23, 16, NAN),
    ("leuk_6mp", "log-log", 0.95): (23, 13, NAN),
    ("leuk_6mp", "plain", 0.95): (23, 13, NAN),
    ("leuk_6mp", "plain", 0.9): (23, 16, NAN),
    ("leuk_placebo", "log", 0.95): (8, 4, 12),
    ("leuk_placebo", "log-log", 0.95): (8, 4, 11),
    ("leuk_placebo", "log", 0.9): (8, 5, 12),
    ("aml_m", "log-log", 0.95): (31, 13, NAN),
    ("aml_m", "plain", 0.95): (31, 18, 48),
    ("aml_m", "log", 0.9): (31, 23, NAN),
    ("aml_m", "log-log", 0.9): (31, 18, 48),
    ("aml_n", "log-log", 0.95): (23, 5, 33),
    ("aml_n", "plain", 0.95): (23, 8, 33),
    ("aml_n", "log", 0.9): (23, 8, 43),
    ("wal_c", "log", 0.95): (58, 56, 60),
    ("wal_m", "log", 0.95): (26, 22, 29),
    ("wal_m", "log-log", 0.95): (26, 19, 29),
    ("wal_m", "plain", 0.9): (26, 22, 29),
    ("rossi", "log", 0.95): (NAN, NAN, NAN),
    ("rossi", "plain", 0.95): (NAN, NAN, NAN),
    ("hand", "log", 0.95): (4, 3, NAN),
    ("hand", "log-log", 0.95): (4, 1, NAN),
    ("hand", "log-log", 0.9): (4, 2, NAN),
    ("plateau", "log", 0.95): (2.5, 1, NAN),  # median: midpoint of the 0.5 plateau [2, 3)
    ("plateau_censored", "log", 0.95): (4, 2, NAN),  # plateau [3, 5) across a censor-only row
    ("plateau_censored", "log-log", 0.95): (4, 1, NAN),
    ("all_censored", "log", 0.95): (NAN, NAN, NAN),
    ("all_censored", "log-log", 0.95): (NAN, NAN, NAN),
    ("not_reached", "log", 0.95): (NAN, 1, NAN),  # the lower band crosses 0.5 although S never does
    ("not_reached", "plain", 0.9): (NAN, 1, NAN),
    ("ten", "log", 0.95): (5.5, 3, NAN),
    ("ten", "log-log", 0.95): (5.5, 1, 8),
    ("ten", "plain", 0.95): (5.5, 3, 8),
    ("ten", "log", 0.9): (5.5, 3, 9),
    ("ten", "log-log", 0.9): (5.5, 2, 8),
    ("quantile_test1", "log", 0.95): (9, 6, NAN),
    ("quantile_test1", "log-log", 0.95): (9, 1, NAN),
}


@pytest.mark.parametrize(("name", "conf_type", "level"), list(R_MEDIAN))
def test_median_ci_matches_r(name, conf_type, level):
    m = median_ci(km_of(name), conf_type, level)
    assert isinstance(m, MedianCI)
    assert (m.method, m.level) == (conf_type, level)
    for got, want in zip((m.median, m.lower, m.upper), R_MEDIAN[(name, conf_type, level)], strict=True):
        assert _close(got, want), (got, want)


def test_median_flat_at_end_follows_quantile_survfit():
    # S = .75, .5 and censored to the end (time 4). R 3.5.3 disagrees with itself here: quantile(fit, .5)
    # gives (2 + 4) / 2 = 3, print(fit) gives 2. KaplanMeier.median() follows quantile(); the limits agree.
    m = median_ci(km_of("plateau_to_end"))
    assert (m.median, m.lower) == (3.0, 1.0)
    assert math.isnan(m.upper)


def test_aml_published_in_survival_tests():
    # therneau/survival tests/doaml.Rout.save: survfit(Surv(aml$time, aml$status) ~ aml$x)
    #   x=Maintained 11 7 31 18 NA;  x=Nonmaintained 12 11 23 8 NA, and summary(fit) (log CI, printed digits)
    published = {
        "aml_m": (
            (31, 18, NAN),
            # time  survival  std.err  lower  upper
            [
                ("9", "0.909", "0.0867", "0.7541", "1.000"),
                ("13", "0.818", "0.1163", "0.6192", "1.000"),
                ("18", "0.716", "0.1397", "0.4884", "1.000"),
                ("23", "0.614", "0.1526", "0.3769", "0.999"),
                ("31", "0.491", "0.1642", "0.2549", "0.946"),
                ("34", "0.368", "0.1627", "0.1549", "0.875"),
                ("48", "0.184", "0.1535", "0.0359", "0.944"),
            ],
        ),
        "aml_n": (
            (23, 8, NAN),
            [
                ("5", "0.8333", "0.1076", "0.6470", "1.000"),
                ("8", "0.6667", "0.1361", "0.4468", "0.995"),
                ("12", "0.5833", "0.1423", "0.3616", "0.941"),
                ("23", "0.4861", "0.1481", "0.2675", "0.883"),
                ("27", "0.3889", "0.1470", "0.1854", "0.816"),
                ("30", "0.2917", "0.1387", "0.1148", "0.741"),
                ("33", "0.1944", "0.1219", "0.0569", "0.664"),
                ("43", "0.0972", "0.0919", "0.0153", "0.620"),
            ],
        ),
    }
    for name, (median, rows) in published.items():
        km = km_of(name)
        m = median_ci(km)
        assert all(_close(a, b) for a, b in zip((m.median, m.lower, m.upper), median, strict=True))
        got = survival_at(km, [float(r[0]) for r in rows])
        for s, row in zip(got, rows, strict=True):
            for value, printed in zip((s.survival, s.se, s.lower, s.upper), row[1:], strict=True):
                decimals = len(printed.split(".")[1])
                assert abs(value - float(printed)) <= 0.5 * 10**-decimals + 1e-12, (name, row, value)
    # the last Nonmaintained row: 45  1  1  0.0000  NaN  NA  NA
    last = survival_at(km_of("aml_n"), 45.0)[0]
    assert (last.survival, last.n_risk) == (0.0, 1)
    assert math.isnan(last.se) and math.isnan(last.lower) and math.isnan(last.upper)


@pytest.mark.parametrize(
    "name", ["lung", "lung_m", "lung_f", "wal_c", "wal_m", "leuk_6mp", "leuk_placebo", "aml_m", "rossi"]
)
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_log_log_median_ci_matches_lifelines(name, alpha):
    # lifelines' confidence_interval_ is the log-log (exponential Greenwood) band; it reports inf for "not
    # reached" and has no NA at S = 0, so data sets whose band crosses 0.5 before S hits 0 are compared.
    t, e = DATA[name]()
    kmf = KaplanMeierFitter(alpha=alpha).fit(np.asarray(t, float), np.asarray(e, int))
    expected = median_survival_times(kmf.confidence_interval_).iloc[0].to_numpy(float)
    expected[np.isinf(expected)] = np.nan
    m = median_ci(km_of(name), "log-log", 1 - alpha)
    np.testing.assert_array_equal([m.lower, m.upper], expected)
    assert _close(m.median, math.nan if math.isinf(kmf.median_survival_time_) else kmf.median_survival_time_)


def test_median_ci_hand_bands():
    # hand example, log CI: sigma(t) = sqrt(Greenwood sum)
    # lower band at 2: 0.7875 * exp(-z sqrt(0.028968)) = 0.5641 > .5; at 3: 0.5625 * exp(-z sqrt(0.086111)) = 0.3165
    # upper band at 4: 0.45 * exp(z sqrt(0.136111)) = 0.93; at 5, 6: 0.3375 * exp(z sqrt(0.219444)) = 0.85; NA at 9
    assert 0.7875 * math.exp(-Z95 * math.sqrt(1 / 90 + 1 / 56)) > 0.5
    assert 0.5625 * math.exp(-Z95 * math.sqrt(1 / 90 + 1 / 56 + 2 / 35)) <= 0.5
    assert 0.3375 * math.exp(Z95 * math.sqrt(1 / 90 + 1 / 56 + 2 / 35 + 1 / 20 + 1 / 12)) > 0.5
    m = median_ci(km_of("hand"))
    assert (m.median, m.lower) == (4.0, 3.0)
    assert math.isnan(m.upper)


def test_median_ci_plain_plateau_midpoint():
    # ten deaths at 1..10: S(t_k) = 1 - k/10, sigma^2 = sum 1/((11-j)(10-j)) = k / (10 (10 - k)).
    # plain lower band = S - z S sigma; at 2: 0.8 - 1.96 * 0.8 * sqrt(2/80) = 0.552; at 3: 0.7 - 1.96 * 0.7 *
    # sqrt(3/70) = 0.416 -> lower 3; upper band at 7: 0.3 + 1.96 * 0.3 * sqrt(7/30) = 0.584; at 8: 0.2 + 1.96 *
    # 0.2 * sqrt(8/20) = 0.448 -> upper 8; the median is the midpoint of the S = 0.5 plateau [5, 6).
    assert 0.8 - Z95 * 0.8 * math.sqrt(2 / 80) > 0.5 >= 0.7 - Z95 * 0.7 * math.sqrt(3 / 70)
    assert 0.3 + Z95 * 0.3 * math.sqrt(7 / 30) > 0.5 >= 0.2 + Z95 * 0.2 * math.sqrt(8 / 20)
    assert median_ci(km_of("ten"), "plain") == MedianCI(5.5, 3.0, 8.0, "plain", 0.95)


def test_median_ci_empty_and_errors():
    empty = kaplan_meier(np.array([]), np.array([]))
    for method in ("log", "log-log", "plain", "spss"):
        m = median_ci(empty, method)
        assert math.isnan(m.median) and math.isnan(m.lower) and math.isnan(m.upper)
    km = km_of("hand")
    with pytest.raises(ValueError, match="method"):
        median_ci(km, "arcsin")
    for bad in (0.0, 1.0, 95.0, -0.5):
        with pytest.raises(ValueError, match="level"):
            median_ci(km, level=bad)


def test_results_are_frozen():
    m = median_ci(km_of("hand"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.median = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        survival_at(km_of("hand"), 1.0)[0].survival = 0.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rmst(km_of("hand"), 3.0).se = 0.0  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# median CI: SPSS


def test_spss_worked_example_leukemia_6mp():
    # survival-stats-notes.md (IBM SPSS Statistics Algorithms, KM): t50 = 23, u = 16 (S = 0.6275),
    # l = 23 (S = 0.4482), f = 0.02561, SE_G = 0.13459, SE = 5.2554, CI 12.699-33.301
    km = km_of("leuk_6mp")
    assert km.n_risk[0] == 21
    assert km.at(16.0)[0] == pytest.approx(0.6275, abs=5e-5)
    assert km.at(23.0)[0] == pytest.approx(0.4482, abs=5e-5)
    assert greenwood_se(km)[km.time == 23.0][0] == pytest.approx(0.13459, abs=5e-6)
    m = median_ci(km, "spss")
    assert (m.median, m.method, m.level) == (23.0, "spss", 0.95)
    assert m.se == pytest.approx(5.2554, abs=5e-5)  # what SPSS prints as the median's Std. Error
    assert (m.upper - m.lower) / (2 * 1.96) == pytest.approx(m.se, rel=1e-12)
    assert (round(m.lower, 3), round(m.upper, 3)) == (12.699, 33.301)
    assert (0.6275 - 0.4482) / (23 - 16) == pytest.approx(0.02561, abs=5e-6)


def test_spss_u_at_origin_and_untruncated():
    # 1, 1, 2, 3 all deaths: S(1) = .5, S(2) = .25, S(3) = 0. t50 = 1 (R: midpoint 1.5); no event time has
    # S >= .55, so u = 0 with S = 1; l = 2. f = (1 - .25) / (2 - 0) = .375; SE_G(1) = .5 sqrt(2 / (4 * 2)) = .25;
    # SE = .25 / .375 = 2/3; CI = 1 -+ 1.96 * 2/3, the lower limit below 0 is kept.
    km = kaplan_meier(np.array([1, 1, 2, 3.0]), np.array([1, 1, 1, 1]))
    assert km.median() == 1.5
    m = median_ci(km, "spss")
    assert m.median == 1.0
    assert m.lower == pytest.approx(1 - 1.96 * 2 / 3, abs=1e-12)
    assert m.upper == pytest.approx(1 + 1.96 * 2 / 3, abs=1e-12)
    assert m.lower < 0


def test_spss_other_level_and_undefined():
    # level 0.9 uses the normal quantile 1.6449 (SPSS itself only has 95%): ten deaths, t50 = 5,
    # u = 4 (S = .6), l = 6 (S = .4), f = .1, SE_G(5) = sqrt(.5 * .5 / 10)
    se = math.sqrt(0.25 / 10) / 0.1
    m = median_ci(km_of("ten"), "spss", 0.9)
    assert m.median == 5.0
    assert m.lower == pytest.approx(5 - norm.ppf(0.95) * se, abs=1e-12)
    assert m.upper == pytest.approx(5 + norm.ppf(0.95) * se, abs=1e-12)
    # median not reached: nothing defined
    for name in ("not_reached", "rossi", "all_censored"):
        m = median_ci(km_of(name), "spss")
        assert math.isnan(m.median) and math.isnan(m.lower) and math.isnan(m.upper)
    # S reaches 0.5 but never 0.45: median only
    m = median_ci(km_of("plateau_to_end"), "spss")
    assert m.median == 2.0
    assert math.isnan(m.lower) and math.isnan(m.upper)


# --------------------------------------------------------------------------------------------------
# Greenwood SE


def _greenwood_brute(time: np.ndarray, event: np.ndarray) -> tuple[list[float], list[float]]:
    surv, se, s, acc = [], [], 1.0, 0.0
    for u in sorted(set(time.tolist())):
        n = int(np.sum(time >= u))
        d = int(np.sum((time == u) & (event == 1)))
        s *= 1 - d / n
        acc = math.inf if (d == n or math.isinf(acc)) else acc + d / (n * (n - d))
        surv.append(s)
        se.append(math.nan if s == 0 else s * math.sqrt(acc))
    return surv, se


@pytest.mark.parametrize("name", list(DATA))
def test_greenwood_matches_definition(name):
    t, e = DATA[name]()
    t, e = np.asarray(t, float), np.asarray(e, int)
    km = kaplan_meier(t, e)
    _, expected = _greenwood_brute(t, e)
    got = greenwood_se(km)
    assert got.shape == km.time.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(np.isnan(got), km.survival == 0)


def test_greenwood_hand():
    got = greenwood_se(km_of("hand"))
    cum = np.cumsum([1 / 90, 1 / 56, 2 / 35, 1 / 20, 1 / 12, 0.0])
    expected = np.array([0.9, 0.7875, 0.5625, 0.45, 0.3375, 0.3375]) * np.sqrt(cum)
    np.testing.assert_allclose(got[:-1], expected, rtol=1e-13)
    assert math.isnan(got[-1])
    # no censoring before t: Greenwood reduces to the binomial sqrt(S (1 - S) / n)
    ten = greenwood_se(km_of("ten"))
    s = 1 - np.arange(1, 10) / 10
    np.testing.assert_allclose(ten[:-1], np.sqrt(s * (1 - s) / 10), rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# survival at landmarks


# R 3.5.3 summary(survfit(Surv(time, status) ~ 1, lung, conf.type=), times=c(183, 365, 730))
LUNG_SURV = [0.703515416845995, 0.409241624460064, 0.115693098344539]
LUNG_SE = [0.03041306399375, 0.0358236381720378, 0.0282981973176942]
LUNG_RISK = [156, 65, 13]
LUNG_CI = {  # (lower, upper)
    "log": (
        [0.646362369485984, 0.344721581795827, 0.0716318249617963],
        [0.765722085791577, 0.485837603547281, 0.186856791819807],
    ),
    "log-log": (
        [0.639240908613965, 0.338714269088323, 0.0676321514888291],
        [0.758531785481384, 0.478380767646914, 0.177825199700288],
    ),
    "plain": (
        [0.643906906758733, 0.339028583847676, 0.0602296507744505],
        [0.763123926933256, 0.479454665072453, 0.171156545914628],
    ),
}


@pytest.mark.parametrize("conf_type", list(LUNG_CI))
def test_survival_at_lung_matches_r(conf_type):
    got = survival_at(km_of("lung"), [183, 365, 730], conf_type)
    assert all(isinstance(s, SurvivalAt) and s.conf_type == conf_type for s in got)
    assert [s.time for s in got] == [183.0, 365.0, 730.0]
    assert [s.n_risk for s in got] == LUNG_RISK
    np.testing.assert_allclose([s.survival for s in got], LUNG_SURV, rtol=1e-12)
    np.testing.assert_allclose([s.se for s in got], LUNG_SE, rtol=1e-12)
    lower, upper = LUNG_CI[conf_type]
    np.testing.assert_allclose([s.lower for s in got], lower, rtol=1e-12)
    np.testing.assert_allclose([s.upper for s in got], upper, rtol=1e-12)


def test_survival_at_level_90_matches_r():
    # R 3.5.3 summary(survfit(Surv(time, status) ~ 1, lung, conf.int=0.9), times=365)
    s = survival_at(km_of("lung"), 365, level=0.9)[0]
    assert (s.lower, s.upper) == pytest.approx((0.354362636241837, 0.472619542982561), rel=1e-12)


# R 3.5.3 summary(survfit(Surv(HAND_TIME, HAND_EVENT) ~ 1, conf.type=), times=HAND_TIMES)
HAND_TIMES = [-1, 0, 0.5, 1, 2, 2.5, 3, 5, 6, 8.9, 9]
HAND_RISK = [10, 10, 10, 10, 8, 7, 7, 4, 2, 1, 1]
HAND_CI = {  # (lower, upper) at times 1, 2, 3, 5
    "log": (
        [0.73201164274399266, 0.56412523151367333, 0.31647545436399427, 0.13475015849150548],
        [1.0, 1.0, 0.99978132786274598, 0.84531440463708651],
    ),
    "log-log": (
        [0.47300927136205051, 0.38088152320549651, 0.20942124371047177, 0.079710503820437734],
        [0.98528139336734311, 0.9425909522237037, 0.80917092153099179, 0.62722718069733185],
    ),
    "plain": (
        [0.71406149030863164, 0.52480015705023875, 0.23898068501958569, 0.027626695536974721],
        [1.0, 1.0, 0.88601931498041431, 0.64737330446302532],
    ),
}


@pytest.mark.parametrize("conf_type", list(HAND_CI))
def test_survival_at_hand_matches_r(conf_type):
    got = survival_at(km_of("hand"), HAND_TIMES, conf_type)
    assert [s.n_risk for s in got] == HAND_RISK
    surv = [1, 1, 1, 0.9, 0.7875, 0.7875, 0.5625, 0.3375, 0.3375, 0.3375, 0]
    np.testing.assert_allclose([s.survival for s in got], surv, atol=1e-15)
    # right-continuous: at t = 1, 3, 5, 9 the events at t are included; 2.5 and 8.9 carry the previous row;
    # 6 is a censor-only time (no step). Before the first time: S = 1, SE 0, CI (1, 1) for every type.
    for s in got[:3]:
        assert (s.se, s.lower, s.upper) == (0.0, 1.0, 1.0)
    lower, upper = HAND_CI[conf_type]
    # positions of times 1, 2, 3, 5 in HAND_TIMES; 2.5, 6 and 8.9 repeat the row before them
    pick = [3, 4, 6, 7]
    np.testing.assert_allclose([got[i].lower for i in pick], lower, rtol=1e-12)
    np.testing.assert_allclose([got[i].upper for i in pick], upper, rtol=1e-12)
    assert (got[5].lower, got[5].upper, got[5].se) == (got[4].lower, got[4].upper, got[4].se)
    assert (got[8].lower, got[9].upper) == (got[7].lower, got[7].upper)
    # at 9 S drops to 0: std.err NaN and the CI NA in R
    assert math.isnan(got[10].se) and math.isnan(got[10].lower) and math.isnan(got[10].upper)


def test_survival_at_hand_arithmetic():
    # at t = 3: S = 0.5625, sigma^2 = 1/90 + 1/56 + 2/35; SE = S sigma; log CI = S exp(-+ z sigma)
    sigma = math.sqrt(1 / 90 + 1 / 56 + 2 / 35)
    s = survival_at(km_of("hand"), 3.0)[0]
    assert s.survival == 0.5625
    assert s.se == pytest.approx(0.5625 * sigma, rel=1e-13)
    assert s.lower == pytest.approx(0.5625 * math.exp(-Z95 * sigma), rel=1e-13)
    assert s.upper == pytest.approx(0.5625 * math.exp(Z95 * sigma), rel=1e-13)
    # level 0.9 and log-log: exp(-exp(log(-log S) +- z sigma / |log S|))
    z90 = norm.ppf(0.95)
    s = survival_at(km_of("hand"), 3.0, "log-log", 0.9)[0]
    ll = math.log(-math.log(0.5625))
    shift = z90 * sigma / abs(math.log(0.5625))
    assert s.lower == pytest.approx(math.exp(-math.exp(ll + shift)), rel=1e-13)
    assert s.upper == pytest.approx(math.exp(-math.exp(ll - shift)), rel=1e-13)


def test_survival_at_beyond_last_follow_up_is_nan():
    # R's summary(fit, times=) (extend=FALSE) reports nothing past the last time
    km = km_of("hand")
    for s in survival_at(km, [9.5, 100.0]):
        assert math.isnan(s.survival) and math.isnan(s.se) and math.isnan(s.lower) and math.isnan(s.upper)
        assert s.n_risk == 0
    # the last time itself is inside the follow-up, even when censored
    s = survival_at(km_of("all_censored"), 7.0)[0]
    assert (s.survival, s.n_risk) == (1.0, 1)
    assert math.isnan(survival_at(km_of("all_censored"), 7.01)[0].survival)


def test_survival_at_all_censored():
    # R 3.5.3: S = 1 and SE 0 everywhere; log and plain CI (1, 1); log-log NA at the table times
    # (log(-log 1) is undefined) but (1, 1) before the first time
    km = km_of("all_censored")
    for conf_type in ("log", "plain"):
        for s in survival_at(km, [1, 2, 3, 7], conf_type):
            assert (s.survival, s.se, s.lower, s.upper) == (1.0, 0.0, 1.0, 1.0)
    got = survival_at(km, [1, 2, 3, 7], "log-log")
    assert (got[0].lower, got[0].upper) == (1.0, 1.0)
    assert all(math.isnan(s.lower) and math.isnan(s.upper) for s in got[1:])
    assert [s.n_risk for s in got] == [4, 4, 2, 1]


def test_survival_at_scalar_array_and_errors():
    km = km_of("hand")
    assert survival_at(km, 3) == survival_at(km, np.array([3.0])) == survival_at(km, [3.0])
    assert len(survival_at(km, [])) == 0
    with pytest.raises(ValueError, match="conf_type"):
        survival_at(km, 3.0, "arcsin")
    with pytest.raises(ValueError, match="NaN"):
        survival_at(km, [1.0, math.nan])
    empty = survival_at(kaplan_meier(np.array([]), np.array([])), [0.0, 1.0])
    assert all(math.isnan(s.survival) and s.n_risk == 0 for s in empty)


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 12), st.booleans()), min_size=1, max_size=30))
def test_survival_at_table_times_equal_table(data):
    time = np.array([t for t, _ in data], float)
    event = np.array([e for _, e in data], int)
    km = kaplan_meier(time, event)
    got = survival_at(km, km.time, "plain")
    np.testing.assert_array_equal([s.survival for s in got], km.survival)
    np.testing.assert_array_equal([s.se for s in got], greenwood_se(km))
    np.testing.assert_array_equal([s.n_risk for s in got], km.n_risk)
    lower = np.array([s.lower for s in got])
    upper = np.array([s.upper for s in got])
    ok = km.survival > 0
    assert np.all((lower[ok] <= km.survival[ok]) & (km.survival[ok] <= upper[ok]))
    assert np.all((lower[ok] >= 0) & (upper[ok] <= 1))


# --------------------------------------------------------------------------------------------------
# RMST


# R 3.5.3 summary(survfit(Surv(t, e) ~ 1), rmean=tau)$table[c("rmean", "se(rmean)")]
R_RMST = {
    ("lung", 365): (263.221866482007, 7.79885908631446),
    ("lung", 730): (357.073251610298, 16.2193442355464),  # print(fit, rmean=730): rmean* 357, se 16.2
    ("lung", 1022): (376.27474614785, 19.7077914213399),  # the last follow-up time
    ("lung", 2000): (425.512711721102, 36.9723372528123),  # beyond it: S carried forward
    ("lung_m", 365): (241.49508519205702, 10.358226491096945),
    ("lung_f", 1000): (458.81659303464096, 33.988477790969057),
    ("leuk_6mp", 10): (9.2773109243697469, 0.32676911538744419),
    ("leuk_6mp", 50): (30.010084033613442, 4.7232202066895184),
    ("leuk_placebo", 50): (8.6666666666666661, 1.3773900412645483),  # S = 0 from 23 on
    ("aml_m", 100): (41.415909090909089, 10.828864716860528),
    ("aml_n", 100): (22.708333333333336, 4.1809419810331541),
    ("rossi", 365): (276.25694444444434, 7.1399090455454841),
    ("hand", 3): (2.6875, 0.206675697047331),  # horizon at an event time
    ("hand", 7.5): (4.54375, 0.7773395885567),  # inside the flat part from 5 to 9
    ("hand", 9): (5.05, 0.99611746295304),
    ("hand", 12): (5.05, 0.99611746295304),
    ("all_censored", 10): (10.0, 0.0),
    ("ten", 10): (5.5, 0.90829510622924747),
}


@pytest.mark.parametrize(("name", "horizon"), list(R_RMST))
def test_rmst_matches_r(name, horizon):
    r = rmst(km_of(name), horizon)
    assert isinstance(r, RMST)
    est, se = R_RMST[(name, horizon)]
    assert r.horizon == horizon
    assert r.estimate == pytest.approx(est, rel=1e-12, abs=1e-12)
    assert r.se == pytest.approx(se, rel=1e-10, abs=1e-12)
    assert (r.lower, r.upper) == pytest.approx((est - Z95 * se, est + Z95 * se), rel=1e-10, abs=1e-12)


def test_rmst_hand_arithmetic():
    # tau = 7.5: areas 1 + .9 + .7875 + .5625 + .45 + .3375 + 1.5 * .3375 = 4.54375
    # A_j = area from t_j to tau: 3.54375, 2.64375, 1.85625, 1.29375, .84375 (t = 1..5)
    # var = 3.54375^2/90 + 2.64375^2/56 + 2 * 1.85625^2/35 + 1.29375^2/20 + .84375^2/12
    var = 3.54375**2 / 90 + 2.64375**2 / 56 + 2 * 1.85625**2 / 35 + 1.29375**2 / 20 + 0.84375**2 / 12
    r = rmst(km_of("hand"), 7.5, level=0.9)
    assert r.estimate == pytest.approx(4.54375, abs=1e-13)
    assert r.se == pytest.approx(math.sqrt(var), rel=1e-13)
    z = norm.ppf(0.95)
    assert (r.lower, r.upper) == pytest.approx((4.54375 - z * r.se, 4.54375 + z * r.se), rel=1e-13)


def _rmst_brute(km: KaplanMeier, tau: float) -> tuple[float, float]:
    """Exact area by intervals, and the delta-method variance as the double integral of the Greenwood covariance
    Cov(S(u), S(v)) = S(u) S(v) G(min(u, v)), G = Greenwood sum (0 where n = d, as R does)."""
    edges = [0.0] + [float(t) for t in km.time if t < tau] + [tau]
    widths, heights, greenwood = [], [], []
    for a, b in itertools.pairwise(edges):
        widths.append(b - a)
        heights.append(float(km.at(a)[0]))
        g = 0.0
        for t, n, d in zip(km.time, km.n_risk, km.n_event, strict=True):
            if t <= a and n > d:
                g += d / (n * (n - d))
        greenwood.append(g)
    area = sum(w * h for w, h in zip(widths, heights, strict=True))
    var = 0.0
    for i in range(len(widths)):
        for j in range(len(widths)):
            var += widths[i] * widths[j] * heights[i] * heights[j] * greenwood[min(i, j)]
    return area, var


@pytest.mark.parametrize(
    "name", ["lung_m", "leuk_6mp", "leuk_placebo", "aml_m", "aml_n", "hand", "ten", "all_censored"]
)
def test_rmst_matches_brute_force(name):
    km = km_of(name)
    last = float(km.time[-1])
    for tau in (0.0, float(km.time[0]) / 2, float(km.time[len(km.time) // 2]), 0.7 * last, last, last + 10):
        r = rmst(km, tau)
        area, var = _rmst_brute(km, tau)
        assert r.estimate == pytest.approx(area, rel=1e-12, abs=1e-12)
        assert r.se == pytest.approx(math.sqrt(var), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", ["lung", "leuk_6mp", "aml_n", "hand", "ten"])
def test_rmst_estimate_matches_lifelines(name):
    # lifelines' return_variance is the variance of min(T, tau) itself, not of the estimator: only the
    # estimate is comparable
    t, e = DATA[name]()
    kmf = KaplanMeierFitter().fit(np.asarray(t, float), np.asarray(e, int))
    km = km_of(name)
    for tau in (float(km.time[len(km.time) // 3]), float(km.time[-1]) * 0.9):
        expected = restricted_mean_survival_time(kmf, t=tau)
        assert rmst(km, tau).estimate == pytest.approx(expected, rel=1e-10)


def test_rmst_edges():
    km = km_of("hand")
    # before the first time: the whole area is 1 * tau, no variance
    assert rmst(km, 0.5) == RMST(0.5, 0.5, 0.0, 0.5, 0.5)
    assert rmst(km, 0.0).estimate == 0.0
    # flat part: the area grows linearly with slope S = 0.3375
    assert rmst(km, 8.0).estimate - rmst(km, 7.0).estimate == pytest.approx(0.3375, abs=1e-13)
    # past S = 0 nothing is added
    assert rmst(km, 50.0) == dataclasses.replace(rmst(km, 9.0), horizon=50.0)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="horizon"):
            rmst(km, bad)
    with pytest.raises(ValueError, match="level"):
        rmst(km, 3.0, level=0)
    empty = rmst(kaplan_meier(np.array([]), np.array([])), 3.0)
    assert math.isnan(empty.estimate) and math.isnan(empty.se)


def test_data_matches_r_lung_encoding():
    # lifelines' lung has status 0/1 (R: 1/2); guard the equivalence the R values above rely on
    d = load_lung()
    assert sorted(d["status"].unique().tolist()) == [0, 1]
    assert len(d) == 228 and int(d["status"].sum()) == 165
    assert isinstance(d, pd.DataFrame)


# -- reverse Kaplan-Meier follow-up, against R ------------------------------------------------------------
# R 4.2.2, survival 3.5-3: quantile(survfit(Surv(t, 1 - e) ~ 1), 0.5)$quantile


@pytest.mark.parametrize(
    ("time", "event", "r_median"),
    [
        ([1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 12, 12, 15], [1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0], 10.0),
        ([1, 2, 3, 4, 5, 6], [1, 0, 1, 0, 0, 0], 5.0),
        ([2, 4, 6, 8], [0, 0, 0, 0], 5.0),  # the curve sits on 0.5 from 4 to 6: R takes the midpoint
    ],
)
def test_median_followup_matches_r(time, event, r_median):
    assert median_followup(time, event) == r_median


def test_median_followup_not_reached_and_bad_input():
    assert math.isnan(median_followup([1, 2, 3], [1, 1, 1]))  # nobody censored
    assert math.isnan(median_followup([], []))
    with pytest.raises(ValueError, match="coded 0"):
        median_followup([1, 2], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        median_followup([-1, 2], [1, 0])
