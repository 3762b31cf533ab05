"""What a digitized figure is: each curve's step corners in axis units, how they were obtained and how
sure the extraction is, and the picture a person checks them on.

The extractors (:mod:`~meta_bm.digitizing.vector` for PDF drawings, :mod:`~meta_bm.digitizing.raster`
for images) return a :class:`DigitizedFigure`; :func:`~meta_bm.digitizing.outputs.write_outputs`
turns it into the files ``meta-bm reconstruct`` and study folders read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from meta_bm.errors import InputError

FigureKind = Literal["vector", "raster"]
Confidence = Literal["high", "medium", "low"]


class DigitizeError(InputError):
    """A figure that cannot be digitized: the message names the file, the page and what was not found.

    Example
    -------
    >>> str(DigitizeError("no plot frame (axes) found", "km.pdf", page=3))
    'km.pdf, page 3: no plot frame (axes) found'
    """

    def __init__(self, problem: str, source: str | None = None, page: int | None = None) -> None:
        self.page = page
        where = source or "<figure>"
        if page is not None:
            where = f"{where}, page {page}"
        super().__init__(problem, where)


@dataclass(frozen=True)
class AxisMap:
    """A linear map from axis units (time, survival as a probability) to figure coordinates.

    ``x = x0 + time * x_scale`` and ``y = y0 + survival * y_scale`` in the figure's own coordinates
    (PDF points or image pixels; for :attr:`DigitizedFigure.background` pixels, y grows downwards so
    ``y_scale`` is negative). ``how`` says where the calibration came from: ``"tick labels"``,
    ``"user range"`` or ``"calibration points"``.

    Example
    -------
    >>> m = AxisMap(x0=50.0, x_scale=10.0, y0=400.0, y_scale=-300.0, how="user range")
    >>> m.to_figure(np.array([0.0, 12.0]), np.array([1.0, 0.5]))
    (array([ 50., 170.]), array([100., 250.]))
    >>> m.to_axis(np.array([170.0]), np.array([250.0]))
    (array([12.]), array([0.5]))
    """

    x0: float
    x_scale: float
    y0: float
    y_scale: float
    how: str

    def to_figure(self, time: np.ndarray, survival: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x0 + np.asarray(time, float) * self.x_scale, self.y0 + np.asarray(survival, float) * self.y_scale

    def to_axis(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(x, float) - self.x0) / self.x_scale, (np.asarray(y, float) - self.y0) / self.y_scale


@dataclass(frozen=True)
class CurveQuality:
    """How a curve was extracted and how far to trust it.

    Attributes
    ----------
    method:
        ``"vector paths"``, ``"raster colour"`` or ``"raster line style"``.
    points:
        Step corners output (the clicks).
    gaps:
        Breaks along the curve where it was not seen (hidden under another curve, a legend, a mark).
    gap_fraction:
        Share of the curve's time span not seen (bridged by holding the last survival).
    overlap_fraction:
        Share of the curve's time span drawn on top of / under another curve.
    confidence:
        ``high`` (vector, or raster with no gaps or overlaps of note), ``medium``, ``low``.
    notes:
        Plain-language remarks a person should read (e.g. "legend box covers 12–18 months").
    """

    method: str
    points: int
    gaps: int = 0
    gap_fraction: float = 0.0
    overlap_fraction: float = 0.0
    confidence: Confidence = "high"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DigitizedCurve:
    """One Kaplan–Meier curve as extracted from a figure.

    Attributes
    ----------
    label:
        The legend's (or the risk table's) label, or the name the user gave (``--arms``); ``None``
        when nothing names the curve.
    style:
        How the curve is drawn: ``{"color": "#1f77b4", "dash": "solid" | "dashed" | "dotted" |
        "dashdot" | "[6.0, 2.0]", "width": 1.5}`` (keys present when known).
    time, survival:
        The step corners in axis units (survival as a probability, percent axes divided by 100),
        starting at (0, 1) when the curve does, time non-decreasing, survival non-increasing: every
        horizontal run's two ends, so a person's clicks and these are read alike.
    censor_times:
        Times (axis units) of the censoring marks drawn on the curve, one per mark, sorted; an empty
        array when marks were looked for and none found; ``None`` when the style could not be told.
    risk_time, n_risk:
        The numbers-at-risk row printed under the plot for this curve, when read (else ``None``).
    quality:
        :class:`CurveQuality`.
    """

    label: str | None
    style: dict[str, object]
    time: np.ndarray
    survival: np.ndarray
    censor_times: np.ndarray | None
    risk_time: np.ndarray | None
    n_risk: np.ndarray | None
    quality: CurveQuality


@dataclass(frozen=True)
class DigitizedFigure:
    """Every curve extracted from one figure, with what is needed to show and trace the extraction.

    Attributes
    ----------
    source:
        The figure's file name as given.
    page:
        1-based PDF page (``None`` for images).
    kind:
        ``"vector"`` (read from PDF drawing paths and text) or ``"raster"`` (from pixels).
    sha256:
        SHA-256 of the figure file's bytes (provenance of every patient row derived from it).
    curves:
        In legend order when a legend was read, else from the highest curve at the end of follow-up down.
    calibration:
        Axis units → :attr:`background` pixels (y downwards), for drawing the overlay.
    background:
        The figure (page region or image) as an RGB ``uint8`` array (height, width, 3).
    y_scale:
        ``"probability"`` or ``"percent"``: how the figure's survival axis is labelled.
    warnings:
        Figure-level remarks (e.g. "risk table found but a row could not be matched to a curve").
    """

    source: str
    page: int | None
    kind: FigureKind
    sha256: str
    curves: list[DigitizedCurve]
    calibration: AxisMap
    background: np.ndarray
    y_scale: str = "probability"
    warnings: list[str] = field(default_factory=list)
