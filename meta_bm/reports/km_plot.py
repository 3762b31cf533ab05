"""Kaplan–Meier figure of a pooled analysis, in the layout of survminer's ``ggsurvplot(risk.table=TRUE)``.

:func:`km_figure` draws, for each group of a :class:`~meta_bm.analysis.pooled.PooledResult`:

* the KM step curve with censoring marks ("|") and, optionally, its pointwise confidence band (Greenwood SE
  with R ``survfit``'s default ``conf.type="log"``, :func:`meta_bm.survival.km_inference.survival_ci`) as a
  shaded step band;
* the median as dotted drop lines from S = 0.5, labelled with its value (labels of close medians are stacked,
  never overlapping);
* a key above the plot, one row per group with a line sample: n, events, median (95% CI, R's ``log``
  interval) and the hazard ratio against the reference (Cox, Efron ties, R ``coxph``), then the log-rank p
  (R ``survdiff``); it never covers a curve;
* the numbers at risk in a table under the plot, each number centred exactly under its x tick, rows named by
  group in the group's colour; the left margin is sized from the measured width of the longest name.

Every size is laid out in inches from measured text, so nothing is clipped and the figure has no empty band.

Example
-------
>>> import polars as pl
>>> from meta_bm.analysis.adhoc import analyze_table
>>> df = pl.DataFrame({"t": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10], "e": [1, 1, 0, 1, 1, 1, 0, 1, 1, 0],
...                    "arm": ["Surgery", "Observation"] * 5})
>>> fig = km_figure(analyze_table(df, time="t", event="e", group="arm", reference="Observation"))
>>> [t.get_text() for t in fig.axes[1].texts][:4]  # risk table: name, then the numbers at 0, 2, 4
['Observation', '5', '5', '4']
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from meta_bm.reports.figures import OKABE_ITO, STYLE, _figure, _nice_ticks, text_width_in, wrap_to_width
from meta_bm.survival.km_inference import survival_ci

_WIDTH_IN = 7.0
_EDGE_IN = 0.12  # figure edge to any text
_RIGHT_IN = 0.3  # right of the plot: room for the last tick label
_PLOT_H_IN = 3.0
_FONT = 8.5  # key, risk table, tick labels
_LABEL_FONT = 9.0  # axis labels
_TITLE_FONT = 10.0
_ROW_IN = 0.2  # one line of 8.5 pt text with leading
_GAP_IN = 0.15  # between key / table columns
_SAMPLE_IN = 0.32  # the line sample in front of a key row
_YAXIS_IN = 0.62  # y tick labels and y label left of the plot


def _fmt_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _fmt_num(v: float, nd: int = 1) -> str:
    return f"{v:.{nd}f}" if math.isfinite(v) else "NR"


def _median_text(m) -> str:
    """``11.9 (8.1–15.2)``; "not reached" and NR (R's NA) for missing limits."""
    if not math.isfinite(m.median):
        return "not reached"
    if not (math.isfinite(m.lower) or math.isfinite(m.upper)):
        return f"{m.median:.1f} (n/a)"
    return f"{m.median:.1f} ({_fmt_num(m.lower)}–{_fmt_num(m.upper)})"


def _hr_text(hr: float, lo: float, hi: float) -> str:
    if not all(math.isfinite(v) for v in (hr, lo, hi)):
        return "n/a"
    return f"{hr:.2f} ({lo:.2f}–{hi:.2f})"


def km_figure(
    result,
    title: str | None = None,
    max_time: float | None = None,
    *,
    ci_bands: bool = True,
    level: float = 0.95,
    ylabel: str = "Survival probability",
    xlabel: str = "Months since recurrence",
) -> Figure:
    """KM curves of a :class:`~meta_bm.analysis.pooled.PooledResult` with a key and a numbers-at-risk table.

    Parameters
    ----------
    result : PooledResult
        Its ``groups`` (KM, n, events, medians), ``cox["unstratified"]`` (HR vs the reference) and ``logrank``.
    title : str, optional
        Plain-text title; defaults to ``result.analysis.title``.
    max_time : float, optional
        End of the time axis (months); defaults to the longest follow-up.
    ci_bands : bool
        Shade the pointwise ``level`` confidence band of each curve (R ``survfit`` ``conf.type="log"``).
    level : float
        Confidence level of the bands, in (0, 1).
    ylabel, xlabel : str
        Axis labels (the endpoint; the time scale).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0]`` is the plot, ``fig.axes[1]`` the risk table (numbers in data x = tick times).

    Raises
    ------
    ValueError
        No groups, ``max_time`` not finite and positive, or ``level`` outside (0, 1).
    """
    if not result.groups:
        raise ValueError("km_figure needs at least one group")
    if max_time is not None and not (math.isfinite(max_time) and max_time > 0):
        raise ValueError(f"max_time must be finite and > 0, got {max_time!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    with matplotlib.rc_context(STYLE):
        return _km_figure(result, title, max_time, ci_bands, level, ylabel, xlabel)


def _key_rows(result) -> tuple[list[str], list[list[str]], str]:
    """Header and one row per group of the key (name, n, events, median (CI), HR (CI)), and its footnote."""
    groups = result.groups
    cox = result.cox.get("unstratified") if result.cox else None
    ref = result.analysis.reference
    med_pct = f"{100 * groups[0].medians['log'].level:g}%"
    hr_pct = f"{100 * cox.level:g}%" if cox is not None else ""
    header = ["", "n", "Events", f"Median ({med_pct} CI)"] + ([f"HR ({hr_pct} CI)"] if cox is not None else [])
    rows = []
    for g in groups:
        row = [g.label, str(g.n), str(g.events), _median_text(g.medians["log"])]
        if cox is not None:
            if g.group == ref:
                row.append("1 (reference)")
            elif g.group in cox.names:
                i = list(cox.names).index(g.group)
                row.append(_hr_text(float(cox.hr[i]), float(cox.hr_lower[i]), float(cox.hr_upper[i])))
            else:
                row.append("n/a")
        rows.append(row)
    notes = []
    if result.logrank is not None:
        notes.append(f"Log-rank {_fmt_p(result.logrank.p_value)}")
    if cox is not None:
        notes.append("HR: Cox model, Efron ties")
    notes.append("median in months, CI by log transform (R survfit default); NR: not reached")
    return header, rows, "; ".join(notes)


def _km_figure(result, title, max_time, ci_bands, level, ylabel, xlabel) -> Figure:
    groups = result.groups
    colors = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(groups))]
    fig = _figure((_WIDTH_IN, 4.0))

    # horizontal layout: the risk-table names and the y axis share the left margin
    name_w = max(text_width_in(fig, g.label, fontsize=_FONT) for g in groups)
    # the names end this far left of x = 0: clear of half the widest number centred there
    widest_n = max(text_width_in(fig, str(g.n), fontsize=_FONT) for g in groups)
    name_gap = 0.1 + widest_n / 2
    left_in = _EDGE_IN + max(_YAXIS_IN, name_w + name_gap)
    header, rows, footnote = _key_rows(result)
    col_w = [
        max(
            text_width_in(fig, r[c], fontsize=_FONT, weight="bold" if r is header else "normal")
            for r in [header, *rows]
        )
        for c in range(len(header))
    ]
    key_w = _EDGE_IN + _SAMPLE_IN + sum(col_w) + _GAP_IN * (len(col_w) - 1)
    width = max(_WIDTH_IN, left_in + 3.5 + _RIGHT_IN, key_w + _EDGE_IN)
    plot_w = width - left_in - _RIGHT_IN
    foot_lines = wrap_to_width(fig, footnote, width - 2 * _EDGE_IN, fontsize=_FONT - 0.5)
    title = title if title is not None else result.analysis.title
    title_lines = wrap_to_width(fig, title or "", width - 2 * _EDGE_IN, fontsize=_TITLE_FONT, weight="bold")

    # vertical layout, top down (inches)
    title_h = 0.28 * len(title_lines) + (0.08 if title_lines else 0.0)
    key_h = _ROW_IN * (1 + len(rows)) + 0.17 * len(foot_lines) + 0.12
    xaxis_h = 0.5
    table_head_h = 0.26
    table_h = _ROW_IN * len(groups) + 0.04
    height = 1.6 * _EDGE_IN + title_h + key_h + _PLOT_H_IN + xaxis_h + table_head_h + table_h
    fig.set_size_inches(width, height)

    def fy(from_top: float) -> float:
        return 1.0 - from_top / height

    y_in = _EDGE_IN
    for line in title_lines:
        fig.text(_EDGE_IN / width, fy(y_in + 0.14), line, fontsize=_TITLE_FONT, weight="bold", va="center")
        y_in += 0.28
    y_in += 0.08 if title_lines else 0.0

    # the key: a small table with a line sample per group
    x_cols = []
    x = _EDGE_IN + _SAMPLE_IN
    for w in col_w:
        x_cols.append((x, x + w))
        x += w + _GAP_IN
    for r, row in enumerate([header, *rows]):
        yc = fy(y_in + _ROW_IN * (r + 0.5))
        for c, s in enumerate(row):
            x0, x1 = x_cols[c]
            left_aligned = c == 0
            fig.text(
                (x0 if left_aligned else x1) / width,
                yc,
                s,
                fontsize=_FONT,
                ha="left" if left_aligned else "right",
                va="center",
                weight="bold" if r == 0 else "normal",
            )
        if r:
            color = colors[r - 1]
            fig.add_artist(
                Line2D(
                    [_EDGE_IN / width, (_EDGE_IN + _SAMPLE_IN - 0.08) / width],
                    [yc, yc],
                    color=color,
                    lw=2.0,
                    transform=fig.transFigure,
                )
            )
    y_in += _ROW_IN * (1 + len(rows))
    for line in foot_lines:
        fig.text(_EDGE_IN / width, fy(y_in + 0.085), line, fontsize=_FONT - 0.5, va="center", color="#333333")
        y_in += 0.17
    y_in += 0.12

    # the plot
    t_end = float(max_time) if max_time else max((float(g.km.time[-1]) for g in groups if g.km.time.size), default=1.0)
    t_end = t_end if t_end > 0 else 1.0
    ticks = _nice_ticks(t_end)
    if max_time is None and ticks.size > 1 and ticks[-1] < t_end:  # the axis ends on a tick past follow-up
        ticks = np.append(ticks, ticks[-1] + (ticks[1] - ticks[0]))
    x_max = max(float(ticks[-1]), t_end)
    ax = fig.add_axes((left_in / width, fy(y_in + _PLOT_H_IN), plot_w / width, _PLOT_H_IN / height))
    for g, color in zip(groups, colors, strict=True):
        km = g.km
        if not km.time.size:
            continue
        x = np.concatenate(([0.0], km.time))
        if ci_bands:
            ci = survival_ci(km, conf_type="log", level=level)
            lo = np.concatenate(([1.0], ci.lower))
            hi = np.concatenate(([1.0], ci.upper))
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(x, lo, hi, where=ok, step="post", color=color, alpha=0.14, lw=0, zorder=1)
        ax.step(x, np.concatenate(([1.0], km.survival)), where="post", color=color, lw=1.5, zorder=3)
        cens = km.n_censor > 0
        ax.plot(km.time[cens], km.survival[cens], ls="none", marker="|", color=color, ms=5, mew=0.9, zorder=4)
    ax.set_xlim(0, x_max)
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(0, 1.03)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.tick_params(labelsize=_FONT)
    ax.set_ylabel(ylabel, fontsize=_LABEL_FONT)
    ax.set_xlabel(xlabel, fontsize=_LABEL_FONT, labelpad=3)
    _draw_medians(fig, ax, groups, colors, x_max, plot_w)
    y_in += _PLOT_H_IN + xaxis_h

    # the numbers at risk: same x scale as the plot, numbers centred on the ticks
    fig.text(
        _EDGE_IN / width, fy(y_in + table_head_h / 2), "Number at risk", fontsize=_FONT, weight="bold", va="center"
    )
    y_in += table_head_h
    tab = fig.add_axes((left_in / width, fy(y_in + table_h), plot_w / width, table_h / height))
    tab.set_xlim(ax.get_xlim())
    tab.set_ylim(table_h, 0)  # inches from the top of the table down
    tab.axis("off")
    name_x = blended_transform_factory(fig.transFigure, tab.transData)
    for i, (g, color) in enumerate(zip(groups, colors, strict=True)):
        yc = _ROW_IN * (i + 0.5)
        tab.text(
            (left_in - name_gap) / width,
            yc,
            g.label,
            transform=name_x,
            ha="right",
            va="center",
            fontsize=_FONT,
            color=color,
        )
        for t, n in zip(ticks, g.km.at_risk(ticks), strict=True):
            tab.text(float(t), yc, str(int(n)), ha="center", va="center", fontsize=_FONT, color=color)
    return fig


def _draw_medians(fig: Figure, ax, groups, colors, x_max: float, plot_w: float) -> None:
    """Dotted drop lines at each reached median, labelled with its value.

    A label goes right of its line, else left when the right side would cross another median's line or run
    off the axis; labels that would still collide with one already placed are lifted a row (never overlap).
    """
    meds = sorted(
        (float(g.medians["log"].median), c)
        for g, c in zip(groups, colors, strict=True)
        if math.isfinite(g.medians["log"].median) and g.medians["log"].median <= x_max
    )
    units_per_in = x_max / plot_w
    pad = 0.04 * units_per_in  # text starts this far from its line
    xs = [m for m, _ in meds]
    levels: list[list[tuple[float, float]]] = []  # per level, the x spans taken

    def free(span: tuple[float, float], level: int) -> bool:
        taken = levels[level] if level < len(levels) else []
        return all(span[1] + pad < a or span[0] > b + pad for a, b in taken)

    for med, color in meds:
        ax.plot([0, med], [0.5, 0.5], ls=(0, (1, 1.5)), color=color, lw=0.9, zorder=2)
        ax.plot([med, med], [0, 0.5], ls=(0, (1, 1.5)), color=color, lw=0.9, zorder=2)
        label = f"{med:.1f}"
        w = text_width_in(fig, label, fontsize=_FONT - 0.5) * units_per_in
        sides = {True: (med, med + pad + w), False: (med - pad - w, med)}  # right / left: the label and its line
        ok = {
            right: (span[1] <= x_max if right else span[0] >= 0)
            and not any(span[0] - pad < x < span[1] + pad for x in xs if x != med)
            for right, span in sides.items()
        }
        order = [r for r in (True, False) if ok[r]] or [sides[True][1] <= x_max]
        level, right = next((lv, r) for lv in range(len(levels) + 1) for r in order if free(sides[r], lv))
        if level == len(levels):
            levels.append([])
        levels[level].append(sides[right])
        ax.annotate(
            label,
            (med, 0.0),
            xytext=((3 if right else -3), 3 + 10 * level),
            textcoords="offset points",
            ha="left" if right else "right",
            va="bottom",
            fontsize=_FONT - 0.5,
            color=color,
            zorder=5,
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85},
        )
