"""The figures of one pooled analysis, written as journal files (PNG 300 dpi, SVG, PDF) under one folder.

For an analysis ``<aid>`` (:class:`~meta_bm.analysis.pooled.PooledResult`):

``km_<aid>``                 Kaplan–Meier curves with CI bands and the numbers at risk (:mod:`.km_plot`);
``forest_<aid>_<group>``     per contrast with a meta-analysis: studies and the pooled REML, REML with HKSJ
                             and fixed-effect estimates, the REML prediction interval (:mod:`.meta_plots`);
``leave1out_<aid>_<group>``  REML refitted without each study;
``cumulative_<aid>_<group>`` REML as the studies arrived (publication year);
``funnel_<aid>_<group>``     only with at least ten studies, with Egger's regression line and tests.

Files of an earlier run of the same analysis that this run does not write are removed, so the folder
never shows a figure of a contrast that no longer exists.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

__all__ = ["FIGURE_KINDS", "write_analysis_figures"]

FIGURE_KINDS = ("km", "forest", "leave1out", "cumulative", "funnel")
# The pooled models a forest plot shows: the headline random-effects model, its HKSJ interval, fixed effect.
FOREST_MODELS = ("REML", "REML+HKSJ", "FE")
# The KM plot's y axis names the endpoint, as journals label it.
_Y_LABELS = {
    "os": "Overall survival",
    "pfs": "Progression-free survival",
    "local_pfs": "Local progression-free survival",
}


def _egger_text(tests) -> tuple[str, tuple[float, float] | None]:
    parts, line = [], None
    for t in tests:
        if t.model == "rma":
            parts.append(f"Egger (mixed-effects, metafor regtest): z = {t.statistic:.2f}, p = {_p(t.p_value)}")
        else:
            parts.append(f"classic Egger (weighted regression): t({t.df}) = {t.statistic:.2f}, p = {_p(t.p_value)}")
            line = (float(t.limit_estimate), float(t.slope))
    return "; ".join(parts), line


def _order(per_study) -> str:
    """How the cumulative analysis added the studies (see :func:`meta_bm.analysis.pooled.analyze`)."""
    missing = per_study["year"].null_count()
    if missing == per_study.height:
        return "in study order (no publication years)"
    return "by publication year" + (", studies without a year last" if missing else "")


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def write_analysis_figures(result, figs_dir: str | Path) -> dict[str, Path]:
    """Draw and save every figure of ``result``; return ``{stem: png path}`` of what was written."""
    from meta_bm.reports.figures import save_figure
    from meta_bm.reports.km_plot import km_figure
    from meta_bm.reports.meta_plots import (
        ForestRow,
        cumulative_figure,
        forest_figure,
        funnel_figure,
        leave_one_out_figure,
    )

    figs = Path(figs_dir)
    figs.mkdir(parents=True, exist_ok=True)
    a = result.analysis
    labels = {g.id: g.label for g in a.group_defs()}
    ref_label = labels[a.reference]
    written: dict[str, Path] = {}

    def save(fig, stem: str) -> None:
        written[stem] = save_figure(fig, figs / stem)[0]

    if result.groups:
        save(km_figure(result, title=a.title, ylabel=_Y_LABELS.get(a.endpoint, "Survival probability")), f"km_{a.id}")
    for contrast, models in result.meta.items():
        eff = result.per_study.filter(pl.col("group") == contrast)
        group_label = labels.get(contrast, contrast)
        title = a.title if len(result.meta) == 1 else f"{a.title}: {group_label} vs {ref_label}"
        sides = {"group_label": group_label, "reference_label": ref_label}
        rows = [
            ForestRow(
                r["study_label"], r["events_group"], r["n_group"], r["events_reference"], r["n_reference"],
                r["log_hr"], r["se"],
            )
            for r in eff.iter_rows(named=True)
        ]  # fmt: skip
        pooled = {k: models[k] for k in FOREST_MODELS if k in models}
        save(forest_figure(rows, pooled, title=title, **sides), f"forest_{a.id}_{contrast}")
        loo = result.leave1out.get(contrast)
        if loo is not None:
            save(
                leave_one_out_figure(loo.labels, loo.fits, models["REML"], title=f"{title}: leave-one-out", **sides),
                f"leave1out_{a.id}_{contrast}",
            )
        cum = result.cumulative.get(contrast)
        if cum is not None:
            save(
                cumulative_figure(cum.labels, cum.fits, title=f"{title}: cumulative, {_order(eff)}", **sides),
                f"cumulative_{a.id}_{contrast}",
            )
        if contrast in result.egger:
            text, line = _egger_text(result.egger[contrast])
            fig = funnel_figure(
                eff["log_hr"].to_numpy(),
                eff["se"].to_numpy(),
                eff["study_label"].to_list(),
                models["REML"],
                egger_text=text,
                egger_line=line,
                title=f"{title}: funnel plot",
            )
            save(fig, f"funnel_{a.id}_{contrast}")
    # stale files of this analysis only: exact stems (another analysis id may share this one's prefix), the
    # per-contrast names and the single forest_<aid> of earlier versions
    ours = {f"km_{a.id}", f"forest_{a.id}"} | {f"{k}_{a.id}_{g.id}" for k in FIGURE_KINDS[1:] for g in a.group_defs()}
    for stem in ours - set(written):
        for old in figs.glob(f"{stem}.*"):
            if old.suffix in (".png", ".svg", ".pdf"):
                old.unlink()
    return written
