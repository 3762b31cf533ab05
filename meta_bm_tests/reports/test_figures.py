"""Figures: saving in journal formats, and the reconstruction overlay of a study."""

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.text import Text
from PIL import Image

from meta_bm.reports.figures import (
    OverlayCurve,
    overlay_curves,
    overlay_figure,
    save_figure,
    study_figure,
    study_figure_png,
)
from meta_bm.studies import load_study, reconstruct_study
from meta_bm_tests.reports.text_layout import assert_no_clipped_text


def test_km_and_forest_figures_are_still_reachable_from_figures():
    from meta_bm.reports import figures, km_plot, meta_plots

    assert figures.km_figure is km_plot.km_figure
    assert figures.forest_figure is meta_plots.forest_figure


def test_save_figure_writes_png_at_300_dpi_svg_and_pdf(tmp_path):
    fig = study_figure([_simulated(1, 40, risk_every=10.0)], title="one")
    paths = save_figure(fig, tmp_path / "sub" / "study")
    assert [p.name for p in paths] == ["study.png", "study.svg", "study.pdf"]
    png = Image.open(io.BytesIO(paths[0].read_bytes()))
    assert png.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert png.size == (round(fig.get_figwidth() * 300), round(fig.get_figheight() * 300))
    assert b"<svg" in paths[1].read_bytes()[:500]
    assert paths[2].read_bytes()[:5] == b"%PDF-"


# --------------------------------------------------------------------------------------------------------
# the reconstruction overlay of a study
# --------------------------------------------------------------------------------------------------------

STUDY = Path(__file__).resolve().parents[2] / "data" / "studies" / "lindqvist_2013"


def _lindqvist_curves() -> list[OverlayCurve]:
    return overlay_curves(reconstruct_study(load_study(STUDY)))


def _texts(fig) -> list:
    return [t for t in fig.findobj(Text) if t.get_text() and t.get_visible()]


def test_study_figure_png_is_wide_small_and_legible():
    curves = _lindqvist_curves()
    png = study_figure_png(curves, title="lindqvist_2013")
    image = Image.open(io.BytesIO(png))
    assert image.width >= 800
    assert len(png) <= 120_000
    fig = study_figure(curves, title="lindqvist_2013")
    assert min(t.get_fontsize() for t in _texts(fig)) >= 10


def test_study_figure_one_legend_entry_per_curve_and_axis_in_the_time_unit():
    curves = _lindqvist_curves()
    fig = study_figure(curves, title="lindqvist_2013")
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "Re-resection (os_rr): n=44, events=33",
        "Non-surgical management (os_ns): n=40, events=34",
    ]
    assert fig.axes[0].get_xlabel() == "Time (months)"


def _simulated(i: int, n: int, unit: str = "months", risk_every: float | None = None) -> OverlayCurve:
    rng = np.random.default_rng(i)
    t = rng.weibull(1.2, n) * (10 + 3 * i)
    c = rng.uniform(0, 40, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    order = np.argsort(time)
    surv = np.cumprod(1 - event[order] / np.arange(n, 0, -1))
    fit = None
    if risk_every is not None:
        grid = np.arange(0, 40, risk_every)
        rec = np.array([(time >= x).sum() for x in grid])
        fit = pl.DataFrame({"time": grid, "published": rec + (np.arange(grid.size) == 3), "reconstructed": rec})
    return OverlayCurve(f"arm {i} with a long descriptive label (os_{i})", unit, time[order], surv, time, event, fit)


def test_crowded_study_has_no_overlapping_labels_and_nothing_clipped():
    # six curves of 150 patients, a risk table every month (too dense to print every number), one in weeks
    curves = [_simulated(i, 150, risk_every=1.0 if i == 0 else (5.0 if i % 2 == 0 else None)) for i in range(6)]
    curves[5] = OverlayCurve(
        curves[5].label,
        "weeks",
        curves[5].click_time * 4.348,
        curves[5].click_survival,
        curves[5].ipd_time * 4.348,
        curves[5].ipd_event,
    )
    fig = study_figure(curves, title="crowded")
    assert_no_clipped_text(fig)
    png = study_figure_png(curves, title="crowded")
    assert len(png) <= 120_000
    assert len(fig.legends[0].get_texts()) == 6
    assert fig.axes[0].get_xlabel() == "Time (months)"  # mixed units: months
    fig.canvas.draw()  # lays out the axis labels
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    boxes = []
    for t in _texts(fig):
        box = t.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, t.get_text()
        boxes.append((t.get_text(), box))
    # every text in the numbers-at-risk table is apart from every other
    table = [(s, b) for s, b in boxes if b.y1 < fig.axes[0].get_window_extent(renderer).y0 - 30]
    for k, (s1, b1) in enumerate(table):
        for s2, b2 in table[k + 1 :]:
            assert not b1.overlaps(b2), (s1, s2)
    # the number that differs from the published one (4th risk time) is shown, in bold
    bold = [t.get_text() for t in _texts(fig) if t.get_fontweight() == "bold" and t.get_text().isdigit()]
    assert len(bold) == 3  # curves 0, 2 and 4 have a risk table with one miscount
    assert "crowded rows: some times skipped" in " ".join(s for s, _ in boxes)


def test_overlay_figure_draws_one_curve():
    c = _simulated(1, 40, risk_every=10.0)
    fig = overlay_figure(c.click_time, c.click_survival, c.ipd_time, c.ipd_event, c.risk_fit, "one", "months")
    assert len(fig.legends[0].get_texts()) == 1
    texts = [t.get_text() for t in _texts(fig)]
    assert "published" in texts and "reconstructed" in texts
