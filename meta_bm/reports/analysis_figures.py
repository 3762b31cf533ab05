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

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import polars as pl

__all__ = ["FIGURE_KINDS", "FigurePool", "draw_figure", "figure_jobs", "write_analysis_figures"]

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


def figure_jobs(result) -> list[tuple[str, str, str | None]]:
    """The figures ``result`` gets, as ``(stem, kind, contrast)`` (contrast None for the KM plot)."""
    a = result.analysis
    jobs: list[tuple[str, str, str | None]] = [(f"km_{a.id}", "km", None)] if result.groups else []
    for contrast in result.meta:
        jobs.append((f"forest_{a.id}_{contrast}", "forest", contrast))
        if contrast in result.leave1out:
            jobs.append((f"leave1out_{a.id}_{contrast}", "leave1out", contrast))
        if contrast in result.cumulative:
            jobs.append((f"cumulative_{a.id}_{contrast}", "cumulative", contrast))
        if contrast in result.egger:
            jobs.append((f"funnel_{a.id}_{contrast}", "funnel", contrast))
    return jobs


def draw_figure(result, kind: str, contrast: str | None, figs_dir: str | Path) -> Path:
    """Draw one figure of :func:`figure_jobs` and save it (PNG, SVG, PDF); return the PNG path.

    A module-level function of picklable arguments, so a worker process can run it (:class:`FigurePool`).
    """
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
    a = result.analysis
    if kind == "km":
        fig = km_figure(result, title=a.title, ylabel=_Y_LABELS.get(a.endpoint, "Survival probability"))
        return save_figure(fig, figs / f"km_{a.id}")[0]
    labels = {g.id: g.label for g in a.group_defs()}
    ref_label = labels[a.reference]
    models = result.meta[contrast]
    eff = result.per_study.filter(pl.col("group") == contrast)
    group_label = labels.get(contrast, contrast)
    title = a.title if len(result.meta) == 1 else f"{a.title}: {group_label} vs {ref_label}"
    sides = {"group_label": group_label, "reference_label": ref_label}
    if kind == "forest":
        rows = [
            ForestRow(
                r["study_label"], r["events_group"], r["n_group"], r["events_reference"], r["n_reference"],
                r["log_hr"], r["se"],
            )
            for r in eff.iter_rows(named=True)
        ]  # fmt: skip
        pooled = {k: models[k] for k in FOREST_MODELS if k in models}
        fig = forest_figure(rows, pooled, title=title, **sides)
    elif kind == "leave1out":
        loo = result.leave1out[contrast]
        fig = leave_one_out_figure(loo.labels, loo.fits, models["REML"], title=f"{title}: leave-one-out", **sides)
    elif kind == "cumulative":
        cum = result.cumulative[contrast]
        fig = cumulative_figure(cum.labels, cum.fits, title=f"{title}: cumulative, {_order(eff)}", **sides)
    elif kind == "funnel":
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
    else:
        raise ValueError(f"unknown figure kind {kind!r}")
    return save_figure(fig, figs / f"{kind}_{a.id}_{contrast}")[0]


def _remove_stale(result, figs: Path, stems: set[str]) -> None:
    """Delete this analysis's figure files that ``stems`` does not include: exact stems only (another analysis
    id may share this one's prefix), the per-contrast names and the single ``forest_<aid>`` of earlier versions."""
    a = result.analysis
    ours = {f"km_{a.id}", f"forest_{a.id}"} | {f"{k}_{a.id}_{g.id}" for k in FIGURE_KINDS[1:] for g in a.group_defs()}
    for stem in ours - stems:
        for old in figs.glob(f"{stem}.*"):
            if old.suffix in (".png", ".svg", ".pdf"):
                old.unlink()


def _prepare(result, figs_dir: str | Path) -> tuple[Path, list[tuple[str, str, str | None]]]:
    """The folder (created) and the figure jobs of ``result``, its stale files removed."""
    figs = Path(figs_dir)
    figs.mkdir(parents=True, exist_ok=True)
    jobs = figure_jobs(result)
    _remove_stale(result, figs, {stem for stem, _, _ in jobs})
    return figs, jobs


def write_analysis_figures(result, figs_dir: str | Path) -> dict[str, Path]:
    """Draw and save every figure of ``result`` here, one after the other; return ``{stem: png path}``."""
    figs, jobs = _prepare(result, figs_dir)
    return {stem: draw_figure(result, kind, contrast, figs) for stem, kind, contrast in jobs}


class FigurePool:
    """The figures of several analyses drawn by worker processes while the caller goes on computing.

    Rendering and saving three formats is most of a pooled step's time (seconds per analysis), and the
    statistics leave a core idle; ``submit`` returns at once, ``wait`` collects every figure (re-raising a
    worker's error). Workers are started with ``spawn``: the caller's process may hold threads (Dagster's,
    polars' pool) that ``fork`` would copy in an undefined state. They start on the first ``submit`` only.

    Use (a worker is a separate process, so this is shown rather than run as a doctest)::

        with FigurePool(workers=2) as pool:
            pool.submit(result, "output/figures")   # returns at once
            written = pool.wait()                    # {analysis_id: {stem: png path}}
    """

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[str, dict[str, Future]] = {}

    def submit(self, result, figs_dir: str | Path) -> None:
        figs, jobs = _prepare(result, figs_dir)
        if self._pool is None and jobs:
            self._pool = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))
        self._futures[result.analysis.id] = {
            stem: self._pool.submit(draw_figure, result, kind, contrast, figs) for stem, kind, contrast in jobs
        }

    def wait(self) -> dict[str, dict[str, Path]]:
        """Every submitted figure, ``{analysis_id: {stem: png path}}``, once all are written."""
        return {aid: {stem: f.result() for stem, f in futs.items()} for aid, futs in self._futures.items()}

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)
