"""Kaplan–Meier figures drawn without matplotlib, in the looks of other software used in journals.

The extractors were built on matplotlib/lifelines figures (:mod:`~meta_bm.simulation.km_figures`); journals
print figures from R (ggplot2/survminer), SAS, Stata and GraphPad Prism, often redrawn onto the article page.
This module draws such figures from known IPD with two other engines, so the extractors are judged on
files they were not written against:

* PDF with reportlab: its own path operators (``re`` rectangles, one ``m l S`` path per line call), standard
  Type 1 fonts (Helvetica, Times) with WinAnsi encoding, text placed by its own ``Tm``/``Td`` operators;
* PNG/JPEG with Pillow's ImageDraw: no anti-aliasing (Stata, SAS looks) or drawn 3x larger and downscaled
  (ggplot, Prism looks), its own bitmap font or the DejaVu TrueType font that matplotlib ships.

The truth is exact: the drawn coordinates are the true KM (every corner, no simplification), the censoring
marks sit at the distinct censored times at the KM's height, the printed numbers at risk count the patients
with time >= the tick. :func:`draw_other_figure` returns an :class:`OtherFigure` whose ``truth`` is a
:class:`~meta_bm.simulation.km_figures.FigureTruth`, so :func:`~meta_bm.simulation.km_figures.extraction_error`
scores an extraction against it.

Run ``python -m meta_bm.simulation.other_figures OUTDIR`` to write every style as PDF and PNG.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from meta_bm.simulation.km_figures import simulate_arms
>>> with tempfile.TemporaryDirectory() as d:
...     fig = draw_other_figure(simulate_arms(2, seed=3), OTHER_STYLES["prism"], Path(d) / "km.pdf")
...     head = fig.truth.path.read_bytes()[:8]
>>> head.startswith(b"%PDF"), fig.truth.y_scale, float(fig.truth.arms[0].km_survival[0])
(True, 'percent', 1.0)
"""

from __future__ import annotations

import io
import itertools
import math
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from meta_bm.errors import InputError
from meta_bm.simulation.km_figures import (
    MAX_ARMS,
    ArmTruth,
    FigureStyle,
    FigureTruth,
    Format,
    check_format,
    checked_arms,
    gallery_main,
    month_ticks,
    simulate_arms,
)
from meta_bm.survival.km import kaplan_meier

Layout = Literal["ggplot", "sas", "stata", "prism", "journal_page", "journal_panels"]

# ---- constants (one line of reason each) --------------------------------------------------------------------
# Anti-aliased looks are drawn this many times larger and downscaled (what Cairo/ragg/Prism's renderer do).
SUPERSAMPLE = 3
# A4 and US letter in points: the article pages the journal layouts are drawn on.
A4 = (595.28, 841.89)
LETTER = (612.0, 792.0)

# ggplot2 defaults (theme_grey): panel grey90, white grid, grey20 ticks of 2.75 pt, grey30 labels at 8.8 pt.
GG_PANEL, GG_TICK, GG_TEXT = "#ebebeb", "#333333", "#4d4d4d"
GG_HUES = ("#f8766d", "#00bfc4", "#7cae00", "#c77cff")
# ggplot's line width 0.5 mm -> 1.07 pt (linewidth * .pt * 0.75); '+' marks are stroked thinner (0.5 * .stroke).
GG_LINE, GG_MARK_LINE = 1.07, 0.71
# SAS ODS HTMLBlue GraphData1..4 colours; SAS draws 1-pixel lines (0.75 pt at 96 dpi).
SAS_COLOURS = ("#445694", "#a23a2e", "#01665e", "#543005")
SAS_LINE = 0.75
# Stata s2color: navy, maroon, forest green, dark orange; graph region light blue-grey.
STATA_COLOURS = ("#1a476f", "#90353b", "#55752f", "#e37e00")
STATA_REGION = "#eaf2f3"
# GraphPad Prism: black first then red, blue, green; 2.5 pt data lines, 1.5 pt axes.
PRISM_COLOURS = ("#000000", "#d62728", "#1f4e9c", "#2e8b57")
PRISM_LINE, PRISM_AXIS = 2.5, 1.5
# The house style of a journal's redrawn figure: two-colour print, 1 pt lines, ticks inward.
JOURNAL_COLOURS = ("#0b3c5d", "#d9534f", "#328cc1", "#6b6b6b")
# checked_arms (km_figures) admits MAX_ARMS arms: every palette needs a colour for each.
assert all(len(p) >= MAX_ARMS for p in (GG_HUES, SAS_COLOURS, STATA_COLOURS, PRISM_COLOURS, JOURNAL_COLOURS))

BODY_TEXT = (
    "Patients with recurrent brain metastases after initial surgery were identified from the institutional "
    "registry between 2010 and 2018. Follow-up was calculated from the date of recurrence to death or last "
    "contact; 12 patients were lost to follow-up. Median age was 61 years (range 34 to 83), and 57% had a "
    "controlled primary tumour. Overall survival was estimated with the Kaplan-Meier method and compared with "
    "the log-rank test; hazard ratios come from Cox models (HR 0.62, 95% CI 0.41 to 0.93; p = 0.02)."
)


@dataclass(frozen=True)
class OtherStyle:
    """How one piece of other software draws a KM figure (``reason``: why the style is in the set).

    ``layout`` chooses the drawer; ``percent`` labels the survival axis 0..100; ``rotated_y_labels``
    prints the y tick labels turned 90 degrees (Stata's default); ``antialias`` draws raster output
    supersampled; ``bitmap_font`` uses Pillow's built-in bitmap font for raster text.
    """

    name: str
    software: str
    reason: str
    layout: Layout
    n_arms: int = 2
    percent: bool = False
    rotated_y_labels: bool = False
    risk_table: bool = True
    antialias: bool = True
    bitmap_font: bool = False
    percent_labels: tuple[str, ...] = ()


OTHER_STYLES: dict[str, OtherStyle] = {
    s.name: s
    for s in (
        OtherStyle(
            "ggplot_survminer",
            "R ggplot2/survminer",
            "grey panel, white major/minor grid, no axis lines, outside ticks, '+' as two loose strokes, "
            "'Strata=' labels, coloured risk table in its own panel, legend on top",
            "ggplot",
        ),
        OtherStyle(
            "sas_lifetest",
            "SAS PROC LIFETEST",
            "curves as hundreds of 2-point segments, '+' marks of the curve's own stroke, numbers at risk inside "
            "the frame under survival 0",
            "sas",
            n_arms=3,
            antialias=False,
        ),
        OtherStyle(
            "stata_sts",
            "Stata sts graph",
            "y labels 0.00..1.00 turned 90 degrees (Stata's default), x title 'analysis time', "
            "'treatment = ' legend boxed below, risk table",
            "stata",
            rotated_y_labels=True,
            antialias=False,
            bitmap_font=True,
        ),
        OtherStyle(
            "stata_percent",
            "Stata sts graph",
            "percent labels 0 25 50 75 100 upright (ylabel angle(0)), three arms",
            "stata",
            n_arms=3,
            percent=True,
            antialias=False,
        ),
        OtherStyle(
            "prism",
            "GraphPad Prism",
            "thick lines, offset axes that do not meet, outside ticks, '|' censor ticks, percent axis, legend at "
            "the right, no risk table",
            "prism",
            percent=True,
            risk_table=False,
        ),
        OtherStyle(
            "journal_page",
            "journal redraw on an A4 page",
            "the figure inside a box among body-text paragraphs with numbers; inward ticks; 'No. at risk' table",
            "journal_page",
        ),
        OtherStyle(
            "journal_panels",
            "journal redraw, panels A/B on a letter page",
            "two KM panels side by side: the reader must ask for --crop; panel B is the one with the truth",
            "journal_panels",
        ),
    )
}


@dataclass(frozen=True)
class OtherFigure:
    """A drawn figure: its truth, its style, and for pages the box (points, origin bottom-left) and the
    pixel box (origin top-left, at the drawn dpi) of the panel the truth is about, else ``None``."""

    truth: FigureTruth
    style: OtherStyle
    panel_box: tuple[float, float, float, float] | None
    panel_pixels: tuple[int, int, int, int] | None
    x_ticks: np.ndarray
    y_tick_values: tuple[float, float]


# ---- the canvas: one drawing API over reportlab and Pillow --------------------------------------------------


@dataclass(frozen=True)
class _TextStyle:
    """How one piece of text is set: size (points), colour, anchor ``l``/``c``/``r`` of ``x``, bold, turned 90
    degrees, serif (Times) instead of sans (Helvetica)."""

    size: float
    rgb: str
    anchor: str = "l"
    bold: bool = False
    rotate: bool = False
    serif: bool = False


class _Canvas(ABC):
    """The drawing calls the drawers use, in points with the origin bottom-left."""

    @abstractmethod
    def line(self, x0: float, y0: float, x1: float, y1: float, rgb: str, width: float) -> None: ...

    @abstractmethod
    def polyline(self, pts: list[tuple[float, float]], rgb: str, width: float) -> None: ...

    @abstractmethod
    def rect(
        self, x0: float, y0: float, x1: float, y1: float, fill: str | None, stroke: str | None, w: float
    ) -> None: ...

    def text(
        self,
        x: float,
        y: float,
        s: str,
        size: float,
        rgb: str,
        anchor: str = "l",
        bold: bool = False,
        rotate: bool = False,
        serif: bool = False,
    ) -> None:
        """Text ``s`` with its baseline at ``y`` (``x`` per ``anchor``)."""
        self._text(x, y, s, _TextStyle(size, rgb, anchor, bold, rotate, serif))

    @abstractmethod
    def _text(self, x: float, y: float, s: str, ts: _TextStyle) -> None: ...


def _rgb(hexcol: str) -> tuple[int, int, int]:
    return int(hexcol[1:3], 16), int(hexcol[3:5], 16), int(hexcol[5:7], 16)


class _PdfCanvas(_Canvas):
    """reportlab: each call is one path (``m l S``), rectangles as ``re``, text in standard Type 1 fonts."""

    def __init__(self, target: io.BytesIO, size: tuple[float, float]) -> None:
        from reportlab.pdfgen.canvas import Canvas

        self.c = Canvas(target, pagesize=size, invariant=1, pageCompression=1)
        self.c.setLineCap(0)

    def _stroke(self, rgb: str, width: float) -> None:
        r, g, b = _rgb(rgb)
        self.c.setStrokeColorRGB(r / 255, g / 255, b / 255)
        self.c.setLineWidth(width)

    def line(self, x0: float, y0: float, x1: float, y1: float, rgb: str, width: float) -> None:
        self._stroke(rgb, width)
        self.c.line(x0, y0, x1, y1)

    def polyline(self, pts: list[tuple[float, float]], rgb: str, width: float) -> None:
        self._stroke(rgb, width)
        p = self.c.beginPath()
        p.moveTo(*pts[0])
        for x, y in pts[1:]:
            p.lineTo(x, y)
        self.c.drawPath(p, stroke=1, fill=0)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: str | None, stroke: str | None, w: float) -> None:
        if fill:
            r, g, b = _rgb(fill)
            self.c.setFillColorRGB(r / 255, g / 255, b / 255)
        if stroke:
            self._stroke(stroke, w)
        self.c.rect(x0, y0, x1 - x0, y1 - y0, stroke=int(bool(stroke)), fill=int(bool(fill)))

    def _text(self, x: float, y: float, s: str, ts: _TextStyle) -> None:
        bold = ts.bold
        font = ("Times-Bold" if bold else "Times-Roman") if ts.serif else ("Helvetica-Bold" if bold else "Helvetica")
        r, g, b = _rgb(ts.rgb)
        self.c.setFillColorRGB(r / 255, g / 255, b / 255)
        self.c.setFont(font, ts.size)
        draw = {"l": self.c.drawString, "c": self.c.drawCentredString, "r": self.c.drawRightString}[ts.anchor]
        if ts.rotate:
            self.c.saveState()
            self.c.translate(x, y)
            self.c.rotate(90)
            draw(0, 0, s)
            self.c.restoreState()
        else:
            draw(x, y, s)

    def save(self) -> None:
        self.c.showPage()
        self.c.save()


class _PixelCanvas(_Canvas):
    """Pillow ImageDraw in points (origin bottom-left) at ``dpi`` (x ``SUPERSAMPLE`` when anti-aliased)."""

    def __init__(self, size: tuple[float, float], dpi: int, antialias: bool, bitmap_font: bool) -> None:
        from PIL import Image, ImageDraw

        self.ss = SUPERSAMPLE if antialias else 1
        self.k = dpi / 72.0 * self.ss
        self.size_pt = size
        self.px = (round(size[0] * dpi / 72.0), round(size[1] * dpi / 72.0))
        self.img = Image.new("RGB", (self.px[0] * self.ss, self.px[1] * self.ss), "white")
        self.draw = ImageDraw.Draw(self.img)
        self.bitmap_font = bitmap_font
        self._fonts: dict[tuple[int, bool, bool], object] = {}

    def _p(self, x: float, y: float) -> tuple[float, float]:
        return x * self.k, (self.size_pt[1] - y) * self.k

    def _w(self, width: float) -> int:
        return max(1, round(width * self.k))

    def line(self, x0: float, y0: float, x1: float, y1: float, rgb: str, width: float) -> None:
        self.draw.line([self._p(x0, y0), self._p(x1, y1)], fill=_rgb(rgb), width=self._w(width))

    def polyline(self, pts: list[tuple[float, float]], rgb: str, width: float) -> None:
        for (x0, y0), (x1, y1) in itertools.pairwise(pts):
            self.line(x0, y0, x1, y1, rgb, width)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: str | None, stroke: str | None, w: float) -> None:
        (a, b), (c, d) = self._p(x0, y1), self._p(x1, y0)
        self.draw.rectangle(
            [a, b, c, d],
            fill=_rgb(fill) if fill else None,
            outline=_rgb(stroke) if stroke else None,
            width=self._w(w) if stroke else 0,
        )

    def _font(self, size: float, bold: bool, serif: bool) -> object:
        from PIL import ImageFont

        key = (round(size * self.k), bold, serif)
        if key not in self._fonts:
            if self.bitmap_font:
                self._fonts[key] = ImageFont.load_default_imagefont()
            else:
                import matplotlib

                name = ("DejaVuSerif" if serif else "DejaVuSans") + ("-Bold" if bold else "") + ".ttf"
                path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
                self._fonts[key] = ImageFont.truetype(str(path), max(6, key[0]))
        return self._fonts[key]

    def _text(self, x: float, y: float, s: str, ts: _TextStyle) -> None:
        from PIL import Image, ImageDraw

        size, rgb, anchor, rotate = ts.size, ts.rgb, ts.anchor, ts.rotate
        font = self._font(size, ts.bold, ts.serif)
        left, top, right, bottom = self.draw.textbbox((0, 0), s, font=font)  # type: ignore[arg-type]
        w, h = right - left, bottom - top
        # the baseline sits at y: bring the text's bottom (descenders aside) there, as a PDF places it
        ascent = size * self.k * 0.72 if not self.bitmap_font else h
        px, py = self._p(x, y)
        shift = {"l": 0.0, "c": w / 2, "r": float(w)}[anchor]
        if not rotate:
            self.draw.text((px - shift - left, py - ascent - top), s, font=font, fill=_rgb(rgb))  # type: ignore[arg-type]
            return
        tile = Image.new("RGBA", (w + 2, h + 2), (255, 255, 255, 0))
        ImageDraw.Draw(tile).text((1 - left, 1 - top), s, font=font, fill=(*_rgb(rgb), 255))  # type: ignore[arg-type]
        tile = tile.rotate(90, expand=True)
        # turned 90 degrees the baseline is the tile's right side; the anchor runs along y
        self.img.paste(tile, (round(px - tile.size[0]), round(py - tile.size[1] + shift)), tile)

    def image(self) -> object:
        from PIL import Image

        if self.ss == 1:
            return self.img
        return self.img.resize(self.px, Image.Resampling.BOX)


# ---- the truth of one arm and its drawn geometry ------------------------------------------------------------


@dataclass(frozen=True)
class _Arm:
    label: str
    time: np.ndarray
    event: np.ndarray
    km_time: np.ndarray
    km_survival: np.ndarray
    censor_times: np.ndarray

    def corners(self) -> list[tuple[float, float]]:
        """The step function's corners (time, survival) from (0, 1) to the end of follow-up."""
        t, s = self.km_time, self.km_survival
        pts = [(0.0, 1.0)]
        for i in range(1, t.size):
            if s[i] != s[i - 1]:
                pts.append((float(t[i]), float(s[i - 1])))
                pts.append((float(t[i]), float(s[i])))
        if pts[-1][0] != float(t[-1]):
            pts.append((float(t[-1]), float(s[-1])))
        return pts

    def mark_heights(self) -> np.ndarray:
        t, s = self.km_time, self.km_survival
        idx = np.searchsorted(t, self.censor_times, side="right") - 1
        return s[np.clip(idx, 0, None)]


def _arm(label: str, time: np.ndarray, event: np.ndarray) -> _Arm:
    km = kaplan_meier(time, event)
    return _Arm(
        label,
        time,
        event,
        np.concatenate(([0.0], km.time)),
        np.concatenate(([1.0], km.survival)),
        km.time[km.n_censor > 0],
    )


@dataclass(frozen=True)
class _Map:
    """Data (time, survival probability) to points."""

    x0: float
    sx: float
    y0: float
    sy: float

    def __call__(self, t: float, s: float) -> tuple[float, float]:
        return self.x0 + t * self.sx, self.y0 + s * self.sy


def _risk(arm: _Arm, ticks: np.ndarray) -> np.ndarray:
    return np.array([int((arm.time >= x).sum()) for x in ticks], np.int64)


def _fmt_tick(v: float) -> str:
    return f"{v:g}"


# ---- the drawers (figure box x0, y0, width, height in points) ------------------------------------------------


@dataclass(frozen=True)
class _Panel:
    """What a drawer draws: the figure box (x0, y0, width, height in points), the arms, the x axis (its end and
    ticks) and the style. A drawer returns the data map it placed the curves with (the truth's plot area)."""

    box: tuple[float, float, float, float]
    arms: list[_Arm]
    x_max: float
    ticks: np.ndarray
    style: OtherStyle


def _curve_and_marks(
    cv: _Canvas,
    m: _Map,
    arm: _Arm,
    colour: str,
    width: float,
    mark: str,
    mark_h: float,
    mark_w: float,
    segments: bool = False,
) -> None:
    pts = [m(t, s) for t, s in arm.corners()]
    if segments:  # SAS: each horizontal run and each drop its own 2-point path
        for a, b in itertools.pairwise(pts):
            cv.line(a[0], a[1], b[0], b[1], colour, width)
    else:
        cv.polyline(pts, colour, width)
    for t, s in zip(arm.censor_times, arm.mark_heights(), strict=True):
        x, y = m(float(t), float(s))
        cv.line(x, y - mark_h / 2, x, y + mark_h / 2, colour, mark_w)
        if mark == "+":
            cv.line(x - mark_h / 2, y, x + mark_h / 2, y, colour, mark_w)


def _draw_ggplot(cv: _Canvas, p: _Panel) -> _Map:
    (bx, by, bw, bh), arms, ticks = p.box, p.arms, p.ticks
    n = len(arms)
    table_h = 30 + 13 * n
    px0, px1 = bx + 112, bx + bw - 12
    py0, py1 = by + table_h + 48, by + bh - 34
    cv.rect(px0, py0, px1, py1, GG_PANEL, None, 0)
    # ggplot expands continuous scales by 5 % on each side
    ex, ey = 0.05 * (px1 - px0) / 1.1, 0.05 * (py1 - py0) / 1.1
    m = _Map(px0 + ex, (px1 - px0 - 2 * ex) / p.x_max, py0 + ey, py1 - py0 - 2 * ey)
    yv = [0.0, 0.25, 0.5, 0.75, 1.0]
    for a, b in itertools.pairwise(yv):
        y = m(0, (a + b) / 2)[1]
        cv.line(px0, y, px1, y, "#ffffff", GG_LINE / 2)
    for a, b in itertools.pairwise(ticks):
        x = m((a + b) / 2, 0)[0]
        cv.line(x, py0, x, py1, "#ffffff", GG_LINE / 2)
    for v in yv:
        y = m(0, v)[1]
        cv.line(px0, y, px1, y, "#ffffff", GG_LINE)
        cv.line(px0 - 2.75, y, px0, y, GG_TICK, GG_LINE)
        cv.text(px0 - 5, y - 3.1, f"{v:.2f}", 8.8, GG_TEXT, "r")
    for v in ticks:
        x = m(float(v), 0)[0]
        cv.line(x, py0, x, py1, "#ffffff", GG_LINE)
        cv.line(x, py0 - 2.75, x, py0, GG_TICK, GG_LINE)
        cv.text(x, py0 - 12, _fmt_tick(float(v)), 8.8, GG_TEXT, "c")
    cv.text(bx + 14, (py0 + py1) / 2, "Survival probability", 11, "#000000", "c", rotate=True)
    cv.text((px0 + px1) / 2, py0 - 26, "Time", 11, "#000000", "c")
    for k, arm in enumerate(arms):
        _curve_and_marks(cv, m, arm, GG_HUES[k], GG_LINE, "+", 6.4, GG_MARK_LINE)
    # legend on top: title, then sample + label per stratum
    ly = by + bh - 16
    cv.text(px0, ly - 3.5, "Strata", 11, "#000000")
    x = px0 + 44
    for k, arm in enumerate(arms):
        cv.line(x, ly, x + 17, ly, GG_HUES[k], GG_LINE)
        label = f"Strata={arm.label}"
        cv.text(x + 22, ly - 3.1, label, 8.8, "#000000")
        x += 22 + 5.2 * len(label) + 14
    # risk table: its own panel, title, coloured strata names and numbers, its own x axis
    ty1 = by + table_h + 6
    cv.text(bx + 8, ty1 + 4, "Number at risk", 11, "#000000")
    for k, arm in enumerate(arms):
        y = ty1 - 10 - 13 * k
        cv.text(px0 - 5, y - 3.1, f"Strata={arm.label}", 8.8, GG_HUES[k], "r")
        for v, c in zip(ticks, _risk(arm, ticks), strict=True):
            cv.text(m(float(v), 0)[0], y - 3.1, str(int(c)), 8.8, GG_HUES[k], "c")
    tb = ty1 - 13 * n - 4
    for v in ticks:
        x = m(float(v), 0)[0]
        cv.line(x, tb - 2.75, x, tb, GG_TICK, GG_LINE)
        cv.text(x, tb - 12, _fmt_tick(float(v)), 8.8, GG_TEXT, "c")
    cv.text((px0 + px1) / 2, tb - 25, "Time", 11, "#000000", "c")
    return m


def _draw_sas(cv: _Canvas, p: _Panel) -> _Map:
    (bx, by, bw, bh), arms, ticks = p.box, p.arms, p.ticks
    n = len(arms)
    fx0, fx1 = bx + 62, bx + bw - 14
    fy0, fy1 = by + 74, by + bh - 46
    cv.text(bx + bw / 2, by + bh - 18, "Product-Limit Survival Estimates", 11, "#000000", "c", bold=True)
    cv.text(bx + bw / 2, by + bh - 31, "With Number of Subjects at Risk", 9, "#000000", "c")
    cv.rect(fx0, fy0, fx1, fy1, None, "#000000", 0.75)
    # the numbers at risk sit inside the frame: survival 0 is raised above them
    zero = fy0 + 10 + 11 * n
    m = _Map(fx0 + 6, (fx1 - fx0 - 12) / p.x_max, zero, fy1 - 6 - zero)
    for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = m(0, v)[1]
        cv.line(fx0 - 4, y, fx0, y, "#000000", 0.75)
        cv.text(fx0 - 6, y - 3, f"{v:.1f}", 8.5, "#000000", "r")
    for v in ticks:
        x = m(float(v), 0)[0]
        cv.line(x, fy0 - 4, x, fy0, "#000000", 0.75)
        cv.text(x, fy0 - 13, _fmt_tick(float(v)), 8.5, "#000000", "c")
    cv.text(bx + 14, (fy0 + fy1) / 2, "Survival Probability", 9.5, "#000000", "c", rotate=True)
    cv.text((fx0 + fx1) / 2, fy0 - 26, "Months", 9.5, "#000000", "c")
    for k, arm in enumerate(arms):
        _curve_and_marks(cv, m, arm, SAS_COLOURS[k], SAS_LINE, "+", 5.2, SAS_LINE, segments=True)
    cv.text(fx0 + 4, zero - 9, "Number at Risk", 7.5, "#000000")
    for k, arm in enumerate(arms):
        y = zero - 18 - 11 * k
        cv.text(fx0 - 6, y, arm.label, 7.5, SAS_COLOURS[k], "r")
        for v, c in zip(ticks, _risk(arm, ticks), strict=True):
            cv.text(m(float(v), 0)[0], y, str(int(c)), 7.5, SAS_COLOURS[k], "c")
    # legend: a box under the x title with a '+ Censored' entry
    ly = by + 16
    cv.rect(fx0 + 20, ly - 8, fx1 - 20, ly + 9, None, "#a0a0a0", 0.5)
    x = fx0 + 28
    for k, arm in enumerate(arms):
        cv.line(x, ly, x + 22, ly, SAS_COLOURS[k], SAS_LINE)
        cv.text(x + 26, ly - 3, arm.label, 8, "#000000")
        x += 26 + 4.6 * len(arm.label) + 14
    cv.line(x + 4, ly - 2.6, x + 4, ly + 2.6, "#000000", SAS_LINE)
    cv.line(x + 1.4, ly, x + 6.6, ly, "#000000", SAS_LINE)
    cv.text(x + 12, ly - 3, "Censored", 8, "#000000")
    return m


def _draw_stata(cv: _Canvas, p: _Panel) -> _Map:
    (bx, by, bw, bh), arms, ticks = p.box, p.arms, p.ticks
    n = len(arms)
    cv.rect(bx, by, bx + bw, by + bh, STATA_REGION, None, 0)
    table_h = 18 + 11 * n
    ax0, ax1 = bx + 124, bx + bw - 16
    ay0, ay1 = by + 64 + table_h, by + bh - 34
    cv.rect(ax0, ay0, ax1, ay1, "#ffffff", None, 0)
    cv.text(bx + bw / 2, by + bh - 20, "Kaplan-Meier survival estimates", 12, "#1e1e1e", "c")
    # the plot region keeps a margin inside the axes
    m = _Map(ax0 + 5, (ax1 - ax0 - 10) / p.x_max, ay0 + 5, ay1 - ay0 - 10)
    values = (0.0, 0.25, 0.5, 0.75, 1.0)
    labels = p.style.percent_labels or (
        ("0", "25", "50", "75", "100") if p.style.percent else tuple(f"{v:.2f}" for v in values)
    )
    for v, lab in zip(values, labels, strict=True):
        y = m(0, v)[1]
        cv.line(ax0, y, ax1, y, STATA_REGION, 0.5)
        cv.line(ax0 - 3.5, y, ax0, y, "#000000", 0.5)
        if p.style.rotated_y_labels:
            cv.text(ax0 - 6, y, lab, 8.5, "#000000", "c", rotate=True)
        else:
            cv.text(ax0 - 6, y - 3, lab, 8.5, "#000000", "r")
    cv.line(ax0, ay0, ax0, ay1, "#000000", 0.5)
    cv.line(ax0, ay0, ax1, ay0, "#000000", 0.5)
    for v in ticks:
        x = m(float(v), 0)[0]
        cv.line(x, ay0 - 3.5, x, ay0, "#000000", 0.5)
        cv.text(x, ay0 - 13, _fmt_tick(float(v)), 8.5, "#000000", "c")
    for k, arm in enumerate(arms):
        _curve_and_marks(cv, m, arm, STATA_COLOURS[k], 1.0, "|", 5.0, 0.5)
    cv.text(bx + 8, ay0 - 28, "Number at risk", 8.5, "#000000")
    for k, arm in enumerate(arms):
        y = ay0 - 40 - 11 * k
        cv.text(ax0 - 8, y, f"treatment = {arm.label}", 8.5, "#000000", "r")
        for v, c in zip(ticks, _risk(arm, ticks), strict=True):
            cv.text(m(float(v), 0)[0], y, str(int(c)), 8.5, "#000000", "c")
    ty = ay0 - 40 - 11 * n - 4
    cv.text((ax0 + ax1) / 2, ty, "analysis time", 9.5, "#000000", "c")
    ly = by + 16
    cv.rect(ax0 - 40, ly - 9, ax1 - 10, ly + 10, "#ffffff", "#000000", 0.5)
    x = ax0 - 32
    for k, arm in enumerate(arms):
        cv.line(x, ly, x + 24, ly, STATA_COLOURS[k], 1.0)
        lab = f"treatment = {arm.label}"
        cv.text(x + 28, ly - 3, lab, 8, "#000000")
        x += 28 + 4.4 * len(lab) + 12
    return m


def _draw_prism(cv: _Canvas, p: _Panel) -> _Map:
    (bx, by, bw, bh), arms, ticks = p.box, p.arms, p.ticks
    gap = 9.0  # Prism's "offset X and Y axes": the axis lines stop short of each other
    xa0, xa1 = bx + 72, bx + bw - 130
    ya0, ya1 = by + 62, by + bh - 20
    m = _Map(xa0, (xa1 - xa0) / p.x_max, ya0, ya1 - ya0)
    cv.line(xa0 - gap, ya0, xa0 - gap, ya1, "#000000", PRISM_AXIS)
    cv.line(xa0, ya0 - gap, xa1, ya0 - gap, "#000000", PRISM_AXIS)
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = m(0, v)[1]
        cv.line(xa0 - gap - 5, y, xa0 - gap, y, "#000000", PRISM_AXIS)
        cv.text(xa0 - gap - 8, y - 4, f"{100 * v:.0f}", 11, "#000000", "r", bold=True)
    for v in ticks:
        x = m(float(v), 0)[0]
        cv.line(x, ya0 - gap - 5, x, ya0 - gap, "#000000", PRISM_AXIS)
        cv.text(x, ya0 - gap - 18, _fmt_tick(float(v)), 11, "#000000", "c", bold=True)
    cv.text(bx + 16, (ya0 + ya1) / 2, "Percent survival", 12, "#000000", "c", bold=True, rotate=True)
    cv.text((xa0 + xa1) / 2, by + 12, "Months", 12, "#000000", "c", bold=True)
    for k, arm in enumerate(arms):
        _curve_and_marks(cv, m, arm, PRISM_COLOURS[k], PRISM_LINE, "|", 7.0, 1.5)
    y = ya1 - 10
    for k, arm in enumerate(arms):
        cv.line(xa1 + 14, y, xa1 + 40, y, PRISM_COLOURS[k], PRISM_LINE)
        cv.text(xa1 + 46, y - 4, arm.label, 10, "#000000", bold=True)
        y -= 18
    return m


def _draw_journal(cv: _Canvas, p: _Panel, letter: str | None = None) -> _Map:
    """A journal's redraw: L axes meeting at the origin, inward ticks, legend in the plot, 'No. at risk'."""
    (bx, by, bw, bh), arms, ticks = p.box, p.arms, p.ticks
    n = len(arms)
    ax0, ax1 = bx + 64, bx + bw - 10
    ay0, ay1 = by + 40 + 11 * n + 14, by + bh - 14
    m = _Map(ax0, (ax1 - ax0) / p.x_max, ay0, ay1 - ay0)
    cv.line(ax0, ay0, ax0, ay1, "#000000", 0.6)
    cv.line(ax0, ay0, ax1, ay0, "#000000", 0.6)
    for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = m(0, v)[1]
        cv.line(ax0, y, ax0 + 3, y, "#000000", 0.6)
        cv.text(ax0 - 3, y - 2.6, f"{v:.1f}", 7.5, "#000000", "r")
    for v in ticks:
        x = m(float(v), 0)[0]
        cv.line(x, ay0, x, ay0 + 3, "#000000", 0.6)
        cv.text(x, ay0 - 9, _fmt_tick(float(v)), 7.5, "#000000", "c")
    cv.text(bx + 10, (ay0 + ay1) / 2, "Overall survival", 8, "#000000", "c", rotate=True)
    cv.text((ax0 + ax1) / 2, ay0 - 19, "Months since recurrence", 8, "#000000", "c")
    for k, arm in enumerate(arms):
        _curve_and_marks(cv, m, arm, JOURNAL_COLOURS[k], 1.0, "|", 4.0, 0.6)
    y = ay1 - 6
    for k, arm in enumerate(arms):
        cv.line(ax1 - 95, y, ax1 - 78, y, JOURNAL_COLOURS[k], 1.0)
        cv.text(ax1 - 74, y - 2.6, arm.label, 7.5, "#000000")
        y -= 10
    cv.text(bx + 2, ay0 - 30, "No. at risk", 7.5, "#000000", bold=True)
    for k, arm in enumerate(arms):
        yy = ay0 - 40 - 11 * k
        cv.text(bx + 2, yy, arm.label, 7, JOURNAL_COLOURS[k])
        for v, c in zip(ticks, _risk(arm, ticks), strict=True):
            cv.text(m(float(v), 0)[0], yy, str(int(c)), 7, "#000000", "c")
    if letter:
        cv.text(bx + 2, by + bh - 10, letter, 11, "#000000", bold=True)
    return m


_DRAWERS = {"ggplot": _draw_ggplot, "sas": _draw_sas, "stata": _draw_stata, "prism": _draw_prism}
# Figure sizes (points) per look: survminer 7 x 6 in, SAS 640 x 480 px, Stata 5.5 x 4 in, Prism 6 x 4 in.
_SIZES = {"ggplot": (504.0, 432.0), "sas": (480.0, 380.0), "stata": (468.0, 340.0), "prism": (432.0, 288.0)}


def _paragraphs(cv: _Canvas, x0: float, x1: float, y_top: float, y_bottom: float) -> None:
    """Justified-looking body text lines (Times 10 pt) from ``y_top`` down to ``y_bottom``."""
    words = BODY_TEXT.split()
    per_line = max(8, int((x1 - x0) / 42))
    y, i = y_top, 0
    while y > y_bottom:
        line = " ".join(words[i % len(words) : i % len(words) + per_line])
        cv.text(x0, y, line, 10, "#000000", serif=True)
        i += per_line
        y -= 12.5


def _caption(cv: _Canvas, x: float, y: float, s: str) -> None:
    """A figure caption under the figure: Times bold 8 pt."""
    cv.text(x, y, s, 8, "#000000", bold=True, serif=True)


def _draw_page(cv: _Canvas, p: _Panel, other: list[_Arm] | None) -> tuple[_Map, tuple[float, float, float, float]]:
    """The figure of ``p`` on an article page (``p.box`` is the page): the data map and the figure's box."""
    _, _, w, h = p.box
    if p.style.layout == "journal_page":
        fx0, fx1, fy0, fy1 = 110.0, w - 110.0, 330.0, 610.0
        _paragraphs(cv, 56, w - 56, h - 60, fy1 + 20)
        cv.rect(fx0 - 8, fy0 - 36, fx1 + 8, fy1 + 8, None, "#000000", 0.5)
        m = _draw_journal(cv, replace(p, box=(fx0, fy0, fx1 - fx0, fy1 - fy0)))
        _caption(cv, fx0, fy0 - 16, "Figure 2. Overall survival by treatment after recurrence (Kaplan-Meier).")
        _paragraphs(cv, 56, w - 56, fy0 - 56, 50)
        return m, (fx0 - 6, fy0 - 6, fx1 + 6, fy1 + 6)
    # two panels side by side: A (another endpoint) and B (the truth)
    fy0, fy1 = 300.0, 540.0
    _paragraphs(cv, 54, w - 54, h - 60, fy1 + 30)
    pa = (54.0, fy0, 240.0, fy1 - fy0)
    pb = (w - 54.0 - 240.0, fy0, 240.0, fy1 - fy0)
    assert other is not None
    o_end = max(float(a.time.max()) for a in other)
    o_max, o_ticks = month_ticks(o_end)
    _draw_journal(cv, _Panel(pa, other, o_max, o_ticks, p.style), letter="A")
    m = _draw_journal(cv, replace(p, box=pb), letter="B")
    _caption(cv, 54, fy0 - 18, "Figure 3. (A) Progression-free and (B) overall survival by treatment.")
    _paragraphs(cv, 54, w - 54, fy0 - 50, 50)
    return m, (pb[0] - 4, pb[1] - 4, pb[0] + pb[2] + 4, pb[1] + pb[3] + 4)


# ---- entry point ----------------------------------------------------------------------------------------------


def _checked(arms: object, where: str) -> list[_Arm]:
    """:func:`~meta_bm.simulation.km_figures.checked_arms`, and labels the standard PDF fonts can print."""
    out = []
    for label, t, e in checked_arms(arms, where):
        if not all(ord(ch) < 256 for ch in label):
            raise InputError(f"arm {label!r}: label must be Latin-1 text (WinAnsi fonts)", where)
        out.append(_arm(label, t, e))
    return out


def draw_other_figure(
    arms: list[tuple[str, np.ndarray, np.ndarray]],
    style: OtherStyle,
    path: str | Path,
    fmt: Format = "pdf",
    dpi: int = 150,
    jpeg_quality: int = 85,
) -> OtherFigure:
    """Draw the KM curves of ``arms`` (``(label, time, event)``, as
    :func:`~meta_bm.simulation.km_figures.simulate_arms` gives) in ``style`` to ``path`` as PDF (reportlab),
    PNG or JPEG (Pillow) and return the exact truth. Bad arguments raise
    :class:`~meta_bm.errors.InputError` naming ``path``."""
    path = Path(path)
    where = str(path)
    if not isinstance(style, OtherStyle):
        raise InputError(f"style must be an OtherStyle, got {type(style).__name__}", where)
    check_format(fmt, dpi, jpeg_quality, where)
    checked = _checked(arms, where)
    x_max, ticks = month_ticks(max(float(a.time.max()) for a in checked))
    page = style.layout in ("journal_page", "journal_panels")
    size = (A4 if style.layout == "journal_page" else LETTER) if page else _SIZES[style.layout]
    buf = io.BytesIO()
    cv: _PdfCanvas | _PixelCanvas
    cv = _PdfCanvas(buf, size) if fmt == "pdf" else _PixelCanvas(size, int(dpi), style.antialias, style.bitmap_font)
    panel: tuple[float, float, float, float] | None = None
    whole = _Panel((0.0, 0.0, *size), checked, x_max, ticks, style)
    if page:
        # panel A: the same patients' progression-free survival (times shortened), drawn from the arms themselves
        other = [_arm(a.label, a.time * 0.6, a.event) for a in checked] if style.layout == "journal_panels" else None
        m, panel = _draw_page(cv, whole, other)
    else:
        m = _DRAWERS[style.layout](cv, whole)
    try:
        if isinstance(cv, _PdfCanvas):
            cv.save()
            path.write_bytes(buf.getvalue())
        else:
            img = cv.image()
            if fmt == "png":
                img.save(path, format="PNG", dpi=(dpi, dpi))  # type: ignore[attr-defined]
            else:
                img.save(path, format="JPEG", quality=int(jpeg_quality), dpi=(dpi, dpi))  # type: ignore[attr-defined]
    except OSError as exc:
        raise InputError(f"cannot write the figure: {exc.strerror or exc}", where) from None
    colours = {"ggplot": GG_HUES, "sas": SAS_COLOURS, "stata": STATA_COLOURS, "prism": PRISM_COLOURS}
    palette = colours.get(style.layout, JOURNAL_COLOURS)
    arm_truths = [
        ArmTruth(
            label=a.label,
            time=a.time,
            event=a.event,
            km_time=a.km_time,
            km_survival=a.km_survival,
            censor_times=a.censor_times,
            risk_time=ticks.copy() if style.risk_table else None,
            n_risk=_risk(a, ticks) if style.risk_table else None,
            color=palette[k],
            dash="solid",
        )
        for k, a in enumerate(checked)
    ]
    w, h = size
    area = (m.x0 / w, m.y0 / h, (m.x0 + m.sx * x_max) / w, (m.y0 + m.sy) / h)
    summary = FigureStyle(
        name=f"{style.name} ({style.software})",
        censor_marker="|" if style.layout in ("stata", "prism", "journal_page", "journal_panels") else "+",
        risk_table=style.risk_table,
        percent=style.percent,
        n_arms=max(1, min(MAX_ARMS, len(checked))),
        figsize=(max(2.0, w / 72), max(2.0, h / 72)),
    )
    truth = FigureTruth.of_drawing(summary, arm_truths, x_max, ticks, path, fmt, dpi, area)
    pixels = None
    if panel is not None and fmt != "pdf":
        k = int(dpi) / 72.0
        pixels = (
            math.floor(panel[0] * k),
            math.floor((h - panel[3]) * k),
            math.ceil(panel[2] * k),
            math.ceil((h - panel[1]) * k),
        )
    return OtherFigure(truth, style, panel, pixels, ticks, (0.0, 1.0))


def write_other_gallery(outdir: Path, styles: list[str], formats: list[str], dpi: int, seed: int) -> list[Path]:
    """Every style in ``styles`` drawn in each of ``formats`` into ``outdir``; returns the files written. The
    ``i``-th style drawn gets :func:`~meta_bm.simulation.km_figures.simulate_arms` with its ``n_arms`` arms and
    seed ``seed + i``."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, name in enumerate(styles):
        st = OTHER_STYLES[name]
        arms = simulate_arms(st.n_arms, seed + i)
        for fmt in formats:
            ext = "jpg" if fmt == "jpeg" else fmt
            fig = draw_other_figure(arms, st, outdir / f"{name}.{ext}", fmt=fmt, dpi=dpi)  # type: ignore[arg-type]
            written.append(fig.truth.path)
    return written


def main(argv: list[str] | None = None) -> int:
    return gallery_main(
        argv,
        "python -m meta_bm.simulation.other_figures",
        "Write KM figures in other software's looks (PDF and PNG).",
        list(OTHER_STYLES),
        write_other_gallery,
        "figures",
    )


__all__ = ["OTHER_STYLES", "OtherFigure", "OtherStyle", "draw_other_figure", "write_other_gallery"]

if __name__ == "__main__":
    sys.exit(main())
