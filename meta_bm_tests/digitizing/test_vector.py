"""KM curves read from vector PDFs equal the truth they were drawn from (meta_bm.simulation.km_figures).

Every style of the simulator is drawn once per module from known IPD, as PDF, and read back: the step
corners equal the true KM's to 1e-4 in time and survival, the censor marks are the distinct censoring
times, the numbers at risk are read exactly, the labels are the arms'. The figures are drawn with
matplotlib's path simplification off: with it on (matplotlib's default), two drops closer than 1/9
pixel are written to the PDF as one slanted piece and the level between them is not in the file at all
(tested separately: the curve is still read, the error stays within such merged steps).
"""

from __future__ import annotations

import io
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from meta_bm.digitizing import digitize_bytes
from meta_bm.digitizing.figure import DigitizedCurve, DigitizeError
from meta_bm.digitizing.vector import digitize_pdf
from meta_bm.simulation.km_figures import (
    STYLES,
    ArmTruth,
    FigureTruth,
    draw_km_figure,
    extraction_error,
    simulate_arms,
)

TOL = 1e-4  # the promise: time and survival to 1e-4


def assert_step_marks_and_risk_read(curve: DigitizedCurve, arm: ArmTruth) -> None:
    """The read ``curve`` is ``arm``'s step function, censor marks and numbers at risk (shared with the held-out
    figures of other software, test_other_software.py)."""
    # the step function on a fine grid, with each extracted time taken as the true step time it is
    # within 1e-4 of (extraction_error's grid ends exactly on the last drop, where a 1e-8 error in
    # time would count the whole drop)
    idx = np.clip(np.searchsorted(arm.km_time, curve.time), 1, arm.km_time.size - 1)
    nearest = np.where(
        np.abs(arm.km_time[idx] - curve.time) < np.abs(arm.km_time[idx - 1] - curve.time),
        arm.km_time[idx],
        arm.km_time[idx - 1],
    )
    assert np.max(np.abs(nearest - curve.time)) <= TOL
    assert extraction_error(nearest, curve.survival, arm).max_abs <= TOL
    # censor marks: one per distinct censored time
    assert curve.censor_times is not None
    assert curve.censor_times.size == arm.censor_times.size
    assert np.max(np.abs(curve.censor_times - np.sort(arm.censor_times)), initial=0.0) <= TOL
    # numbers at risk, exactly
    if arm.n_risk is None:
        assert curve.n_risk is None
    else:
        assert curve.n_risk is not None and curve.n_risk.tolist() == arm.n_risk.tolist()
        assert curve.risk_time is not None and curve.risk_time.tolist() == arm.risk_time.tolist()


def _draw(style_name: str, folder: Path, seed: int) -> tuple[FigureTruth, bytes]:
    style = STYLES[style_name]
    arms = simulate_arms(style.n_arms, seed)
    truth = draw_km_figure(arms, style, folder / f"{style_name}_{seed}.pdf", fmt="pdf")
    return truth, truth.path.read_bytes()


SEEDS = (11, 47)  # two data sets per style (different follow-up, sizes, numbers of marks)
# The styles whose file holds the exact KM (matplotlib's path simplification off; see the module docstring).
EXACT = [name for name, style in STYLES.items() if not style.path_simplify]


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> dict[str, tuple[FigureTruth, bytes]]:
    folder = tmp_path_factory.mktemp("km_pdf")
    out = {name: _draw(name, folder, seed=SEEDS[0] + i) for i, name in enumerate(EXACT)}
    out.update({f"{name}@2": _draw(name, folder, seed=SEEDS[1] + i) for i, name in enumerate(EXACT)})
    return out


def _corners(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The true step function's corners as the extractor gives them: both ends of every horizontal run."""
    keep = np.ones(t.size, bool)
    keep[1:-1] = s[1:-1] != s[:-2]
    t, s = t[keep], s[keep]
    pts = []
    for i in range(t.size):
        if i > 0 and s[i] != s[i - 1]:
            pts.append((t[i], s[i]))  # the start of the run after a drop
        if i + 1 < t.size:
            pts.append((t[i + 1], s[i]))  # the end of this run
        elif i == 0 or s[i] != s[i - 1]:
            pass
    out = [(t[0], s[0]), *pts]
    dedup = [out[0]]
    for p in out[1:]:
        if p != dedup[-1]:
            dedup.append(p)
    return np.asarray(dedup)


@pytest.mark.parametrize("name", [*EXACT, *(f"{n}@2" for n in EXACT)])
def test_every_style_read_exactly(figures, name):
    truth, data = figures[name]
    fig = digitize_pdf(data, f"{name}.pdf", "0" * 64)
    assert fig.kind == "vector" and fig.page == 1
    assert fig.y_scale == truth.y_scale
    assert [c.label for c in fig.curves] == [a.label for a in truth.arms] if truth.style.legend else True
    assert len(fig.curves) == len(truth.arms)
    for arm in truth.arms:
        (curve,) = [c for c in fig.curves if c.label == arm.label]
        # corners, directly
        want = _corners(arm.km_time, arm.km_survival)
        got = np.c_[curve.time, curve.survival]
        assert got.shape == want.shape, (arm.label, got.shape, want.shape)
        assert np.max(np.abs(got - want)) <= TOL
        assert curve.time[0] == 0.0 and curve.survival[0] == 1.0
        assert np.all(np.diff(curve.time) >= 0) and np.all(np.diff(curve.survival) <= 0)
        assert_step_marks_and_risk_read(curve, arm)
        assert curve.quality.method == "vector paths" and curve.quality.confidence == "high"
        assert curve.quality.points == curve.time.size
        if truth.style.colour:
            assert curve.style["color"] == arm.color
        assert curve.style["dash"] == arm.dash
    assert not fig.warnings
    # the background is the figure and the calibration maps the axes onto it
    h, w, three = fig.background.shape
    assert three == 3 and fig.background.dtype == np.uint8 and h > 200 and w > 300
    x0, y_top = fig.calibration.to_figure(np.array([0.0]), np.array([1.0]))
    assert 0 < x0[0] < w / 3 and 0 < y_top[0] < h / 2


def test_inline_marks_without_xobjects(tmp_path):
    """matplotlib writes a handful of markers inline (no XObject): they are marks all the same."""
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.step([0, 2, 5, 9], [1, 0.8, 0.6, 0.6], where="post", color="#bc3c29", linewidth=2, label="Arm A")
    ax.plot([3.5, 7.25], [0.8, 0.6], linestyle="none", marker="|", markersize=6, color="#bc3c29")
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 1.05)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    from meta_bm.digitizing.pdf_page import open_pdf

    page = open_pdf(buf.getvalue(), "inline.pdf").page(1)
    assert not any(p.marker is not None for p in page.paths)  # really inline
    got = digitize_pdf(buf.getvalue(), "inline.pdf", "")
    (curve,) = got.curves
    assert curve.label == "Arm A"
    assert np.allclose(curve.censor_times, [3.5, 7.25], atol=1e-6)
    assert np.allclose(curve.time, [0, 2, 2, 5, 5, 9], atol=1e-6)
    assert np.allclose(curve.survival, [1, 1, 0.8, 0.8, 0.6, 0.6], atol=1e-6)


def test_default_matplotlib_simplification_keeps_the_curve(tmp_path):
    """With matplotlib's path simplification on, merged sub-pixel steps cost accuracy only inside them."""
    truth, data = _draw("mpl_simplified", tmp_path, seed=5)
    fig = digitize_pdf(data, "simplified.pdf", "")
    assert [c.label for c in fig.curves] == [a.label for a in truth.arms]
    for arm in truth.arms:
        (curve,) = [c for c in fig.curves if c.label == arm.label]
        err = extraction_error(curve.time, curve.survival, arm)
        assert err.rmse < 0.01
        assert curve.n_risk.tolist() == arm.n_risk.tolist()
        assert curve.censor_times.size == arm.censor_times.size


def test_speed_three_arms(figures):
    _, data = figures["mpl_colour_3arm"]
    digitize_pdf(data, "warm.pdf", "")
    start = time.perf_counter()
    digitize_pdf(data, "km.pdf", "")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_ranges_and_scale_override(figures):
    truth, data = figures["mpl_percent"]
    fig = digitize_pdf(data, "km.pdf", "", y_scale="probability")
    assert fig.y_scale == "probability" and fig.curves[0].survival[0] == pytest.approx(100.0)
    # given ranges take the outermost ticks: the x ticks 0..x_max, y ticks 0..100 drawn
    fig2 = digitize_pdf(data, "km.pdf", "", x_range=(0.0, truth.x_max), y_range=(0.0, 100.0))
    assert fig2.calibration.how == "user range"
    arm = truth.arms[0]
    (curve,) = [c for c in fig2.curves if c.label == arm.label]
    assert np.max(np.abs(np.c_[curve.time, curve.survival] - _corners(arm.km_time, arm.km_survival))) < 1e-6


def test_through_digitize_bytes(figures):
    truth, data = figures["lifelines_table"]
    fig = digitize_bytes(data, "km.pdf", arms=[truth.arms[1].label])
    assert [c.label for c in fig.curves] == [truth.arms[1].label]


# ---- error paths ------------------------------------------------------------------------------------


def _text_only_pdf() -> bytes:
    fig = Figure(figsize=(3, 2))
    fig.text(0.1, 0.5, "Table 2. Baseline characteristics 12 34")
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    return buf.getvalue()


def _two_plots(figures, same_page: bool) -> bytes:
    """Two KM figures side by side on one page, or on two pages."""
    import pypdfium2 as pdfium

    a = pdfium.PdfDocument(figures["mpl_colour"][1])
    b = pdfium.PdfDocument(figures["mpl_bw_dashes"][1])
    out = pdfium.PdfDocument.new()
    try:
        if same_page:
            w, h = a[0].get_size()
            page = out.new_page(2 * w, h)
            for k, src in enumerate((a, b)):
                xobj = src.page_as_xobject(0, out)
                obj = xobj.as_pageobject()
                obj.transform(pdfium.PdfMatrix().translate(k * w, 0))
                page.insert_obj(obj)
            page.gen_content()
        else:
            out.import_pages(a)
            out.import_pages(b)
        buf = io.BytesIO()
        out.save(buf)
        return buf.getvalue()
    finally:
        out.close()
        a.close()
        b.close()


def _encrypted_pdf() -> bytes:
    """A PDF whose standard security handler wants a user password (RC4, revision 2)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32 + b"> /P -4 >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += b"trailer\n<< /Size 5 /Root 1 0 R /Encrypt 4 0 R /ID [<" + b"01" * 16 + b"> <" + b"01" * 16 + b">] >>\n"
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_not_a_pdf():
    with pytest.raises(DigitizeError, match=r"^scan\.png: not a PDF"):
        digitize_pdf(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "scan.png", "")


def test_page_out_of_range(figures):
    with pytest.raises(DigitizeError, match=r"^km\.pdf, page 3: page 3 is out of range: the PDF has 1 page"):
        digitize_pdf(figures["mpl_colour"][1], "km.pdf", "", page=3)


def test_no_plot():
    with pytest.raises(DigitizeError, match=r"^table\.pdf, page 1: no Kaplan–Meier plot found"):
        digitize_pdf(_text_only_pdf(), "table.pdf", "")


def test_multi_panel_lists_boxes_and_crop_reads_one(figures):
    data = _two_plots(figures, same_page=True)
    with pytest.raises(DigitizeError) as err:
        digitize_pdf(data, "panels.pdf", "")
    msg = str(err.value)
    assert msg.startswith("panels.pdf, page 1: 2 plots found on the page: give --crop")
    boxes = [tuple(float(v) for v in b.split()) for b in msg.split("boxes: ")[1].split("; ")]
    assert len(boxes) == 2 and boxes[0][2] <= boxes[1][0] + 1  # side by side, left one first
    truth = figures["mpl_bw_dashes"][0]
    fig = digitize_pdf(data, "panels.pdf", "", crop=boxes[1])
    assert [c.label for c in fig.curves] == [a.label for a in truth.arms]
    for arm, curve in zip(truth.arms, fig.curves, strict=True):
        assert np.max(np.abs(np.c_[curve.time, curve.survival] - _corners(arm.km_time, arm.km_survival))) <= TOL
        assert curve.n_risk.tolist() == arm.n_risk.tolist()


def test_plots_on_several_pages(figures):
    data = _two_plots(figures, same_page=False)
    with pytest.raises(DigitizeError, match=r"^pages\.pdf: plots found on pages 1, 2: give --page"):
        digitize_pdf(data, "pages.pdf", "")
    fig = digitize_pdf(data, "pages.pdf", "", page=2)
    assert len(fig.curves) == 3 and fig.page == 2


def test_encrypted():
    with pytest.raises(DigitizeError, match=r"^locked\.pdf: the PDF is encrypted"):
        digitize_pdf(_encrypted_pdf(), "locked.pdf", "")


def test_garbled(figures):
    data = figures["mpl_colour"][1]
    garbled = data[:9] + zlib.compress(data[9:])[::-1]
    with pytest.raises(DigitizeError, match=r"^bad\.pdf"):
        digitize_pdf(garbled, "bad.pdf", "")
    truncated = data[: len(data) // 2]
    with pytest.raises(DigitizeError, match=r"^cut\.pdf"):
        digitize_pdf(truncated, "cut.pdf", "")


def test_too_large():
    with pytest.raises(DigitizeError, match="above the limit"):
        digitize_pdf(b"%PDF-1.4\n" + b" " * (64 * 1024 * 1024), "huge.pdf", "")
