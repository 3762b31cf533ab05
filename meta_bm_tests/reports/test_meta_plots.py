"""Forest, funnel, leave-one-out and cumulative figures: the numbers drawn; nothing clipped or overlapping."""

import math
import re

import numpy as np
import pytest
from matplotlib.patches import Polygon

from meta_bm.metaanalysis import meta_analysis
from meta_bm.metaanalysis.sensitivity import cumulative, leave_one_out
from meta_bm.reports.meta_plots import (
    FOREST_MAX_STUDIES,
    ForestRow,
    cumulative_figure,
    forest_figure,
    forest_rows,
    funnel_figure,
    leave_one_out_figure,
)
from meta_bm_tests.reports.text_layout import assert_no_clipped_text, assert_no_overlapping_text

RR, NS = "Re-resection + adjuvant re-SRS", "Non-surgical management"
AUTHORS = [
    "Lindqvist",
    "Smith",
    "Nakamura",
    "García-López",
    "Okafor",
    "Müller",
    "Chen",
    "Dubois",
    "Rossi",
    "Kowalski",
    "Andersen",
    "Papadopoulos",
    "Silva",
    "Kim",
    "O'Brien",
]


def _rows(k: int, seed: int = 1, shift: float = 0.0, se_range=(0.12, 0.9)) -> list[ForestRow]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        n1, n2 = (int(v) for v in rng.integers(15, 120, 2))
        out.append(
            ForestRow(
                f"{AUTHORS[i % 15]} {2000 + i}",
                n1 * 2 // 3,
                n1,
                n2 * 3 // 4,
                n2,
                rng.normal(-0.25, 0.3) + shift,
                rng.uniform(*se_range),
            )
        )
    return out


def _pooled(rows, methods=("REML", "DL", "FE")):
    y, v = [r.log_hr for r in rows], [r.se**2 for r in rows]
    return {m: meta_analysis(y, v, method=m) for m in methods}


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.texts]


def test_forest_columns_carry_the_weights_and_study_cis():
    rows = _rows(15)
    pooled = _pooled(rows)
    fig = forest_figure(rows, pooled, group_label=RR, reference_label=NS, title="Overall survival")
    texts = _texts(fig)
    assert [t for t in texts if re.fullmatch(r"\d+\.\d%", t)] == [f"{w:.1f}%" for w in pooled["REML"].weights]
    assert sum(pooled["REML"].weights) == pytest.approx(100)
    hr = [t for t in texts if re.fullmatch(r"\d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\]", t)]
    by_hand = [
        f"{math.exp(r.log_hr):.2f} [{math.exp(r.log_hr - 1.96 * r.se):.2f}, {math.exp(r.log_hr + 1.96 * r.se):.2f}]"
        for r in rows
    ]
    assert hr[:15] == by_hand
    reml = pooled["REML"]
    assert f"{math.exp(reml.estimate):.2f} [{math.exp(reml.lower):.2f}, {math.exp(reml.upper):.2f}]" in hr
    assert [t for t in texts if t.startswith(AUTHORS[0])] == ["Lindqvist 2000"]
    assert f"{rows[0].events_group}/{rows[0].n_group}" in texts
    assert f"{rows[0].events_reference}/{rows[0].n_reference}" in texts
    assert "Random effects (REML)" in texts and "Random effects (DL)" in texts and "Fixed effect" in texts
    assert f"[{math.exp(reml.pi_lower):.2f}, {math.exp(reml.pi_upper):.2f}]" in texts  # prediction interval
    hetero = next(t for t in texts if t.startswith("Heterogeneity"))
    assert f"Q = {reml.q:.2f}, df = 14" in hetero and f"I² = {reml.i2:.1f}%" in hetero and f"{reml.tau2:.4f}" in hetero
    assert f"← Favours {RR}" in texts and f"Favours {NS} →" in texts
    assert texts[0] == "Overall survival"
    assert_no_clipped_text(fig)
    assert_no_overlapping_text(fig)


def test_forest_squares_are_sized_by_weight_and_diamonds_span_the_pooled_cis():
    rows = _rows(15)
    pooled = _pooled(rows)
    fig = forest_figure(rows, pooled, group_label=RR, reference_label=NS)
    ax = fig.axes[0]
    squares = [ln for ln in ax.lines if ln.get_marker() == "s"]
    sizes = np.array([ln.get_markersize() for ln in squares])
    w = pooled["REML"].weights
    assert np.argmax(sizes) == np.argmax(w) and np.argmin(sizes) == np.argmin(w)
    np.testing.assert_allclose((sizes - 3) ** 2 / (sizes.max() - 3) ** 2, w / w.max())  # area ~ weight
    diamonds = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == 3
    for d, m in zip(diamonds, pooled.values(), strict=True):
        xs = d.get_xy()[:, 0]
        assert xs.min() == pytest.approx(m.lower) and xs.max() == pytest.approx(m.upper)


def test_forest_with_two_studies_far_from_one_and_a_ci_beyond_the_axis():
    rows = [
        ForestRow("Lindqvist 2013", 33, 44, 34, 40, math.log(6.0), 0.3),
        ForestRow("Kano 2021", 3, 5, 4, 6, math.log(4.0), 2.5),  # CI 0.03-540: runs off both ends
    ]
    pooled = _pooled(rows)
    fig = forest_figure(rows, pooled, group_label="Surgery", reference_label="Radiosurgery")
    ax = fig.axes[0]
    x0, x1 = ax.get_xlim()
    assert x0 < 0 < math.log(6.0) < x1  # HR = 1 and the estimates in view
    arrows = sorted(ln.get_marker() for ln in ax.lines if ln.get_marker() in ("<", ">"))
    assert arrows == ["<", ">"]
    assert_no_clipped_text(fig)
    assert_no_overlapping_text(fig)


def test_forest_beyond_the_cap_draws_the_heaviest_studies_and_counts_the_rest():
    k = FOREST_MAX_STUDIES + 140
    rows = [ForestRow(f"Study {i:03d}", None, None, None, None, -0.2, 0.1 + (i * 37 % k) / k) for i in range(k)]
    pooled = _pooled(rows, ("REML",))
    fig = forest_figure(rows, pooled, group_label="A", reference_label="B")
    drawn = [t for t in _texts(fig) if t.startswith("Study ")]
    heaviest = sorted(sorted(range(k), key=lambda i: rows[i].se)[:FOREST_MAX_STUDIES])
    assert drawn == [rows[i].label for i in heaviest]
    assert "… 140 more studies not shown (lower weight; all are pooled)" in _texts(fig)
    assert pooled["REML"].k == k


def test_forest_names_the_knapp_hartung_model():
    rows = _rows(5)
    knha = meta_analysis([r.log_hr for r in rows], [r.se**2 for r in rows], test="knha")
    assert knha.test == "knha"
    fig = forest_figure(rows, {"REML": knha}, group_label="A", reference_label="B")
    assert "Random effects (REML, HKSJ)" in _texts(fig)
    assert any(t.startswith("Test for overall effect, random effects (REML, HKSJ): t = ") for t in _texts(fig))


def test_forest_refuses_mismatched_input():
    rows = _rows(4)
    with pytest.raises(ValueError, match="k = 3"):
        forest_figure(rows, _pooled(rows[:3]), group_label="A", reference_label="B")
    with pytest.raises(ValueError, match="'REML' is not among"):
        forest_figure(rows, _pooled(rows, ("FE",)), group_label="A", reference_label="B")
    with pytest.raises(ValueError, match="se"):
        ForestRow("x", 1, 2, 1, 2, 0.1, 0.0)


def test_funnel_triangle_egger_line_and_labels():
    rows = _rows(15, seed=3)
    y, se = np.array([r.log_hr for r in rows]), np.array([r.se for r in rows])
    y[0] = 2.5  # far outside the funnel: labelled
    m = meta_analysis(y, se**2)
    fig = funnel_figure(
        y,
        se,
        [r.label for r in rows],
        m,
        egger_text="Egger's test: t = 2.10, df = 13, p = 0.056",
        egger_line=(0.1, -0.5),
        title="Funnel plot",
    )
    ax = fig.axes[0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1] == 0  # SE axis inverted, 0 at the top
    se_max = ax.get_ylim()[0]
    dashed = next(ln for ln in ax.lines if ln.get_linestyle() == "--")
    np.testing.assert_allclose(
        dashed.get_xdata(), [m.estimate - 1.959964 * se_max, m.estimate, m.estimate + 1.959964 * se_max], atol=1e-5
    )
    egger = next(ln for ln in ax.lines if ln.get_label() == "Egger regression")
    np.testing.assert_allclose(egger.get_xdata(), [0.1, 0.1 - 0.5 * se_max])
    assert rows[0].label in [t.get_text() for t in ax.texts]
    assert "Egger's test: t = 2.10, df = 13, p = 0.056" in _texts(fig)
    assert_no_clipped_text(fig)
    assert_no_overlapping_text(fig)
    with pytest.raises(ValueError, match="same length"):
        funnel_figure(y, se[:3], [], m)


def test_leave_one_out_rows_and_reference_line():
    rows = _rows(15)
    y, v = np.array([r.log_hr for r in rows]), np.array([r.se**2 for r in rows])
    overall = meta_analysis(y, v)
    fits = [meta_analysis(np.delete(y, i), np.delete(v, i)) for i in range(15)]
    fig = leave_one_out_figure(
        [r.label for r in rows], fits, overall, group_label=RR, reference_label=NS, title="Leave-one-out"
    )
    texts = _texts(fig)
    assert [t for t in texts if t.startswith("Omitting")] == [f"Omitting {r.label}" for r in rows]
    f0 = fits[0]
    assert f"{math.exp(f0.estimate):.2f} [{math.exp(f0.lower):.2f}, {math.exp(f0.upper):.2f}]" in texts
    assert f"{f0.i2:.1f}%" in texts
    dotted = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == ":"]
    assert [ln.get_xdata()[0] for ln in dotted] == [pytest.approx(overall.estimate)]
    assert_no_clipped_text(fig)
    assert_no_overlapping_text(fig)
    with pytest.raises(ValueError, match="labels"):
        leave_one_out_figure(["a"], fits, overall, group_label="A", reference_label="B")


def test_cumulative_rows_count_the_studies_pooled():
    rows = _rows(15, shift=1.2)  # HR far above 1
    y, v = np.array([r.log_hr for r in rows]), np.array([r.se**2 for r in rows])
    fits = [meta_analysis(y[: i + 1], v[: i + 1]) for i in range(15)]
    fig = cumulative_figure([r.label for r in rows], fits, group_label=RR, reference_label=NS, title="Cumulative")
    texts = _texts(fig)
    assert [t for t in texts if t.startswith("+ ")] == [f"+ {r.label}" for r in rows]
    assert [t for t in texts if t.isdigit()] == [str(i) for i in range(1, 16)]
    last = fits[-1]
    assert f"{math.exp(last.estimate):.2f} [{math.exp(last.lower):.2f}, {math.exp(last.upper):.2f}]" in texts
    # the first row is the first study alone: its own HR and CI
    first = next(t for t in texts if re.fullmatch(r"\d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\]", t))
    se0 = rows[0].se
    assert (
        first == f"{math.exp(y[0]):.2f} [{math.exp(y[0] - 1.959964 * se0):.2f}, {math.exp(y[0] + 1.959964 * se0):.2f}]"
    )
    assert_no_clipped_text(fig)
    assert_no_overlapping_text(fig)


def test_forest_from_a_pooled_analysis_table():
    import polars as pl

    from meta_bm.analysis.adhoc import analyze_table

    rng = np.random.default_rng(7)
    parts = []
    for sid, n in (("lindqvist_2013", 40), ("van_der_berg_2020b", 30), ("kano_2021", 25)):
        arm = rng.integers(0, 2, n)
        t = rng.exponential(np.where(arm == 1, 14.0, 10.0))
        parts.append(pl.DataFrame({"study": [sid] * n, "arm": np.where(arm == 1, RR, NS), "t": t, "e": [1] * n}))
    res = analyze_table(pl.concat(parts), time="t", event="e", group="arm", study="study", reference=NS)
    (contrast,) = res.meta
    eff = res.per_study.filter(pl.col("group") == contrast)
    rows = forest_rows(eff)
    assert [r.label for r in rows] == ["Kano 2021", "Lindqvist 2013", "Van der Berg 2020b"]
    assert [(r.events_group, r.n_group) for r in rows] == list(zip(eff["events_group"], eff["n_group"], strict=True))
    pooled = res.meta[contrast]
    fig = forest_figure(rows, pooled, group_label=RR, reference_label=NS, title="OS")
    texts = _texts(fig)
    assert [t for t in texts if re.fullmatch(r"\d+\.\d%", t)] == [f"{w:.1f}%" for w in pooled["REML"].weights]
    hr = [t for t in texts if re.fullmatch(r"\d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\]", t)][:3]
    # the study CIs drawn are those of the per-study Cox fits (R coxph, exp(coef -+ 1.96 se))
    assert hr == [f"{h:.2f} [{lo:.2f}, {hi:.2f}]" for h, lo, hi in eff.select("hr", "hr_lower", "hr_upper").iter_rows()]
    assert_no_clipped_text(fig)
    assert_no_overlapping_text(fig)


def test_leave_one_out_and_cumulative_figures_cap_their_rows():
    """200 studies: the figures stay readable (rows capped) and still say what is left out."""
    rng = np.random.default_rng(7)
    yi = rng.normal(-0.3, 0.2, 200)
    vi = rng.uniform(0.02, 0.2, 200)
    labels = [f"Study {i} {2000 + i % 25}" for i in range(200)]
    overall = meta_analysis(yi, vi, method="REML")
    loo = leave_one_out(yi, vi, labels)
    fig = leave_one_out_figure(loo.labels, loo.fits, overall, group_label="A", reference_label="B", max_rows=20)
    texts = _texts(fig)
    shown = [t for t in texts if t.startswith("Omitting ")]
    assert len(shown) == 20
    # the 20 omissions that move the estimate most
    moved = sorted(range(200), key=lambda i: -abs(loo.fits[i].estimate - overall.estimate))[:20]
    assert set(shown) == {f"Omitting {labels[i]}" for i in moved}
    assert any(t.startswith("… 180 other omissions") for t in texts)
    assert_no_clipped_text(fig)
    cum = cumulative(yi, vi, labels)
    fig = cumulative_figure(cum.labels, cum.fits, group_label="A", reference_label="B", max_rows=25)
    texts = _texts(fig)
    added = [t for t in texts if t.startswith("+ ")]
    assert len(added) == 25 and added[0] == f"+ {labels[0]}" and added[-1] == f"+ {labels[-1]}"
    assert "25 of 200 steps shown, evenly spaced." in texts
    assert_no_clipped_text(fig)
