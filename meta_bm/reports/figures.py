"""Publication figures (matplotlib, Okabe–Ito colour-blind-safe palette).

* :func:`km_figure`: KM curves per group with censoring marks, medians marked, HR and p annotated,
  numbers at risk in a table under the axis;
* :func:`forest_figure`: per-study hazard ratios and the pooled FE / DL / REML estimates;
* :func:`overlay_figure`: digitized clicks vs the KM of the reconstructed IPD, with published vs
  reconstructed numbers at risk.

:func:`save_figure` writes full-size PNG and SVG; :func:`png_bytes` gives a small PNG for UI metadata.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from meta_bm.survival.km import KaplanMeier, kaplan_meier

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none"})


def _nice_ticks(t_max: float) -> np.ndarray:
    raw = t_max / 6
    mag = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    step = next((m * mag for m in (1, 2, 2.5, 3, 5, 6, 10) if m * mag >= raw), 10 * mag)
    return np.arange(0, t_max + 1e-9, step)


def _fmt_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def km_figure(result, title: str | None = None, max_time: float | None = None):
    """KM curves of a :class:`~meta_bm.analysis.pooled.PooledResult` with a numbers-at-risk table."""
    groups = result.groups
    t_end = max_time or max((float(g.km.time[-1]) for g in groups if g.km.time.size), default=1.0)
    ticks = _nice_ticks(t_end)
    fig = plt.figure(figsize=(7.0, 5.2))
    ax = fig.add_axes((0.22, 0.36, 0.74, 0.56))
    tab = fig.add_axes((0.22, 0.05, 0.74, 0.2))
    for i, g in enumerate(groups):
        color = OKABE_ITO[i % len(OKABE_ITO)]
        km: KaplanMeier = g.km
        x = np.concatenate(([0.0], km.time))
        y = np.concatenate(([1.0], km.survival))
        ax.step(x, y, where="post", color=color, lw=1.6, label=f"{g.label} (n={g.n}, events={g.events})")
        cens = km.n_censor > 0
        ax.plot(km.time[cens], km.survival[cens], "|", color=color, ms=5, mew=0.8)
        med = g.medians["log"].median
        if np.isfinite(med):
            ax.plot([0, med, med], [0.5, 0.5, 0], ls=":", color=color, lw=0.9)
            ax.annotate(f"{med:.1f}", (med, 0.02), color=color, fontsize=7, ha="left")
        at_risk = km.at_risk(ticks)
        tab.text(
            -0.06,
            1 - (i + 0.5) / max(len(groups), 1),
            g.label,
            transform=tab.transAxes,
            ha="right",
            va="center",
            fontsize=7,
            color=color,
        )
        for tt, n in zip(ticks, at_risk, strict=True):
            tab.text(
                tt,
                1 - (i + 0.5) / max(len(groups), 1),
                str(int(n)),
                ha="center",
                va="center",
                fontsize=7,
                color=color,
                transform=tab.get_xaxis_transform(),
            )
    ax.set_xlim(0, ticks[-1] if ticks[-1] >= t_end else t_end)
    ax.set_xticks(ticks)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Survival probability")
    ax.set_xlabel("Months since recurrence")
    ax.set_title(title or result.analysis.title, fontsize=10, loc="left")
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    cox = result.cox.get("unstratified")
    lines = []
    if cox is not None:
        ref = next(g.label for g in groups if g.group == result.analysis.reference)
        for i, name in enumerate(cox.names):
            label = next(g.label for g in groups if g.group == name)
            ci = f"{cox.hr[i]:.2f} [{cox.hr_lower[i]:.2f}–{cox.hr_upper[i]:.2f}]"
            lines.append(f"HR {label} vs {ref}: {ci} (Cox, Efron)")
    if result.logrank is not None:
        lines.append(f"log-rank {_fmt_p(result.logrank.p_value)}")
    if lines:
        ax.text(0.98, 0.80, "\n".join(lines), transform=ax.transAxes, fontsize=7.5, va="top", ha="right")
    tab.set_xlim(ax.get_xlim())
    tab.set_ylim(0, 1)
    tab.axis("off")
    tab.set_title("Number at risk", fontsize=8, loc="left")
    return fig


# A forest plot shows at most this many studies (those with the most weight); with more, one row
# says how many are left out. Hundreds of rows are unreadable, and drawing them took seconds per
# figure (1,000 studies: a 70,000-pixel PNG).
FOREST_MAX_STUDIES = 60


def forest_figure(
    per_study: pl.DataFrame,
    pooled: dict,
    title: str = "",
    reference_label: str = "",
    max_studies: int = FOREST_MAX_STUDIES,
):
    """Per-study HRs (squares sized by precision) and pooled FE / DL / REML diamonds, log scale.

    With more than ``max_studies`` studies, the ``max_studies`` with the largest inverse-variance
    weight are drawn (in study order) and one row counts the others; the pooled estimates always
    use every study (each is in the analysis' table ``analysis_study_effects``).
    """
    rows = per_study.sort("study_id").to_dicts()
    left_out = max(len(rows) - max_studies, 0)
    if left_out:
        heaviest = sorted(range(len(rows)), key=lambda i: (rows[i]["se"], i))[:max_studies]
        rows = [rows[i] for i in sorted(heaviest)]
    n = len(rows) + len(pooled) + (1 if left_out else 0)
    fig, ax = plt.subplots(figsize=(7.0, 0.35 * n + 1.4))
    y = n
    for r in rows:
        w = 1 / r["se"] ** 2
        ax.plot([r["hr_lower"], r["hr_upper"]], [y, y], color="#333333", lw=1)
        ax.plot(r["hr"], y, "s", color=OKABE_ITO[0], ms=3 + 6 * min(w / 20, 1))
        ax.text(
            1.02,
            y,
            f"{r['hr']:.2f} [{r['hr_lower']:.2f}, {r['hr_upper']:.2f}]",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=7,
        )
        ax.text(-0.02, y, r["study_id"], transform=ax.get_yaxis_transform(), va="center", ha="right", fontsize=7)
        y -= 1
    if left_out:
        ax.text(
            -0.02,
            y,
            f"… {left_out} more studies (lower weight; every study is in analysis_study_effects)",
            transform=ax.get_yaxis_transform(),
            va="center",
            ha="right",
            fontsize=7,
            style="italic",
        )
        y -= 1
    for i, (method, m) in enumerate(pooled.items()):
        lo, est, hi = np.exp(m.lower), np.exp(m.estimate), np.exp(m.upper)
        color = OKABE_ITO[1 + i]
        ax.fill([lo, est, hi, est], [y, y + 0.3, y, y - 0.3], color=color)
        label = f"{method}" + (f" (tau²={m.tau2:.3f}, I²={m.i2:.0f}%)" if method != "FE" else "")
        ax.text(-0.02, y, label, transform=ax.get_yaxis_transform(), va="center", ha="right", fontsize=7)
        ax.text(1.02, y, f"{est:.2f} [{lo:.2f}, {hi:.2f}]", transform=ax.get_yaxis_transform(), va="center", fontsize=7)
        y -= 1
    ax.axvline(1.0, color="#999999", lw=0.8, ls="--")
    ax.set_xscale("log")
    lo_all = min([r["hr_lower"] for r in rows] + [float(np.exp(m.lower)) for m in pooled.values()] + [0.9])
    hi_all = max([r["hr_upper"] for r in rows] + [float(np.exp(m.upper)) for m in pooled.values()] + [1.1])
    ticks = [t for t in (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10, 20) if lo_all / 1.5 <= t <= hi_all * 1.5]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks([])
    ax.set_ylim(0.3, n + 0.7)
    ax.set_xlabel(f"Hazard ratio (vs {reference_label})" if reference_label else "Hazard ratio")
    ax.set_title(title, fontsize=9, loc="left")
    fig.subplots_adjust(left=0.28, right=0.72, bottom=0.18)
    return fig


def overlay_figure(
    click_time: np.ndarray,
    click_survival: np.ndarray,
    ipd_time: np.ndarray,
    ipd_event: np.ndarray,
    risk_fit: pl.DataFrame | None = None,
    title: str = "",
    time_unit: str = "",
):
    """Digitized clicks vs the reconstructed KM, with published vs reconstructed numbers at risk."""
    fig = plt.figure(figsize=(5.0, 3.8))
    ax = fig.add_axes((0.14, 0.34, 0.82, 0.56))
    km = kaplan_meier(ipd_time, ipd_event)
    ax.step(
        np.concatenate(([0.0], km.time)),
        np.concatenate(([1.0], km.survival)),
        where="post",
        color=OKABE_ITO[0],
        lw=1.3,
        label="reconstructed IPD (KM)",
    )
    ax.plot(click_time, click_survival, "o", ms=2.5, color=OKABE_ITO[1], alpha=0.8, label="digitized clicks")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Survival")
    ax.set_xlabel(f"Time ({time_unit})" if time_unit else "Time")
    ax.set_title(title, fontsize=9, loc="left")
    ax.legend(frameon=False, fontsize=7)
    if risk_fit is not None and risk_fit.height:
        tab = fig.add_axes((0.14, 0.04, 0.82, 0.14))
        tab.set_xlim(ax.get_xlim())
        tab.axis("off")
        for row, (name, col) in enumerate((("published", "published"), ("reconstructed", "reconstructed"))):
            tab.text(-0.06, 1 - (row + 0.5) / 2, name, transform=tab.transAxes, ha="right", va="center", fontsize=7)
            for tt, n in zip(risk_fit["time"].to_list(), risk_fit[col].to_list(), strict=True):
                tab.text(
                    tt,
                    1 - (row + 0.5) / 2,
                    str(n),
                    ha="center",
                    va="center",
                    fontsize=7,
                    transform=tab.get_xaxis_transform(),
                    color=OKABE_ITO[row],
                )
    return fig


def save_figure(fig, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` (200 dpi) and ``<stem>.svg``; close the figure."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(out[0], dpi=200)
    fig.savefig(out[1])
    plt.close(fig)
    return out


def png_bytes(fig, dpi: int = 60, close: bool = True) -> bytes:
    """A small PNG of ``fig`` (for UI metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        plt.close(fig)
    return buf.getvalue()
