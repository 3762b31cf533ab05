"""Kaplan–Meier curves read exactly from a vector PDF: the drawing paths and the text of the page.

A plotting program writes a KM curve into a PDF as a path whose corners are the step corners, the
censoring marks as small marker paths, the axes as lines with tick marks and numeric labels, the legend
as short sample lines next to text and the numbers at risk as text. :func:`digitize_pdf` reads them
back (:mod:`~meta_bm.digitizing.pdf_page` gives the page as primitives):

1. the plot frame: an axes rectangle (filled panel or stroked box) or two spines meeting at a corner;
2. its tick marks and their numeric labels; each axis calibrated by least squares over every labelled
   tick (the residual is reported, an inconsistent axis refused); percent axes are divided by 100;
3. the step curves: stroked paths inside the frame made of horizontal and vertical pieces, grouped by
   style (colour, dash pattern, width) so that a curve drawn as many segments is one step function;
   gridlines, frame, ticks, filled confidence bands and legend samples are left out;
4. censoring marks: small marker paths centred on a curve of the same colour;
5. the legend (a sample line of a curve's style with text after it) names the curves;
6. the numbers-at-risk table: rows of integers under the plot aligned with the x ticks, each labelled
   by an arm (matplotlib/R layouts and lifelines' ``add_at_risk_counts`` layout);
7. the figure region rendered with pypdfium2 as the background of the overlay.

Coordinates are PDF points with the origin at the bottom left, as pdfminer reports them (``--crop``
uses the same).

Example
-------
>>> import io, matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> fig, ax = plt.subplots(figsize=(4, 3))
>>> _ = ax.step([0, 2, 5, 8], [1, 0.75, 0.5, 0.5], where="post", label="Arm A")
>>> _ = ax.set_xlim(0, 10); _ = ax.set_ylim(0, 1.05); _ = ax.legend()
>>> buf = io.BytesIO(); fig.savefig(buf, format="pdf"); plt.close(fig)
>>> fig = digitize_pdf(buf.getvalue(), "km.pdf", "")
>>> c = fig.curves[0]
>>> c.label, np.round(c.time, 9).tolist(), np.round(c.survival, 9).tolist()
('Arm A', [0.0, 2.0, 2.0, 5.0, 5.0, 8.0], [1.0, 1.0, 0.75, 0.75, 0.5, 0.5])
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from meta_bm.digitizing.figure import AxisMap, CurveQuality, DigitizedCurve, DigitizedFigure, DigitizeError
from meta_bm.digitizing.pdf_page import CharPrimitive, PagePrimitives, PathPrimitive, PdfFile, open_pdf

# ---- limits and tolerances (points unless said; one line of reason each) --------------------------------
# A figure file larger than this is not a journal figure (same bound as meta_bm.digitizing).
MAX_PDF_BYTES = 64 * 1024 * 1024
# Pages searched for a plot when no page is given: an article has a few dozen; beyond, ask for --page.
MAX_PAGES_SEARCHED = 200
# A piece is horizontal / vertical when its other coordinate changes by at most this: plotting
# programs write exact coordinates, so this only absorbs float printing.
AXIS_EPS = 0.05
# matplotlib simplifies paths (``path.simplify``, 1/9 pixel): two drops closer than that become one
# slanted piece. A piece going right and down that is this narrow (or this flat) is such a merge.
MAX_SLANT = 0.5
# Two points are the same corner / endpoint within this.
JOIN_EPS = 0.05
# Smallest side of a plot frame: a panel narrower than ~1.3 cm is no KM plot.
MIN_FRAME_SIDE = 36.0
# Spines meet at the frame corner within this (a spine may be offset by half a line width).
CORNER_EPS = 1.5
# Offset axes (GraphPad Prism, R's base graphics): the axis lines stop short of each other by up to this.
MAX_AXIS_OFFSET = 20.0
# Text turned by this many degrees (within ROTATION_EPS) reads upwards: Stata's default y tick labels.
UPWARD, ROTATION_EPS = 90.0, 1.0
# Frames whose four sides all agree within this are the same frame (axes patch + spines).
SAME_FRAME_EPS = 2.0
# Tick marks are short: between these lengths.
MIN_TICK, MAX_TICK = 0.8, 15.0
# A tick mark starts on the frame edge within this.
TICK_EDGE_EPS = 1.0
# A tick label lies within this many font sizes of its tick (beyond the tick's length).
LABEL_REACH_SIZES = 3.0
# Largest calibration residual (points) accepted: ticks and labels are placed exactly (the file prints
# coordinates to ~1e-6 pt; 0.1 pt allows 1-2 decimals); a mis-read label is off by half a tick step.
MAX_CALIBRATION_RESIDUAL = 0.1
# A path inside the frame: all its points within the frame grown by this.
INSIDE_EPS = 1.0
# A gridline or frame line spans at least this share of the frame.
SPAN_SHARE = 0.9
# Legend sample lines are between these lengths; the label starts within LEGEND_GAP_SIZES font sizes.
MIN_SAMPLE, MAX_SAMPLE = 4.0, 80.0
LEGEND_GAP_SIZES = 2.5
# A censor mark is a marker no larger than this, whose centre is within MARK_ON_CURVE of a curve.
MAX_MARK_SIZE = 30.0
MARK_ON_CURVE = 1.0
# Words: a gap wider than this many font sizes separates two words; a phrase (a label) allows wider gaps.
WORD_GAP_SIZES = 0.25
PHRASE_GAP_SIZES = 1.0
# Characters on one baseline: their bottoms agree within this many font sizes.
BASELINE_SIZES = 0.3
# A point this close to a labelled tick is at the tick's value: the file's coordinates are printed with
# ~6 decimals, so the calibration carries ~1e-7 pt of noise that would turn 0 into 1e-8.
ON_TICK = 1e-3
# A risk count is taken as printed at a tick when its anchor (left, centre or right) is this close.
RISK_SNAP = 1.5
# The rendered background: at most this many pixels (the dpi is lowered for a huge region).
MAX_BACKGROUND_PIXELS = 25_000_000
# Margin (points) around the figure region rendered as background.
REGION_MARGIN = 6.0

# matplotlib's dash patterns in line widths (rcParams lines.*_pattern, scaled by the width).
_DASH_NAMES = {"dashed": (3.7, 1.6), "dotted": (1.0, 1.65), "dashdot": (6.4, 1.6, 1.0, 1.6)}
_RISK_HEADERS = ("at risk", "number at risk", "no. at risk", "n at risk", "numbers at risk", "patients at risk")
_NOT_RISK_ROWS = ("censored", "events", "deaths", "cumulative events", "number censored", "n censored")
_MINUS = str.maketrans({"−": "-", "–": "-", "‒": "-", "﹣": "-", "－": "-"})
_NUMBER = re.compile(r"^[-+]?(\d+(?:\.\d*)?|\.\d+)%?$")
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+$")
_INTEGER = re.compile(r"^\d+$")
# R's survfit names strata "variable=level" (survminer prints "Strata=level" or "treatment=A"), Stata
# "variable = level": when every label of a legend or risk table has one such prefix, the level names the arm.
_STRATUM = re.compile(r"^\s*([A-Za-z_.][\w.]*)\s*=\s*(\S.*?)\s*$")


# ---- text -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """A run of characters without a gap: text, box, font size and colour."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    rgb: str | None

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


def parse_number(text: str) -> tuple[float, bool] | None:
    """A tick label's value and whether it had a percent sign; ``None`` when not a number.

    >>> parse_number("0.25"), parse_number("−10"), parse_number("50%"), parse_number("1,000"), parse_number("0,5")
    ((0.25, False), (-10.0, False), (50.0, True), (1000.0, False), (0.5, False))
    >>> parse_number("12a") is None
    True
    """
    t = text.strip().translate(_MINUS)
    if _THOUSANDS.match(t):
        t = t.replace(",", "")
    elif t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")  # decimal comma
    if not _NUMBER.match(t):
        return None
    pct = t.endswith("%")
    try:
        value = float(t.rstrip("%"))
    except ValueError:
        return None
    return (value, pct) if math.isfinite(value) else None


def _integer(text: str) -> int | None:
    t = text.strip()
    if _THOUSANDS.match(t):
        t = t.replace(",", "")
    return int(t) if _INTEGER.match(t) and len(t) <= 9 else None


def build_words(chars: Iterable[CharPrimitive]) -> list[list[Word]]:
    """Upright characters grouped into baselines (top to bottom), each a list of words left to right."""
    cs = [c for c in chars if c.upright and c.size > 0 and c.x1 > c.x0]
    cs.sort(key=lambda c: (-c.y0, c.x0))
    lines: list[list[CharPrimitive]] = []
    for c in cs:
        for line in lines[-8:]:  # recent baselines only: the list is sorted from the top
            ref = line[0]
            if abs(c.y0 - ref.y0) <= BASELINE_SIZES * max(ref.size, c.size):
                line.append(c)
                break
        else:
            lines.append([c])
    out: list[list[Word]] = []
    for line in lines:
        line.sort(key=lambda c: c.x0)
        words: list[Word] = []
        cur: list[CharPrimitive] = []
        for c in line:
            gap = c.x0 - cur[-1].x1 if cur else 0.0
            if c.text.isspace() or not c.text:
                if cur:
                    words.append(_word(cur))
                cur = []
                continue
            if cur and gap > WORD_GAP_SIZES * max(c.size, cur[-1].size):
                words.append(_word(cur))
                cur = []
            cur.append(c)
        if cur:
            words.append(_word(cur))
        if words:
            out.append(words)
    out.sort(key=lambda ws: -ws[0].y0)
    return out


def build_upward_words(chars: Iterable[CharPrimitive]) -> list[Word]:
    """Words of text turned 90 degrees (reading upwards, as Stata's y tick labels): characters sharing a
    vertical baseline, split where the gap along it is wider than a word gap. The box is the words' box."""
    cs = [c for c in chars if abs(c.angle - UPWARD) <= ROTATION_EPS and c.size > 0 and c.y1 > c.y0]
    cs.sort(key=lambda c: (c.x1, c.y0))
    columns: list[list[CharPrimitive]] = []
    for c in cs:
        for col in columns[-8:]:
            if abs(c.x1 - col[0].x1) <= BASELINE_SIZES * max(col[0].size, c.size):
                col.append(c)
                break
        else:
            columns.append([c])
    out: list[Word] = []
    for col in columns:
        col.sort(key=lambda c: c.y0)
        cur: list[CharPrimitive] = []
        for c in col:
            if c.text.isspace() or not c.text or (cur and c.y0 - cur[-1].y1 > WORD_GAP_SIZES * c.size):
                if cur:
                    out.append(_word(cur))
                cur = [] if c.text.isspace() or not c.text else [c]
                continue
            cur.append(c)
        if cur:
            out.append(_word(cur))
    return out


def _word(cs: list[CharPrimitive]) -> Word:
    colours = [c.rgb for c in cs]
    return Word(
        "".join(c.text for c in cs),
        min(c.x0 for c in cs),
        min(c.y0 for c in cs),
        max(c.x1 for c in cs),
        max(c.y1 for c in cs),
        max(c.size for c in cs),
        max(set(colours), key=colours.count),
    )


def _phrases(words: Sequence[Word]) -> list[list[Word]]:
    """Words of one baseline joined into phrases where the gaps are small (a label of several words)."""
    out: list[list[Word]] = []
    for w in words:
        if out and w.x0 - out[-1][-1].x1 <= PHRASE_GAP_SIZES * w.size:
            out[-1].append(w)
        else:
            out.append([w])
    return out


def _text(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def strata_levels(labels: Sequence[str | None]) -> list[str | None]:
    """Labels without the ``variable=`` prefix R and Stata put on strata, when every label has the same one.

    >>> strata_levels(["Strata=Re-resection", "Strata=WBRT"]), strata_levels(["treatment = A", "treatment = B"])
    (['Re-resection', 'WBRT'], ['A', 'B'])
    >>> strata_levels(["age=60", "Surgery"])  # not all prefixed alike: left as printed
    ['age=60', 'Surgery']
    """
    found = [_STRATUM.match(t) if t is not None else None for t in labels]
    names = {m.group(1) for m in found if m is not None}
    if not labels or len(names) != 1 or any(m is None for m, t in zip(found, labels, strict=True) if t is not None):
        return list(labels)
    return [m.group(2) if m is not None else None for m in found]


# ---- geometry helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """The plot frame (data area) in points."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def same(self, other: Frame) -> bool:
        return all(
            abs(a - b) <= SAME_FRAME_EPS
            for a, b in zip((self.x0, self.y0, self.x1, self.y1), (other.x0, other.y0, other.x1, other.y1), strict=True)
        )


def _is_horizontal(s: np.ndarray) -> np.ndarray:
    return np.abs(s[:, 3] - s[:, 1]) <= AXIS_EPS


def _is_vertical(s: np.ndarray) -> np.ndarray:
    return np.abs(s[:, 2] - s[:, 0]) <= AXIS_EPS


def _area(p: PathPrimitive) -> float:
    s = p.segments
    # shoelace over the ring of the path's points (closed back to its start, as a fill closes it)
    x = np.append(s[:, 0], s[-1, 2])
    y = np.append(s[:, 1], s[-1, 3])
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _has_area(p: PathPrimitive) -> bool:
    """A filled path that covers an area (pdfminer reports a 'fill' on open lines too)."""
    return p.fill and _area(p) > 1.0


def _rect_of(p: PathPrimitive) -> Frame | None:
    """The rectangle a closed axis-aligned path of 4 sides draws, if it is one."""
    s = p.segments
    if p.curved or not (3 <= len(s) <= 5):
        return None
    if not np.all(_is_horizontal(s) | _is_vertical(s)):
        return None
    xs = np.concatenate([s[:, 0], s[:, 2]])
    ys = np.concatenate([s[:, 1], s[:, 3]])
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    on_edge = (np.isclose(xs, x0, atol=AXIS_EPS) | np.isclose(xs, x1, atol=AXIS_EPS)) & (
        np.isclose(ys, y0, atol=AXIS_EPS) | np.isclose(ys, y1, atol=AXIS_EPS)
    )
    if not on_edge.all():
        return None
    return Frame(float(x0), float(y0), float(x1), float(y1))


# ---- calibration ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One calibrated axis: ``position = origin + value * scale`` (points), from ``how``."""

    origin: float
    scale: float
    residual: float
    how: str
    ticks: np.ndarray  # positions (points) of every tick mark (labelled or not), sorted
    values: np.ndarray  # values of the labelled ticks
    percent: bool = False
    label_words: tuple[Word, ...] = ()
    tick_length: float = 0.0  # the length of the tick marks (0 when none were found)

    def value(self, pos: np.ndarray | float) -> np.ndarray:
        return (np.asarray(pos, float) - self.origin) / self.scale


def _fit(positions: Sequence[float], values: Sequence[float]) -> tuple[float, float, float]:
    """Least squares ``position = origin + value * scale``; returns (origin, scale, max |residual|)."""
    v = np.asarray(values, float)
    p = np.asarray(positions, float)
    a = np.vstack([np.ones_like(v), v]).T
    (origin, scale), *_ = np.linalg.lstsq(a, p, rcond=None)
    resid = float(np.max(np.abs(origin + scale * v - p))) if v.size else 0.0
    return float(origin), float(scale), resid


# ---- one plot ---------------------------------------------------------------------------------------------


@dataclass
class _Plot:
    """What was found for one frame."""

    frame: Frame
    x: Axis
    y: Axis
    curves: list[_Curve]
    legend: list[_LegendEntry]
    words_used: list[Word] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    region: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass
class _Curve:
    style: tuple[str | None, tuple[float, ...], float]
    runs: list[tuple[float, float, float]]  # (x_start, x_end, y) in points, in order
    segments: np.ndarray  # every piece drawn (points), to find the marks sitting on the curve
    order: list[int] = field(default_factory=list)  # indices of its paths in drawing order
    marks: list[float] = field(default_factory=list)  # x of censor marks (points)
    label: str | None = None
    legend_index: int | None = None
    risk: tuple[np.ndarray, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _LegendEntry:
    style: tuple[str | None, tuple[float, ...], float]
    label: str
    x: float
    y: float
    words: tuple[Word, ...]


def _style_key(p: PathPrimitive) -> tuple[str | None, tuple[float, ...], float]:
    return (p.stroke_rgb, tuple(round(d, 2) for d in p.dash), round(p.width, 2))


def _dash_name(dash: tuple[float, ...], width: float) -> str:
    """matplotlib's names for its dash patterns (scaled by the line width), else the pattern itself."""
    if not dash:
        return "solid"
    w = width if width > 0 else 1.0
    for name, pattern in _DASH_NAMES.items():
        if len(pattern) == len(dash) and all(abs(d / w - q) <= 0.05 for d, q in zip(dash, pattern, strict=True)):
            return name
    return "[" + ", ".join(f"{d:g}" for d in dash) + "]"


def _find_frames(paths: Sequence[PathPrimitive]) -> list[Frame]:
    """Candidate plot frames: axis-aligned rectangles and pairs of spines meeting at the bottom-left (or
    offset from it by up to MAX_AXIS_OFFSET)."""
    cands: list[Frame] = []
    h_lines: list[tuple[float, float, float]] = []
    v_lines: list[tuple[float, float, float]] = []
    for p in paths:
        if p.marker is not None:
            continue
        r = _rect_of(p)
        if r is not None and r.width >= MIN_FRAME_SIDE and r.height >= MIN_FRAME_SIDE:
            cands.append(r)
        if not p.stroke or p.curved:
            continue
        s = p.segments
        for seg in s[_is_horizontal(s)]:
            if abs(seg[2] - seg[0]) >= MIN_FRAME_SIDE:
                h_lines.append((float(seg[1]), float(min(seg[0], seg[2])), float(max(seg[0], seg[2]))))
        for seg in s[_is_vertical(s)]:
            if abs(seg[3] - seg[1]) >= MIN_FRAME_SIDE:
                v_lines.append((float(seg[0]), float(min(seg[1], seg[3])), float(max(seg[1], seg[3]))))
    for vx, vy0, vy1 in v_lines:
        for hy, hx0, hx1 in h_lines:
            # the spines meet at the corner, or stop short of it (offset axes): the frame is the box they bound
            if -CORNER_EPS <= hx0 - vx <= MAX_AXIS_OFFSET and -CORNER_EPS <= vy0 - hy <= MAX_AXIS_OFFSET:
                cands.append(Frame(vx, hy, hx1, vy1))
    out: list[Frame] = []
    for f in cands:
        if not any(f.same(g) for g in out):
            out.append(f)
    return out


def _tick_marks(paths: Sequence[PathPrimitive], frame: Frame, axis: str) -> list[tuple[float, float]]:
    """(position, length) of the short marks perpendicular to the bottom (x) or left (y) edge: those of
    the most common style and length (a curve's first piece drawn as its own segment also touches the
    left edge, but it is not one of a family of equal marks)."""
    found = _tick_candidates(paths, frame, axis)
    families: dict[tuple[object, ...], list[tuple[float, float]]] = {}
    for key, pos, length in found:
        families.setdefault(key, []).append((pos, length))
    if not families:
        return []
    return max(families.values(), key=len)


def _tick_candidates(
    paths: Sequence[PathPrimitive], frame: Frame, axis: str
) -> list[tuple[tuple[object, ...], float, float]]:
    out = []
    for p in paths:
        if p.marker is not None or not p.stroke or p.curved or len(p.segments) != 1:
            continue
        # u runs along the axis, v across it: a tick is a short v-stroke at one u, touching the frame's edge
        if axis == "x":
            u0, v0, u1, v1 = (float(c) for c in p.segments[0])
            lo, hi, edge = frame.x0, frame.x1, frame.y0
        elif axis == "y":
            v0, u0, v1, u1 = (float(c) for c in p.segments[0])
            lo, hi, edge = frame.y0, frame.y1, frame.x0
        else:
            continue
        if abs(u1 - u0) <= AXIS_EPS:
            length = abs(v1 - v0)
            on_edge = min(abs(v0 - edge), abs(v1 - edge)) <= TICK_EDGE_EPS
            inside = lo - TICK_EDGE_EPS <= u0 <= hi + TICK_EDGE_EPS
            if MIN_TICK <= length <= MAX_TICK and on_edge and inside:
                out.append(((p.stroke_rgb, round(p.width, 2), round(length, 1)), u0, length))
    return out


def _gridlines(paths: Sequence[PathPrimitive], frame: Frame, axis: str) -> list[float]:
    """Positions of lines spanning the frame across ``axis`` (vertical lines for x)."""
    out = []
    for p in paths:
        if p.marker is not None or not p.stroke or len(p.segments) != 1:
            continue
        x0, y0, x1, y1 = (float(v) for v in p.segments[0])
        if axis == "x" and abs(x1 - x0) <= AXIS_EPS and abs(y1 - y0) >= SPAN_SHARE * frame.height:
            if frame.x0 + INSIDE_EPS < x0 < frame.x1 - INSIDE_EPS:
                out.append(x0)
        elif axis == "y" and abs(y1 - y0) <= AXIS_EPS and abs(x1 - x0) >= SPAN_SHARE * frame.width:
            if frame.y0 + INSIDE_EPS < y0 < frame.y1 - INSIDE_EPS:
                out.append(y0)
    return out


def _dedupe(values: Iterable[float]) -> np.ndarray:
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > JOIN_EPS * 4:
            out.append(v)
    return np.asarray(out, float)


def _calibrate(
    axis: str,
    paths: Sequence[PathPrimitive],
    lines: list[list[Word]],
    frame: Frame,
    user_range: tuple[float, float] | None,
    turned: Sequence[Word] = (),
) -> Axis | str:
    """Calibrate one axis from tick marks (or gridlines, or the labels themselves) and numeric labels;
    a string says what is missing."""
    marks = _tick_marks(paths, frame, axis)
    how = "tick labels"
    positions = _dedupe(m[0] for m in marks)
    tick_len = max((m[1] for m in marks), default=0.0)
    if positions.size < 2:
        grid = _dedupe(_gridlines(paths, frame, axis))
        if grid.size >= 2:
            positions = _dedupe([*grid.tolist(), *positions.tolist()])
    words = [*(w for ws in lines for w in ws), *turned]
    pairs: list[tuple[float, float, Word]] = []
    percent = False
    used: set[int] = set()
    for pos in positions:
        best: tuple[float, int] | None = None
        for i, w in enumerate(words):
            if i in used:
                continue
            reach = tick_len + LABEL_REACH_SIZES * w.size
            if axis == "x":
                if not (abs(w.cx - pos) <= max(2.0, 0.6 * (w.x1 - w.x0)) and w.y1 <= frame.y0 + TICK_EDGE_EPS):
                    continue
                dist = frame.y0 - w.y1
            else:
                if not (abs(w.cy - pos) <= 0.75 * w.size and w.x1 <= frame.x0 + TICK_EDGE_EPS):
                    continue
                dist = frame.x0 - w.x1
            if dist <= reach and (best is None or dist < best[0]):
                best = (dist, i)
        if best is not None:
            num = parse_number(words[best[1]].text)
            if num is not None:
                used.add(best[1])
                pairs.append((float(pos), num[0], words[best[1]]))
                percent = percent or num[1]
    if positions.size < 2 and len(pairs) < 2:
        # no tick marks nor gridlines: take the numeric labels' centres (less exact)
        for w in words:
            num = parse_number(w.text)
            if num is None:
                continue
            if axis == "x" and frame.x0 - w.size <= w.cx <= frame.x1 + w.size and 0 <= frame.y0 - w.y1 <= 2 * w.size:
                pairs.append((w.cx, num[0], w))
            elif axis == "y" and frame.y0 - w.size <= w.cy <= frame.y1 + w.size and 0 <= frame.x0 - w.x1 <= 2 * w.size:
                pairs.append((w.cy, num[0], w))
        how = "tick label centres"
        positions = _dedupe(p[0] for p in pairs)
    if user_range is not None:
        lo, hi = user_range
        if positions.size >= 2:
            p0, p1 = float(positions[0]), float(positions[-1])
        else:
            p0, p1 = (frame.x0, frame.x1) if axis == "x" else (frame.y0, frame.y1)
        scale = (p1 - p0) / (hi - lo)
        return Axis(p0 - lo * scale, scale, 0.0, "user range", positions, np.asarray([lo, hi]), False, (), tick_len)
    values = [v for _, v, _ in pairs]
    if len(set(values)) < 2:
        return f"no numeric tick labels on the {axis} axis (found {len(pairs)}); give --{axis}-range"
    origin, scale, resid = _fit([p for p, _, _ in pairs], values)
    if not (math.isfinite(scale) and scale > 0):
        return f"the {axis} axis' tick labels do not increase along the axis"
    if resid > MAX_CALIBRATION_RESIDUAL:
        listed = ", ".join(f"{w.text!r} at {p:.1f}" for p, _, w in pairs)
        return (
            f"the {axis} axis' tick labels are inconsistent (residual {resid:.2f} pt): {listed}; give --{axis}-range"
        )[:400]
    return Axis(
        origin, scale, resid, how, positions, np.asarray(values), percent, tuple(w for _, _, w in pairs), tick_len
    )


def _legend_entries(paths: Sequence[PathPrimitive], lines: list[list[Word]]) -> tuple[list[_LegendEntry], set[int]]:
    """Short horizontal sample lines with a label just to their right; returns entries and the sample paths."""
    entries: list[_LegendEntry] = []
    used: set[int] = set()
    phrases = [ph for ws in lines for ph in _phrases(ws)]
    for i, p in enumerate(paths):
        if p.marker is not None or not p.stroke or p.curved or _has_area(p):
            continue
        s = p.segments
        if not np.all(_is_horizontal(s)):
            continue
        x0 = float(min(s[:, 0].min(), s[:, 2].min()))
        x1 = float(max(s[:, 0].max(), s[:, 2].max()))
        y = float(s[0, 1])
        if not MIN_SAMPLE <= x1 - x0 <= MAX_SAMPLE:
            continue
        for ph in phrases:
            first = ph[0]
            gap = first.x0 - x1
            cy = (min(w.y0 for w in ph) + max(w.y1 for w in ph)) / 2
            if -1.0 <= gap <= LEGEND_GAP_SIZES * first.size and abs(cy - y) <= 0.7 * first.size:
                entries.append(_LegendEntry(_style_key(p), _text(ph), x0, y, tuple(ph)))
                used.add(i)
                break
    entries.sort(key=lambda e: (-round(e.y, 1), e.x))
    return entries, used


def _slanted(s: np.ndarray) -> np.ndarray:
    """Pieces neither horizontal nor vertical that a path simplification made from a step (right and down,
    narrow or flat)."""
    dx = s[:, 2] - s[:, 0]
    dy = s[:, 3] - s[:, 1]
    forward = np.where(dx < 0, -1.0, 1.0)  # a path may run right to left
    dx, dy = dx * forward, dy * forward
    return ~_is_horizontal(s) & ~_is_vertical(s) & (dx > 0) & (dy < 0) & (np.minimum(dx, -dy) <= MAX_SLANT)


def _runs_of(segments: np.ndarray) -> list[tuple[float, float, float]]:
    """Horizontal pieces as (x_start, x_end, y), merged where they touch at one level, in x order; a
    slanted piece (simplified step) holds its upper level to its right end, where it drops."""
    h = segments[_is_horizontal(segments)]
    pieces = [(float(min(a, c)), float(max(a, c)), float((b + d) / 2)) for a, b, c, d in h]
    for a, b, c, d in segments[_slanted(segments)]:
        pieces.append((float(min(a, c)), float(max(a, c)), float(max(b, d))))
    pieces.sort(key=lambda r: (-round(r[2], 3), r[0]))
    merged: list[list[float]] = []
    for xa, xb, y in pieces:
        if merged and abs(merged[-1][2] - y) <= AXIS_EPS and xa <= merged[-1][1] + JOIN_EPS:
            merged[-1][1] = max(merged[-1][1], xb)
        else:
            merged.append([xa, xb, y])
    runs = sorted(((a, b, y) for a, b, y in merged), key=lambda r: (r[0], -r[2]))
    if runs:
        # a curve that ends with a drop (to 0 at the last event) has no run at its last level: the drop's
        # foot is a zero-length run
        xa, xb, y = runs[-1]
        v = segments[_is_vertical(segments) & ~_is_horizontal(segments)]
        at_end = v[(np.abs(v[:, 0] - xb) <= JOIN_EPS) & (np.maximum(v[:, 1], v[:, 3]) >= y - AXIS_EPS)]
        if at_end.size:
            foot = float(np.minimum(at_end[:, 1], at_end[:, 3]).min())
            if foot < y - AXIS_EPS:
                runs.append((xb, xb, foot))
    return runs


def _is_step_function(runs: list[tuple[float, float, float]]) -> bool:
    """Levels falling as time goes on and runs following each other without overlap."""
    for (_a0, a1, ay), (b0, _b1, by) in pairwise(runs):
        if by > ay + AXIS_EPS or b0 < a1 - JOIN_EPS:
            return False
    return True


_NO_TICKS = np.zeros(0)
_NEIGHBOURS = tuple((i, j) for i in (-1, 0, 1) for j in (-1, 0, 1))


def _components(group: list[PathPrimitive]) -> list[list[PathPrimitive]]:
    """Paths of one style joined where they share an endpoint (a curve drawn as separate segments)."""
    parent = list(range(len(group)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[int, int], int] = {}
    for i, p in enumerate(group):
        s = p.segments
        for x, y in ((s[0, 0], s[0, 1]), (s[-1, 2], s[-1, 3])):
            key = (round(float(x) / JOIN_EPS), round(float(y) / JOIN_EPS))
            for dk in _NEIGHBOURS:
                k = (key[0] + dk[0], key[1] + dk[1])
                if k in owner:
                    parent[find(i)] = find(owner[k])
            owner[key] = i
    comps: dict[int, list[PathPrimitive]] = {}
    for i, p in enumerate(group):
        comps.setdefault(find(i), []).append(p)
    return list(comps.values())


def _curves(
    paths: Sequence[PathPrimitive], frame: Frame, x: Axis, y: Axis, exclude: set[int]
) -> tuple[list[_Curve], list[str]]:
    """Step curves: stroked axis-aligned paths inside the frame, grouped by style."""
    warnings: list[str] = []
    groups: dict[tuple[str | None, tuple[float, ...], float], list[PathPrimitive]] = {}
    index = {id(p): i for i, p in enumerate(paths)}
    tick_set = set(np.round(x.ticks, 1).tolist()) | set(np.round(y.ticks, 1).tolist())
    for i, p in enumerate(paths):
        if i in exclude or p.marker is not None or not p.stroke or p.curved or _has_area(p):
            continue
        s = p.segments
        bx0, by0, bx1, by1 = p.bbox
        if bx0 < frame.x0 - INSIDE_EPS or bx1 > frame.x1 + INSIDE_EPS:
            continue
        if by0 < frame.y0 - INSIDE_EPS or by1 > frame.y1 + INSIDE_EPS:
            continue
        if not np.all(_is_horizontal(s) | _is_vertical(s) | _slanted(s)):
            continue
        if len(s) == 1:
            length = float(np.hypot(s[0, 2] - s[0, 0], s[0, 3] - s[0, 1]))
            horizontal = bool(_is_horizontal(s)[0])
            span = frame.width if horizontal else frame.height
            pos = float(s[0, 1] if horizontal else s[0, 0])
            if length >= SPAN_SHARE * span:
                edge = (frame.y0, frame.y1) if horizontal else (frame.x0, frame.x1)
                ends = (bx0, bx1, frame.x0, frame.x1) if horizontal else (by0, by1, frame.y0, frame.y1)
                # a line from one side of the frame to the other: a gridline (a minor one sits between ticks)
                across = abs(ends[0] - ends[2]) <= TICK_EDGE_EPS and abs(ends[1] - ends[3]) <= TICK_EDGE_EPS
                if across or min(abs(pos - e) for e in edge) <= TICK_EDGE_EPS or round(pos, 1) in tick_set:
                    continue  # a frame side or a gridline
            if length <= MAX_TICK and not horizontal and min(abs(by0 - frame.y0), abs(by1 - frame.y1)) <= AXIS_EPS:
                if any(abs(pos - t) <= AXIS_EPS for t in x.ticks):
                    continue  # an inward tick mark
            if (
                horizontal
                and abs(length - y.tick_length) <= AXIS_EPS
                and min(bx0 - frame.x0, frame.x1 - bx1) <= AXIS_EPS
            ):
                if any(abs(pos - t) <= AXIS_EPS for t in y.ticks):
                    continue  # an inward y tick mark (of the ticks' length, on the left or right side)
        groups.setdefault(_style_key(p), []).append(p)
    curves: list[_Curve] = []
    min_span = 0.02 * frame.width
    for key, all_paths in groups.items():
        group = _without_marks(all_paths)
        if not group:
            continue
        runs = _runs_of(np.concatenate([p.segments for p in group]))
        if not runs:
            continue
        if _is_step_function(runs):
            pieces = [(runs, group)]
        else:
            pieces = []
            for comp in _components(group):
                r = _runs_of(np.concatenate([p.segments for p in comp]))
                if r and _is_step_function(r):
                    pieces.append((r, comp))
        pieces = [(r, m) for r, m in pieces if r[-1][1] - r[0][0] >= min_span or len(r) >= 2]
        if len(pieces) > 1:
            warnings.append(
                f"several curves drawn in one style {key[0]} {_dash_name(key[1], key[2])}: told apart by path"
            )
        for r, members in pieces:
            segs = np.concatenate([p.segments for p in members])
            curves.append(_Curve(key, r, segs, sorted(index[id(p)] for p in members)))
    return curves, warnings


def _without_marks(group: list[PathPrimitive]) -> list[PathPrimitive]:
    """The paths of one style less the censor marks drawn as loose strokes in the curve's own style (SAS
    writes a '+' as two strokes of the curve's colour and width, next to a curve drawn as 2-point pieces).

    A short vertical stroke whose midpoint lies on a horizontal piece of the style is a mark: a drop of
    a step function starts and ends on the levels around it, so its midpoint is on no level; a short
    horizontal stroke with the same midpoint is the mark's other arm. The marks are left for
    :func:`_markers` (they are not part of the curve)."""
    single = [p for p in group if len(p.segments) == 1]
    if not single:
        return group
    allseg = np.concatenate([p.segments for p in group])
    h = allseg[_is_horizontal(allseg) & ~_is_vertical(allseg)]
    if h.size == 0:
        return group
    hx0, hx1, hy = np.minimum(h[:, 0], h[:, 2]), np.maximum(h[:, 0], h[:, 2]), (h[:, 1] + h[:, 3]) / 2
    marks: set[int] = set()
    centres: list[tuple[float, float, float]] = []
    for p in single:
        x0, y0, x1, y1 = (float(v) for v in p.segments[0])
        if abs(x1 - x0) > AXIS_EPS or not AXIS_EPS < abs(y1 - y0) <= MAX_MARK_SIZE:
            continue
        ym = (y0 + y1) / 2
        on = (np.abs(hy - ym) <= AXIS_EPS) & (hx0 - JOIN_EPS <= x0) & (x0 <= hx1 + JOIN_EPS)
        if on.any():
            marks.add(id(p))
            centres.append((x0, ym, abs(y1 - y0)))
    if not marks:
        return group
    cx, cy, size = (np.array([c[k] for c in centres]) for k in range(3))
    for p in single:
        x0, y0, x1, y1 = (float(v) for v in p.segments[0])
        if abs(y1 - y0) <= AXIS_EPS and abs(x1 - x0) <= MAX_MARK_SIZE:
            # the other arm of a '+': same centre and same length (a run of the curve may share the centre)
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            near = (np.abs(cx - mx) <= JOIN_EPS) & (np.abs(cy - my) <= JOIN_EPS)
            if np.any(near & (np.abs(size - abs(x1 - x0)) <= AXIS_EPS)):
                marks.add(id(p))
    return [p for p in group if id(p) not in marks]


def _inline_mark(p: PathPrimitive, frame: Frame, ticks: tuple[np.ndarray, np.ndarray] = (_NO_TICKS, _NO_TICKS)) -> bool:
    """A small stroked path inside the frame, off its edges, drawn on the page itself: a marker that the
    plotting program wrote inline (matplotlib does for a handful of marks) or that has no XObjects (R)."""
    if p.marker is not None or not p.stroke or _has_area(p):
        return False
    x0, y0, x1, y1 = p.bbox
    if max(x1 - x0, y1 - y0) > MAX_MARK_SIZE or max(x1 - x0, y1 - y0) < MIN_TICK:
        return False
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # the centre inside the frame: a mark at survival 1 may stick out of a frame whose top is the 1.0 tick
    if not (
        frame.x0 - INSIDE_EPS <= cx <= frame.x1 + INSIDE_EPS and frame.y0 - INSIDE_EPS <= cy <= frame.y1 + INSIDE_EPS
    ):
        return False
    if len(p.segments) == 1:
        # a tick mark: one stroke at a tick position, across an edge of the frame, that starts or ends on it
        vertical = bool(_is_vertical(p.segments)[0])
        ends = (y0, y1, frame.y0, frame.y1) if vertical else (x0, x1, frame.x0, frame.x1)
        at_tick = np.any(np.abs(ticks[0 if vertical else 1] - (cx if vertical else cy)) <= AXIS_EPS)
        on_edge = min(abs(ends[0] - ends[2]), abs(ends[1] - ends[3]), abs(ends[0] - ends[3]), abs(ends[1] - ends[2]))
        if at_tick and on_edge <= AXIS_EPS:
            return False
    return True


def _markers(
    paths: Sequence[PathPrimitive], frame: Frame, taken: set[int], ticks: tuple[np.ndarray, np.ndarray]
) -> list[tuple[float, float, float, str | None, int, int]]:
    """Marker instances as (centre x, centre y, size, colour, drawing index, batch): a batch is a run
    of markers drawn one after the other (one plotting call: one arm's marks). Paths in ``taken`` (curves,
    legend samples) are not marks."""
    groups: dict[int, list[PathPrimitive]] = {}
    first: dict[int, int] = {}
    batch_of: dict[int, int] = {}
    batch = 0
    previous_was_marker = False
    inline_id = 0
    last_centre: tuple[float, float] | None = None
    last_direction: tuple[float, float] | None = None
    strokes = 0
    for i, p in enumerate(paths):
        key = p.marker
        if key is None and i not in taken and _inline_mark(p, frame, ticks):
            x0, y0, x1, y1 = p.bbox
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
            s = p.segments
            direction = (float(s[0, 2] - s[0, 0]), float(s[0, 3] - s[0, 1])) if len(s) == 1 else None
            # the two strokes of one inline '+' (or 'x') share their centre and cross; two marks of nearby
            # times have nearly the same centre but strokes of the same direction
            same = (
                previous_was_marker
                and last_centre is not None
                and math.dist(centre, last_centre) <= JOIN_EPS
                and strokes == 1
                and direction is not None
                and last_direction is not None
                and abs(direction[0] * last_direction[1] - direction[1] * last_direction[0]) > 1e-6
            )
            if not same:
                inline_id -= 1
                strokes = 0
            strokes += 1
            key, last_centre, last_direction = inline_id, centre, direction
        if key is None:
            previous_was_marker = False
            continue
        if not previous_was_marker:
            batch += 1
        previous_was_marker = True
        groups.setdefault(key, []).append(p)
        first.setdefault(key, i)
        batch_of.setdefault(key, batch)
    out = []
    for m, ps in groups.items():
        s = np.concatenate([p.segments for p in ps])
        xs = np.concatenate([s[:, 0], s[:, 2]])
        ys = np.concatenate([s[:, 1], s[:, 3]])
        size = float(max(xs.max() - xs.min(), ys.max() - ys.min()))
        colour = next((p.stroke_rgb for p in ps if p.stroke), None) or next((p.fill_rgb for p in ps if p.fill), None)
        out.append(((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, size, colour, first[m], batch_of[m]))
    return out


def _distance_to_curve(cx: float, cy: float, c: _Curve) -> float:
    """Distance from a point to the nearest piece the curve was drawn with."""
    s = c.segments
    a = s[:, :2]
    d = s[:, 2:] - a
    length2 = np.maximum((d**2).sum(axis=1), 1e-12)
    t = np.clip(((np.array([cx, cy]) - a) * d).sum(axis=1) / length2, 0.0, 1.0)
    nearest = a + d * t[:, None]
    return float(np.min(np.hypot(nearest[:, 0] - cx, nearest[:, 1] - cy)))


def _assign_marks(
    paths: Sequence[PathPrimitive],
    curves: list[_Curve],
    frame: Frame,
    taken: set[int],
    ticks: tuple[np.ndarray, np.ndarray] = (_NO_TICKS, _NO_TICKS),
) -> int:
    """Censor marks onto the curves they sit on, of the same colour; returns the number assigned.

    Where curves of one colour (black and white) coincide a mark sits on several: one plotting call
    draws one arm's marks, so a batch of marks goes to the one curve that carries all of them, and
    when several do, to the curve drawn closest to the batch.
    """
    colours = {c.style[0] for c in curves}
    batches: dict[int, list[tuple[float, float, str | None, int]]] = {}
    for cx, cy, size, colour, drawn, batch in _markers(paths, frame, taken, ticks):
        if size > MAX_MARK_SIZE or not (frame.x0 - INSIDE_EPS <= cx <= frame.x1 + INSIDE_EPS):
            continue
        if colour not in colours:
            continue  # a marker of no curve's colour (a legend's, another plot element's)
        batches.setdefault(batch, []).append((cx, cy, colour, drawn))
    n = 0
    for marks in batches.values():
        on = [
            [c for c in curves if c.style[0] == colour and _distance_to_curve(cx, cy, c) <= MARK_ON_CURVE]
            for cx, cy, colour, _ in marks
        ]
        placed = [(m, o) for m, o in zip(marks, on, strict=True) if o]
        if not placed:
            continue
        common = [c for c in placed[0][1] if all(c in o for _, o in placed)]
        drawn = placed[0][0][3]
        if common:
            owner = min(common, key=lambda c: min(abs(i - drawn) for i in c.order) if c.order else math.inf)
            owner.marks.extend(m[0] for m, _ in placed)
            n += len(placed)
            continue
        for (cx, cy, _, _), o in placed:  # no one curve carries the batch: each mark to its nearest
            min(o, key=lambda c: _distance_to_curve(cx, cy, c)).marks.append(cx)
            n += 1
    return n


# ---- risk table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RiskRow:
    label: str | None
    counts: list[int]
    words: list[Word]
    label_words: list[Word]
    y: float
    colour: str | None


def _risk_rows(lines: list[list[Word]], frame: Frame, x: Axis, y: Axis, exclude: set[int]) -> list[_RiskRow]:
    """Rows of integers under the plot that can be numbers at risk, top to bottom: under the frame, or
    inside it under the survival axis' lowest labelled value (SAS prints the table inside the frame)."""
    rows: list[_RiskRow] = []
    pending_label: list[Word] | None = None
    left = frame.x0 - 0.6 * frame.width
    right = frame.x1 + 0.1 * frame.width
    floor = frame.y0
    if y.values.size and y.how != "user range":
        floor = max(floor, y.origin + float(np.min(y.values)) * y.scale - TICK_EDGE_EPS)
    for ws in lines:
        ws = [w for w in ws if id(w) not in exclude and left <= w.cx <= right and w.y1 < floor]
        if not ws:
            continue
        counts: list[Word] = []
        for w in reversed(ws):
            if _integer(w.text) is None or w.x1 < frame.x0 - w.size:
                break
            counts.insert(0, w)
        label_words = ws[: len(ws) - len(counts)]
        label = _text(label_words) or None
        if len(counts) < 2:
            if counts == [] and label and _norm(label) not in _RISK_HEADERS:
                pending_label = label_words
            continue
        values = [_integer(w.text) or 0 for w in counts]
        if any(b > a for a, b in pairwise(values)):
            continue  # numbers at risk never rise: tick labels, events or censored rows
        if label is not None and _norm(label) in _NOT_RISK_ROWS:
            continue
        if label is not None and _norm(label) in _RISK_HEADERS:
            label_words = pending_label or []
            label = _text(label_words) or None
        colour_src = label_words or counts
        colours = [w.rgb for w in colour_src]
        rows.append(_RiskRow(label, values, counts, label_words, counts[0].y0, max(set(colours), key=colours.count)))
    levels = strata_levels([r.label for r in rows])
    return [_RiskRow(lv, r.counts, r.words, r.label_words, r.y, r.colour) for r, lv in zip(rows, levels, strict=True)]


def _risk_times(words: list[Word], x: Axis) -> tuple[np.ndarray, bool]:
    """The times the counts are printed at: the x tick each one's left, centre or right edge (the
    alignment that fits the row best) falls on, else the calibrated centre. True when all snapped."""
    ticks = x.ticks if x.ticks.size else x.origin + x.values * x.scale
    if ticks.size == 0:
        return x.value(np.asarray([w.cx for w in words])), False
    best: tuple[float, list[float]] | None = None
    for anchor in ("cx", "x1", "x0"):
        pos = [getattr(w, anchor) for w in words]
        dist = [float(np.min(np.abs(ticks - p))) for p in pos]
        if best is None or sum(dist) < best[0]:
            best = (sum(dist), pos)
    assert best is not None
    times = []
    snapped = True
    labelled = x.origin + x.values * x.scale
    for p in best[1]:
        j = int(np.argmin(np.abs(ticks - p)))
        if abs(ticks[j] - p) <= RISK_SNAP:
            k = int(np.argmin(np.abs(labelled - ticks[j])))
            # a labelled tick: its printed value, exactly; else its calibrated value
            on_label = abs(labelled[k] - ticks[j]) <= MAX_CALIBRATION_RESIDUAL
            times.append(float(x.values[k]) if on_label else float(x.value(ticks[j])))
        else:
            times.append(float(x.value(p)))
            snapped = False
    return _clean(np.asarray(times)), snapped


def _to_axis(axis: Axis, pos: np.ndarray) -> np.ndarray:
    """Positions to axis values; a position on a labelled tick takes the label's value exactly."""
    values = axis.value(pos)
    if axis.how == "user range" or axis.values.size == 0 or pos.size == 0:
        return values
    labelled = axis.origin + axis.values * axis.scale
    j = np.argmin(np.abs(pos[:, None] - labelled[None, :]), axis=1)
    on = np.abs(pos - labelled[j]) <= ON_TICK
    return np.where(on, axis.values[j], values)


def _clean(values: np.ndarray) -> np.ndarray:
    """Values within float noise of a round number set to it (a tick at 12 computes as 11.999999999)."""
    r = np.round(values, 6)
    return np.where(np.abs(values - r) <= 1e-9 * np.maximum(1.0, np.abs(values)), r, values)


def _match_risk_rows(rows: list[_RiskRow], curves: list[_Curve], x: Axis) -> list[str]:
    warnings: list[str] = []
    free = list(range(len(curves)))
    unmatched: list[_RiskRow] = []
    for row in rows:
        hit = None
        if row.label is not None:
            key = _norm(row.label)
            exact = [i for i in free if curves[i].label is not None and _norm(curves[i].label or "") == key]
            near = [
                i
                for i in free
                if curves[i].label is not None
                and (key in _norm(curves[i].label or "") or _norm(curves[i].label or "") in key)
            ]
            cands = exact or near
            hit = cands[0] if len(cands) == 1 else None
        if hit is None and row.colour is not None:
            same = [i for i in free if curves[i].style[0] == row.colour]
            if len(same) == 1 and sum(c.style[0] == row.colour for c in curves) == 1:
                hit = same[0]
        if hit is None:
            unmatched.append(row)
            continue
        free.remove(hit)
        _set_risk(curves[hit], row, x, warnings)
    if unmatched and len(unmatched) == len(free):
        for row, i in zip(unmatched, free, strict=True):
            _set_risk(curves[i], row, x, warnings)
            curves[i].notes.append("numbers at risk matched to the curve by row order")
    elif unmatched:
        for row in unmatched:
            warnings.append(f"risk table row {row.label or ''} {row.counts} not matched to a curve".replace("  ", " "))
    return warnings


def _set_risk(curve: _Curve, row: _RiskRow, x: Axis, warnings: list[str]) -> None:
    times, snapped = _risk_times(row.words, x)
    if not snapped:
        warnings.append(f"risk row {row.label or ''}: some numbers are not under an x tick; times from their centres")
    curve.risk = (times, np.asarray(row.counts, np.int64))
    if curve.label is None and row.label is not None:
        curve.label = row.label


# ---- the page ---------------------------------------------------------------------------------------------


def _restrict(page: PagePrimitives, crop: tuple[float, float, float, float]) -> PagePrimitives:
    x0, y0, x1, y1 = crop

    def inside(bx0: float, by0: float, bx1: float, by1: float) -> bool:
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        return x0 <= cx <= x1 and y0 <= cy <= y1

    return PagePrimitives(
        page.number,
        page.width,
        page.height,
        [p for p in page.paths if inside(*p.bbox)],
        [c for c in page.chars if inside(c.x0, c.y0, c.x1, c.y1)],
    )


def _analyse(
    page: PagePrimitives,
    x_range: tuple[float, float] | None,
    y_range: tuple[float, float] | None,
) -> tuple[list[_Plot], list[str]]:
    """Every KM plot on the page, and why each other frame candidate was not one."""
    lines = build_words(page.chars)
    turned = build_upward_words(page.chars)
    legend, sample_paths = _legend_entries(page.paths, lines)
    plots: list[_Plot] = []
    rejected: list[str] = []
    for frame in _find_frames(page.paths):
        x = _calibrate("x", page.paths, lines, frame, x_range, turned)
        y = _calibrate("y", page.paths, lines, frame, y_range, turned)
        if isinstance(x, str) or isinstance(y, str):
            rejected.append(x if isinstance(x, str) else str(y))
            continue
        curves, warnings = _curves(page.paths, frame, x, y, sample_paths)
        if not curves:
            rejected.append(f"no step curve inside the frame at {_box(frame)}")
            continue
        plots.append(_Plot(frame, x, y, curves, [], warnings=warnings))
    # the page background or an outer box holds the same curves as the plot frame inside it
    plots = [
        pl
        for pl in plots
        if not any(
            o is not pl
            and not o.frame.same(pl.frame)
            and pl.frame.x0 - SAME_FRAME_EPS <= o.frame.x0
            and o.frame.x1 <= pl.frame.x1 + SAME_FRAME_EPS
            and pl.frame.y0 - SAME_FRAME_EPS <= o.frame.y0
            and o.frame.y1 <= pl.frame.y1 + SAME_FRAME_EPS
            for o in plots
        )
    ]
    # a legend belongs to the plot whose frame holds it, else to the nearest one
    for entry in legend:
        if not plots:
            break
        owner = min(plots, key=lambda pl: _box_distance(pl.frame, entry.x, entry.y))
        owner.legend.append(entry)
    for pl in plots:
        others = [o.frame for o in plots if o is not pl]
        # text belongs to the nearest frame (panels side by side share baselines)
        mine = [
            [w for w in ws if all(_box_distance(pl.frame, w.cx, w.cy) <= _box_distance(f, w.cx, w.cy) for f in others)]
            for ws in lines
        ]
        _finish(pl, page, [ws for ws in mine if ws], sample_paths)
    return plots, rejected


def _box_distance(f: Frame, x: float, y: float) -> float:
    return math.hypot(max(f.x0 - x, 0.0, x - f.x1), max(f.y0 - y, 0.0, y - f.y1))


def _box(f: Frame | tuple[float, float, float, float]) -> str:
    v = (f.x0, f.y0, f.x1, f.y1) if isinstance(f, Frame) else f
    return " ".join(f"{a:.0f}" for a in v)


def _finish(pl: _Plot, page: PagePrimitives, lines: list[list[Word]], sample_paths: set[int]) -> None:
    """Legend labels, censor marks, risk table and the figure region of one plot."""
    legend_styles = {e.style for e in pl.legend}
    levels = strata_levels([e.label for e in pl.legend])
    pl.legend = [
        _LegendEntry(e.style, lv or e.label, e.x, e.y, e.words) for e, lv in zip(pl.legend, levels, strict=True)
    ]
    for idx, entry in enumerate(pl.legend):
        hits = [c for c in pl.curves if c.style == entry.style and c.label is None]
        if not hits:
            hits = [c for c in pl.curves if c.style[0] == entry.style[0] and c.label is None]
            if len(hits) != 1:
                continue
        for c in hits[:1]:
            c.label = entry.label
            c.legend_index = idx
    if pl.legend and any(c.label is not None for c in pl.curves):
        dropped = [c for c in pl.curves if c.label is None and c.style not in legend_styles]
        for c in dropped:
            pl.warnings.append(
                f"a step line ({c.style[0]}, {_dash_name(c.style[1], c.style[2])}) is not in the legend: left out "
                "(e.g. a confidence limit)"
            )
        pl.curves = [c for c in pl.curves if c not in dropped]
    taken = {i for c in pl.curves for i in c.order} | sample_paths
    _assign_marks(page.paths, pl.curves, pl.frame, taken, (pl.x.ticks, pl.y.ticks))
    used_ids = {id(w) for w in (*pl.x.label_words, *pl.y.label_words)}
    rows = _risk_rows(lines, pl.frame, pl.x, pl.y, used_ids)
    if rows:
        pl.warnings.extend(_match_risk_rows(rows, pl.curves, pl.x))
    words = [*pl.x.label_words, *pl.y.label_words]
    for row in rows:
        words.extend(row.words)
        words.extend(row.label_words)
    for e in pl.legend:
        words.extend(e.words)
    pl.words_used = words
    f = pl.frame
    xs = [f.x0, f.x1, *(w.x0 for w in words), *(w.x1 for w in words)]
    ys = [f.y0, f.y1, *(w.y0 for w in words), *(w.y1 for w in words)]
    # axis titles and the table's header sit next to what was used: include text lines touching the region
    bx0, by0, bx1, by1 = min(xs), min(ys), max(xs), max(ys)
    x0, y0, x1, y1 = bx0, by0, bx1, by1
    for ws in lines:
        for w in ws:
            near = bx0 - 2 * w.size <= w.cx <= bx1 + 2 * w.size and by0 - 2 * w.size <= w.cy <= by1 + 2 * w.size
            if near:
                x0, y0, x1, y1 = min(x0, w.x0), min(y0, w.y0), max(x1, w.x1), max(y1, w.y1)
    pl.region = (
        max(0.0, x0 - REGION_MARGIN),
        max(0.0, y0 - REGION_MARGIN),
        min(page.width, x1 + REGION_MARGIN),
        min(page.height, y1 + REGION_MARGIN),
    )


def _render(
    data: bytes, number: int, region: tuple[float, float, float, float], dpi: float, source: str
) -> tuple[np.ndarray, float]:
    """The region (points, origin bottom-left) of the page as RGB pixels, and the pixels per point."""
    import pypdfium2 as pdfium

    x0, y0, x1, y1 = region
    scale = dpi / 72.0
    area = (x1 - x0) * (y1 - y0) * scale * scale
    if area > MAX_BACKGROUND_PIXELS:
        scale *= math.sqrt(MAX_BACKGROUND_PIXELS / area)
    doc = None
    try:
        doc = pdfium.PdfDocument(data)
        page = doc[number - 1]
        left, bottom, right, top = page.get_cropbox()
        mleft, mbottom, _, _ = page.get_mediabox()
        # pdfminer's coordinates start at the media box; pdfium renders the crop box
        ox, oy = mleft - left, mbottom - bottom
        w, h = right - left, top - bottom
        crop = (
            max(0.0, x0 + ox),
            max(0.0, y0 + oy),
            max(0.0, w - (x1 + ox)),
            max(0.0, h - (y1 + oy)),
        )
        bitmap = page.render(scale=scale, crop=crop, rev_byteorder=True)
        arr = np.array(bitmap.to_numpy()[..., :3], dtype=np.uint8, copy=True)
        if bitmap.mode == "BGR" or bitmap.mode == "BGRA" or bitmap.mode == "BGRX":
            arr = arr[..., ::-1].copy()
        page.close()
    except Exception as exc:  # pdfium failures on a damaged file
        raise DigitizeError(f"cannot render the page ({type(exc).__name__}: {exc})"[:300], source, number) from None
    finally:
        if doc is not None:
            doc.close()
    return arr, scale


# ---- entry point ------------------------------------------------------------------------------------------


def digitize_pdf(
    data: bytes,
    source: str,
    sha256: str,
    page: int | None = None,
    crop: tuple[float, float, float, float] | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    y_scale: str | None = None,
    render_dpi: float = 150.0,
) -> DigitizedFigure:
    """Every KM curve of one plot on a PDF page, read from its drawing paths and text.

    Parameters
    ----------
    data, source, sha256:
        The PDF's bytes, its name (for messages) and SHA-256 (provenance).
    page:
        1-based page; by default page 1 of a one-page PDF, else the one page holding a KM plot.
    crop:
        ``x0 y0 x1 y1`` in PDF points (origin bottom-left): only what lies inside is read (a page with
        several plots).
    x_range, y_range:
        Values of the outermost tick marks, when the tick labels cannot be read (overrides the labels).
    y_scale:
        ``"probability"`` or ``"percent"``; by default from the labels (a top label above 1.5 or a ``%``).
    render_dpi:
        Resolution of :attr:`DigitizedFigure.background`.

    Raises
    ------
    DigitizeError
        Naming the file, the page and what was not found.
    """
    if len(data) > MAX_PDF_BYTES:
        raise DigitizeError(f"{len(data):,} bytes, above the limit of {MAX_PDF_BYTES:,} for a PDF figure", source)
    if not math.isfinite(render_dpi) or not 10 <= render_dpi <= 1200:
        raise DigitizeError(f"render dpi must be in 10..1200, not {render_dpi!r}", source)
    if y_scale not in (None, "probability", "percent"):
        raise DigitizeError(f"y scale must be 'probability' or 'percent', not {y_scale!r}", source)
    if b"%PDF-" not in data[:1024]:
        raise DigitizeError("not a PDF file (no %PDF header)", source)
    pdf = open_pdf(data, source)
    if page is not None and not 1 <= page <= pdf.n_pages:
        raise DigitizeError(f"page {page} is out of range: the PDF has {pdf.n_pages} page(s)", source, page)
    if page is None and pdf.n_pages == 1:
        page = 1
    if page is None:
        number, prims, plots, _ = _search(pdf, source, crop, x_range, y_range)
    else:
        number = page
        prims = pdf.page(page)
        if crop is not None:
            prims = _restrict(prims, crop)
        plots, rejected = _analyse(prims, x_range, y_range)
        if not plots:
            why = "; ".join(dict.fromkeys(rejected)) if rejected else "no plot frame (axes) found"
            raise DigitizeError(f"no Kaplan–Meier plot found: {why}"[:600], source, number)
    if len(plots) > 1:
        boxes = "; ".join(_box(pl.region) for pl in plots)
        raise DigitizeError(
            f"{len(plots)} plots found on the page: give --crop X0 Y0 X1 Y1 (PDF points, origin bottom-left) "
            f"with one of these boxes: {boxes}",
            source,
            number,
        )
    return _figure(plots[0], data, source, sha256, number, crop, y_scale, render_dpi)


def _search(
    pdf: PdfFile,
    source: str,
    crop: tuple[float, float, float, float] | None,
    x_range: tuple[float, float] | None,
    y_range: tuple[float, float] | None,
) -> tuple[int, PagePrimitives, list[_Plot], list[str]]:
    if pdf.n_pages > MAX_PAGES_SEARCHED:
        raise DigitizeError(
            f"the PDF has {pdf.n_pages} pages (more than {MAX_PAGES_SEARCHED} to search): give --page", source
        )
    found = []
    for n in range(1, pdf.n_pages + 1):
        prims = pdf.page(n)
        if crop is not None:
            prims = _restrict(prims, crop)
        plots, rejected = _analyse(prims, x_range, y_range)
        if plots:
            found.append((n, prims, plots, rejected))
    if not found:
        raise DigitizeError(f"no Kaplan–Meier plot found on any of the {pdf.n_pages} pages", source)
    if len(found) > 1:
        pages = ", ".join(str(f[0]) for f in found)
        raise DigitizeError(f"plots found on pages {pages}: give --page", source)
    return found[0]


def _figure(
    pl: _Plot,
    data: bytes,
    source: str,
    sha256: str,
    number: int,
    crop: tuple[float, float, float, float] | None,
    y_scale: str | None,
    render_dpi: float,
) -> DigitizedFigure:
    warnings = list(pl.warnings)
    percent = pl.y.percent or float(np.max(np.abs(pl.y.values))) > 1.5
    if y_scale is not None:
        percent = y_scale == "percent"
    div = 100.0 if percent else 1.0
    region = crop if crop is not None else pl.region
    background, px = _render(data, number, region, render_dpi, source)
    rx0, _, _, ry1 = region
    calibration = AxisMap(
        x0=(pl.x.origin - rx0) * px,
        x_scale=pl.x.scale * px,
        y0=(ry1 - pl.y.origin) * px,
        y_scale=-pl.y.scale * div * px,
        how=pl.x.how if pl.x.how == pl.y.how else f"x: {pl.x.how}, y: {pl.y.how}",
    )
    doubtful_axes = pl.x.how != "tick labels" or pl.y.how != "tick labels"
    curves: list[DigitizedCurve] = []
    for c in pl.curves:
        xs = np.array([v for xa, xb, _ in c.runs for v in (xa, xb)])
        ys = np.array([yy for _, _, yy in c.runs for _ in (0, 1)])
        keep = np.ones(xs.size, bool)
        keep[1:] = (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])  # a zero-length run is one corner
        xs, ys = xs[keep], ys[keep]
        t = np.maximum.accumulate(_to_axis(pl.x, xs))
        s = np.minimum.accumulate(_to_axis(pl.y, ys) / div)
        marks = np.sort(_to_axis(pl.x, np.asarray(c.marks, float))) if c.marks else np.zeros(0)
        notes = list(c.notes)
        notes.append(f"axes: x residual {pl.x.residual:.2g} pt, y residual {pl.y.residual:.2g} pt ({pl.x.how})")
        confidence = "medium" if doubtful_axes or c.notes else "high"
        style: dict[str, object] = {"dash": _dash_name(c.style[1], c.style[2]), "width": c.style[2]}
        if c.style[0] is not None:
            style["color"] = c.style[0]
        curves.append(
            DigitizedCurve(
                label=c.label,
                style=style,
                time=t,
                survival=s,
                censor_times=marks,
                risk_time=None if c.risk is None else c.risk[0],
                n_risk=None if c.risk is None else c.risk[1],
                quality=CurveQuality(
                    method="vector paths", points=int(t.size), confidence=confidence, notes=tuple(notes)
                ),
            )
        )
    order = list(range(len(curves)))
    if any(c.legend_index is not None for c in pl.curves):
        order.sort(
            key=lambda i: (pl.curves[i].legend_index is None, pl.curves[i].legend_index or 0, -curves[i].survival[-1])
        )
    else:
        order.sort(key=lambda i: -float(curves[i].survival[-1]))
    if pl.legend and not any(c.label for c in curves):
        warnings.append("a legend was found but none of its samples matches a curve's style")
    return DigitizedFigure(
        source=source,
        page=number,
        kind="vector",
        sha256=sha256,
        curves=[curves[i] for i in order],
        calibration=calibration,
        background=background,
        y_scale="percent" if percent else "probability",
        warnings=warnings,
    )
