"""The digitizer's entry point and outputs: kind detection, option bounds, curve selection by legend
label, and the files `meta-bm digitize` writes (read back by the reconstruction's own parsers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from meta_bm.digitizing import DigitizeError, digitize, digitize_bytes, figure_kind, select_curves
from meta_bm.digitizing.outputs import write_outputs
from meta_bm.reconstruction import read_censor_marks, read_clicks, read_risk_table
from meta_bm.simulation.km_figures import STYLES, draw_km_figure, extraction_error, simulate_arms


@pytest.fixture(scope="module")
def pdf_figure(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fig")
    truth = draw_km_figure(simulate_arms(3, 5), STYLES["mpl_colour_3arm"], folder / "km.pdf", fmt="pdf")
    return truth


def test_kind_is_read_from_the_content_not_the_name():
    assert figure_kind(b"junk\n%PDF-1.7\n", "x.png") == "vector"
    assert figure_kind(b"\xff\xd8\xff\xe0 jfif", "x.pdf") == "raster"
    with pytest.raises(DigitizeError, match=r"^notes\.txt: not a PDF, PNG or JPEG file"):
        figure_kind(b"hello", "notes.txt")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"page": 0}, "page must be a whole number from 1 to 10,000, not 0"),
        ({"page": True}, "page must be a whole number"),
        ({"crop": (10, 0, 5, 100)}, "crop 10 0 5 100: X1 must exceed X0"),
        ({"crop": (0, 0, 1)}, "crop needs 4 numbers"),
        ({"x_range": (0, float("nan"))}, "x range: (0, nan) is not finite"),
        ({"x_range": (36, 0)}, "x range 36 0: MIN must be below MAX"),
        ({"y_range": (0, 1e9)}, "beyond"),
        ({"x_points": ((10, 0), (10, 36))}, "x calibration points: the two points need different pixels"),
        ({"y_scale": "log"}, "y scale must be 'probability' or 'percent'"),
    ],
)
def test_options_are_bounded_before_the_figure_is_opened(options, message):
    with pytest.raises(DigitizeError) as info:
        digitize_bytes(b"%PDF-1.4 not really", "km.pdf", **options)
    assert str(info.value).startswith("km.pdf: ") and message in str(info.value)


def test_missing_empty_and_oversized_files_are_named(tmp_path, monkeypatch):
    with pytest.raises(DigitizeError, match=r"missing\.pdf: file not found"):
        digitize(tmp_path / "missing.pdf")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DigitizeError, match=r"empty\.png: the file is empty"):
        digitize(tmp_path / "empty.png")
    with pytest.raises(DigitizeError, match="not a regular file"):
        digitize(tmp_path)
    import meta_bm.digitizing as d

    monkeypatch.setattr(d, "MAX_FIGURE_BYTES", 10)
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"0" * 20)
    with pytest.raises(DigitizeError, match=r"big\.png: 24 bytes, above the limit of 10 for a figure"):
        digitize(tmp_path / "big.png")


def test_arms_pick_curves_by_legend_label_in_the_order_given(pdf_figure):
    labels = [a.label for a in pdf_figure.arms]
    fig = digitize(pdf_figure.path, arms=[labels[2].upper(), labels[0][:4]])
    assert [c.label for c in fig.curves] == [labels[2].upper(), labels[0][:4]]
    by_label = {a.label: a for a in pdf_figure.arms}
    assert extraction_error(fig.curves[0].time, fig.curves[0].survival, by_label[labels[2]]).max_abs < 1e-4
    with pytest.raises(DigitizeError, match=r"page 1: arm 'Placebo' matches no curve; the legend reads"):
        digitize(pdf_figure.path, arms=["Placebo"])
    with pytest.raises(DigitizeError, match="names a curve twice"):
        select_curves(fig, ["a", "A"])


def test_outputs_read_back_as_the_reconstruction_inputs(pdf_figure, tmp_path):
    fig = digitize(pdf_figure.path)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "7_clicks.csv").write_text("stale")  # an earlier extraction's curve this one does not have
    (out / "notes.txt").write_text("mine")  # not ours: kept
    written = write_outputs(fig, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*(p.name for p in written), "notes.txt", "sub"])
    summary = json.loads((out / "curves.json").read_text())
    assert summary["figure"]["sha256"] == fig.sha256 and summary["figure"]["kind"] == "vector"
    for k, (entry, curve) in enumerate(zip(summary["curves"], fig.curves, strict=True), start=1):
        assert entry["k"] == k and entry["label"] == curve.label and entry["quality"]["confidence"] == "high"
        clicks = read_clicks(out / entry["files"]["clicks"])
        assert np.allclose(clicks.time, curve.time, rtol=1e-9) and np.allclose(clicks.survival, curve.survival)
        table = read_risk_table(out / entry["files"]["risk"])
        assert table.n_risk.tolist() == curve.n_risk.tolist()
        marks = read_censor_marks(out / entry["files"]["censor"])
        assert np.allclose(marks.time, curve.censor_times, rtol=1e-9)
    assert (out / "overlay.png").read_bytes()[:4] == b"\x89PNG"
