"""Publication figures (matplotlib, Okabe–Ito colour-blind-safe palette): shared style and the reconstruction overlay.

* :func:`study_figure` / :func:`study_figure_png`: the reconstruction overlay of one study, every curve
  (digitized clicks vs the KM of the reconstructed IPD) with published vs reconstructed numbers at risk;
  :func:`overlay_figure` is the same for one curve, :func:`overlay_curves` builds the curves of a
  :class:`~meta_bm.studies.reconstruct.StudyReconstruction`.
* KM curves with a risk table are in :mod:`meta_bm.reports.km_plot`; forest, funnel, leave-one-out and
  cumulative meta-analysis plots in :mod:`meta_bm.reports.meta_plots` (``km_figure`` and ``forest_figure``
  are also reachable from here, imported on first use).

:func:`save_figure` writes the journal formats (PNG at 300 dpi, SVG, PDF); :func:`png_bytes` gives a small
PNG for UI metadata.

Every figure is a :class:`matplotlib.figure.Figure` on the Agg canvas, drawn and saved under this module's
style (:data:`STYLE`, applied with ``matplotlib.rc_context``): no pyplot, no backend switching and no
change to matplotlib's global settings, so importing this module affects nothing else in the process.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from meta_bm.studies.manifest import MONTHS_PER_UNIT
from meta_bm.survival.km import KaplanMeier, kaplan_meier

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
# matplotlib settings of every figure here, in force while it is drawn and saved (tick labels are made
# at draw time); SVG text stays text.
STYLE = {
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}
SAVE_DPI = 300  # journals ask for 300 dpi line art / halftone at print size


def _figure(figsize: tuple[float, float], dpi: float | None = None) -> Figure:
    """A new figure on the Agg canvas (call under ``matplotlib.rc_context(STYLE)``)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def text_width_in(fig: Figure, text: str, **kw) -> float:
    """Width in inches of ``text`` drawn on ``fig`` with the text properties ``kw`` (measured, not estimated)."""
    t = fig.text(0, 0, text, **kw)
    width = t.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
    t.remove()
    return width


def wrap_to_width(fig: Figure, text: str, max_in: float, **kw) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``max_in`` inches when drawn on ``fig`` with ``kw``.

    A single word wider than ``max_in`` stays whole on its own line; an empty text gives no lines.
    """
    lines: list[str] = []
    for w in text.split():
        if lines and text_width_in(fig, f"{lines[-1]} {w}", **kw) <= max_in:
            lines[-1] = f"{lines[-1]} {w}"
        else:
            lines.append(w)
    return lines


def __getattr__(name: str):
    # km_figure / forest_figure moved to their own modules; imported on first use (no import cycle)
    if name == "km_figure":
        from meta_bm.reports.km_plot import km_figure

        return km_figure
    if name == "forest_figure":
        from meta_bm.reports.meta_plots import forest_figure

        return forest_figure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _nice_ticks(t_max: float) -> np.ndarray:
    raw = t_max / 6
    mag = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    step = next((m * mag for m in (1, 2, 2.5, 3, 5, 6, 10) if m * mag >= raw), 10 * mag)
    return np.arange(0, t_max + 1e-9, step)


# --------------------------------------------------------------------------------------------------------
# reconstruction overlay: one figure per study, every curve, digitized clicks vs reconstructed KM
# --------------------------------------------------------------------------------------------------------

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# Okabe–Ito with the pale yellow last: the curve colours are also the colours of text in the table
_CURVE_COLORS = (*OKABE_ITO[:6], OKABE_ITO[7], OKABE_ITO[6])
# Layout of :func:`study_figure` in inches (fonts in points): 9 in x 100 dpi = 900 px wide, fonts >= 10 pt.
_WIDTH_IN = 9.0
_PNG_DPI = 100
_EDGE_IN = 0.2  # left edge of the title and of the curve names in the table
_TITLE_IN = 0.5
_LEGEND_ROW_IN = 0.26
_PLOT_IN = 4.0
_XAXIS_IN = 0.7
_HEADER_IN = 0.35
_ROW_IN = 0.25
_GROUP_GAP_IN = 0.06
_BOTTOM_IN = 0.15
_RIGHT_IN = 0.35
_FONT = 10.5
_TITLE_FONT = 13.0
_MIN_TICK_GAP_IN = 0.45  # risk-table times closer than this on the axis are not all labelled ticks
_NUMBER_GAP_IN = 0.1  # the least space between two numbers at risk on one row


@dataclass(frozen=True, eq=False)
class OverlayCurve:
    """One digitized curve and its reconstruction, as :func:`study_figure` draws it.

    ``click_time`` / ``click_survival``: the digitized clicks (survival 0-1) as read; ``ipd_time`` /
    ``ipd_event``: the reconstructed patients (event 1, censored 0); times in ``time_unit``.
    ``risk_fit``: the published vs reconstructed numbers at risk (columns ``time, published,
    reconstructed``; others are ignored), or None when the paper gives no risk table.
    """

    label: str
    time_unit: str
    click_time: np.ndarray
    click_survival: np.ndarray
    ipd_time: np.ndarray
    ipd_event: np.ndarray
    risk_fit: pl.DataFrame | None = None


def overlay_curves(rec) -> list[OverlayCurve]:
    """The curves of a :class:`~meta_bm.studies.reconstruct.StudyReconstruction`, labelled ``arm label (curve_id)``."""
    out = []
    for r in rec.curves:
        spec, recon = r.curve.spec, r.reconstruction
        rt = recon.fidelity.risk_table
        out.append(
            OverlayCurve(
                label=f"{rec.study.manifest.arm(spec.arm).label} ({spec.curve_id})",
                time_unit=spec.time_unit,
                click_time=r.curve.clicks.time,
                click_survival=r.curve.clicks.survival,
                ipd_time=recon.time,
                ipd_event=recon.event,
                risk_fit=rt if rt.height else None,
            )
        )
    return out


def _common_unit(curves: list[OverlayCurve]) -> tuple[str, list[float]]:
    """The time unit of the figure (the curves' own if they agree, else months) and each curve's factor."""
    units = {c.time_unit for c in curves}
    if len(units) <= 1:
        return (units.pop() if units else ""), [1.0] * len(curves)
    return "months", [MONTHS_PER_UNIT.get(c.time_unit, 1.0) for c in curves]


def _evenly_spaced(ts: np.ndarray) -> bool:
    gaps = np.diff(ts)
    return gaps.size > 0 and bool(np.allclose(gaps, gaps[0], rtol=1e-6))


def _ticks(risk_sets: list[np.ndarray], t_max: float, plot_w_in: float) -> np.ndarray:
    """Major ticks of the time axis: published risk-table times when they make a readable axis.

    The union of every curve's risk-table times, else the longest single table, is used when it starts
    at 0, spans most of the follow-up and labels stay at least ``_MIN_TICK_GAP_IN`` apart; an evenly
    spaced table is extended to the end of follow-up. Otherwise evenly spaced nice ticks.
    """
    t_max = t_max if t_max > 0 else 1.0
    candidates = []
    if risk_sets:
        candidates.append(np.unique(np.concatenate(risk_sets)))
        candidates += sorted(risk_sets, key=lambda ts: -ts.size)
    for ts in candidates:
        if not 3 <= ts.size <= 13 or ts[0] != 0.0 or ts[-1] < 0.6 * t_max:
            continue
        if _evenly_spaced(ts):
            step = float(ts[1] - ts[0])
            ts = np.arange(0.0, max(t_max, float(ts[-1])) + step - 1e-9, step)
            if ts[-1] > t_max + 0.5 * step:
                ts = ts[:-1]
        if float(np.min(np.diff(ts))) / max(t_max, float(ts[-1])) * plot_w_in >= _MIN_TICK_GAP_IN:
            return ts
    return _nice_ticks(t_max)


def _text_width_in(fig, renderer, text: str, **kw) -> float:
    t = fig.text(0, 0, text, **kw)
    width = t.get_window_extent(renderer).width / fig.dpi
    t.remove()
    return width


def _shorten(fig, renderer, text: str, max_in: float, **kw) -> str:
    """``text``, cut with an ellipsis to fit ``max_in`` inches."""
    if _text_width_in(fig, renderer, text, **kw) <= max_in:
        return text
    while len(text) > 4 and _text_width_in(fig, renderer, text + "…", **kw) > max_in:
        text = text[:-1]
    return text.rstrip() + "…"


def _visible(times: np.ndarray, first: np.ndarray, min_gap: float, t_end: float) -> list[int]:
    """Indices of the numbers at risk to draw so that no two are closer than ``min_gap`` (time units).

    Those flagged in ``first`` (numbers that differ from the published ones) are placed first, then the
    others from left to right wherever they fit; times beyond ``t_end`` are left out.
    """
    taken: list[float] = []
    out = []
    for pass_first in (True, False):
        for j in range(times.size):
            if bool(first[j]) != pass_first or times[j] > t_end:
                continue
            if all(abs(times[j] - t) >= min_gap - 1e-12 for t in taken):
                taken.append(float(times[j]))
                out.append(j)
    return sorted(out)


@dataclass(frozen=True)
class _RiskRow:
    curve: int
    kind: str  # "published" | "reconstructed"
    time: np.ndarray
    numbers: list[int]
    bold: list[bool]


def _risk_rows(curves: list[OverlayCurve], scale: list[float], kms: list[KaplanMeier], ticks) -> list[_RiskRow]:
    rows = []
    for i, (c, f, km) in enumerate(zip(curves, scale, kms, strict=True)):
        if c.risk_fit is not None and c.risk_fit.height:
            t = c.risk_fit["time"].to_numpy().astype(float) * f
            pub = [int(v) for v in c.risk_fit["published"].to_list()]
            rec = [int(v) for v in c.risk_fit["reconstructed"].to_list()]
            rows.append(_RiskRow(i, "published", t, pub, [False] * len(pub)))
            rows.append(_RiskRow(i, "reconstructed", t, rec, [a != b for a, b in zip(rec, pub, strict=True)]))
        else:
            rows.append(_RiskRow(i, "reconstructed", ticks, [int(v) for v in km.at_risk(ticks)], [False] * ticks.size))
    return rows


def study_figure(curves: list[OverlayCurve], title: str = "") -> Figure:
    """Every curve of a study in one figure: digitized clicks (markers) vs reconstructed KM (steps).

    One colour and marker per curve (Okabe–Ito), a legend above the plot naming each curve with its
    reconstructed N and events, the time axis in the curves' unit (months when they differ), and under
    the plot the numbers at risk aligned with the time axis: per curve its name, then for a published
    risk table the published and the reconstructed numbers at the published times (reconstructed
    numbers that differ in bold), else the reconstructed numbers at the axis ticks. Ticks are the
    published risk-table times when they make a readable axis (other risk times get minor ticks).
    9 in wide, fonts of 10.5 pt and more. :func:`study_figure_png` renders it to a small PNG.
    """
    if not curves:
        raise ValueError("study_figure needs at least one curve")
    with matplotlib.rc_context(STYLE):
        return _study_figure(curves, title)


def _study_figure(curves: list[OverlayCurve], title: str) -> Figure:
    unit, scale = _common_unit(curves)
    kms = [kaplan_meier(np.asarray(c.ipd_time, float) * f, c.ipd_event) for c, f in zip(curves, scale, strict=True)]
    risk_sets = [
        c.risk_fit["time"].to_numpy().astype(float) * f
        for c, f in zip(curves, scale, strict=True)
        if c.risk_fit is not None and c.risk_fit.height
    ]
    t_max = max(
        [float(np.max(c.click_time)) * f for c, f in zip(curves, scale, strict=True) if len(c.click_time)]
        + [float(km.time[-1]) for km in kms if km.time.size]
        + [float(ts[-1]) for ts in risk_sets]
        + [0.0]
    )

    # horizontal layout: the row labels ("published" / "reconstructed") sit left of the plot
    fig = _figure((_WIDTH_IN, 1.0), dpi=_PNG_DPI)
    renderer = fig.canvas.get_renderer()
    left_in = max(_text_width_in(fig, renderer, "reconstructed", fontsize=_FONT) + 0.25 + _EDGE_IN, 0.95)
    plot_w_in = _WIDTH_IN - left_in - _RIGHT_IN
    ticks = _ticks(risk_sets, t_max, plot_w_in)
    x_max = max(float(ticks[-1]), t_max) if t_max > 0 else float(ticks[-1])
    x_lim = 1.015 * x_max  # room for the markers at the end of follow-up
    rows = _risk_rows(curves, scale, kms, ticks)

    # legend entries: two columns when they fit
    names = [_shorten(fig, renderer, c.label, _WIDTH_IN - 2 * _EDGE_IN - 2.2, fontsize=_FONT) for c in curves]
    labels = [
        f"{name}: n={np.size(c.ipd_time)}, events={int(np.sum(c.ipd_event))}"
        for name, c in zip(names, curves, strict=True)
    ]
    widest = max(_text_width_in(fig, renderer, s, fontsize=_FONT) for s in labels) + 0.9
    ncol = 2 if len(labels) > 1 and 2 * widest <= _WIDTH_IN - 2 * _EDGE_IN else 1
    legend_in = (1 + -(-len(labels) // ncol)) * _LEGEND_ROW_IN + 0.2

    n_groups = len({r.curve for r in rows})
    table_in = _HEADER_IN + (len(rows) + n_groups) * _ROW_IN + (n_groups - 1) * _GROUP_GAP_IN
    plot_top_in = _TITLE_IN + legend_in
    height = plot_top_in + _PLOT_IN + _XAXIS_IN + table_in + _BOTTOM_IN
    fig.set_size_inches(_WIDTH_IN, height)

    def frac_y(from_top_in: float) -> float:
        return 1.0 - from_top_in / height

    fig.text(_EDGE_IN / _WIDTH_IN, frac_y(_TITLE_IN / 2), title, fontsize=_TITLE_FONT, weight="bold", va="center")

    ax = fig.add_axes((left_in / _WIDTH_IN, frac_y(plot_top_in + _PLOT_IN), plot_w_in / _WIDTH_IN, _PLOT_IN / height))
    handles = []
    for i, (c, f, km) in enumerate(zip(curves, scale, kms, strict=True)):
        color, marker = _CURVE_COLORS[i % len(_CURVE_COLORS)], _MARKERS[i % len(_MARKERS)]
        ax.step(
            np.concatenate(([0.0], km.time)),
            np.concatenate(([1.0], km.survival)),
            where="post",
            color=color,
            lw=1.8,
            zorder=3,
        )
        ax.plot(
            np.asarray(c.click_time, float) * f,
            c.click_survival,
            ls="none",
            marker=marker,
            ms=5,
            mfc="none",
            mec=color,
            mew=1.0,
            zorder=4,
        )
        handles.append(Line2D([], [], color=color, lw=1.8, marker=marker, ms=6, mfc="none", mec=color))
    ax.set_xlim(0, x_lim)
    ax.set_xticks(ticks)
    minor = sorted({float(t) for ts in risk_sets for t in ts} - {float(t) for t in ticks})
    ax.set_xticks([t for t in minor if t <= x_max], minor=True)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(0, 1.02)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.grid(True, color="#e0e0e0", lw=0.6, zorder=0)
    ax.tick_params(labelsize=_FONT)
    ax.set_ylabel("Survival probability", fontsize=_FONT + 0.5)
    ax.set_xlabel(f"Time ({unit})" if unit else "Time", fontsize=_FONT + 0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    legend = fig.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(_EDGE_IN / _WIDTH_IN, frac_y(_TITLE_IN)),
        ncol=ncol,
        fontsize=_FONT,
        title="markers: digitized clicks;  lines: Kaplan–Meier of the reconstructed patients",
        title_fontsize=_FONT,
        frameon=False,
        borderaxespad=0.0,
        handlelength=2.4,
        columnspacing=2.0,
    )
    legend._legend_box.align = "left"  # the title flush left with the entries

    table_top_in = plot_top_in + _PLOT_IN + _XAXIS_IN
    tab_h_in = table_in - _HEADER_IN
    tab = fig.add_axes((left_in / _WIDTH_IN, frac_y(table_top_in + table_in), plot_w_in / _WIDTH_IN, tab_h_in / height))
    tab.set_xlim(0, x_lim)
    tab.set_ylim(tab_h_in, 0)  # inches from the top of the table down
    tab.axis("off")
    to_axes_x = -left_in / plot_w_in  # the figure's left edge in the table's axes fraction
    in_per_unit = plot_w_in / x_lim
    # per curve, one set of times shown on all its rows (columns stay aligned); differing numbers first
    visible: dict[int, list[int]] = {}
    for i in sorted({r.curve for r in rows}):
        own = [r for r in rows if r.curve == i]
        widest = max((str(n) for r in own for n in r.numbers), key=len, default="0")
        min_gap = (_text_width_in(fig, renderer, widest, fontsize=_FONT) + _NUMBER_GAP_IN) / in_per_unit
        differs = np.any([r.bold for r in own], axis=0)
        visible[i] = _visible(own[0].time, differs, min_gap, x_max + 1e-9)
    thinned = any(len(v) < int(np.sum(r.time <= x_max + 1e-9)) for r in rows for v in [visible[r.curve]])
    any_bold = any(r.bold[j] for r in rows for j in visible[r.curve])
    y = 0.0
    for k, r in enumerate(rows):
        color = _CURVE_COLORS[r.curve % len(_CURVE_COLORS)]
        if k == 0 or rows[k - 1].curve != r.curve:  # the curve's name on its own line
            y += _GROUP_GAP_IN if k else 0.0
            tab.text(
                to_axes_x + _EDGE_IN / plot_w_in,
                y + _ROW_IN / 2,
                names[r.curve] + ("" if r.kind == "published" else "  (no published risk table)"),
                transform=tab.get_yaxis_transform(),
                ha="left",
                va="center",
                fontsize=_FONT,
                color=color,
                weight="bold",
            )
            y += _ROW_IN
        y_mid = y + _ROW_IN / 2
        tab.text(
            -0.25 / plot_w_in,
            y_mid,
            r.kind,
            transform=tab.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=_FONT,
            color=color,
        )
        for j in visible[r.curve]:
            tab.text(
                r.time[j],
                y_mid,
                str(r.numbers[j]),
                ha="center",
                va="center",
                fontsize=_FONT,
                color=color,
                weight="bold" if r.bold[j] else "normal",
            )
        y += _ROW_IN
    notes = (["bold: differs from published"] if any_bold else []) + (
        ["crowded rows: some times skipped"] if thinned else []
    )
    header = "Number at risk" + (f" ({'; '.join(notes)})" if notes else "")
    fig.text(
        _EDGE_IN / _WIDTH_IN, frac_y(table_top_in + _HEADER_IN / 2), header, fontsize=_FONT, weight="bold", va="center"
    )
    return fig


def study_figure_png(curves: list[OverlayCurve], title: str = "", colors: int = 64) -> bytes:
    """:func:`study_figure` as a PNG of 900 px width, quantized to a ``colors``-colour palette (small for UI metadata).

    Example
    -------
    >>> import numpy as np
    >>> c = OverlayCurve("arm A", "months", np.array([0, 2, 2, 5.0]), np.array([1, 1, .6, .6]),
    ...                  np.array([1, 2, 2, 3, 6.0]), np.array([0, 1, 1, 0, 0]))
    >>> png = study_figure_png([c], title="demo")
    >>> png[:4] == b"\\x89PNG", len(png) < 120_000
    (True, True)
    """
    from PIL import Image

    fig = study_figure(curves, title)
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="png", dpi=_PNG_DPI, facecolor="white")
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    out = io.BytesIO()
    img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True
    )
    return out.getvalue()


def overlay_figure(
    click_time: np.ndarray,
    click_survival: np.ndarray,
    ipd_time: np.ndarray,
    ipd_event: np.ndarray,
    risk_fit: pl.DataFrame | None = None,
    title: str = "",
    time_unit: str = "",
) -> Figure:
    """One curve: :func:`study_figure` with a single :class:`OverlayCurve` (kept for per-curve callers)."""
    curve = OverlayCurve("reconstruction", time_unit, click_time, click_survival, ipd_time, ipd_event, risk_fit)
    return study_figure([curve], title)


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` (300 dpi), ``<stem>.svg`` and ``<stem>.pdf`` (vector, text kept as text); return the paths.

    Example
    -------
    >>> import tempfile
    >>> with matplotlib.rc_context(STYLE):
    ...     fig = _figure((2.0, 1.0))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.suffix for p in save_figure(fig, Path(d) / "demo")]
    ['.png', '.svg', '.pdf']
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.with_suffix(".png"), stem.with_suffix(".svg"), stem.with_suffix(".pdf")]
    with matplotlib.rc_context(STYLE):
        fig.savefig(out[0], dpi=SAVE_DPI, facecolor="white")
        fig.savefig(out[1], facecolor="white")
        fig.savefig(out[2], facecolor="white")
    return out


def png_bytes(fig: Figure, dpi: int = 60) -> bytes:
    """A small PNG of ``fig`` (for UI metadata)."""
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
