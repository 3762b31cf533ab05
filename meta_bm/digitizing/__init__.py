"""From the published figure to curves: Kaplan–Meier curves extracted from PDF drawings and images.

A vector PDF (an article page or a figure exported from a plotting program) holds the curve's exact
coordinates, the censoring marks and the printed numbers at risk as paths and text: they are read
exactly (:mod:`~meta_bm.digitizing.vector`). A PNG or JPEG is read from its pixels
(:mod:`~meta_bm.digitizing.raster`), with the axis values given by the user. Either way each curve
comes out as the step corners a person would have clicked, with how it was obtained and how sure the
extraction is, and an overlay picture to check it at a glance (:mod:`~meta_bm.digitizing.outputs`).

No Dagster here: the ``digitized_curves`` asset and ``meta-bm digitize`` call :func:`digitize`.

Example
-------
>>> from meta_bm.digitizing import figure_kind
>>> figure_kind(b"%PDF-1.4 ...", "km.pdf"), figure_kind(b"\\x89PNG\\r\\n\\x1a\\n...", "km.png")
('vector', 'raster')
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from meta_bm.digitizing.figure import (
    AxisMap,
    CurveQuality,
    DigitizedCurve,
    DigitizedFigure,
    DigitizeError,
    FigureKind,
)
from meta_bm.errors import MAX_TIME

# Bump when what the extractors return for a figure changes: digitized studies are then recomputed.
DIGITIZER_VERSION = "1.0.0"

__all__ = [
    "DIGITIZER_VERSION",
    "AxisMap",
    "CurveQuality",
    "DigitizeError",
    "DigitizedCurve",
    "DigitizedFigure",
    "curve_index",
    "digitize",
    "digitize_bytes",
    "figure_kind",
    "select_curves",
]

# A figure file larger than this is not a journal figure (article PDFs are a few MB; a 300 dpi page
# as PNG is ~25 MB uncompressed at worst).
MAX_FIGURE_BYTES = 64 * 1024 * 1024
# Pages of a PDF (journals' longest articles have a few dozen; a book a few thousand).
MAX_PAGE = 10_000
# Curves in one figure (a KM figure with more cannot be read by anyone).
MAX_CURVES = 20
# |coordinate| of a crop box or calibration pixel: far beyond any page (14,400 pt) or image.
MAX_COORDINATE = 1e6
_MAGIC = {b"%PDF": "vector", b"\x89PNG": "raster", b"\xff\xd8\xff": "raster"}


def figure_kind(data: bytes, source: str) -> FigureKind:
    """``"vector"`` for a PDF, ``"raster"`` for PNG/JPEG, from the file's first bytes (not its name)."""
    head = data[:1024]
    if b"%PDF-" in head:  # (a PDF may have a few bytes of junk before its header)
        return "vector"
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind  # type: ignore[return-value]
    raise DigitizeError("not a PDF, PNG or JPEG file (unrecognised content)", source)


def _check_options(
    source: str,
    page: object,
    crop: object,
    x_range: object,
    y_range: object,
    x_points: object,
    y_points: object,
    y_scale: object,
) -> None:
    """Every option bounded before a figure is opened: pages, crop box, axis values and calibration."""

    def numbers(value: object, n: int, what: str) -> list[float]:
        flat = list(value) if isinstance(value, (list, tuple)) else []
        if isinstance(value, (list, tuple)) and all(isinstance(v, (list, tuple)) for v in flat):
            flat = [x for v in flat for x in v]
        if len(flat) != n or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            raise DigitizeError(f"{what} needs {n} numbers, got {value!r}"[:200], source)
        if not all(math.isfinite(v) and abs(v) <= MAX_COORDINATE for v in flat):
            raise DigitizeError(f"{what}: {value!r} is not finite or beyond ±{MAX_COORDINATE:g}"[:200], source)
        return [float(v) for v in flat]

    if page is not None and (not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_PAGE):
        raise DigitizeError(f"page must be a whole number from 1 to {MAX_PAGE:,}, not {page!r}"[:200], source)
    if crop is not None:
        x0, y0, x1, y1 = numbers(crop, 4, "crop")
        if x1 <= x0 or y1 <= y0:
            raise DigitizeError(f"crop {x0:g} {y0:g} {x1:g} {y1:g}: X1 must exceed X0 and Y1 exceed Y0", source)
    for what, value in (("x range", x_range), ("y range", y_range)):
        if value is not None:
            lo, hi = numbers(value, 2, what)
            if not lo < hi or abs(hi) > MAX_TIME or abs(lo) > MAX_TIME:
                raise DigitizeError(f"{what} {lo:g} {hi:g}: MIN must be below MAX, both within ±{MAX_TIME:g}", source)
    for what, value in (("x calibration points", x_points), ("y calibration points", y_points)):
        if value is not None:
            p1, v1, p2, v2 = numbers(value, 4, what)
            if p1 == p2 or v1 == v2:
                raise DigitizeError(f"{what}: the two points need different pixels and different values", source)
    if y_scale not in (None, "probability", "percent"):
        raise DigitizeError(f"y scale must be 'probability' or 'percent', not {y_scale!r}"[:200], source)


def digitize_bytes(
    data: bytes,
    source: str,
    *,
    page: int | None = None,
    crop: tuple[float, float, float, float] | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    x_points: tuple[tuple[float, float], tuple[float, float]] | None = None,
    y_points: tuple[tuple[float, float], tuple[float, float]] | None = None,
    y_scale: str | None = None,
    arms: Sequence[str] | None = None,
    n_curves: int | None = None,
) -> DigitizedFigure:
    """Digitize a figure given as bytes; ``source`` names it in messages (options: see :func:`digitize`)."""
    if len(data) > MAX_FIGURE_BYTES:
        raise DigitizeError(f"{len(data):,} bytes, above the limit of {MAX_FIGURE_BYTES:,} for a figure", source)
    if not data:
        raise DigitizeError("the file is empty", source)
    _check_options(source, page, crop, x_range, y_range, x_points, y_points, y_scale)
    if n_curves is not None and (
        not isinstance(n_curves, int) or isinstance(n_curves, bool) or not 1 <= n_curves <= MAX_CURVES
    ):
        raise DigitizeError(f"the number of curves must be 1 to {MAX_CURVES}, not {n_curves!r}"[:200], source)
    if n_curves is not None and arms and len(arms) > n_curves:
        raise DigitizeError(f"{len(arms)} arms named but the figure has {n_curves} curve(s)", source)
    sha = hashlib.sha256(data).hexdigest()
    kind = figure_kind(data, source)
    if kind == "vector":
        if x_points or y_points:
            raise DigitizeError("calibration points are for images; a PDF's axes are read from its tick labels", source)
        from meta_bm.digitizing.vector import digitize_pdf

        fig = digitize_pdf(data, source, sha, page=page, crop=crop, x_range=x_range, y_range=y_range, y_scale=y_scale)
    else:
        if page not in (None, 1):
            raise DigitizeError(f"an image has one page, not page {page}", source)
        from meta_bm.digitizing.raster import digitize_image

        fig = digitize_image(
            data,
            source,
            sha,
            crop=crop,
            x_range=x_range,
            y_range=y_range,
            x_points=x_points,
            y_points=y_points,
            y_scale=y_scale,
            n_curves=n_curves or (len(arms) if arms else None),
        )
    if not fig.curves:
        raise DigitizeError("no Kaplan–Meier curve found inside the plot frame", source, fig.page)
    if n_curves is not None and len(fig.curves) != n_curves:
        raise DigitizeError(
            f"{len(fig.curves)} curve(s) found where the figure has {n_curves}; check the overlay of a run without "
            "the number of curves",
            source,
            fig.page,
        )
    return select_curves(fig, arms) if arms else fig


def digitize(path: str | Path, **options: Any) -> DigitizedFigure:
    """Extract every Kaplan–Meier curve of a figure file (PDF page, PNG or JPEG).

    Parameters
    ----------
    path:
        The figure file.
    **options:
        As :func:`digitize_bytes`: ``page`` (1-based PDF page; by default the one page holding a
        plot), ``crop`` (``x0 y0 x1 y1``: PDF points from the bottom left, or image pixels from the
        top left; needed when a page holds several plots), ``x_range``/``y_range`` (axis values of
        the outermost labelled ticks, when the labels cannot be read: images), ``x_points``/``y_points``
        (two ``(pixel, value)`` calibration points per axis, images, as in WebPlotDigitizer),
        ``y_scale`` (``"probability"`` or ``"percent"``; by default read from the tick labels, or
        probability for images), ``arms`` (the curves wanted, in order: legend labels matched
        case-insensitively, exactly or as a unique prefix/substring, or, without a legend, names given
        to the curves found from the highest at the end of follow-up down), ``n_curves`` (how many
        curves the figure has: an image's colour or line-style classes are merged or split to that many,
        and any figure giving another number is an error).

    Returns
    -------
    DigitizedFigure

    Raises
    ------
    DigitizeError
        Naming the file, the page and what was not found (frame, axes, curves, a named arm).
    """
    source = str(path)
    try:
        p = Path(path)
        if not p.is_file():
            raise DigitizeError("file not found" if not p.exists() else "not a regular file", source)
        size = p.stat().st_size
        if size > MAX_FIGURE_BYTES:
            raise DigitizeError(f"{size:,} bytes, above the limit of {MAX_FIGURE_BYTES:,} for a figure", source)
        with p.open("rb") as fh:
            data = fh.read(MAX_FIGURE_BYTES + 1)  # (bounded even if the file grows meanwhile)
    except OSError as exc:
        raise DigitizeError(f"cannot read the file ({exc.strerror or exc})", source) from None
    return digitize_bytes(data, source, **options)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _no_legend(fig: DigitizedFigure, n_names: int) -> DigitizeError:
    return DigitizeError(
        f"{len(fig.curves)} curve(s) found but {n_names} name(s) given, and the figure has no readable "
        "legend to match them by",
        fig.source,
        fig.page,
    )


def curve_index(fig: DigitizedFigure, name: str) -> int:
    """The index of the curve ``name`` names: the one whose legend label equals it (case and spacing
    aside), else the one whose label starts with or contains it; a figure without labels must have one
    curve. :class:`DigitizeError` (listing the legend) when no curve or several match.
    """
    labels = [c.label for c in fig.curves]
    if all(label is None for label in labels):
        if len(fig.curves) != 1:
            raise _no_legend(fig, 1)
        return 0
    key = _norm(name)
    exact = [i for i, label in enumerate(labels) if label is not None and _norm(label) == key]
    near = [i for i, label in enumerate(labels) if label is not None and key in _norm(label)]
    hits = exact or near
    if len(hits) != 1:
        found = ", ".join(repr(label) for label in labels if label is not None)
        why = "matches no curve" if not hits else f"matches {len(hits)} curves"
        raise DigitizeError(f"arm {name!r} {why}; the legend reads {found}", fig.source, fig.page)
    return hits[0]


def select_curves(fig: DigitizedFigure, arms: Sequence[str]) -> DigitizedFigure:
    """The figure with only the curves named by ``arms``, in that order, labelled with those names.

    With legend labels, each name picks its curve as :func:`curve_index` does. Without labels, the
    names are given to the curves in figure order and their number must match.

    Example
    -------
    >>> import numpy as np
    >>> from meta_bm.digitizing.figure import AxisMap, CurveQuality, DigitizedCurve, DigitizedFigure
    >>> def curve(label):
    ...     return DigitizedCurve(label, {}, np.zeros(1), np.ones(1), None, None, None, CurveQuality("t", 1))
    >>> fig = DigitizedFigure("km.pdf", 1, "vector", "", [curve("Re-resection"), curve("Non-surgical care")],
    ...                       AxisMap(0, 1, 0, -1, "t"), np.zeros((1, 1, 3), np.uint8))
    >>> [c.label for c in select_curves(fig, ["non-surgical", "RE-RESECTION"]).curves]
    ['non-surgical', 'RE-RESECTION']
    """
    arms = list(arms)
    if len(set(map(_norm, arms))) != len(arms):
        raise DigitizeError(f"--arms names a curve twice: {', '.join(arms)}", fig.source, fig.page)
    if all(c.label is None for c in fig.curves):
        if len(arms) != len(fig.curves):
            raise _no_legend(fig, len(arms))
        return replace(fig, curves=[replace(c, label=a) for c, a in zip(fig.curves, arms, strict=True)])
    picked = [curve_index(fig, name) for name in arms]
    if len(set(picked)) != len(picked):
        found = ", ".join(repr(c.label) for c in fig.curves if c.label is not None)
        raise DigitizeError(f"two arms name the same curve; the legend reads {found}", fig.source, fig.page)
    return replace(fig, curves=[replace(fig.curves[i], label=name) for i, name in zip(picked, arms, strict=True)])
