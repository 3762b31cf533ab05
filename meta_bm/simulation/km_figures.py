"""Published-looking Kaplan–Meier figures drawn from known IPD, with the exact truth of what was drawn.

The automatic extraction of KM curves from PDF drawings and from images is judged by these figures:
each is drawn from simulated IPD in one of :data:`STYLES` (matplotlib or lifelines; colour or black
and white with dash patterns; censor marks ``+`` or ``|``; confidence bands, grids, a ggplot2-like
theme, a percent axis, steps drawn as separate segments; numbers-at-risk tables; PDF text as Type 3
or Type 42 fonts) and saved as PDF, PNG or JPEG. :func:`draw_km_figure` returns a
:class:`FigureTruth`: per arm the IPD, the exact KM step function that was plotted (checked against
the drawn line), the censor marks, the printed numbers at risk, colour and dash pattern.
:func:`extraction_error` scores an extracted step function against that truth.

Run ``python -m meta_bm.simulation.km_figures OUTDIR`` to write every style's figure and its
``<name>.truth.json`` for looking at.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> arms = simulate_arms(2, seed=1)
>>> with tempfile.TemporaryDirectory() as d:
...     truth = draw_km_figure(arms, STYLES["mpl_colour"], Path(d) / "km.png", fmt="png", dpi=100)
>>> [a.label for a in truth.arms] == [label for label, _, _ in arms]
True
>>> float(truth.arms[0].km_time[0]), float(truth.arms[0].km_survival[0])
(0.0, 1.0)
>>> int(truth.arms[0].n_risk[0]) == arms[0][1].size  # everyone is at risk at time 0
True
>>> extraction_error(truth.arms[0].km_time, truth.arms[0].km_survival, truth.arms[0]).max_abs
0.0
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from meta_bm.errors import InputError
from meta_bm.simulation.digitizer import nice_axis_max, simulate_ipd
from meta_bm.survival.km import kaplan_meier
from meta_bm.survival.km_inference import greenwood_se

Library = Literal["matplotlib", "lifelines"]
Dash = Literal["solid", "dashed", "dotted", "dashdot"]
Format = Literal["pdf", "png", "jpeg"]

# ---- limits and constants (one line of reason each) ------------------------------------------------------
# Arms per figure: black-and-white figures tell arms apart by dash pattern and there are four patterns.
MAX_ARMS = 4
# Patients per simulated arm: the size of the surgical / radiosurgery cohorts this project meta-analyses.
MIN_ARM_N, MAX_ARM_N = 30, 300
# Patients per drawn arm: every censoring time becomes a marker; beyond this a figure takes minutes to draw.
MAX_DRAW_N = 20_000
# Raster resolution: below 50 dpi the text is unreadable, above 600 dpi one figure exceeds 100 MB of pixels.
MIN_DPI, MAX_DPI = 50, 600
# Pillow's JPEG quality scale: above 95 only the file grows (Pillow's own advice).
MIN_JPEG_QUALITY, MAX_JPEG_QUALITY = 1, 95
# Figure size in inches: a journal column is ~3.5 in, a page ~7 in; 20 in is a poster.
MIN_FIGURE_INCHES, MAX_FIGURE_INCHES = 2.0, 20.0
# Line width in points: hairline to very bold.
MIN_LINE_WIDTH, MAX_LINE_WIDTH = 0.1, 6.0
# Follow-up horizons (months) of simulated studies: 2, 3 and 5 years, as brain-metastasis series report.
FOLLOW_UP_MONTHS = (24.0, 36.0, 60.0)
# No follow-up time is shorter than this (months, ~1 hour): a time of 0 has no visible step and lifelines
# and the product-limit table would index it differently.
MIN_TIME = 1e-3
# Tick steps (months) journals use for a months axis, and the most intervals they print.
MONTH_TICK_STEPS = (1.0, 2.0, 3.0, 6.0, 12.0, 24.0)
MAX_TICK_INTERVALS = 6
# Points of the uniform grid extraction_error compares the step functions on (>= 2,000 as promised).
EXTRACTION_GRID_POINTS = 2000
# The drawn line must equal the truth to rounding: float64 products of up to MAX_DRAW_N factors.
DRAWN_TOLERANCE = 1e-12
# Survival axis top: a margin above 1 so the curve's start is not hidden under the top spine.
Y_TOP = 1.05
# Height (inches) of one numbers-at-risk row and of the table's title.
RISK_ROW_INCHES, RISK_TITLE_INCHES = 0.22, 0.3
RISK_FONT_SIZE = 9
# Gap (points) between a risk row's arm label and the axis: half of a centred 3-digit count at time 0 plus air.
RISK_LABEL_PAD = 14.0

DASHES: tuple[Dash, ...] = ("solid", "dashed", "dotted", "dashdot")
# matplotlib's default colour cycle (tab10).
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
# Red / blue / orange / green of the NEJM palette (as R's ggsci::pal_nejm): another family of colours.
JOURNAL_COLOURS = ("#bc3c29", "#0072b5", "#e18727", "#20854e")
# ggplot2's default hue palette for 1..4 groups (hue_pal()(n)), as survminer draws.
GGPLOT_HUES = {
    1: ("#f8766d",),
    2: ("#f8766d", "#00bfc4"),
    3: ("#f8766d", "#00ba38", "#619cff"),
    4: ("#f8766d", "#7cae00", "#00bfc4", "#c77cff"),
}
GGPLOT_PANEL = "#ebebeb"

ARM_LABEL_SETS: dict[int, tuple[tuple[str, ...], ...]] = {
    1: (("All patients",), ("Re-resection",)),
    2: (("Re-resection", "Non-surgical"), ("Repeat SRS", "WBRT"), ("Surgery", "Non-surgical")),
    3: (("Re-resection", "Repeat SRS", "Non-surgical"), ("Surgery + SRS", "SRS alone", "WBRT")),
    4: (("Re-resection", "Repeat SRS", "WBRT", "Best supportive care"),),
}


# ---- styles ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureStyle:
    """How a KM figure looks. Fields after ``figsize`` extend the shared API (all have defaults).

    ``palette`` overrides the colours of colour styles (default: matplotlib's tab10); ``n_arms`` is the
    number of arms the preset is meant for (what ``__main__`` and the tests simulate; any 1..4 draw).

    >>> FigureStyle("x", censor_marker="x")
    Traceback (most recent call last):
    ...
    ValueError: style 'x': censor_marker must be '+' or '|', got 'x'
    """

    name: str
    library: Library = "matplotlib"
    colour: bool = True
    censor_marks: bool = True
    censor_marker: str = "+"
    ci_bands: bool = False
    grid: bool = False
    risk_table: bool = True
    legend: bool = True
    percent: bool = False
    ggplot_theme: bool = False
    segments: bool = False
    pdf_fonttype: int = 3
    line_width: float = 1.5
    figsize: tuple[float, float] = (6.4, 4.8)
    palette: tuple[str, ...] | None = None
    n_arms: int = 2
    x_label: str = "Months"
    y_label: str = "Overall survival"
    # matplotlib's path simplification (its default) merges drops closer than ~0.1 pt into one slanted
    # line: the file then no longer holds the exact KM. Off by default, so a PDF holds what was drawn.
    path_simplify: bool = False

    def __post_init__(self) -> None:
        def bad(problem: str) -> ValueError:
            return ValueError(f"style {self.name!r}: {problem}")

        if self.library not in ("matplotlib", "lifelines"):
            raise bad(f"library must be 'matplotlib' or 'lifelines', got {self.library!r}")
        if self.censor_marker not in ("+", "|"):
            raise bad(f"censor_marker must be '+' or '|', got {self.censor_marker!r}")
        if self.pdf_fonttype not in (3, 42):
            raise bad(f"pdf_fonttype must be 3 or 42, got {self.pdf_fonttype!r}")
        if not MIN_LINE_WIDTH <= self.line_width <= MAX_LINE_WIDTH:
            raise bad(f"line_width must be in [{MIN_LINE_WIDTH}, {MAX_LINE_WIDTH}], got {self.line_width!r}")
        if len(self.figsize) != 2 or not all(MIN_FIGURE_INCHES <= v <= MAX_FIGURE_INCHES for v in self.figsize):
            raise bad(f"figsize must be two sizes in [{MIN_FIGURE_INCHES}, {MAX_FIGURE_INCHES}] in, got {self.figsize}")
        if not 1 <= self.n_arms <= MAX_ARMS:
            raise bad(f"n_arms must be 1..{MAX_ARMS}, got {self.n_arms!r}")
        if self.segments and self.library == "lifelines":
            raise bad("segments needs library='matplotlib' (lifelines draws each curve as one line)")
        if self.palette is not None:
            if len(self.palette) < MAX_ARMS:
                raise bad(f"palette needs {MAX_ARMS} colours, got {len(self.palette)}")
            for c in self.palette:
                try:
                    to_hex(c)
                except ValueError:
                    raise bad(f"palette colour {c!r} is not a matplotlib colour") from None

    def colours(self, n_arms: int) -> tuple[str, ...]:
        """The ``#rrggbb`` colour of each of ``n_arms`` arms as drawn."""
        if not self.colour:
            return ("#000000",) * n_arms
        if self.palette is not None:
            pal = self.palette
        elif self.ggplot_theme:
            pal = GGPLOT_HUES[n_arms]
        else:
            pal = TAB10
        return tuple(to_hex(c) for c in pal[:n_arms])

    def dashes(self, n_arms: int) -> tuple[Dash, ...]:
        """The dash pattern of each arm: black-and-white styles cycle solid/dashed/dotted/dashdot."""
        return DASHES[:n_arms] if not self.colour else ("solid",) * n_arms


STYLES: dict[str, FigureStyle] = {
    s.name: s
    for s in (
        # The plain matplotlib figure: tab10 colours, "+" censor marks, risk table, legend, Type 3 text.
        FigureStyle("mpl_colour"),
        # Three arms: a third colour, three risk-table rows, more crossings.
        FigureStyle("mpl_colour_3arm", n_arms=3),
        # Black and white: arms told apart only by dash pattern (solid, dashed, dotted), black marks and labels.
        FigureStyle("mpl_bw_dashes", colour=False, n_arms=3),
        # Translucent confidence bands around each curve and light grey gridlines behind them.
        FigureStyle("mpl_ci_grid", ci_bands=True, grid=True),
        # Survival axis in percent (0..100, data drawn in percent).
        FigureStyle("mpl_percent", percent=True, y_label="Overall survival (%)"),
        # Bare curves: no censor marks, no risk table (the extractor must live without them).
        FigureStyle("mpl_no_marks_no_table", censor_marks=False, risk_table=False),
        # Vertical-tick censor marks "|", which look like tiny drops of the curve.
        FigureStyle("mpl_ticks_marker", censor_marker="|"),
        # Every horizontal and vertical piece drawn as its own line (separate PDF paths), as SAS/SPSS export.
        FigureStyle("mpl_segments", segments=True),
        # R ggplot2/survminer look: grey panel, white gridlines, no spines, hue palette colours.
        FigureStyle("mpl_ggplot", ggplot_theme=True, line_width=1.0),
        # Journal red/blue, "|" marks, wider figure and thicker lines, TrueType (Type 42) text.
        FigureStyle(
            "mpl_journal_colours",
            palette=JOURNAL_COLOURS,
            censor_marker="|",
            line_width=2.0,
            figsize=(7.0, 5.0),
            pdf_fonttype=42,
        ),
        # The plain figure with text embedded as TrueType (Type 42) fonts rather than Type 3.
        FigureStyle("mpl_fonttype42", pdf_fonttype=42),
        # lifelines' own look: plot_survival_function with confidence bands and "+" marks, no table.
        FigureStyle("lifelines_default", library="lifelines", ci_bands=True, risk_table=False),
        # lifelines with its add_at_risk_counts table (labels and right-aligned numbers in tick labels), Type 42.
        FigureStyle("lifelines_table", library="lifelines", pdf_fonttype=42, n_arms=3),
        # matplotlib's default path simplification: close drops merged into slanted lines in the file.
        FigureStyle("mpl_simplified", path_simplify=True, n_arms=3),
        # lifelines in black and white: dash patterns, "|" marks, at-risk table.
        FigureStyle("lifelines_bw", library="lifelines", colour=False, censor_marker="|"),
    )
}


# ---- truth -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ArmTruth:
    """One arm as drawn: its IPD and the exact step function, marks, risk row, colour and dash on the figure.

    ``km_survival[i]`` holds on ``[km_time[i], km_time[i+1])``; the first row is ``(0, 1)`` and the rows are
    every distinct follow-up time (censoring-only rows repeat the level), so the last row is the end of
    follow-up, where the drawn curve ends. ``n_risk`` is exactly what the figure prints at ``risk_time``:
    the matplotlib styles print the number with time >= t (R's survfit), lifelines prints the number with
    time > t; the two differ only where a follow-up time lies exactly on a tick. Compare truths with
    :meth:`FigureTruth.to_json` (arrays make ``==`` ambiguous).
    """

    label: str
    time: np.ndarray
    event: np.ndarray
    km_time: np.ndarray
    km_survival: np.ndarray
    censor_times: np.ndarray
    risk_time: np.ndarray | None
    n_risk: np.ndarray | None
    color: str
    dash: str


@dataclass(frozen=True, eq=False)
class FigureTruth:
    """What a figure shows. ``plot_area`` (an extension of the shared API) is the data axes' box as
    fractions of the figure (x0, y0, x1, y1) from the bottom left: times ``figsize`` x dpi gives pixels
    (from the top: height - y), times ``figsize`` x 72 gives PDF points."""

    style: FigureStyle
    arms: list[ArmTruth]
    x_max: float
    x_ticks: np.ndarray
    y_scale: str
    path: Path
    fmt: str
    dpi: int | None
    plot_area: tuple[float, float, float, float] | None = None

    @classmethod
    def of_drawing(
        cls,
        style: FigureStyle,
        arms: list[ArmTruth],
        x_max: float,
        ticks: np.ndarray,
        path: Path,
        fmt: str,
        dpi: int,
        plot_area: tuple[float, float, float, float],
    ) -> FigureTruth:
        """The truth of a figure just drawn: the y scale from ``style.percent``, no dpi for a PDF.

        >>> t = FigureTruth.of_drawing(STYLES["mpl_percent"], [], 24.0, np.array([0.0, 24]), Path("a.pdf"), "pdf",
        ...                            150, (0.1, 0.1, 0.9, 0.9))
        >>> t.y_scale, t.dpi
        ('percent', None)
        """
        return cls(
            style=style,
            arms=arms,
            x_max=x_max,
            x_ticks=ticks,
            y_scale="percent" if style.percent else "probability",
            path=path,
            fmt=fmt,
            dpi=None if fmt == "pdf" else int(dpi),
            plot_area=plot_area,
        )

    def to_json(self) -> str:
        """The truth as JSON (floats written exactly, so :meth:`from_json` gives the same numbers back)."""

        def arr(a: np.ndarray | None) -> list | None:
            return None if a is None else np.asarray(a).tolist()

        doc = {
            "style": asdict(self.style),
            "arms": [
                {
                    "label": a.label,
                    "time": arr(a.time),
                    "event": arr(a.event),
                    "km_time": arr(a.km_time),
                    "km_survival": arr(a.km_survival),
                    "censor_times": arr(a.censor_times),
                    "risk_time": arr(a.risk_time),
                    "n_risk": arr(a.n_risk),
                    "color": a.color,
                    "dash": a.dash,
                }
                for a in self.arms
            ],
            "x_max": self.x_max,
            "x_ticks": arr(self.x_ticks),
            "y_scale": self.y_scale,
            "path": str(self.path),
            "fmt": self.fmt,
            "dpi": self.dpi,
            "plot_area": None if self.plot_area is None else list(self.plot_area),
        }
        return json.dumps(doc, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FigureTruth:
        """Read back :meth:`to_json`.

        >>> t = FigureTruth(STYLES["mpl_colour"], [], 24.0, np.array([0.0, 12, 24]), "probability", Path("a.pdf"),
        ...                 "pdf", None)
        >>> FigureTruth.from_json(t.to_json()).to_json() == t.to_json()
        True
        """
        doc = json.loads(text)
        st = dict(doc["style"])
        st["figsize"] = tuple(st["figsize"])
        if st.get("palette") is not None:
            st["palette"] = tuple(st["palette"])

        def opt(a: list | None, dtype: Any) -> np.ndarray | None:
            return None if a is None else np.asarray(a, dtype)

        arms = [
            ArmTruth(
                label=a["label"],
                time=np.asarray(a["time"], float),
                event=np.asarray(a["event"], np.int8),
                km_time=np.asarray(a["km_time"], float),
                km_survival=np.asarray(a["km_survival"], float),
                censor_times=np.asarray(a["censor_times"], float),
                risk_time=opt(a["risk_time"], float),
                n_risk=opt(a["n_risk"], np.int64),
                color=a["color"],
                dash=a["dash"],
            )
            for a in doc["arms"]
        ]
        area = doc.get("plot_area")
        return cls(
            style=FigureStyle(**st),
            arms=arms,
            x_max=float(doc["x_max"]),
            x_ticks=np.asarray(doc["x_ticks"], float),
            y_scale=doc["y_scale"],
            path=Path(doc["path"]),
            fmt=doc["fmt"],
            dpi=doc["dpi"],
            plot_area=None if area is None else tuple(area),
        )


@dataclass(frozen=True)
class ExtractionError:
    """Extracted vs true KM on ``n_grid`` uniform points over [0, last KM time]: RMSE and max |error|."""

    rmse: float
    max_abs: float
    n_grid: int


# ---- simulation ------------------------------------------------------------------------------------------


def simulate_arms(n_arms: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Simulated IPD ``(label, time, event)`` per arm, as a brain-metastasis series might report.

    One draw of the seed fixes a follow-up horizon (24, 36 or 60 months), a Weibull shape and a median
    for the first arm; each arm has 30–300 patients, its own hazard ratio (0.5–1.8 against the first),
    uniform administrative censoring (accrual over the first 40–60 % of the horizon, follow-up to its end)
    and exponential loss to follow-up (early censoring).

    >>> arms = simulate_arms(3, seed=2)
    >>> [label for label, _, _ in arms]
    ['Re-resection', 'Repeat SRS', 'Non-surgical']
    >>> all(30 <= t.size <= 300 and t.min() > 0 for _, t, _ in arms)
    True
    """
    if not 1 <= int(n_arms) <= MAX_ARMS:
        raise ValueError(f"simulate_arms: n_arms must be 1..{MAX_ARMS}, got {n_arms!r}")
    rng = np.random.default_rng(seed)
    horizon = float(rng.choice(FOLLOW_UP_MONTHS))
    sets = ARM_LABEL_SETS[n_arms]
    labels = sets[int(rng.integers(len(sets)))]
    shape = float(rng.uniform(0.7, 1.6))
    median = horizon * float(rng.uniform(0.2, 0.7))
    accrual = horizon * float(rng.uniform(0.4, 0.6))
    arms: list[tuple[str, np.ndarray, np.ndarray]] = []
    for k, label in enumerate(labels):
        n = int(rng.integers(MIN_ARM_N, MAX_ARM_N + 1))
        hr = 1.0 if k == 0 else float(rng.uniform(0.5, 1.8))
        dropout = float(rng.uniform(0.002, 0.03))  # per month: 5-50 % of patients lost over 2-5 years
        ipd = simulate_ipd(
            n,
            shape=shape,
            median=median,
            accrual=accrual,
            follow_up=horizon - accrual,
            dropout_rate=dropout,
            hr=hr,
            seed=rng,
        )
        arms.append((label, np.maximum(ipd.time, MIN_TIME), ipd.event.astype(np.int8)))
    return arms


def month_ticks(t_end: float) -> tuple[float, np.ndarray]:
    """(axis end, ticks) of a months axis for follow-up ending at ``t_end``: steps of 1, 2, 3, 6, 12 or 24
    months, at most six intervals; longer axes fall back to :func:`~meta_bm.simulation.digitizer.nice_axis_max`.

    >>> month_ticks(23.7)
    (24.0, array([ 0.,  6., 12., 18., 24.]))
    >>> month_ticks(58.2)[1].tolist()
    [0.0, 12.0, 24.0, 36.0, 48.0, 60.0]
    """
    for step in MONTH_TICK_STEPS:
        if math.ceil(t_end / step) <= MAX_TICK_INTERVALS:
            break
    else:
        _, step = nice_axis_max(t_end)
    n_int = max(1, math.ceil(t_end / step))
    x_max = n_int * step
    return float(x_max), np.arange(n_int + 1) * step


# ---- the truth of one arm --------------------------------------------------------------------------------


def checked_arms(arms: Any, where: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The arms as (label, float times, int8 0/1 events), or an :class:`~meta_bm.errors.InputError` naming
    ``where``, the arm and the problem (shared by the figure drawers of this package).

    >>> [(label, t.tolist(), e.tolist()) for label, t, e in checked_arms([("A", [2, 1], [1, 0])], "km.pdf")]
    [('A', [2.0, 1.0], [1, 0])]
    >>> checked_arms([("A", [1.0], [2])], "km.pdf")
    Traceback (most recent call last):
    meta_bm.errors.InputError: km.pdf: arm 'A': event must be coded 0 (censored) / 1 (event)
    """
    try:
        arms = list(arms)
    except TypeError:
        raise InputError("arms must be a list of (label, time, event)", where) from None
    if not 1 <= len(arms) <= MAX_ARMS:
        raise InputError(f"need 1..{MAX_ARMS} arms, got {len(arms)}", where)
    out = []
    for i, arm in enumerate(arms):
        try:
            label, time, event = arm
        except (TypeError, ValueError):
            raise InputError(f"arm {i + 1} is not a (label, time, event) triple", where) from None
        if not isinstance(label, str) or not label.strip():
            raise InputError(f"arm {i + 1}: label must be a non-empty string, got {label!r}", where)
        try:
            t = np.asarray(time, float)
            e = np.asarray(event, float)
        except (TypeError, ValueError):
            raise InputError(f"arm {label!r}: time and event must be numbers", where) from None
        if t.ndim != 1 or t.shape != e.shape:
            raise InputError(f"arm {label!r}: time and event must be 1-D of the same length", where)
        if not 1 <= t.size <= MAX_DRAW_N:
            raise InputError(f"arm {label!r}: needs 1..{MAX_DRAW_N} patients, got {t.size}", where)
        if not np.all(np.isfinite(t)) or t.min() <= 0:
            raise InputError(f"arm {label!r}: follow-up times must be finite and > 0", where)
        if not np.all((e == 0) | (e == 1)):
            raise InputError(f"arm {label!r}: event must be coded 0 (censored) / 1 (event)", where)
        out.append((label, t, e.astype(np.int8)))
    if len({label for label, _, _ in out}) != len(out):
        raise InputError("arm labels must be distinct (the legend and risk table tell arms apart by label)", where)
    return out


@dataclass(frozen=True)
class _ArmKM:
    km_time: np.ndarray
    km_survival: np.ndarray
    censor_times: np.ndarray
    se: np.ndarray  # Greenwood SE of S on each row (0 at time 0), for the confidence bands


def _arm_km(time: np.ndarray, event: np.ndarray) -> _ArmKM:
    """The product-limit curve with a leading (0, 1) row, the distinct censoring times, Greenwood SEs."""
    km = kaplan_meier(time, event)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.nan_to_num(greenwood_se(km), nan=0.0)
    return _ArmKM(
        km_time=np.concatenate(([0.0], km.time)),
        km_survival=np.concatenate(([1.0], km.survival)),
        censor_times=km.time[km.n_censor > 0],
        se=np.concatenate(([0.0], se)),
    )


def true_survival(arm: ArmTruth, t: np.ndarray) -> np.ndarray:
    """The true KM at ``t``, right-continuous (at a step time: the level after the drop); 1 before 0, the
    last level after the end of follow-up.

    >>> a = ArmTruth("a", np.array([2.0, 4]), np.array([1, 0]), np.array([0.0, 2, 4]), np.array([1, 0.5, 0.5]),
    ...              np.array([4.0]), None, None, "#000000", "solid")
    >>> true_survival(a, np.array([-1, 0, 1.999, 2, 3, 9])).tolist()
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    """
    return _step_at(arm.km_time, arm.km_survival, np.asarray(t, float))


def _step_at(time: np.ndarray, survival: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Right-continuous step function: survival[i] from time[i] on, survival[0] before time[0]."""
    idx = np.searchsorted(time, t, side="right") - 1
    return survival[np.clip(idx, 0, None)]


def extraction_error(
    time: np.ndarray, survival: np.ndarray, arm: ArmTruth, n_grid: int = EXTRACTION_GRID_POINTS
) -> ExtractionError:
    """RMSE and max |error| of an extracted step function against the true KM of ``arm``.

    The extracted function holds ``survival[i]`` from ``time[i]`` to ``time[i+1]`` and ``survival[0]``
    before ``time[0]`` (``time`` non-decreasing; two points at one time are a vertical drop, the later one
    holds). Both functions are evaluated right-continuously at the midpoints of ``n_grid`` equal cells
    of [0, last KM time] (the midpoint rule: no grid point sits exactly on a drop at either end, where a
    time read from a file to 6 decimals would count the whole drop). Give ``survival`` as a probability.

    >>> a = ArmTruth("a", np.array([2.0, 4]), np.array([1, 1]), np.array([0.0, 2, 4]), np.array([1, 0.5, 0.0]),
    ...              np.array([]), None, None, "#000000", "solid")
    >>> e = extraction_error(np.array([0.0, 2.5, 4]), np.array([1, 0.5, 0.0]), a, n_grid=4)  # grid .5 1.5 2.5 3.5
    >>> round(e.max_abs, 12), round(e.rmse, 12)  # the drop at 2 read at 2.5: off by 0.5 at t = 2.5 only
    (0.0, 0.0)
    >>> e = extraction_error(np.array([0.0, 2.6, 4]), np.array([1, 0.5, 0.0]), a, n_grid=4)
    >>> round(e.max_abs, 12), round(e.rmse, 12)  # now 2.5 is before the extracted drop: sqrt(0.25 / 4)
    (0.5, 0.25)
    """
    t = np.asarray(time, float).ravel()
    s = np.asarray(survival, float).ravel()
    if t.size == 0 or t.shape != s.shape:
        raise ValueError(f"extraction_error: time and survival need the same non-zero length, got {t.size}, {s.size}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(s))):
        raise ValueError("extraction_error: time and survival must be finite")
    if np.any(np.diff(t) < 0):
        raise ValueError("extraction_error: time must be non-decreasing (sort the extracted points first)")
    if int(n_grid) < 2:
        raise ValueError(f"extraction_error: n_grid must be >= 2, got {n_grid!r}")
    n = int(n_grid)
    grid = (np.arange(n) + 0.5) * (float(arm.km_time[-1]) / n)
    err = _step_at(t, s, grid) - true_survival(arm, grid)
    return ExtractionError(rmse=float(np.sqrt(np.mean(err**2))), max_abs=float(np.max(np.abs(err))), n_grid=int(n_grid))


# ---- drawing ---------------------------------------------------------------------------------------------


def check_format(fmt: str, dpi: int, jpeg_quality: int, where: str) -> None:
    """Refuse (:class:`~meta_bm.errors.InputError` naming ``where``) a format other than PDF/PNG/JPEG, a dpi
    outside [``MIN_DPI``, ``MAX_DPI``] or a JPEG quality outside Pillow's useful range.

    >>> check_format("png", 20, 85, "km.png")
    Traceback (most recent call last):
    meta_bm.errors.InputError: km.png: dpi must be in [50, 600], got 20
    """
    if fmt not in ("pdf", "png", "jpeg"):
        raise InputError(f"fmt must be 'pdf', 'png' or 'jpeg', got {fmt!r}", where)
    if not MIN_DPI <= int(dpi) <= MAX_DPI:
        raise InputError(f"dpi must be in [{MIN_DPI}, {MAX_DPI}], got {dpi!r}", where)
    if not MIN_JPEG_QUALITY <= int(jpeg_quality) <= MAX_JPEG_QUALITY:
        raise InputError(
            f"jpeg_quality must be in [{MIN_JPEG_QUALITY}, {MAX_JPEG_QUALITY}], got {jpeg_quality!r}", where
        )


def _rc(style: FigureStyle) -> dict[str, Any]:
    """rcParams for one figure (applied only inside ``matplotlib.rc_context``, so nothing leaks)."""
    rc: dict[str, Any] = {
        "pdf.fonttype": style.pdf_fonttype,
        "font.size": 10,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "lines.solid_capstyle": "butt",
        "path.simplify": style.path_simplify,
    }
    if style.ggplot_theme:
        rc.update({"axes.edgecolor": "none", "xtick.color": "#4d4d4d", "ytick.color": "#4d4d4d"})
    return rc


def _style_axes(ax: Any, style: FigureStyle, x_max: float, ticks: np.ndarray) -> None:
    """Limits, ticks, labels, grid and theme of the data axes (shared by both libraries)."""
    ax.set_xlim(0.0, x_max)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{v:g}" for v in ticks])
    top = 100.0 * Y_TOP if style.percent and style.library == "matplotlib" else Y_TOP
    ax.set_ylim(0.0, top)
    yt = np.linspace(0.0, 1.0, 6)
    if style.percent and style.library == "matplotlib":
        ax.set_yticks(100 * yt)
        ax.set_yticklabels([f"{100 * v:.0f}" for v in yt])
    elif style.percent:  # lifelines draws probabilities: only the labels say percent
        ax.set_yticks(yt)
        ax.set_yticklabels([f"{100 * v:.0f}" for v in yt])
    else:
        ax.set_yticks(yt)
        ax.set_yticklabels([f"{v:.1f}" for v in yt])
    ax.set_xlabel(style.x_label)
    ax.set_ylabel(style.y_label)
    if style.ggplot_theme:
        ax.set_facecolor(GGPLOT_PANEL)
        ax.grid(True, color="white", linewidth=1.0)
        ax.set_axisbelow(True)
        for sp in ax.spines.values():
            sp.set_visible(False)
        ax.tick_params(length=3)
    else:
        if style.grid:
            ax.grid(True, color="#d9d9d9", linewidth=0.6)
            ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)


def _compress(km_time: np.ndarray, km_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corners of the step function: rows where the level changes, plus the first and the last."""
    keep = np.ones(km_time.size, bool)
    keep[1:-1] = km_s[1:-1] != km_s[:-2]
    return km_time[keep], km_s[keep]


def _segments(km_time: np.ndarray, km_s: np.ndarray) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Each horizontal piece and each vertical drop of the step function as its own segment."""
    t, s = _compress(km_time, km_s)
    segs = []
    for i in range(t.size - 1):
        if t[i + 1] > t[i]:
            segs.append(((t[i], t[i + 1]), (s[i], s[i])))
        if s[i + 1] != s[i]:
            segs.append(((t[i + 1], t[i + 1]), (s[i], s[i + 1])))
    return segs


def _draw_matplotlib_arm(ax: Any, label: str, km: _ArmKM, style: FigureStyle, color: str, dash: str) -> None:
    scale = 100.0 if style.percent else 1.0
    lw = style.line_width
    if style.ci_bands:
        half = 1.959963984540054 * km.se  # 95 % pointwise band, plain Greenwood (z of 0.975)
        lo = np.clip(km.km_survival - half, 0.0, 1.0) * scale
        hi = np.clip(km.km_survival + half, 0.0, 1.0) * scale
        ax.fill_between(km.km_time, lo, hi, step="post", color=color, alpha=0.2, linewidth=0, label="_nolegend_")
    if style.segments:
        segs = _segments(km.km_time, km.km_survival)
        for j, (xs, ys) in enumerate(segs):
            ax.plot(
                xs,
                [y * scale for y in ys],
                color=color,
                linestyle=dash,
                linewidth=lw,
                label=label if j == 0 else "_nolegend_",
                gid=f"km-segment:{label}",
            )
    else:
        ax.step(
            km.km_time, km.km_survival * scale, where="post", color=color, linestyle=dash, linewidth=lw, label=label
        )
    if style.censor_marks and km.censor_times.size:
        h = _step_at(km.km_time, km.km_survival, km.censor_times) * scale
        ms = 7 if style.censor_marker == "+" else 6
        ax.plot(
            km.censor_times,
            h,
            linestyle="none",
            marker=style.censor_marker,
            markersize=ms,
            markeredgewidth=1.0,
            color=color,
            label="_nolegend_",
        )


def _draw_lifelines_arm(
    ax: Any, label: str, time: np.ndarray, event: np.ndarray, km: _ArmKM, style: FigureStyle, color: str, dash: str
) -> Any:
    from lifelines import KaplanMeierFitter  # imported here: lifelines (and pandas) load in ~1 s

    kmf = KaplanMeierFitter(label=label).fit(time, event)
    sf = kmf.survival_function_
    # the truth is our product-limit curve: lifelines must have estimated the same one
    if not (
        np.array_equal(sf.index.to_numpy(float), km.km_time)
        and np.allclose(sf.iloc[:, 0].to_numpy(float), km.km_survival, rtol=0, atol=DRAWN_TOLERANCE)
    ):
        raise RuntimeError(f"arm {label!r}: lifelines' survival_function_ differs from the product-limit KM")
    kmf.plot_survival_function(
        ax=ax,
        show_censors=style.censor_marks,
        ci_show=style.ci_bands,
        color=color,
        linestyle=dash,
        linewidth=style.line_width,
        censor_styles={"marker": style.censor_marker},
        legend=False,
    )
    return kmf


def _verify_drawn(ax: Any, new_lines: list, label: str, km: _ArmKM, style: FigureStyle) -> None:
    """The lines just drawn for one arm equal the truth: curve corners, and marks at their KM height."""
    scale = 100.0 if style.percent and style.library == "matplotlib" else 1.0
    curve = [ln for ln in new_lines if ln.get_label() == label]
    marks = [ln for ln in new_lines if ln.get_marker() not in (None, "None", "none", "")]
    if style.segments:
        segs = [ln for ln in new_lines if ln.get_gid() == f"km-segment:{label}"]
        horiz = sorted(
            (float(ln.get_xdata()[0]), float(ln.get_xdata()[1]), float(ln.get_ydata()[0]) / scale)
            for ln in segs
            if ln.get_ydata()[0] == ln.get_ydata()[1]
        )
        x0 = np.array([h[0] for h in horiz])
        x1 = np.array([h[1] for h in horiz])
        ok = (
            x0[0] == 0.0
            and x1[-1] == km.km_time[-1]
            and np.array_equal(x0[1:], x1[:-1])
            and np.allclose([h[2] for h in horiz], _step_at(km.km_time, km.km_survival, x0), atol=DRAWN_TOLERANCE)
        )
    else:
        if len(curve) != 1:
            raise RuntimeError(f"arm {label!r}: expected one drawn curve, found {len(curve)}")
        ln = curve[0]
        ok = (
            ln.get_drawstyle() == "steps-post"
            and np.array_equal(np.asarray(ln.get_xdata(), float), km.km_time)
            and np.allclose(np.asarray(ln.get_ydata(), float) / scale, km.km_survival, rtol=0, atol=DRAWN_TOLERANCE)
        )
    if not ok:
        raise RuntimeError(f"arm {label!r}: the drawn curve differs from the truth KM")
    if style.censor_marks and km.censor_times.size:
        if len(marks) != 1:
            raise RuntimeError(f"arm {label!r}: expected one line of censor marks, found {len(marks)}")
        mx = np.asarray(marks[0].get_xdata(), float)
        my = np.asarray(marks[0].get_ydata(), float) / scale
        if not (
            np.array_equal(mx, km.censor_times)
            and np.allclose(my, _step_at(km.km_time, km.km_survival, mx), rtol=0, atol=DRAWN_TOLERANCE)
        ):
            raise RuntimeError(f"arm {label!r}: the censor marks are not at the censoring times and KM heights")


def _matplotlib_risk_table(
    tab: Any,
    labels: list[str],
    n_risk: list[np.ndarray],
    ticks: np.ndarray,
    colours: tuple[str, ...],
    style: FigureStyle,
    x_max: float,
) -> None:
    """Numbers at risk as text rows under the plot at the x ticks; each row labelled by its arm (the label
    is a y tick label, so the layout engine makes room for it)."""
    n = len(labels)
    tab.set_xlim(0.0, x_max)
    tab.set_ylim(n - 0.5, -0.5)
    tab.set_yticks(range(n))
    tab.set_yticklabels(labels, fontsize=RISK_FONT_SIZE)
    for lbl, c in zip(tab.get_yticklabels(), colours, strict=True):
        lbl.set_color(c)
    tab.set_xticks([])
    tab.tick_params(axis="y", length=0, pad=RISK_LABEL_PAD)
    for sp in tab.spines.values():
        sp.set_visible(False)
    tab.patch.set_visible(False)
    tab.set_title("Number at risk", loc="left", fontsize=RISK_FONT_SIZE, fontweight="bold")
    for row, counts in enumerate(n_risk):
        for x, c in zip(ticks, counts, strict=True):
            tab.text(x, row, f"{int(c)}", ha="center", va="center", fontsize=RISK_FONT_SIZE, clip_on=False)


_LIFELINES_COUNT = re.compile(r"(\d+)\s*$")


def _lifelines_printed_counts(ax2: Any, n_arms: int) -> np.ndarray:
    """The numbers lifelines' add_at_risk_counts printed, read back from its tick labels: one column per
    tick; the first label is 'At risk' then '<label>   <n>' per arm, the others one number per line."""
    cols = []
    for text in (t.get_text() for t in ax2.get_xticklabels()):
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if lines and lines[0].strip() == "At risk":
            lines = lines[1:]
        nums = []
        for ln in lines:
            m = _LIFELINES_COUNT.search(ln)
            if m is None:
                raise RuntimeError(f"cannot read lifelines' at-risk label {text!r}")
            nums.append(int(m.group(1)))
        if len(nums) != n_arms:
            raise RuntimeError(f"lifelines' at-risk label {text!r} has {len(nums)} numbers for {n_arms} arms")
        cols.append(nums)
    return np.asarray(cols, np.int64).T


def draw_km_figure(
    arms: list[tuple[str, np.ndarray, np.ndarray]],
    style: FigureStyle,
    path: str | Path,
    fmt: Format = "pdf",
    dpi: int = 150,
    jpeg_quality: int = 85,
) -> FigureTruth:
    """Draw the KM curves of ``arms`` (``(label, time, event)``, as :func:`simulate_arms` gives) in ``style``
    and save them to ``path`` as PDF (text kept as text), PNG at ``dpi`` or JPEG at ``dpi`` and
    ``jpeg_quality``. Returns what was drawn; the drawn lines are checked against it before saving.

    The time axis runs from 0 to a round end past the last follow-up (:func:`month_ticks`); its labelled
    ticks are the risk-table times. Bad arguments raise :class:`~meta_bm.errors.InputError` naming ``path``.
    """
    path = Path(path)
    where = str(path)
    if not isinstance(style, FigureStyle):
        raise InputError(f"style must be a FigureStyle, got {type(style).__name__}", where)
    check_format(fmt, dpi, jpeg_quality, where)
    checked = checked_arms(arms, where)
    n_arms = len(checked)
    colours = style.colours(n_arms)
    dashes = style.dashes(n_arms)
    kms = [_arm_km(t, e) for _, t, e in checked]
    t_end = max(float(t.max()) for _, t, _ in checked)
    x_max, ticks = month_ticks(t_end)
    labels = [label for label, _, _ in checked]

    with matplotlib.rc_context(_rc(style)):
        fig = Figure(figsize=style.figsize, layout="constrained")
        FigureCanvasAgg(fig)
        mpl_table = style.risk_table and style.library == "matplotlib"
        if mpl_table:
            table_h = RISK_TITLE_INCHES + RISK_ROW_INCHES * n_arms
            ax, tab = fig.subplots(2, 1, height_ratios=[style.figsize[1] - table_h, table_h])
        else:
            ax, tab = fig.subplots(1, 1), None
        fitters = []
        for (label, t, e), km, c, d in zip(checked, kms, colours, dashes, strict=True):
            before = len(ax.lines)
            if style.library == "lifelines":
                fitters.append(_draw_lifelines_arm(ax, label, t, e, km, style, c, d))
            else:
                _draw_matplotlib_arm(ax, label, km, style, c, d)
            _verify_drawn(ax, list(ax.lines[before:]), label, km, style)
        _style_axes(ax, style, x_max, ticks)
        if style.legend:
            ax.legend(loc="upper right", frameon=not style.ggplot_theme, handlelength=2.5)
        elif ax.get_legend() is not None:
            ax.get_legend().remove()

        n_risk: list[np.ndarray] | None = None
        ax2 = None
        if style.risk_table and style.library == "matplotlib":
            n_risk = [kaplan_meier(t, e).at_risk(ticks).astype(np.int64) for _, t, e in checked]
            _matplotlib_risk_table(tab, labels, n_risk, ticks, colours, style, x_max)
        elif style.risk_table:
            from lifelines.plotting import add_at_risk_counts

            n_axes = len(fig.axes)
            add_at_risk_counts(
                *fitters, ax=ax, fig=fig, rows_to_show=["At risk"], xticks=list(ticks), fontsize=RISK_FONT_SIZE
            )
            ax2 = fig.axes[n_axes]  # lifelines' table: one multi-line tick label per tick, labels not coloured
        _save(fig, path, fmt, dpi, jpeg_quality)
        if ax2 is not None:
            printed = _lifelines_printed_counts(ax2, n_arms)
            # what lifelines prints: at-risk after the last event-table row at or before the tick = time > tick
            expected = np.array([[int((t > x).sum()) for x in ticks] for _, t, _ in checked], np.int64)
            if not np.array_equal(printed, expected):
                raise RuntimeError(f"lifelines printed at-risk {printed.tolist()}, expected {expected.tolist()}")
            n_risk = list(printed)
        pos = ax.get_position()
        plot_area = (float(pos.x0), float(pos.y0), float(pos.x1), float(pos.y1))

    arm_truths = [
        ArmTruth(
            label=label,
            time=t,
            event=e,
            km_time=km.km_time,
            km_survival=km.km_survival,
            censor_times=km.censor_times if style.censor_marks else np.zeros(0),
            risk_time=ticks.copy() if n_risk is not None else None,
            n_risk=n_risk[i] if n_risk is not None else None,
            color=colours[i],
            dash=dashes[i],
        )
        for i, ((label, t, e), km) in enumerate(zip(checked, kms, strict=True))
    ]
    return FigureTruth.of_drawing(style, arm_truths, x_max, ticks, path, fmt, dpi, plot_area)


def _save(fig: Figure, path: Path, fmt: str, dpi: int, jpeg_quality: int) -> None:
    """Save as PDF (no creation date, so the same figure gives the same bytes), PNG, or JPEG via Pillow."""
    from PIL import Image

    try:
        if fmt == "pdf":
            fig.savefig(path, format="pdf", metadata={"CreationDate": None})
        elif fmt == "png":
            fig.savefig(path, format="png", dpi=dpi)
        else:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi)
            buf.seek(0)
            with Image.open(buf) as im:
                im.convert("RGB").save(path, format="JPEG", quality=int(jpeg_quality), dpi=(dpi, dpi))
    except OSError as exc:
        raise InputError(f"cannot write the figure: {exc.strerror or exc}", str(path)) from None


# ---- command line ----------------------------------------------------------------------------------------


def write_gallery(outdir: Path, styles: list[str], formats: list[str], dpi: int, seed: int) -> list[Path]:
    """Every style in ``styles`` drawn in each of ``formats``, with ``<name>.truth.json`` (of the first format)
    beside; returns the files written. Each style gets its own data, :func:`simulate_arms` with ``style.n_arms``
    arms and seed ``seed`` + the style's position in :data:`STYLES`, so the gallery shows varied curves."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    order = list(STYLES)
    for name in styles:
        style = STYLES[name]
        arms = simulate_arms(style.n_arms, seed + order.index(name))
        first = None
        for fmt in formats:
            ext = "jpg" if fmt == "jpeg" else fmt
            truth = draw_km_figure(arms, style, outdir / f"{name}.{ext}", fmt=fmt, dpi=dpi)
            written.append(truth.path)
            first = first or truth
        if first is not None:
            jpath = outdir / f"{name}.truth.json"
            jpath.write_text(first.to_json())
            written.append(jpath)
    return written


GalleryWriter = Callable[[Path, list[str], list[str], int, int], list[Path]]


def gallery_main(
    argv: list[str] | None, prog: str, description: str, styles: list[str], write: GalleryWriter, noun: str
) -> int:
    """The command line of a figure gallery: ``OUTDIR [--styles ...] [--formats ...] [--dpi N] [--seed N]``
    handed to ``write(outdir, styles, formats, dpi, seed)``, which returns the files written (counted as
    ``noun``). Bad input is one ``error:`` line and exit code 2, never a traceback.

    >>> gallery_main(["out", "--styles", "b"], "demo", "demo", ["a", "b"], lambda *args: [Path("b.pdf")], "figures")
    wrote 1 figures to out
    0
    """
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("outdir", type=Path)
    p.add_argument("--styles", nargs="+", default=list(styles), choices=list(styles), metavar="STYLE")
    p.add_argument("--formats", nargs="+", default=["pdf", "png"], choices=["pdf", "png", "jpeg"])
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    try:
        files = write(args.outdir, args.styles, args.formats, args.dpi, args.seed)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} {noun} to {args.outdir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return gallery_main(
        argv,
        "python -m meta_bm.simulation.km_figures",
        "Write KM figures of every style with their truth JSON.",
        list(STYLES),
        write_gallery,
        "files",
    )


__all__ = [
    "STYLES",
    "ArmTruth",
    "ExtractionError",
    "FigureStyle",
    "FigureTruth",
    "GalleryWriter",
    "check_format",
    "checked_arms",
    "draw_km_figure",
    "extraction_error",
    "gallery_main",
    "month_ticks",
    "simulate_arms",
    "true_survival",
]

if __name__ == "__main__":
    sys.exit(main())
