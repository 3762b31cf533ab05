"""The KM figure simulator: its truth is checked against lifelines, hand counts and hand-computed errors, and
against what the saved files actually contain (magic bytes, image sizes, PDF text read back by pdfminer)."""

from __future__ import annotations

import dataclasses
import io
import re

import matplotlib
import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from pdfminer.high_level import extract_text
from PIL import Image

from meta_bm.errors import InputError
from meta_bm.simulation.km_figures import (
    EXTRACTION_GRID_POINTS,
    FOLLOW_UP_MONTHS,
    STYLES,
    ArmTruth,
    FigureStyle,
    FigureTruth,
    draw_km_figure,
    extraction_error,
    main,
    month_ticks,
    simulate_arms,
    true_survival,
)

MAGIC = {"pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}
# small rasters keep the tests fast; the size check still sees figsize x dpi
TEST_DPI = 60
# text lines of one risk-table row lie within this many points of each other in y (rows are ~11 pt apart)
ROW_TOLERANCE_PT = 4.0


def _hand_arm(time, event, label="a") -> ArmTruth:
    """An ArmTruth built by hand: KM of ``(time, event)`` written out here, all distinct times are rows."""
    time = np.asarray(time, float)
    event = np.asarray(event, int)
    rows = np.unique(time)
    surv, s = [], 1.0
    for t in rows:
        n = (time >= t).sum()
        d = ((time == t) & (event == 1)).sum()
        s *= 1 - d / n
        surv.append(s)
    return ArmTruth(label, time, event, np.r_[0.0, rows], np.r_[1.0, surv], np.zeros(0), None, None, "#000000", "solid")


# --------------------------------------------------------------------------------------------------------
# simulated IPD
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_arms", [1, 2, 3, 4])
def test_simulated_arms_have_the_promised_sizes_labels_and_censoring(n_arms):
    horizons, censored = set(), 0.0
    for seed in range(12):
        arms = simulate_arms(n_arms, seed)
        assert len(arms) == n_arms
        assert len({label for label, _, _ in arms}) == n_arms
        t_end = max(t.max() for _, t, _ in arms)
        horizon = min(h for h in FOLLOW_UP_MONTHS if h >= t_end)  # nobody is followed past the horizon
        horizons.add(horizon)
        for _, t, e in arms:
            assert 30 <= t.size <= 300
            assert t.min() > 0 and set(np.unique(e)) <= {0, 1}
            censored += (e == 0).mean()
    assert len(horizons) >= 2  # the seeds vary the follow-up
    assert 0.05 < censored / (12 * n_arms) < 0.8  # censoring happens, but is not everything


def test_some_censoring_is_early():
    """Loss to follow-up censors some patients well before administrative censoring starts."""
    early = 0
    for seed in range(10):
        for _, t, e in simulate_arms(2, seed):
            early += int(((e == 0) & (t < 0.3 * t.max())).sum())
    assert early >= 10


def test_same_seed_gives_the_same_data_and_other_seeds_do_not():
    a, b, c = simulate_arms(3, 7), simulate_arms(3, 7), simulate_arms(3, 8)
    for (la, ta, ea), (lb, tb, eb) in zip(a, b, strict=True):
        assert la == lb and np.array_equal(ta, tb) and np.array_equal(ea, eb)
    assert not np.array_equal(a[0][1], c[0][1][: a[0][1].size]) or a[0][1].size != c[0][1].size


def test_month_ticks_are_round_and_cover_follow_up():
    assert month_ticks(23.7)[1].tolist() == [0, 6, 12, 18, 24]
    assert month_ticks(34.1)[1].tolist() == [0, 6, 12, 18, 24, 30, 36]
    assert month_ticks(59.9)[1].tolist() == [0, 12, 24, 36, 48, 60]
    assert month_ticks(5.5)[1].tolist() == [0, 1, 2, 3, 4, 5, 6]
    x_max, ticks = month_ticks(200.0)  # past 144 months: the digitizer's nice axis
    assert x_max >= 200 and ticks[-1] == x_max and ticks.size <= 8


# --------------------------------------------------------------------------------------------------------
# the truth equals lifelines and the hand counts
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_truth_km_equals_lifelines(tmp_path, seed):
    arms = simulate_arms(3, seed)
    truth = draw_km_figure(arms, STYLES["mpl_colour_3arm"], tmp_path / "f.pdf")
    for arm, (label, t, e) in zip(truth.arms, arms, strict=True):
        kmf = KaplanMeierFitter().fit(t, e)
        sf = kmf.survival_function_.iloc[:, 0]
        assert arm.label == label
        assert np.array_equal(arm.km_time, sf.index.to_numpy(float))
        assert np.max(np.abs(arm.km_survival - sf.to_numpy())) < 1e-12
        # and at arbitrary times, right-continuously (lifelines predicts the level after a drop at a step time)
        probe = np.r_[arm.km_time[1:20], np.linspace(0, arm.km_time[-1], 97)]
        assert np.max(np.abs(true_survival(arm, probe) - kmf.predict(probe).to_numpy())) < 1e-12
        # the marks sit at the distinct censoring times
        assert np.array_equal(arm.censor_times, np.unique(t[e == 0]))


def test_hand_km_and_true_survival():
    arm = _hand_arm([1, 2, 2, 3, 4], [1, 1, 0, 1, 1])
    # 1 - 1/5 = 0.8; x (1 - 1/4) = 0.6; x (1 - 1/2) = 0.3; x 0 = 0
    assert np.allclose(arm.km_survival, [1, 0.8, 0.6, 0.3, 0.0])
    got = true_survival(arm, np.array([-1.0, 0, 0.99, 1, 1.5, 2, 3.999, 4, 10]))
    assert np.allclose(got, [1, 1, 1, 0.8, 0.8, 0.6, 0.3, 0.0, 0.0])


@pytest.mark.parametrize("style", ["mpl_colour_3arm", "lifelines_table"])
def test_printed_risk_numbers_are_the_number_still_followed(tmp_path, style):
    arms = simulate_arms(3, 5)
    truth = draw_km_figure(arms, STYLES[style], tmp_path / "f.pdf")
    assert truth.x_ticks[0] == 0 and truth.x_ticks[-1] == truth.x_max
    for arm, (_, t, _) in zip(truth.arms, arms, strict=True):
        assert np.array_equal(arm.risk_time, truth.x_ticks)
        assert arm.n_risk.tolist() == [int((t >= x).sum()) for x in truth.x_ticks]
        assert arm.n_risk[0] == t.size


def test_a_time_on_a_tick_is_counted_as_each_library_prints_it(tmp_path):
    """A follow-up time exactly on a tick: R's convention (and our matplotlib table) still counts the patient at
    risk there; lifelines' table does not. The truth records what each figure prints."""
    time = np.array([3.0, 6.0, 6.0, 9.0, 12.0, 14.0, 17.0, 20.0])
    event = np.array([1, 0, 1, 1, 0, 1, 1, 0])
    arms = [("Re-resection", time, event)]
    one = dataclasses.replace(STYLES["mpl_colour"], n_arms=1)
    mpl = draw_km_figure(arms, one, tmp_path / "m.pdf")
    lif = draw_km_figure(arms, dataclasses.replace(STYLES["lifelines_bw"], n_arms=1), tmp_path / "l.pdf")
    assert mpl.x_ticks.tolist() == [0, 6, 12, 18, 24]
    assert mpl.arms[0].n_risk.tolist() == [8, 7, 4, 1, 0]  # time >= tick, counted by hand
    assert lif.arms[0].n_risk.tolist() == [8, 5, 3, 1, 0]  # time > tick
    # and those are the numbers in the PDFs
    assert [n for _, n in _printed_risk_rows(tmp_path / "l.pdf", 1)[0]] == [8, 5, 3, 1, 0]
    assert [n for _, n in _printed_risk_rows(tmp_path / "m.pdf", 1)[0]] == [8, 7, 4, 1, 0]


# --------------------------------------------------------------------------------------------------------
# every style, every format
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(STYLES))
def test_every_style_draws_every_format(tmp_path, name):
    style = STYLES[name]
    arms = simulate_arms(style.n_arms, 3)
    truths = {}
    for fmt in ("pdf", "png", "jpeg"):
        path = tmp_path / f"f.{fmt}"
        truths[fmt] = draw_km_figure(arms, style, path, fmt=fmt, dpi=TEST_DPI, jpeg_quality=80)
        data = path.read_bytes()
        assert len(data) > 1000 and data.startswith(MAGIC[fmt])
        assert truths[fmt].fmt == fmt and truths[fmt].path == path
    assert truths["pdf"].dpi is None and truths["png"].dpi == TEST_DPI
    w, h = (round(v * TEST_DPI) for v in style.figsize)
    for fmt, mode in (("png", "RGBA"), ("jpeg", "RGB")):
        with Image.open(tmp_path / f"f.{fmt}") as im:
            assert im.size == (w, h) and im.mode == mode
    # the three formats show the same thing (the layout, plot_area, moves a little with the dpi: text metrics)
    same = dataclasses.replace(truths["pdf"], path=truths["png"].path, fmt="png", dpi=TEST_DPI, plot_area=None)
    assert same.to_json() == dataclasses.replace(truths["png"], plot_area=None).to_json()
    assert np.allclose(truths["pdf"].plot_area, truths["png"].plot_area, atol=0.03)
    t = truths["pdf"]
    assert [a.color for a in t.arms] == list(style.colours(style.n_arms))
    assert (t.arms[0].n_risk is not None) == style.risk_table
    assert (t.arms[0].censor_times.size > 0) == style.censor_marks
    assert t.y_scale == ("percent" if style.percent else "probability")


def test_styles_cover_the_promised_variety():
    s = list(STYLES.values())
    assert 10 <= len(s) <= 16
    assert any(x.path_simplify for x in s) and not STYLES["mpl_colour"].path_simplify
    assert {x.library for x in s} == {"matplotlib", "lifelines"}
    assert {x.pdf_fonttype for x in s} == {3, 42}
    assert {x.censor_marker for x in s} == {"+", "|"}
    assert any(not x.colour and x.library == "matplotlib" for x in s)
    assert any(not x.colour and x.library == "lifelines" for x in s)
    for flag in ("ci_bands", "grid", "percent", "ggplot_theme", "segments"):
        assert any(getattr(x, flag) for x in s), flag
    assert any(not x.risk_table for x in s) and any(not x.censor_marks for x in s)
    assert any(x.n_arms == 3 for x in s)
    colours = {c for x in s for c in x.colours(x.n_arms)}
    assert "#1f77b4" in colours and "#bc3c29" in colours  # tab10 and another family
    assert STYLES["mpl_bw_dashes"].dashes(3) == ("solid", "dashed", "dotted")
    assert STYLES["mpl_bw_dashes"].colours(3) == ("#000000",) * 3


@pytest.mark.parametrize("name", ["mpl_colour_3arm", "mpl_fonttype42", "lifelines_table", "mpl_bw_dashes"])
def test_pdf_keeps_labels_and_risk_numbers_as_text(tmp_path, name):
    style = STYLES[name]
    arms = simulate_arms(style.n_arms, 11)
    truth = draw_km_figure(arms, style, tmp_path / "f.pdf")
    raw = (tmp_path / "f.pdf").read_bytes()
    assert (b"/Type3" in raw) == (style.pdf_fonttype == 3)
    assert (b"/FontFile2" in raw) == (style.pdf_fonttype == 42)
    text = extract_text(str(tmp_path / "f.pdf"))
    assert "Months" in text
    words = set(re.findall(r"[^\s]+", text))
    numbers = [int(w) for w in words if w.isdigit()]
    for arm in truth.arms:
        assert text.count(arm.label) >= 2  # in the legend and at its risk-table row
        assert set(arm.n_risk.tolist()) <= set(numbers)
    assert ("Number at risk" in text) == (style.library == "matplotlib")


def _pdf_text_lines(path) -> list[tuple[str, float, float]]:
    """Every text line of the PDF's first page as (text, x centre, y bottom) in PDF points, read by pdfminer."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextLine

    out: list[tuple[str, float, float]] = []

    def walk(item) -> None:
        if isinstance(item, LTTextLine):
            out.append((item.get_text().strip(), (item.x0 + item.x1) / 2, round(item.y0, 1)))
        elif hasattr(item, "__iter__"):
            for child in item:
                walk(child)

    for page in extract_pages(str(path)):
        walk(page)
    return out


def _printed_risk_rows(path, n_arms: int) -> list[list[tuple[float, int]]]:
    """The numbers printed under the x-axis label 'Months', as rows from the top: (x centre, number) by x; a
    number at the end of a line with a label ('Re-resection   8', as lifelines prints) counts too."""
    lines = _pdf_text_lines(path)
    months_y = next(y for s, _, y in lines if s == "Months")
    cells = []
    for s, x, y in lines:
        m = re.fullmatch(r"(?:.*\D)?\s*(\d+)", s)
        if y < months_y and m:
            cells.append((y, x, int(m.group(1))))
    # rows are ~11 pt apart (9 pt text); within a row lifelines' first label sits ~1 pt off the others
    rows: list[list[tuple[float, float, int]]] = []
    for y, x, n in sorted(cells, reverse=True):
        if rows and rows[-1][0][0] - y < ROW_TOLERANCE_PT:
            rows[-1].append((y, x, n))
        else:
            rows.append([(y, x, n)])
    assert len(rows) == n_arms, rows
    return [sorted((x, n) for _, x, n in row) for row in rows]


@pytest.mark.parametrize("name", ["mpl_colour", "mpl_colour_3arm", "lifelines_table", "lifelines_bw"])
def test_pdf_risk_rows_are_the_truth_under_the_ticks(tmp_path, name):
    """Read the PDF's text lines with their positions: one row per arm, top to bottom in arm order, holding the
    truth's numbers; matplotlib centres each number on its x tick (the same map as the tick labels)."""
    style = STYLES[name]
    arms = simulate_arms(style.n_arms, 4)
    truth = draw_km_figure(arms, style, tmp_path / "f.pdf")
    rows = _printed_risk_rows(tmp_path / "f.pdf", style.n_arms)
    for arm, row in zip(truth.arms, rows, strict=True):
        assert [n for _, n in row] == arm.n_risk.tolist()
    if style.library == "matplotlib":
        lines = _pdf_text_lines(tmp_path / "f.pdf")
        months_y = next(y for s, _, y in lines if s == "Months")
        ticks = [f"{v:g}" for v in truth.x_ticks]
        tick_x = {s: x for s, x, y in lines if s in ticks and y > months_y}  # the axis's tick labels
        a = (tick_x[ticks[-1]] - tick_x[ticks[0]]) / truth.x_max
        for row in rows:
            x_pdf = [tick_x[ticks[0]] + a * t for t in truth.x_ticks]
            assert np.max(np.abs(np.array([x for x, _ in row]) - x_pdf)) < 0.5


def test_rc_params_do_not_leak(tmp_path):
    before = dict(matplotlib.rcParams)
    draw_km_figure(simulate_arms(2, 0), STYLES["mpl_fonttype42"], tmp_path / "f.pdf")
    draw_km_figure(simulate_arms(2, 0), STYLES["mpl_ggplot"], tmp_path / "g.png", fmt="png", dpi=TEST_DPI)
    draw_km_figure(simulate_arms(3, 0), STYLES["lifelines_table"], tmp_path / "h.jpg", fmt="jpeg", dpi=TEST_DPI)
    assert dict(matplotlib.rcParams) == before


def test_same_seed_same_figure(tmp_path):
    style = STYLES["mpl_ci_grid"]
    a = draw_km_figure(simulate_arms(2, 9), style, tmp_path / "a.pdf")
    b = draw_km_figure(simulate_arms(2, 9), style, tmp_path / "b.pdf")
    assert a.to_json().replace("a.pdf", "x") == b.to_json().replace("b.pdf", "x")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    c = draw_km_figure(simulate_arms(2, 10), style, tmp_path / "c.pdf")
    assert c.to_json().replace("c.pdf", "x") != a.to_json().replace("a.pdf", "x")


def test_truth_json_round_trips(tmp_path):
    truth = draw_km_figure(simulate_arms(3, 2), STYLES["lifelines_table"], tmp_path / "f.pdf")
    back = FigureTruth.from_json(truth.to_json())
    assert back.to_json() == truth.to_json()
    assert back.style == truth.style
    assert np.array_equal(back.arms[1].km_survival, truth.arms[1].km_survival)  # floats written exactly


def test_plot_area_is_where_the_axes_are_in_the_png(tmp_path):
    """The recorded plot area's left and bottom edges are the black spines of the PNG."""
    truth = draw_km_figure(simulate_arms(2, 1), STYLES["mpl_colour"], tmp_path / "f.png", fmt="png", dpi=100)
    with Image.open(tmp_path / "f.png") as im:
        px = np.asarray(im.convert("L"), float)
    h, w = px.shape
    x0, y0, x1, _ = truth.plot_area
    col = round(x0 * w - 0.5)
    row = round((1 - y0) * h - 0.5)
    # the left spine: a dark column along the plot; the bottom spine: a dark row
    mid_rows = slice(round((1 - 0.5 * (y0 + truth.plot_area[3])) * h) - 20, round((1 - 0.5 * (y0 + 1)) * h))
    assert px[mid_rows, col - 1 : col + 2].min(axis=1).mean() < 100
    assert px[row - 1 : row + 2, round(x0 * w) + 30 : round(x1 * w) - 30].min(axis=0).mean() < 100


# --------------------------------------------------------------------------------------------------------
# extraction_error
# --------------------------------------------------------------------------------------------------------


def test_extraction_error_of_the_truth_is_zero(tmp_path):
    truth = draw_km_figure(simulate_arms(2, 6), STYLES["mpl_colour"], tmp_path / "f.pdf")
    for arm in truth.arms:
        e = extraction_error(arm.km_time, arm.km_survival, arm)
        assert e.rmse == 0.0 and e.max_abs == 0.0 and e.n_grid >= 2000
        # only the corners (the compressed step function) give the same curve too
        drop = np.r_[True, np.diff(arm.km_survival) != 0]
        assert extraction_error(arm.km_time[drop], arm.km_survival[drop], arm).max_abs == 0.0


def test_extraction_error_of_a_shifted_curve_is_the_hand_value():
    """Five events at 25, 50, 75, 100, 125 (S drops by 0.2 each); the extracted curve is 12.5 late. The grid
    is the midpoints of 2000 cells of [0, 125], width 1/16 (exact in binary): on each [25k, 25k + 12.5) it is
    0.2 off, 200 midpoints each for k = 1..4; the last midpoint is before 125: 800 of 2000."""
    assert EXTRACTION_GRID_POINTS == 2000
    arm = _hand_arm([25, 50, 75, 100, 125], [1, 1, 1, 1, 1])
    late = np.array([0.0, 37.5, 62.5, 87.5, 112.5, 137.5])
    s = np.array([1.0, 0.8, 0.6, 0.4, 0.2, 0.0])
    e = extraction_error(late, s, arm)
    assert e.max_abs == pytest.approx(0.2, abs=1e-12)
    assert e.rmse == pytest.approx(0.2 * np.sqrt(800 / 2000), abs=1e-12)
    # a curve 0.05 too high everywhere: every grid point is 0.05 off
    e = extraction_error(arm.km_time, arm.km_survival + 0.05, arm)
    assert e.rmse == pytest.approx(0.05, abs=1e-12) and e.max_abs == pytest.approx(0.05, abs=1e-12)


def test_extraction_error_reads_drops_as_two_points_at_one_time():
    arm = _hand_arm([2.0, 4.0], [1, 1])
    # corners as a digitizer gives them: top and bottom of each drop at the same time
    t = np.array([0.0, 2.0, 2.0, 4.0, 4.0])
    s = np.array([1.0, 1.0, 0.5, 0.5, 0.0])
    assert extraction_error(t, s, arm).max_abs == 0.0
    # survival[0] holds before time[0]: an extraction starting late at 1.0 still matches
    assert extraction_error(t[1:], s[1:], arm).max_abs == 0.0


@pytest.mark.parametrize(
    ("time", "surv", "problem"),
    [
        ([], [], "same non-zero length"),
        ([0, 1], [1.0], "same non-zero length"),
        ([0, 2, 1], [1, 0.5, 0.4], "non-decreasing"),
        ([0, np.nan], [1, 0.5], "finite"),
    ],
)
def test_extraction_error_rejects_bad_curves(time, surv, problem):
    with pytest.raises(ValueError, match=problem):
        extraction_error(np.array(time, float), np.array(surv, float), _hand_arm([1.0], [1]))


# --------------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "arms", "problem"),
    [
        ({"fmt": "svg"}, None, "fmt must be"),
        ({"fmt": "png", "dpi": 5000}, None, "dpi must be"),
        ({"fmt": "jpeg", "jpeg_quality": 0}, None, "jpeg_quality"),
        ({}, [("a", [1.0, -2.0], [1, 0])], "> 0"),
        ({}, [("a", [1.0, 2.0], [1, 2])], "coded 0"),
        ({}, [("a", [1.0, 2.0], [1])], "same length"),
        ({}, [("a", [1.0], [1]), ("a", [2.0], [1])], "distinct"),
        ({}, [(f"a{i}", [1.0], [1]) for i in range(5)], "1..4 arms"),
        ({}, [("", [1.0], [1])], "label"),
    ],
)
def test_bad_input_is_an_input_error_naming_the_file(tmp_path, kwargs, arms, problem):
    path = tmp_path / "bad.pdf"
    with pytest.raises(InputError, match=problem) as err:
        draw_km_figure(arms or simulate_arms(2, 0), STYLES["mpl_colour"], path, **kwargs)
    assert str(path) in str(err.value)
    assert not path.exists()


def test_unwritable_path_is_an_input_error(tmp_path):
    path = tmp_path / "no" / "such" / "dir" / "f.png"
    with pytest.raises(InputError, match="cannot write") as err:
        draw_km_figure(simulate_arms(1, 0), STYLES["mpl_colour"], path, fmt="png", dpi=TEST_DPI)
    assert str(path) in str(err.value)


def test_bad_styles_are_refused():
    with pytest.raises(ValueError, match="pdf_fonttype"):
        FigureStyle("x", pdf_fonttype=1)
    with pytest.raises(ValueError, match="segments needs"):
        FigureStyle("x", library="lifelines", segments=True)
    with pytest.raises(ValueError, match="palette"):
        FigureStyle("x", palette=("red",))


# --------------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------------


def test_main_writes_figures_and_truth(tmp_path, capsys):
    rc = main([str(tmp_path), "--styles", "mpl_segments", "lifelines_bw", "--formats", "png", "jpeg", "--dpi", "60"])
    assert rc == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "lifelines_bw.jpg",
        "lifelines_bw.png",
        "lifelines_bw.truth.json",
        "mpl_segments.jpg",
        "mpl_segments.png",
        "mpl_segments.truth.json",
    ]
    t = FigureTruth.from_json((tmp_path / "mpl_segments.truth.json").read_text())
    assert t.style == STYLES["mpl_segments"] and t.dpi == 60
    with Image.open(io.BytesIO((tmp_path / "lifelines_bw.jpg").read_bytes())) as im:
        assert im.format == "JPEG"
    assert "wrote 6 files" in capsys.readouterr().out


def test_the_png_shows_the_truth_curve_where_the_truth_says(tmp_path):
    """Independent of matplotlib's bookkeeping: on the longest flat stretches of the true KM, the PNG pixel at
    (t, S(t)) mapped through plot_area and the axis limits (0..x_max, 0..1.05) is the arm's colour, and 0.05
    above it is the white background."""
    style = dataclasses.replace(STYLES["mpl_no_marks_no_table"], legend=False, n_arms=1)
    arms = simulate_arms(1, 3)
    truth = draw_km_figure(arms, style, tmp_path / "f.png", fmt="png", dpi=100)
    arm = truth.arms[0]
    with Image.open(tmp_path / "f.png") as im:
        rgb = np.asarray(im.convert("RGB"), float)
    h, w, _ = rgb.shape
    x0, y0, x1, y1 = truth.plot_area

    def pixel(t: float, s: float) -> np.ndarray:
        col = (x0 + t / truth.x_max * (x1 - x0)) * w
        row = (1 - (y0 + s / 1.05 * (y1 - y0))) * h
        return rgb[int(row) - 1 : int(row) + 2, int(col)]  # the 1.5 pt line is ~2 px thick at 100 dpi

    want = np.array([int(arm.color[i : i + 2], 16) for i in (1, 3, 5)], float)
    drop = np.r_[True, np.diff(arm.km_survival) != 0]
    t, s = arm.km_time[drop], arm.km_survival[drop]
    longest = np.argsort(np.diff(t))[-5:]
    for i in longest:
        mid = 0.5 * (t[i] + t[i + 1])
        assert np.min(np.abs(pixel(mid, s[i]) - want).sum(axis=1)) < 60, (mid, s[i])
        assert np.all(pixel(mid, s[i] + 0.05) > 240)
