"""Meta-analysis figures in the layout of metafor: forest, funnel, leave-one-out and cumulative plots.

* :func:`forest_figure`: metafor ``forest(rma(...))`` with per-arm events/N columns (``ilab``): study rows
  "Author Year" with squares sized by weight and CI lines (arrows where a CI leaves the axis), one diamond per
  pooled model, the prediction interval as a bar (metafor ``addpred``), columns Weight and HR [95% CI], the
  heterogeneity line "Q = .., df = .., p = ..; I² = ..%, τ² = .." and "Favours ..." under the axis;
* :func:`funnel_figure`: metafor ``funnel()``: log HR (labelled as HR) against its SE (inverted), the pseudo
  95% confidence region around the pooled estimate, optionally Egger's regression line (``regtest``);
* :func:`leave_one_out_figure`: metafor ``leave1out()`` drawn as a forest: the pooled HR without each study;
* :func:`cumulative_figure`: metafor ``cumul()`` as a forest: the pooled HR as each study is added.

Estimates are log hazard ratios drawn on a linear log-HR axis whose tick labels are hazard ratios. Every
figure is laid out in inches from measured text widths (no clipped or overlapping text) on the Agg canvas,
under :data:`meta_bm.reports.figures.STYLE`.

Example
-------
>>> from meta_bm.metaanalysis import meta_analysis
>>> rows = [ForestRow("Smith 2010", 10, 40, 15, 41, -0.4, 0.3), ForestRow("Lee 2015", 20, 60, 22, 58, -0.1, 0.25)]
>>> pooled = {"REML": meta_analysis([-0.4, -0.1], [0.09, 0.0625])}
>>> fig = forest_figure(rows, pooled, group_label="Surgery", reference_label="Observation")
>>> "Favours Surgery" in [t.get_text().strip("← ") for t in fig.texts]
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon
from matplotlib.transforms import blended_transform_factory
from scipy.stats import norm

from meta_bm.reports.figures import OKABE_ITO, STYLE, _figure, text_width_in, wrap_to_width

# A forest plot shows at most this many studies (those with the most weight); with more, one row
# says how many are left out. Hundreds of rows are unreadable, and drawing them took seconds per
# figure (1,000 studies: a 70,000-pixel PNG).
FOREST_MAX_STUDIES = 60

_FONT = 8.0
_TITLE_FONT = 10.0
_ROW_IN = 0.2
_EDGE_IN = 0.12
_GAP_IN = 0.18  # between columns
_PLOT_MIN_IN = 2.6
_WIDTH_IN = 7.5
_HR_SCALES = (  # tick values of the HR axis, in order of preference; the first giving 4-7 ticks is used
    (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0),
    (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0),
    (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0),
    (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0),
    (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0),
)
_DARK = "#222222"
_GREY = "#808080"
_HEADER_MAX_IN = 1.4


@dataclass(frozen=True)
class ForestRow:
    """One study of a forest plot: label ("Author Year"), events / N per arm, log HR and its SE."""

    label: str
    events_group: int | None
    n_group: int | None
    events_reference: int | None
    n_reference: int | None
    log_hr: float
    se: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.log_hr) and math.isfinite(self.se) and self.se > 0):
            raise ValueError(
                f"{self.label}: log_hr must be finite and se finite and > 0 (got {self.log_hr}, {self.se})"
            )
        for name in ("events_group", "n_group", "events_reference", "n_reference"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{self.label}: {name} must be >= 0, got {v}")


def study_label(study_id: str) -> str:
    """A reader's label for a study id: ``"lindqvist_2013"`` -> ``"Lindqvist 2013"`` (``_b`` suffixes kept as ``b``).

    Ids not of the form ``author_year[suffix]`` are returned unchanged; pass real labels where known.

    >>> study_label("lindqvist_2013"), study_label("van_der_berg_2020b"), study_label("S1")
    ('Lindqvist 2013', 'Van der Berg 2020b', 'S1')
    """
    m = re.fullmatch(r"([a-z][a-z_]*?)_((?:19|20)\d\d)_?([a-z]?)", study_id)
    if not m:
        return study_id
    words = m.group(1).split("_")
    # surname particles stay lower case inside a name ("Van der Berg"), as authors write them
    author = " ".join(w if k and w in _PARTICLES else w.capitalize() for k, w in enumerate(words))
    return f"{author} {m.group(2)}{m.group(3)}"


def forest_rows(per_study, labels: Mapping[str, str] | None = None) -> list[ForestRow]:
    """:class:`ForestRow` s from a table of per-study effects (``PooledResult.per_study`` filtered to one contrast).

    Reads ``study_id, log_hr, se`` and, when present, ``events_group, n_group, events_reference, n_reference``;
    the label is ``labels[study_id]`` if given, else :func:`study_label` of the id. Rows keep the table's order
    (that of the meta-analysis weights).
    """
    labels = labels or {}
    cols = set(per_study.columns)
    out = []
    for r in per_study.iter_rows(named=True):
        arm = {c: (int(r[c]) if c in cols and r[c] is not None else None) for c in _ARM_COLUMNS}
        out.append(
            ForestRow(
                labels.get(r["study_id"], study_label(str(r["study_id"]))),
                arm["events_group"],
                arm["n_group"],
                arm["events_reference"],
                arm["n_reference"],
                float(r["log_hr"]),
                float(r["se"]),
            )
        )
    return out


_PARTICLES = frozenset({"van", "der", "den", "de", "von", "da", "di", "du", "la", "le", "dos", "del"})
_ARM_COLUMNS = ("events_group", "n_group", "events_reference", "n_reference")


# --------------------------------------------------------------------------------------------------------
# a generic "table + interval plot" layout shared by the forest, leave-one-out and cumulative figures
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mark:
    """What a row draws in the plot column: ``square`` (size = marker points), ``diamond``, ``bar`` or ``none``."""

    kind: str = "none"
    est: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    size: float = 5.0
    color: str = _DARK


@dataclass(frozen=True)
class _Column:
    header: str  # may hold "\n"
    cells: list[str]
    align: str  # "left" | "right" | "center"
    weight: list[str] = field(default_factory=list)  # per row "bold" | "normal" (default normal)


@dataclass(frozen=True)
class _Table:
    title: str
    left: list[_Column]
    right: list[_Column]
    marks: list[_Mark]
    favours: tuple[str, str]
    xlabel: str
    footnotes: list[str]
    ref_lines: list[tuple[float, str, str]]  # (x, color, linestyle), across the rows
    spans: dict[int, str] = field(default_factory=dict)  # row -> text spanning the left columns (italic)
    rule_before: list[int] = field(default_factory=list)  # rows with a thin rule above them


def _fmt_ci(est: float, lo: float, hi: float) -> str:
    return f"{math.exp(est):.2f} [{math.exp(lo):.2f}, {math.exp(hi):.2f}]"


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _axis_range(marks: list[_Mark]) -> tuple[float, float, list[float]]:
    """x limits (log HR) and HR ticks: every estimate and pooled interval in view, study CIs only within reason.

    Ticks come from the first of the HR scales :data:`_HR_SCALES` giving 4-7 ticks in range (else the closest
    to that); the axis ends on a tick when one is near.
    """
    ests = [m.est for m in marks if m.kind != "none" and math.isfinite(m.est)]
    whole = [v for m in marks if m.kind in ("diamond", "bar") for v in (m.lo, m.hi) if math.isfinite(v)]
    cis = [v for m in marks if m.kind in ("square", "point") for v in (m.lo, m.hi) if math.isfinite(v)]
    lo = min([*ests, *whole, -0.12])  # HR = 1 never at the very edge: room for both "Favours" labels
    hi = max([*ests, *whole, 0.12])
    # a wide study CI may widen the axis by up to 1.5 log units (x 4.5) on each side; beyond, an arrow
    lo = min(lo, max(min(cis, default=lo), lo - 1.5))
    hi = max(hi, min(max(cis, default=hi), hi + 1.5))
    best = None
    for scale in _HR_SCALES:
        logs = [math.log(t) for t in scale]
        below = [v for v in logs if v <= lo]
        above = [v for v in logs if v >= hi]
        near = 0.3 * (hi - lo + 0.2)
        ends = (  # ending on the nearest ticks outside the data when close, else just past the data
            (
                below[-1] if below and below[-1] > lo - near else lo - 0.03,
                above[0] if above and above[0] < hi + near else hi + 0.03,
            ),
            (lo - 0.03, hi + 0.03),
        )
        for x0, x1 in ends:
            ticks = [t for t, v in zip(scale, logs, strict=True) if x0 - 1e-9 <= v <= x1 + 1e-9]
            if 4 <= len(ticks) <= 7:
                return x0, x1, ticks
            if best is None or abs(len(ticks) - 5.5) < abs(len(best[2]) - 5.5):
                best = (x0, x1, ticks)
    x0, x1, ticks = best
    return x0, x1, ticks


def _table_figure(tab: _Table) -> Figure:
    """Lay out ``tab``: title, header, rows (left columns | plot | right columns), axis, favours, footnotes."""
    n = len(tab.marks)
    fig = _figure((_WIDTH_IN, 3.0))
    measure = {"fontsize": _FONT}
    bold = {"fontsize": _FONT, "weight": "bold"}

    def wrapped(c: _Column) -> _Column:  # long headers (group names) broken into lines of <= 1.4 in
        lines = [w for h in c.header.split("\n") for w in (wrap_to_width(fig, h, _HEADER_MAX_IN, **bold) or [""])]
        return _Column("\n".join(lines), c.cells, c.align, c.weight)

    tab = _Table(**{**tab.__dict__, "left": [wrapped(c) for c in tab.left], "right": [wrapped(c) for c in tab.right]})

    def col_width(c: _Column) -> float:
        cells = [
            text_width_in(fig, s, fontsize=_FONT, weight=(c.weight[i] if i < len(c.weight) else "normal"))
            for i, s in enumerate(c.cells)
            if s
        ]
        heads = [text_width_in(fig, h, **bold) for h in c.header.split("\n") if h]
        return max([*cells, *heads, 0.1])

    left_w = [col_width(c) for c in tab.left]
    right_w = [col_width(c) for c in tab.right]
    # a spanning note (e.g. "… 140 more studies") must fit over the left columns: widen the first if not
    span_w = max((text_width_in(fig, s, **measure, style="italic") for s in tab.spans.values()), default=0.0)
    left_total = sum(left_w) + _GAP_IN * (len(left_w) - 1)
    if span_w > left_total:
        left_w[0] += span_w - left_total
        left_total = span_w
    right_total = sum(right_w) + _GAP_IN * max(len(right_w) - 1, 0)
    fixed = 2 * _EDGE_IN + left_total + right_total + 2 * _GAP_IN
    width = max(_WIDTH_IN, fixed + _PLOT_MIN_IN)
    plot_w = width - fixed
    favours_w = [
        text_width_in(fig, f"← {tab.favours[0]}", **measure),
        text_width_in(fig, f"{tab.favours[1]} →", **measure),
    ]

    plot_x0 = _EDGE_IN + left_total + _GAP_IN
    x0, x1, ticks = _axis_range(tab.marks)
    # "← Favours A" ends left of HR = 1, "Favours B →" starts right of it, both pushed inwards to stay in the
    # figure; on two rows when they would meet
    x_one = plot_x0 + (0.0 - x0) / (x1 - x0) * plot_w
    xl = max(x_one - 0.06, _EDGE_IN + favours_w[0])
    xr = min(x_one + 0.06, width - _EDGE_IN - favours_w[1])
    fav_two_rows = xr - xl < 0.1
    title_lines = wrap_to_width(fig, tab.title, width - 2 * _EDGE_IN, fontsize=_TITLE_FONT, weight="bold")
    foot_lines = [line for f in tab.footnotes for line in wrap_to_width(fig, f, width - 2 * _EDGE_IN, **measure)]
    head_lines = max(c.header.count("\n") + 1 for c in [*tab.left, *tab.right])
    title_h = 0.27 * len(title_lines) + (0.08 if title_lines else 0.0)
    head_h = 0.135 * head_lines + 0.1
    rows_h = _ROW_IN * (n + 0.6)
    axis_h = 0.3 + ((0.4 if fav_two_rows else 0.2) if any(tab.favours) else 0.0) + (0.2 if tab.xlabel else 0.0)
    foot_h = 0.17 * len(foot_lines) + (0.08 if foot_lines else 0.0)
    height = 2 * _EDGE_IN + title_h + head_h + rows_h + axis_h + foot_h
    fig.set_size_inches(width, height)

    def fy(from_top: float) -> float:
        return 1.0 - from_top / height

    y = _EDGE_IN
    for line in title_lines:
        fig.text(_EDGE_IN / width, fy(y + 0.135), line, fontsize=_TITLE_FONT, weight="bold", va="center")
        y += 0.27
    y += 0.08 if title_lines else 0.0

    # column x positions (inches): left columns, the plot, right columns
    def spans(widths: list[float], x: float) -> list[tuple[float, float]]:
        out = []
        for w in widths:
            out.append((x, x + w))
            x += w + _GAP_IN
        return out

    left_x = spans(left_w, _EDGE_IN)
    right_x = spans(right_w, plot_x0 + plot_w + _GAP_IN)

    def anchor(c: _Column, x0: float, x1: float) -> tuple[float, str]:
        return {"left": (x0, "left"), "right": (x1, "right"), "center": ((x0 + x1) / 2, "center")}[c.align]

    # header, bottom aligned, with a rule under it
    head_bottom = y + head_h - 0.05
    for c, (cx0, cx1) in [*zip(tab.left, left_x, strict=True), *zip(tab.right, right_x, strict=True)]:
        xa, ha = anchor(c, cx0, cx1)
        fig.text(xa / width, fy(head_bottom), c.header, ha=ha, va="bottom", ma=ha, linespacing=1.15, **bold)
    y += head_h
    fig.add_artist(Line2D([_EDGE_IN / width, 1 - _EDGE_IN / width], [fy(y), fy(y)], color=_DARK, lw=0.6))

    ax = fig.add_axes((plot_x0 / width, fy(y + rows_h), plot_w / width, rows_h / height))
    ax.set_xlim(x0, x1)
    ax.set_ylim(n - 0.4, -0.6)  # row i at y = i, top down
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_yticks([])
    ax.set_xticks([math.log(t) for t in ticks])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{math.exp(v):.3g}"))
    ax.tick_params(axis="x", labelsize=_FONT)
    for xv, color, ls in tab.ref_lines:
        if x0 <= xv <= x1:
            ax.axvline(xv, color=color, ls=ls, lw=0.8, zorder=1)
    row_t = blended_transform_factory(fig.transFigure, ax.transData)
    for i, m in enumerate(tab.marks):
        _draw_mark(ax, i, m, x0, x1)
    for cols, xs in ((tab.left, left_x), (tab.right, right_x)):
        for c, (cx0, cx1) in zip(cols, xs, strict=True):
            xa, ha = anchor(c, cx0, cx1)
            for i, s in enumerate(c.cells):
                if s:
                    wgt = c.weight[i] if i < len(c.weight) else "normal"
                    fig.text(xa / width, i, s, transform=row_t, ha=ha, va="center", fontsize=_FONT, weight=wgt)
    for i, s in tab.spans.items():
        fig.text(_EDGE_IN / width, i, s, transform=row_t, ha="left", va="center", fontsize=_FONT, style="italic")
    for i in tab.rule_before:
        yr = i - 0.5
        ax_line = Line2D([_EDGE_IN / width, 1 - _EDGE_IN / width], [yr, yr], color=_GREY, lw=0.4, transform=row_t)
        fig.add_artist(ax_line)
    y += rows_h

    # under the axis: "← Favours A" left of HR = 1, "Favours B →" right of it, then the axis label
    y += 0.3
    if any(tab.favours):
        fig.text(
            xl / width,
            fy(y + 0.1),
            f"← {tab.favours[0]}" if tab.favours[0] else "",
            ha="right",
            va="center",
            fontsize=_FONT,
        )
        fig.text(
            xr / width,
            fy(y + 0.1 + (0.2 if fav_two_rows else 0.0)),
            f"{tab.favours[1]} →" if tab.favours[1] else "",
            ha="left",
            va="center",
            fontsize=_FONT,
        )
        y += 0.4 if fav_two_rows else 0.2
    if tab.xlabel:
        fig.text((plot_x0 + plot_w / 2) / width, fy(y + 0.1), tab.xlabel, ha="center", va="center", fontsize=_FONT)
        y += 0.2
    y += 0.08 if foot_lines else 0.0
    for line in foot_lines:
        fig.text(_EDGE_IN / width, fy(y + 0.085), line, va="center", fontsize=_FONT)
        y += 0.17
    return fig


def _draw_mark(ax, i: int, m: _Mark, x0: float, x1: float) -> None:
    if m.kind == "none":
        return
    if m.kind == "diamond":
        ax.add_patch(
            Polygon(
                [(m.lo, i), (m.est, i - 0.32), (m.hi, i), (m.est, i + 0.32)],
                closed=True,
                fc=m.color,
                ec=m.color,
                lw=0.5,
                zorder=3,
                clip_on=False,
            )
        )
        return
    lo, hi = max(m.lo, x0), min(m.hi, x1)
    ax.plot([lo, hi], [i, i], color=m.color, lw=0.9, zorder=2, solid_capstyle="butt")
    if m.kind == "bar":  # prediction interval: a line with end caps
        ax.plot([lo, lo], [i - 0.18, i + 0.18], color=m.color, lw=0.9)
        ax.plot([hi, hi], [i - 0.18, i + 0.18], color=m.color, lw=0.9)
        return
    for cut, end, marker in ((m.lo < x0, x0, "<"), (m.hi > x1, x1, ">")):
        if cut:  # the CI goes on beyond the axis
            ax.plot([end], [i], marker=marker, color=m.color, ms=4, ls="none", clip_on=False, zorder=3)
    if m.kind == "square":
        ax.plot([m.est], [i], marker="s", ms=m.size, color=m.color, ls="none", zorder=4)
    elif m.kind == "point":
        ax.plot([m.est], [i], marker="o", ms=4, color=m.color, ls="none", zorder=4)


def _check_result(m, name: str) -> None:
    for f in ("estimate", "lower", "upper"):
        if not math.isfinite(getattr(m, f)):
            raise ValueError(f"{name}: {f} is not finite")


def _model_label(m) -> str:
    test = getattr(m, "test", "z")
    if m.method == "FE":
        return "Fixed effect"
    return f"Random effects ({m.method}{', HKSJ' if test == 'knha' else ''})"


def _heterogeneity(m) -> str:
    return (
        f"Heterogeneity: Q = {m.q:.2f}, df = {m.q_df}, {_fmt_p(m.q_p)}; "
        f"I² = {m.i2:.1f}%, τ² = {m.tau2:.4f} ({m.method})"
    )


def _overall_test(m) -> str:
    test = getattr(m, "test", "z")
    stat = f"t = {m.z:.2f}, df = {getattr(m, 'df', m.k - 1)}" if test == "knha" else f"z = {m.z:.2f}"
    return f"Test for overall effect, {_model_label(m)[0].lower()}{_model_label(m)[1:]}: {stat}, {_fmt_p(m.p_value)}"


def _arm_cell(events: int | None, n: int | None) -> str:
    if events is None and n is None:
        return "—"
    return f"{'?' if events is None else events}/{'?' if n is None else n}"


def forest_figure(
    rows: Sequence[ForestRow],
    pooled: dict,
    *,
    group_label: str,
    reference_label: str,
    title: str = "",
    prediction_model: str = "REML",
    weights_model: str = "REML",
    max_studies: int = FOREST_MAX_STUDIES,
) -> Figure:
    """Forest plot of per-study hazard ratios and pooled estimates, in metafor ``forest(rma(...))`` layout.

    Columns: Study | ``group_label`` events/N | ``reference_label`` events/N | plot | Weight | HR [95% CI].
    Study squares have an area proportional to the ``weights_model`` weight (metafor ``weights(res)``, percent);
    study CIs are log HR ± z·SE (z for the pooled results' ``level``), with an arrow where a CI runs beyond
    the axis. One diamond per entry of ``pooled`` ("Random effects (REML)", "Random effects (REML, HKSJ)" when
    ``test == "knha"``, "Fixed effect"), the ``prediction_model``'s prediction interval as a capped bar
    (metafor ``predict(res)``, ``addpred=TRUE``), then footnotes: heterogeneity (Q, df, p, I², τ²) and the
    test of the overall effect. HR < 1 lies left, under "← Favours ``group_label``".

    With more than ``max_studies`` studies, the ``max_studies`` with the smallest SE (largest weight) are
    drawn, in study order, and one row counts the others; the pooled estimates always use every study.

    Raises
    ------
    ValueError
        No rows, an empty ``pooled``, a pooled result whose ``k`` or ``weights`` do not match the rows, a
        ``prediction_model`` / ``weights_model`` not in ``pooled``, non-finite estimates, ``max_studies`` < 1.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("forest_figure needs at least one study row")
    if not pooled:
        raise ValueError("forest_figure needs at least one pooled result")
    if max_studies < 1:
        raise ValueError(f"max_studies must be >= 1, got {max_studies}")
    for key in (prediction_model, weights_model):
        if key not in pooled:
            raise ValueError(f"model {key!r} is not among the pooled results ({', '.join(pooled)})")
    for key, m in pooled.items():
        _check_result(m, key)
        if m.k != len(rows) or len(m.weights) != len(rows):
            raise ValueError(f"pooled result {key!r} has k = {m.k} but {len(rows)} study rows were given")
    with matplotlib.rc_context(STYLE):
        return _table_figure(
            _forest_table(
                rows, pooled, group_label, reference_label, title, prediction_model, weights_model, max_studies
            )
        )


def _forest_table(rows, pooled, group_label, reference_label, title, prediction_model, weights_model, max_studies):
    level = next(iter(pooled.values())).level
    z = float(norm.ppf(0.5 + level / 2))
    pct = f"{100 * level:g}%"
    weights = np.asarray(pooled[weights_model].weights, float)
    idx = list(range(len(rows)))
    left_out = max(len(rows) - max_studies, 0)
    if left_out:
        idx = sorted(sorted(idx, key=lambda i: (rows[i].se, i))[:max_studies])
    w_max = float(weights[idx].max())
    study_col, grp_col, ref_col, w_col, hr_col, marks = [], [], [], [], [], []
    for i in idx:
        r = rows[i]
        study_col.append(r.label)
        grp_col.append(_arm_cell(r.events_group, r.n_group))
        ref_col.append(_arm_cell(r.events_reference, r.n_reference))
        w_col.append(f"{weights[i]:.1f}%")
        hr_col.append(_fmt_ci(r.log_hr, r.log_hr - z * r.se, r.log_hr + z * r.se))
        size = 3.0 + 7.0 * math.sqrt(weights[i] / w_max)  # marker side ~ sqrt(weight): area ~ weight
        marks.append(_Mark("square", r.log_hr, r.log_hr - z * r.se, r.log_hr + z * r.se, size, _DARK))
    spans = {}
    if left_out:
        spans[len(marks)] = f"… {left_out} more studies not shown (lower weight; all are pooled)"
        for col in (study_col, grp_col, ref_col, w_col, hr_col):
            col.append("")
        marks.append(_Mark())
    n_study_rows = len(marks)
    for col in (study_col, grp_col, ref_col, w_col, hr_col):
        col.append("")
    marks.append(_Mark())
    bold_rows = set()
    for key, m in pooled.items():
        study_col.append(_model_label(m))
        grp_col.append("")
        ref_col.append("")
        w_col.append("100%" if key == weights_model else "")
        hr_col.append(_fmt_ci(m.estimate, m.lower, m.upper))
        color = _DARK if key == prediction_model else _GREY
        marks.append(_Mark("diamond", m.estimate, m.lower, m.upper, 0, color))
        bold_rows.add(len(marks) - 1)
        if key == prediction_model and m.method != "FE":
            study_col.append(f"{pct} prediction interval")
            for col in (grp_col, ref_col, w_col):
                col.append("")
            hr_col.append(f"[{math.exp(m.pi_lower):.2f}, {math.exp(m.pi_upper):.2f}]")
            marks.append(_Mark("bar", m.estimate, m.pi_lower, m.pi_upper, 0, _DARK))
    weight_rows = ["bold" if i in bold_rows else "normal" for i in range(len(marks))]
    primary = pooled[prediction_model]
    hetero = _heterogeneity(primary) if primary.k > 1 else ""
    footnotes = [s for s in (hetero, _overall_test(primary)) if s]
    return _Table(
        title=title,
        left=[
            _Column("Study", study_col, "left", weight_rows),
            _Column(f"{group_label}\nevents/N", grp_col, "center"),
            _Column(f"{reference_label}\nevents/N", ref_col, "center"),
        ],
        right=[
            _Column("Weight", w_col, "right", weight_rows),
            _Column(f"HR [{pct} CI]", hr_col, "right", weight_rows),
        ],
        marks=marks,
        favours=(f"Favours {group_label}", f"Favours {reference_label}"),
        xlabel="Hazard ratio (log scale)",
        footnotes=footnotes,
        ref_lines=[(0.0, _GREY, "-"), (primary.estimate, _GREY, ":")],
        spans=spans,
        rule_before=[n_study_rows],
    )


def _check_fits(labels: Sequence[str], fits: Sequence, what: str) -> None:
    if not fits:
        raise ValueError(f"{what} needs at least one fit")
    if len(labels) != len(fits):
        raise ValueError(f"{what}: {len(labels)} labels for {len(fits)} fits")
    for lab, m in zip(labels, fits, strict=True):
        _check_result(m, f"{what} ({lab})")


def leave_one_out_figure(
    labels: Sequence[str],
    fits: Sequence,
    overall,
    *,
    group_label: str,
    reference_label: str,
    title: str = "",
    max_rows: int = FOREST_MAX_STUDIES,
) -> Figure:
    """Leave-one-out analysis as a forest (metafor ``leave1out()``): the pooled HR with each study omitted.

    One row "Omitting <label>" per fit (``fits[i]`` pooled without study ``labels[i]``) with its HR [CI] and
    I², then the estimate over all studies (``overall``) as a diamond and a dotted reference line, so a study
    that moves the estimate stands out. HR < 1 lies left, under "← Favours ``group_label``". With more than
    ``max_rows`` studies, the ``max_rows`` omissions that move the estimate most are drawn (in study order)
    and a note row counts the others (every row is in the table ``analysis_leave1out``).

    Raises
    ------
    ValueError
        No fits, as many labels as fits not given, or a non-finite estimate.
    """
    _check_fits(labels, fits, "leave_one_out_figure")
    _check_result(overall, "leave_one_out_figure (overall)")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    pct = f"{100 * overall.level:g}%"
    k_each = fits[0].k
    labels, fits = list(labels), list(fits)
    hidden = max(len(fits) - max_rows, 0)
    if hidden:  # the omissions that move the pooled estimate most
        shift = sorted(range(len(fits)), key=lambda i: (-abs(fits[i].estimate - overall.estimate), i))[:max_rows]
        keep = sorted(shift)
        labels, fits = [labels[i] for i in keep], [fits[i] for i in keep]
    marks = [_Mark("point", m.estimate, m.lower, m.upper) for m in fits]
    names = [f"Omitting {lab}" for lab in labels]
    hr = [_fmt_ci(m.estimate, m.lower, m.upper) for m in fits]
    i2 = [f"{m.i2:.1f}%" for m in fits]
    if hidden:
        marks.append(_Mark())
        names.append(f"… {hidden} other omissions, each moving the estimate less (all in analysis_leave1out)")
        hr.append("")
        i2.append("")
    names += ["", f"All studies ({_model_label(overall)}, k = {overall.k})"]
    hr += ["", _fmt_ci(overall.estimate, overall.lower, overall.upper)]
    i2 += ["", f"{overall.i2:.1f}%"]
    marks += [_Mark(), _Mark("diamond", overall.estimate, overall.lower, overall.upper)]
    bold = ["normal"] * (len(names) - 1) + ["bold"]
    tab = _Table(
        title=title,
        left=[_Column("Study omitted", names, "left", bold)],
        right=[_Column("I²", i2, "right", bold), _Column(f"HR [{pct} CI]", hr, "right", bold)],
        marks=marks,
        favours=(f"Favours {group_label}", f"Favours {reference_label}"),
        xlabel="Pooled hazard ratio (log scale)",
        footnotes=[f"Each row pools the other {k_each} studies: {_model_label(fits[0])}."],
        ref_lines=[(0.0, _GREY, "-"), (overall.estimate, _GREY, ":")],
        rule_before=[len(names) - 2],
    )
    with matplotlib.rc_context(STYLE):
        return _table_figure(tab)


def cumulative_figure(
    labels: Sequence[str],
    fits: Sequence,
    *,
    group_label: str,
    reference_label: str,
    title: str = "",
    max_rows: int = FOREST_MAX_STUDIES,
) -> Figure:
    """Cumulative meta-analysis as a forest (metafor ``cumul()``): the pooled HR as each study is added.

    Row i reads "+ <labels[i]>" with k (the studies pooled so far, ``fits[i].k``) and the pooled HR [CI] after
    adding it; for a living review, how the estimate and its precision moved. The last row is drawn as a
    diamond (the current estimate). HR < 1 lies left, under "← Favours ``group_label``". With more than
    ``max_rows`` steps, evenly spaced steps (the first and the last always) are drawn and the footnote says
    so; every step is in the table ``analysis_cumulative``.

    Raises
    ------
    ValueError
        No fits, as many labels as fits not given, or a non-finite estimate.
    """
    _check_fits(labels, fits, "cumulative_figure")
    if max_rows < 2:
        raise ValueError(f"max_rows must be >= 2, got {max_rows}")
    pct = f"{100 * fits[-1].level:g}%"
    n_steps = len(fits)
    if n_steps > max_rows:
        keep = sorted({int(i) for i in np.rint(np.linspace(0, n_steps - 1, max_rows))})
        labels, fits = [labels[i] for i in keep], [fits[i] for i in keep]
    last = len(fits) - 1
    marks = [_Mark("diamond" if i == last else "point", m.estimate, m.lower, m.upper) for i, m in enumerate(fits)]
    bold = ["bold" if i == last else "normal" for i in range(len(fits))]
    tab = _Table(
        title=title,
        left=[
            _Column("Study added", [f"+ {lab}" for lab in labels], "left", bold),
            _Column("k", [str(m.k) for m in fits], "right", bold),
        ],
        right=[
            _Column("I²", [f"{m.i2:.1f}%" for m in fits], "right", bold),
            _Column(f"HR [{pct} CI]", [_fmt_ci(m.estimate, m.lower, m.upper) for m in fits], "right", bold),
        ],
        marks=marks,
        favours=(f"Favours {group_label}", f"Favours {reference_label}"),
        xlabel="Pooled hazard ratio (log scale)",
        footnotes=[f"Each row pools the studies up to and including it: {_model_label(fits[-1])}."]
        + ([f"{len(fits)} of {n_steps} steps shown, evenly spaced."] if n_steps > len(fits) else []),
        ref_lines=[(0.0, _GREY, "-"), (fits[-1].estimate, _GREY, ":")],
    )
    with matplotlib.rc_context(STYLE):
        return _table_figure(tab)


def funnel_figure(
    yi: Sequence[float] | np.ndarray,
    sei: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    pooled,
    *,
    egger_text: str | None = None,
    egger_line: tuple[float, float] | None = None,
    title: str = "",
) -> Figure:
    """Funnel plot as metafor ``funnel(res)``: log HR (ticks labelled as HR) against its SE, SE axis inverted.

    The pseudo confidence region is ``pooled.estimate ± z·SE`` (z for ``pooled.level``) from SE = 0 down to the
    largest SE, drawn as a light triangle with the pooled estimate as a vertical line. ``egger_line = (b0, b1)``
    draws Egger's regression ``yi = b0 + b1·sei`` (metafor ``regtest(res, model="lm", predictor="sei")``);
    ``egger_text`` is printed under the plot. Studies outside the region are labelled where the labels do not
    collide.

    Raises
    ------
    ValueError
        Inputs of different lengths or empty, a non-finite estimate, an SE not finite and positive.
    """
    y = np.asarray(yi, float)
    s = np.asarray(sei, float)
    labels = list(labels)
    if y.ndim != 1 or y.size == 0 or s.shape != y.shape or len(labels) != y.size:
        raise ValueError("funnel_figure: yi, sei and labels must be non-empty and of the same length")
    if not np.all(np.isfinite(y)):
        raise ValueError("funnel_figure: yi must be finite")
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError("funnel_figure: sei must be finite and > 0")
    _check_result(pooled, "funnel_figure (pooled)")
    if egger_line is not None and not all(math.isfinite(v) for v in egger_line):
        raise ValueError("funnel_figure: egger_line must be two finite numbers (b0, b1)")
    with matplotlib.rc_context(STYLE):
        return _funnel(y, s, labels, pooled, egger_text, egger_line, title)


def _funnel(y, s, labels, pooled, egger_text, egger_line, title) -> Figure:
    width, plot_h = 5.5, 3.6
    fig = _figure((width, 4.0))
    left, right = 0.75, 0.25
    plot_w = width - left - right
    title_lines = wrap_to_width(fig, title, width - 2 * _EDGE_IN, fontsize=_TITLE_FONT, weight="bold")
    foot = wrap_to_width(fig, egger_text or "", width - 2 * _EDGE_IN, fontsize=_FONT)
    title_h = 0.27 * len(title_lines) + 0.1
    foot_h = 0.17 * len(foot) + (0.1 if foot else 0.0)
    height = 2 * _EDGE_IN + title_h + plot_h + 0.5 + foot_h
    fig.set_size_inches(width, height)
    for k, line in enumerate(title_lines):
        fig.text(
            _EDGE_IN / width,
            1 - (_EDGE_IN + 0.135 + 0.27 * k) / height,
            line,
            fontsize=_TITLE_FONT,
            weight="bold",
            va="center",
        )
    ax = fig.add_axes((left / width, (_EDGE_IN + foot_h + 0.5) / height, plot_w / width, plot_h / height))
    z = float(norm.ppf(0.5 + pooled.level / 2))
    se_max = float(s.max()) * 1.08
    est = pooled.estimate
    ax.fill([est - z * se_max, est, est + z * se_max], [se_max, 0, se_max], color="#f0f0f0", ec="none", zorder=0)
    ax.plot([est - z * se_max, est, est + z * se_max], [se_max, 0, se_max], color=_GREY, lw=0.8, ls="--")
    ax.axvline(est, color=_DARK, lw=0.9, zorder=1)
    ax.axvline(0.0, color=_GREY, lw=0.6, ls=":", zorder=1)
    if egger_line is not None:
        b0, b1 = egger_line
        ax.plot([b0, b0 + b1 * se_max], [0, se_max], color=OKABE_ITO[1], lw=1.2, zorder=2, label="Egger regression")
    ax.plot(y, s, "o", ms=4.5, mfc="black", mec="white", mew=0.5, zorder=3)
    lo = min(float(y.min()), est - z * se_max) - 0.1
    hi = max(float(y.max()), est + z * se_max) + 0.1
    ax.set_xlim(lo, hi)
    ax.set_ylim(se_max, 0)
    _, _, ticks = _axis_range([_Mark("bar", est, lo, hi)])
    ax.set_xticks([math.log(t) for t in ticks if lo <= math.log(t) <= hi])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{math.exp(v):.3g}"))
    ax.set_xlabel("Hazard ratio (log scale)", fontsize=_FONT + 0.5)
    ax.set_ylabel("Standard error of log HR", fontsize=_FONT + 0.5)
    ax.tick_params(labelsize=_FONT)
    if egger_line is not None:
        ax.legend(loc="best", frameon=False, fontsize=_FONT)
    # label the studies outside the pseudo CI region, skipping any label that would collide
    renderer = fig.canvas.get_renderer()
    placed = [ax.get_legend().get_window_extent(renderer)] if ax.get_legend() else []
    axbox = ax.get_window_extent(renderer)
    outside = np.abs(y - est) > z * s
    for i in np.flatnonzero(outside):
        # right of the point when it lies right of the pooled estimate, else left; the other side if that fails
        for right in (y[i] >= est, y[i] < est):
            t = ax.annotate(
                labels[i],
                (y[i], s[i]),
                xytext=(4 if right else -4, 0),
                textcoords="offset points",
                ha="left" if right else "right",
                va="center",
                fontsize=_FONT - 0.5,
            )
            box = t.get_window_extent(renderer)
            inside = box.x0 >= axbox.x0 and box.x1 <= axbox.x1 and box.y0 >= axbox.y0 and box.y1 <= axbox.y1
            if inside and not any(box.overlaps(b) for b in placed):
                placed.append(box)
                break
            t.remove()
    for k, line in enumerate(foot):
        fig.text(
            _EDGE_IN / width,
            (_EDGE_IN + 0.085 + 0.17 * (len(foot) - 1 - k)) / height,
            line,
            va="center",
            fontsize=_FONT,
        )
    return fig
