"""Kaplan–Meier curves read from a PNG or JPEG: the plot frame and ticks, each curve's pixels, its step corners.

The image's tick labels cannot be read without OCR, so the user gives the values of the outermost labelled ticks
(``x_range``, ``y_range``; survival defaults to 0..1, or 0..100 for a percent axis) or two calibration points
per axis (``x_points``/``y_points``, as in WebPlotDigitizer). The rest is found in the pixels:

1. the frame (left and bottom spines or a full box, else a ggplot2-like grey panel) and its tick marks
   (:mod:`~meta_bm.digitizing.raster_frame`);
2. inside it, gridlines painted over, the pixels of each curve: by colour (CIELAB clusters, anti-aliased edges
   unmixed with the background, translucent bands dropped) or, for black-and-white figures, by line style
   (:mod:`~meta_bm.digitizing.raster_ink`);
3. per curve the best non-rising path through its pixels, read as step corners with censoring marks, gaps and
   overlaps (:mod:`~meta_bm.digitizing.raster_trace`).

Pixel positions are index coordinates internally (pixel ``(r, c)`` centred at ``(r, c)``); the returned
:class:`AxisMap` is in continuous image coordinates (pixel ``c`` spans ``[c, c + 1)``), as drawing programs use.

Example
-------
>>> import io
>>> from PIL import Image
>>> img = np.full((120, 160, 3), 255, np.uint8)
>>> img[100, 20:150] = 0; img[10:101, 20] = 0                  # bottom and left spines
>>> for x in (20, 70, 120): img[101:104, x] = 0               # x ticks at 0, 12, 24
>>> for y in (100, 20): img[y, 17:20] = 0                     # y ticks at 0 and 1
>>> img[20:22, 21:70] = (31, 119, 180); img[20:62, 70:72] = (31, 119, 180)   # a blue curve: 1 until 12,
>>> img[60:62, 70:140] = (31, 119, 180)                                       # then ~0.5 until 28.6
>>> buf = io.BytesIO(); Image.fromarray(img).save(buf, format="PNG")
>>> fig = digitize_image(buf.getvalue(), "km.png", "0" * 64, x_range=(0, 24))
>>> c = fig.curves[0]
>>> c.style["color"], np.round(c.time, 2).tolist(), np.round(c.survival, 3).tolist()
('#1f77b4', [0.0, 12.12, 12.12, 28.56], [1.0, 1.0, 0.494, 0.494])
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from meta_bm.digitizing.figure import AxisMap, CurveQuality, DigitizedCurve, DigitizedFigure, DigitizeError
from meta_bm.digitizing.raster_bw import trace_dark_curves
from meta_bm.digitizing.raster_frame import DARK_LUMINANCE, Frame, find_frame, find_ticks_side, luminance
from meta_bm.digitizing.raster_ink import (
    MIN_CHROMA,
    InkClass,
    background_colour,
    colour_classes,
    dark_classes,
    remove_gridlines,
    srgb_to_lab,
)
from meta_bm.digitizing.raster_trace import Trace, trace_curve

__all__ = ["MAX_MEGAPIXELS", "digitize_image"]

# Largest image accepted: a full journal page at 600 dpi is ~35 megapixels; beyond that decoding alone takes
# seconds and gigabytes.
MAX_MEGAPIXELS = 40.0
# Formats read (journal figures are PNG or JPEG; others are refused rather than guessed at).
FORMATS = ("PNG", "JPEG")
# A curve must show its own pixels along this share of the frame's width (a legend sample or a label does not).
MIN_CURVE_COVERAGE = 0.08
# The first level is the curve's start at survival 1 when within this many pixels of it (the line drawn at 1.0).
START_SNAP_PIXELS = 2.0
# Confidence: high below these gap/overlap shares, low above the second gap share.
HIGH_GAP, HIGH_OVERLAP, LOW_GAP = 0.05, 0.15, 0.2
# The outermost detected tick may lie this share of a tick spacing inside the frame's end before a tick may have
# been missed there (a tick fits in a whole spacing): then the scale the user's range gives would be skewed.
TICK_END_SHARE = 0.75
# A traced candidate whose own pixels lie on an already kept curve in at least this share of their columns is a
# shadow of it, not a curve: JPEG chroma blurs two colours crossing or running close into a third colour, seen
# only where they meet (measured: a spurious third curve in 14 of 45 two-curve JPEG q75 figures without it).
DUPLICATE_SHARE = 0.8
# ... "on" it: within this many pixels (or SHADOW_WIDTHS line widths: the blend also rims its censor marks) of its
# level, a column either side.
DUPLICATE_PIXELS = 2.0
SHADOW_WIDTHS = 3.0
# Inward tick marks painted over: this many pixels either side of a tick's centre, as deep as this share of the
# frame (3.5 pt ticks are ~2 % of a 3 in plot) but at least INWARD_TICK_MIN_DEPTH pixels.
INWARD_TICK_HALF_WIDTH = 2
INWARD_TICK_DEPTH_SHARE = 0.03
INWARD_TICK_MIN_DEPTH = 4
MISSING_X = "give --x-range MIN MAX (the values of the outermost labelled ticks) or calibration points (--x-points)"


def _decode(data: bytes, source: str) -> np.ndarray:
    """The image as RGB floats in 0..1 (transparent parts on white), or a DigitizeError naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.format not in FORMATS:
                    raise DigitizeError(f"{im.format or 'unknown'} image: only PNG and JPEG are read", source)
                w, h = im.size
                if w * h > MAX_MEGAPIXELS * 1e6:
                    raise DigitizeError(
                        f"image of {w} x {h} pixels is above the limit of {MAX_MEGAPIXELS:g} megapixels", source
                    )
                im.load()
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    rgba = im.convert("RGBA")
                    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    rgb = Image.alpha_composite(white, rgba).convert("RGB")
                else:
                    rgb = im.convert("RGB")
                arr = np.asarray(rgb, np.float32) / np.float32(255.0)
    except DigitizeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DigitizeError(f"image too large to decode safely ({exc})"[:300], source) from None
    except UnidentifiedImageError:
        raise DigitizeError("not a readable PNG or JPEG image", source) from None
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise DigitizeError(f"cannot decode the image ({exc})"[:300], source) from None
    if arr.shape[0] < 10 or arr.shape[1] < 10:
        raise DigitizeError(f"image of {arr.shape[1]} x {arr.shape[0]} pixels is too small to hold a plot", source)
    return arr


def _crop(img: np.ndarray, crop: tuple[float, float, float, float] | None, source: str) -> tuple[np.ndarray, int, int]:
    if crop is None:
        return img, 0, 0
    h, w = img.shape[:2]
    x0, y0, x1, y1 = (round(v) for v in crop)
    x0, x1 = max(0, x0), min(w, x1)
    y0, y1 = max(0, y0), min(h, y1)
    if x1 - x0 < 10 or y1 - y0 < 10:
        raise DigitizeError(f"crop {crop} leaves less than 10 x 10 pixels of the {w} x {h} image", source)
    return img[y0:y1, x0:x1], x0, y0


def _outer_ticks(ticks: np.ndarray) -> tuple[float, float]:
    """The first and last tick from a straight-line fit through all of them (equally spaced by construction):
    each tick is rounded to the pixel grid on its own, the fit averages that out."""
    i = np.arange(ticks.size, dtype=float)
    slope, icept = np.polyfit(i, ticks.astype(float), 1)
    return float(icept), float(icept + slope * i[-1])


def _tick_end_warning(ticks: np.ndarray, start: float, end: float, axis: str) -> str | None:
    """A warning when the outermost ticks leave room for another tick before the frame's ends (one may have been
    missed, so the range given for the outermost ticks would stretch the scale), else ``None``.

    >>> _tick_end_warning(np.array([10.0, 60.0, 110.0]), 10.0, 112.0, "x") is None
    True
    >>> _tick_end_warning(np.array([10.0, 60.0, 110.0]), 10.0, 160.0, "x")[:62]
    'x axis: the last tick found lies 50 px (1.0 tick spacing) befo'
    """
    spacing = float(ticks[-1] - ticks[0]) / max(1, ticks.size - 1)
    for gap, which in ((float(ticks[0]) - start, "first"), (end - float(ticks[-1]), "last")):
        if gap > TICK_END_SHARE * spacing:
            where = "after the start" if which == "first" else "before the end"
            return (
                f"{axis} axis: the {which} tick found lies {gap:.0f} px ({gap / spacing:.1f} tick spacing) {where} of "
                f"the axis line: check that --{axis}-range gives the values of the ticks at {ticks[0]:.0f} and "
                f"{ticks[-1]:.0f} px"
            )
    return None


def _linear(p1: float, v1: float, p2: float, v2: float) -> tuple[float, float]:
    """(pixel at value 0, pixels per unit) through two (pixel, value) points."""
    scale = (p2 - p1) / (v2 - v1)
    return p1 - v1 * scale, scale


def _calibrate(
    img: np.ndarray,
    frame: Frame,
    source: str,
    offset: tuple[int, int],
    x_range: tuple[float, float] | None,
    y_range: tuple[float, float] | None,
    x_points: tuple[tuple[float, float], tuple[float, float]] | None,
    y_points: tuple[tuple[float, float], tuple[float, float]] | None,
    percent: bool,
    warnings_: list[str],
    inward: list[tuple[str, np.ndarray]],
) -> tuple[float, float, float, float, str]:
    """(x0, x_scale, y0, y_scale, how) in index coordinates of the cropped image; y maps survival (0..1).
    A tick range that may miss an outermost tick adds a warning to ``warnings_``; ticks drawn inside the frame
    are added to ``inward`` as ``(axis, centres)``."""
    how = []
    if x_points is not None:
        (p1, v1), (p2, v2) = x_points
        x0, xs = _linear(p1 - offset[0], v1, p2 - offset[0], v2)
        how.append("calibration points")
    elif x_range is not None:
        found = find_ticks_side(img, frame, "x")
        ticks = found.centres
        if found.inward:
            inward.append(("x", ticks))
        if ticks.size < 2:
            raise DigitizeError("no tick marks found on the x axis: give calibration points (--x-points)", source)
        first, last = _outer_ticks(ticks)
        warn = _tick_end_warning(ticks, frame.spine_x, float(frame.right), "x")
        if warn:
            warnings_.append(warn)
        x0, xs = _linear(first, float(x_range[0]), last, float(x_range[1]))
        how.append("user range")
    else:
        raise DigitizeError(MISSING_X, source)
    unit = 100.0 if percent else 1.0
    if y_points is not None:
        (p1, v1), (p2, v2) = y_points
        y0, ys = _linear(p1 - offset[1], v1 / unit, p2 - offset[1], v2 / unit)
        how.append("calibration points")
    else:
        lo, hi = y_range if y_range is not None else (0.0, unit)
        found = find_ticks_side(img, frame, "y")
        ticks = found.centres
        if found.inward:
            inward.append(("y", ticks))
        if ticks.size < 2:
            raise DigitizeError("no tick marks found on the y axis: give calibration points (--y-points)", source)
        # rows grow downwards: the lowest tick (largest row) carries the smallest value
        first, last = _outer_ticks(ticks)
        warn = _tick_end_warning(ticks, float(frame.top), frame.spine_y, "y")
        if warn:
            warnings_.append(warn)
        y0, ys = _linear(last, lo / unit, first, hi / unit)
        how.append("user range")
    if not (np.isfinite([x0, xs, y0, ys]).all() and xs > 0 and ys < 0):
        raise DigitizeError("calibration gives a reversed or degenerate axis (check the ranges or points)", source)
    return x0, xs, y0, ys, " / ".join(dict.fromkeys(how))


def _classes(region: np.ndarray, bg: np.ndarray, n_curves: int | None) -> tuple[list[InkClass], list[str]]:
    """The curve pixel classes: colours when the figure has coloured curves (plus black when more curves are
    expected), else black split by line style."""
    colour, notes = colour_classes(region, bg)
    if colour and (n_curves is None or len(colour) >= n_curves):
        return colour, notes
    dark, dark_notes = dark_classes(region, bg)
    if colour:
        # with coloured curves, black ink is one more curve (its line style is not told apart)
        merged = np.maximum.reduce([d.weight for d in dark]) if dark else None
        dark = [InkClass(merged, "#000000", "solid", "raster colour")] if merged is not None else []
    return colour + dark, notes + dark_notes


def _corners(tr: Trace, x0: float, xs: float, y0: float, ys: float, left: int, top: int) -> tuple[np.ndarray, ...]:
    """Step corners (time, survival) of a trace: both ends of each level, from (0, 1)."""
    times, levels = [], []
    for xa, xb, lvl in tr.blocks:
        times += [xa + left, xb + left]
        levels += [lvl + top, lvl + top]
    t = (np.array(times) - x0) / xs
    s = (np.array(levels) - y0) / ys
    if abs(levels[0] - (y0 + ys)) <= START_SNAP_PIXELS + 0.5 * tr.width:
        s[s == s[0]] = 1.0
    elif s[0] < 1.0:
        # the start at 1 is hidden (under the axis, or a drop right after 0): it ends where the curve is first seen
        t = np.r_[0.0, t[0], t]
        s = np.r_[1.0, 1.0, s]
    t[0] = 0.0
    t = np.maximum.accumulate(np.maximum(t, 0.0))
    s = np.minimum.accumulate(np.clip(s, 0.0, 1.0))
    return t, s


def _blank_inward_ticks(
    region: np.ndarray, bg: np.ndarray, inward: list[tuple[str, np.ndarray]], frame: Frame
) -> np.ndarray:
    """A copy of the frame's region with the black ink of inward tick marks painted in the background colour:
    a dark curve ending on the last x tick would otherwise drop along it to the axis. Coloured ink (a curve
    over a tick) is kept.

    >>> region = np.ones((40, 60, 3), np.float32)
    >>> region[36:40, 20] = 0.0; region[30:40, 40] = (0.8, 0.1, 0.1)   # a black tick, a red curve's drop
    >>> f = Frame(10, 69, 0, 39, 9.0, 40.0, 1.0, "spines")
    >>> out = _blank_inward_ticks(region, np.ones(3, np.float32), [("x", np.array([30.0, 50.0]))], f)
    >>> float(out[36:40, 20].min()), round(float(out[36:40, 40, 1].max()), 2)  # ticks at image columns 30, 50
    (1.0, 0.1)
    """
    out = region.copy()
    h, w = out.shape[:2]
    half = INWARD_TICK_HALF_WIDTH
    for axis, centres in inward:
        depth = max(INWARD_TICK_MIN_DEPTH, int(np.ceil(INWARD_TICK_DEPTH_SHARE * (h if axis == "x" else w))))
        for p in centres:
            if axis == "x":
                c = round(float(p)) - frame.left
                rs, cs = slice(max(0, h - depth), h), slice(max(0, c - half), max(0, min(w, c + half + 1)))
            else:
                r = round(float(p)) - frame.top
                rs, cs = slice(max(0, r - half), max(0, min(h, r + half + 1))), slice(0, min(w, depth))
            sub = out[rs, cs]
            if sub.size == 0:
                continue
            lab = srgb_to_lab(sub.reshape(-1, 3)).reshape(sub.shape)
            black = (luminance(sub) < DARK_LUMINANCE) & (np.hypot(lab[..., 1], lab[..., 2]) < MIN_CHROMA)
            sub[black] = bg
    return out


def _levels(tr: Trace, width: int) -> np.ndarray:
    """The trace's step level in each column of the frame (NaN outside its span)."""
    out = np.full(width, np.nan)
    for xa, xb, lvl in tr.blocks:
        out[max(0, int(np.ceil(xa))) : min(width, int(np.floor(xb)) + 1)] = lvl
    return out


def _drop_shadows(traces: list[tuple[InkClass, Trace]], width: int) -> list[tuple[InkClass, Trace]]:
    """The candidates, best covered first, without those seen only on kept curves (see ``DUPLICATE_SHARE``).

    >>> t1 = Trace([(0.0, 99.0, 10.0)], np.zeros(0), 0, 0.0, 0.0, 0.9, 2.0, np.full(100, 10))
    >>> path = np.full(100, -1); path[40:50] = 11
    >>> t2 = Trace([(0.0, 99.0, 11.0)], np.zeros(0), 0, 0.0, 0.0, 0.1, 2.0, path)
    >>> c = InkClass(np.zeros((1, 1)), "#000000", None, "raster colour")
    >>> len(_drop_shadows([(c, t2), (c, t1)], 100))
    1
    """
    kept: list[tuple[InkClass, Trace, np.ndarray]] = []
    for cls, tr in sorted(traces, key=lambda ct: -ct[1].coverage):
        cols = np.nonzero(tr.path >= 0)[0]
        near = np.zeros(cols.size, bool)
        for _, other, lv in kept:
            tol = max(DUPLICATE_PIXELS, SHADOW_WIDTHS * max(tr.width, other.width))
            # the kept curve covers, in a column, the rows between its levels a column either side (its drops)
            around = np.stack([lv[np.clip(cols + d, 0, width - 1)] for d in (-1, 0, 1)])
            lo = np.min(np.where(np.isnan(around), np.inf, around), axis=0)
            hi = np.max(np.where(np.isnan(around), -np.inf, around), axis=0)
            near |= (tr.path[cols] >= lo - tol) & (tr.path[cols] <= hi + tol)
        # on one kept curve or another: a blend of two colours lies on both, each in part
        shadow = bool(cols.size) and float(near.mean()) >= DUPLICATE_SHARE
        if not shadow:
            kept.append((cls, tr, _levels(tr, width)))
    return [(cls, tr) for cls, tr, _ in kept]


def digitize_image(
    data: bytes,
    source: str,
    sha256: str,
    crop: tuple[float, float, float, float] | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    x_points: tuple[tuple[float, float], tuple[float, float]] | None = None,
    y_points: tuple[tuple[float, float], tuple[float, float]] | None = None,
    y_scale: str | None = None,
    n_curves: int | None = None,
) -> DigitizedFigure:
    """Every KM curve of a PNG/JPEG figure as step corners in axis units.

    Parameters
    ----------
    data, source, sha256:
        The file's bytes, its name (for messages) and SHA-256.
    crop:
        ``x0 y0 x1 y1`` pixels (origin top-left) of the plot within the image.
    x_range, y_range:
        Values of the outermost detected tick marks (first and last); y defaults to 0..1 (0..100 for percent).
    x_points, y_points:
        ``((pixel, value), (pixel, value))`` per axis in the image's pixels (columns for x, rows for y;
        before cropping); they override the ranges.
    y_scale:
        ``"probability"`` (default) or ``"percent"``.
    n_curves:
        The number of curves expected: extra candidates with the least ink are dropped; fewer is an error.

    Raises
    ------
    DigitizeError
        Not a PNG/JPEG, too large, no frame, no ticks, no calibration, no curve (or fewer than ``n_curves``).
    """
    percent = y_scale == "percent"
    full = _decode(data, source)
    img, cx, cy = _crop(full, crop, source)
    if x_points is None and x_range is None:
        raise DigitizeError(MISSING_X, source)
    frame = find_frame(img)
    if frame is None:
        raise DigitizeError(
            "no plot frame (axes) found: no long dark left and bottom axis lines and no plot panel "
            "(crop to the plot, or check that this is a KM figure)",
            source,
        )
    warnings_: list[str] = []
    inward: list[tuple[str, np.ndarray]] = []
    x0, xs, y0, ys, how = _calibrate(
        img, frame, source, (cx, cy), x_range, y_range, x_points, y_points, percent, warnings_, inward
    )
    tick_doubt = bool(warnings_)
    region = img[frame.top : frame.bottom + 1, frame.left : frame.right + 1]
    bg = background_colour(region).astype(region.dtype)  # float32 like the image: no float64 copies of it
    if inward:
        region = _blank_inward_ticks(region, bg, inward, frame)
    clean, n_grid = remove_gridlines(region, bg)
    classes, notes = _classes(clean, bg, n_curves)
    if n_grid:
        warnings_.append(f"{n_grid} gridline rows/columns ignored")
    warnings_ += notes
    traces: list[tuple[InkClass, Trace]] = []
    if classes and all(c.method == "raster line style" for c in classes):
        # black and white: the curves are traced one after the other, each peeled off the ink
        classes = []
        traces = trace_dark_curves(clean, bg, MIN_CURVE_COVERAGE, n_curves)
    for i, cls in enumerate(classes):
        others = [c.weight for j, c in enumerate(classes) if j != i]
        other = np.maximum.reduce(others) if others else np.zeros_like(cls.weight)
        tr = trace_curve(cls.weight, other, MIN_CURVE_COVERAGE)
        if tr is not None:
            traces.append((cls, tr))
    if n_curves is None:
        # with the number of curves given, the least covered candidates are dropped instead: a shadow
        # test could also drop one of two nearly coincident true curves
        traces = _drop_shadows(traces, region.shape[1])
    else:
        if len(traces) < n_curves:
            raise DigitizeError(
                f"{len(traces)} curve(s) told apart in the image, {n_curves} expected "
                "(curves of the same colour and line style cannot be separated)",
                source,
            )
        traces = sorted(traces, key=lambda ct: -ct[1].coverage)[:n_curves]
    curves = []
    for cls, tr in traces:
        t, s = _corners(tr, x0, xs, y0, ys, frame.left, frame.top)
        marks = np.sort((tr.marks + frame.left - x0) / xs) if tr.marks.size else np.zeros(0)
        conf = (
            "high"
            if tr.gap_fraction < HIGH_GAP and tr.overlap_fraction < HIGH_OVERLAP
            else ("low" if tr.gap_fraction > LOW_GAP else "medium")
        )
        if tick_doubt and conf == "high":
            conf = "medium"  # the time or survival scale itself is in doubt
        cnotes = []
        if tr.gaps:
            cnotes.append(f"{tr.gaps} stretch(es) not seen ({100 * tr.gap_fraction:.0f} % of the curve): level held")
        if tr.overlap_fraction > 0:
            cnotes.append(f"{100 * tr.overlap_fraction:.0f} % of the curve read along another curve (overlap)")
        style: dict[str, object] = {"color": cls.color}
        if cls.dash is not None:
            style["dash"] = cls.dash
        curves.append(
            DigitizedCurve(
                label=None,
                style=style,
                time=t,
                survival=s,
                censor_times=marks,
                risk_time=None,
                n_risk=None,
                quality=CurveQuality(
                    method=cls.method,
                    points=int(t.size),
                    gaps=tr.gaps,
                    gap_fraction=float(tr.gap_fraction),
                    overlap_fraction=float(tr.overlap_fraction),
                    confidence=conf,  # type: ignore[arg-type]
                    notes=tuple(cnotes),
                ),
            )
        )
    curves.sort(key=lambda c: -float(c.survival[-1]))
    calibration = AxisMap(x0=x0 + 0.5, x_scale=xs, y0=y0 + 0.5, y_scale=ys, how=how)
    return DigitizedFigure(
        source=source,
        page=None,
        kind="raster",
        sha256=sha256,
        curves=curves,
        calibration=calibration,
        background=(img * 255 + 0.5).astype(np.uint8),
        y_scale="percent" if percent else "probability",
        warnings=warnings_,
    )
