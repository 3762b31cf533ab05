"""KM figure: numbers at risk under the ticks, full labels, no clipped or overlapping text, CI bands as R's."""

import numpy as np
import polars as pl
import pytest
from matplotlib.collections import PolyCollection

from meta_bm.analysis.adhoc import analyze_table
from meta_bm.reports.km_plot import km_figure
from meta_bm.survival.km import kaplan_meier
from meta_bm.survival.km_inference import survival_ci
from meta_bm_tests.reports.text_layout import assert_no_clipped_text, assert_no_overlapping_text, visible_texts

RR, NS = "Re-resection + adjuvant re-SRS", "Non-surgical management"


def _table(groups: dict[str, tuple[list[float], list[int]]]) -> pl.DataFrame:
    rows = [(g, t, e) for g, (ts, es) in groups.items() for t, e in zip(ts, es, strict=True)]
    return pl.DataFrame(rows, schema=["arm", "t", "e"], orient="row")


# 11 patients without censoring: S falls below 0.5 at the 6th death, so the medians are 11.9 and 13.8
CLOSE = {
    RR: ([1, 2, 3, 4, 5, 11.9, 15, 20, 25, 30, 35], [1] * 11),
    NS: ([1.5, 2.5, 3.5, 4.5, 5.5, 13.8, 16, 21, 26, 31, 36], [1] * 10 + [0]),
}


def _result(groups, reference=NS):
    return analyze_table(_table(groups), time="t", event="e", group="arm", reference=reference)


def test_risk_table_numbers_are_at_risk_counts_under_the_ticks():
    res = _result(CLOSE)
    fig = km_figure(res)
    ax, tab = fig.axes[0], fig.axes[1]
    ticks = ax.get_xticks()
    assert ticks.tolist() == [0, 6, 12, 18, 24, 30, 36]
    assert tab.get_xlim() == ax.get_xlim()
    for g in res.groups:
        y_row = next(u for u in tab.texts if u.get_text() == g.label).get_position()[1]
        own = [t for t in tab.texts if t.get_text().isdigit() and t.get_position()[1] == y_row]
        assert [int(t.get_text()) for t in own] == g.km.at_risk(ticks).tolist()
        assert [t.get_position()[0] for t in own] == ticks.tolist()
        assert all(t.get_ha() == "center" for t in own)
    # by hand: RR's times >= each tick: 11 at 0, 6 at 6 (deaths at 1-5), 5 at 12, 4 at 18, 3 at 24, 2 at 30, 0 at 36
    rr = next(t for t in tab.texts if t.get_text() == RR).get_position()[1]
    assert [t.get_text() for t in tab.texts if t.get_position()[1] == rr and t.get_text().isdigit()] == [
        "11",
        "6",
        "5",
        "4",
        "3",
        "2",
        "0",
    ]


def test_close_medians_and_long_labels_neither_clip_nor_overlap():
    res = _result(CLOSE)
    fig = km_figure(res, title="Overall survival after recurrence of a brain metastasis: every management")
    assert_no_clipped_text(fig)
    assert_no_overlapping_text(fig)
    labels = [t.get_text() for t in visible_texts(fig)]
    assert RR in labels and NS in labels  # whole, never cut
    meds = [t for t in fig.axes[0].texts if t.get_text() in ("11.9", "13.8")]
    assert sorted(t.get_text() for t in meds) == ["11.9", "13.8"]
    assert fig.axes[0].get_xlabel() == "Months since recurrence"
    assert fig.axes[0].get_ylabel() == "Survival probability"


def test_key_gives_n_events_median_and_cox_hr_and_the_logrank_p():
    res = _result(CLOSE)
    fig = km_figure(res)
    texts = [t.get_text() for t in fig.texts]
    cox = res.cox["unstratified"]
    i = cox.names.index(next(g.group for g in res.groups if g.label == RR))
    assert f"{cox.hr[i]:.2f} ({cox.hr_lower[i]:.2f}–{cox.hr_upper[i]:.2f})" in texts
    assert "1 (reference)" in texts
    m = next(g for g in res.groups if g.label == RR).medians["log"]
    assert np.isnan(m.upper)  # R: the upper log-CI curve never reaches 0.5 -> NA, printed NR
    assert f"11.9 ({m.lower:.1f}–NR)" in texts
    assert any(t.startswith(f"Log-rank p = {res.logrank.p_value:.3f}") for t in texts)


def test_three_and_four_groups_unreached_median_and_a_single_patient():
    groups = dict(CLOSE)
    # 3 deaths among 25 followed to 40 months: S stays above 0.85, the median is not reached
    groups["Laser interstitial thermal therapy"] = (
        list(np.linspace(5, 40, 25)),
        [int(i in (2, 5, 8)) for i in range(25)],
    )
    res3 = _result(groups)
    groups["Single patient"] = ([7.0], [1])
    res4 = _result(groups)
    for res in (res3, res4):
        fig = km_figure(res, max_time=36)
        assert_no_clipped_text(fig)
        assert_no_overlapping_text(fig)
        texts = [t.get_text() for t in fig.texts]
        assert "not reached" in texts
    assert len([t for t in fig.axes[1].texts if not t.get_text().isdigit()]) == 4


def test_ci_bands_are_rs_log_pointwise_limits():
    # R 4.2.2, survival 3.5-3: survfit(Surv(t, e) ~ 1, conf.type = "log", conf.int = 0.9)$lower / $upper
    t = np.array([2, 3, 3, 5, 6, 6, 8, 9, 11, 12, 14, 15.0])
    e = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0])
    ci = survival_ci(kaplan_meier(t, e), conf_type="log", level=0.9)
    r_lower = [0.794393, 0.673902, 0.555644, 0.357068, 0.357068, 0.250080, 0.158127, 0.158127, 0.041861, 0.041861]
    r_upper = [1.0, 1.0, 0.987497, 0.864378, 0.864378, 0.789872, 0.702672, 0.702672, 0.663567, 0.663567]
    np.testing.assert_allclose(ci.lower, r_lower, atol=5e-7)
    np.testing.assert_allclose(ci.upper, r_upper, atol=5e-7)
    with pytest.raises(ValueError, match="conf_type"):
        survival_ci(kaplan_meier(t, e), conf_type="arcsin")


def test_bands_drawn_only_when_asked():
    res = _result(CLOSE)
    with_bands = [c for c in km_figure(res).axes[0].collections if isinstance(c, PolyCollection)]
    without = [c for c in km_figure(res, ci_bands=False).axes[0].collections if isinstance(c, PolyCollection)]
    assert len(with_bands) == 2 and without == []
    # the band of RR reaches R's lower limit at its first death (S = 10/11): S exp(-1.96 sigma)
    ci = survival_ci(next(g for g in res.groups if g.label == RR).km)
    ys = np.concatenate(
        [p.vertices[:, 1] for p in with_bands[0].get_paths()] + [p.vertices[:, 1] for p in with_bands[1].get_paths()]
    )
    assert np.any(np.isclose(ys, ci.lower[0]))


def test_bad_input_is_refused():
    res = _result(CLOSE)
    with pytest.raises(ValueError, match="max_time"):
        km_figure(res, max_time=-1)
    with pytest.raises(ValueError, match="level"):
        km_figure(res, level=1.5)
