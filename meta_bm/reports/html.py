"""The report: one self-contained HTML file (figures embedded) plus every table as CSV.

Sections: a synthetic-data banner when any study is synthetic; study characteristics; the
reconstruction fidelity of every curve; the published vs reconstructed figures of every curve (N,
events, median, HR: :func:`~meta_bm.studies.published.compare_published`); the results of every
analysis in the study's layout (median [95% CI] per group, HR [95% CI], p, n, events, next to the
published figures); the figures; and a methods paragraph generated from the analyses config and the
installed package versions.
"""

from __future__ import annotations

import base64
import html
from importlib import metadata
from pathlib import Path

import numpy as np
import polars as pl

from meta_bm.analysis.config import AnalysesConfig

PACKAGES = ("numpy", "scipy", "polars", "duckdb", "matplotlib", "dagster")


def _versions() -> str:
    out = []
    for p in PACKAGES:
        try:
            out.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(out)


def _num(x, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "NR"
    return f"{x:.{digits}f}"


def _p(p) -> str:
    if p is None or (isinstance(p, float) and not np.isfinite(p)):
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _table(df: pl.DataFrame, float_digits: int = 3) -> str:
    if df.height == 0:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = []
    for r in df.iter_rows():
        cells = []
        for v in r:
            if isinstance(v, float):
                v = _num(v, float_digits)
            cells.append(f"<td>{html.escape('' if v is None else str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _img(path: Path, alt: str, css_class: str = "") -> str:
    if not path.exists():
        return ""
    b64 = base64.b64encode(path.read_bytes()).decode()
    alt = html.escape(alt)
    cls = f' class="{css_class}"' if css_class else ""
    return f'<figure{cls}><img alt="{alt}" src="data:image/png;base64,{b64}"><figcaption>{alt}</figcaption></figure>'


_FIGURE_NAMES = {"n": "N", "events": "events", "median": "median", "hr": "HR", "none": "–"}
_VERDICTS = {
    "equal": "equal",
    "different": "different",
    "inside_ci": "inside the published CI",
    "outside_ci": "outside the published CI",
    "within_10pct": "within 10% (no published CI)",
    "off_by_more_than_10pct": "more than 10% off (no published CI)",
    "not_estimable": "not estimable",
    "nothing_published": "nothing published to compare",
}


def _round(x) -> str:
    """A median or HR rounded for reading: about 3 significant digits; NR when not reached or not given."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "NR"
    a = abs(x)
    return f"{x:.0f}" if a >= 100 else f"{x:.1f}" if a >= 10 else f"{x:.2f}"


def _estimate(value, lower, upper, whole: bool) -> str:
    if value is None and lower is None and upper is None:
        return "–"
    if whole:
        return "–" if value is None else f"{value:.0f}"
    out = _round(value) if value is not None else "NR"
    if lower is not None or upper is not None:
        out += f" [{_round(lower)}–{_round(upper)}]"
    return out


def published_layout(published: pl.DataFrame) -> pl.DataFrame:
    """The comparison frame of :func:`~meta_bm.studies.published.compare_published` for reading.

    Columns: Study, Curve, Figure (``HR vs <reference arm>`` for hazard ratios), Published [95% CI],
    Reconstructed [95% CI], Verdict (``OK`` / ``WARN`` / ``ERROR`` and the verdict in words), Detail.
    N and events are whole numbers; medians and HRs are rounded to about 3 significant digits; a CI
    limit that is not reached or not given shows as NR.
    """
    rows = []
    for r in published.iter_rows(named=True):
        whole = r["figure"] in ("n", "events")
        figure = _FIGURE_NAMES.get(r["figure"], r["figure"])
        if r["figure"] == "hr" and r["reference"]:
            figure = f"HR vs {r['reference']}"
        rows.append(
            {
                "Study": r["study_id"],
                "Curve": r["curve_id"],
                "Figure": figure,
                "Published [95% CI]": _estimate(r["published"], r["published_lower"], r["published_upper"], whole),
                "Reconstructed [95% CI]": _estimate(
                    r["reconstructed"], r["reconstructed_lower"], r["reconstructed_upper"], whole
                ),
                "Verdict": f"{r['severity'].upper()}: {_VERDICTS.get(r['verdict'], r['verdict'])}",
                "Detail": r["detail"] or "",
                "severity": r["severity"],
            }
        )
    schema = {k: pl.String for k in ("Study", "Curve", "Figure", "Published [95% CI]", "Reconstructed [95% CI]")}
    schema |= {"Verdict": pl.String, "Detail": pl.String, "severity": pl.String}
    return pl.DataFrame(rows, schema=schema)


def _published_section(published: pl.DataFrame) -> str:
    """The "Published vs reconstructed figures" table: one row per figure, coloured by severity."""
    parts = ["<h2>Published vs reconstructed figures</h2>"]
    if published.height == 0:
        return parts[0] + "<p><em>no literature curves</em></p>"
    counts = {s: int((published["severity"] == s).sum()) for s in ("ok", "warn", "error")}
    parts.append(
        f"<p>{published.height} comparisons: {counts['ok']} ok, {counts['warn']} warn, {counts['error']} error. "
        "N and events must equal the published ones (ERROR otherwise); the reconstructed median (Kaplan–Meier, "
        "95% CI by the log transform) and hazard ratio (Cox, Efron ties, against the curve of the reference arm, "
        "95% Wald CI) must lie inside the published CI, or within 10% of the published value when no CI is given "
        "(WARN otherwise). Medians are in the curve's own time unit.</p>"
    )
    layout = published_layout(published)
    cols = [c for c in layout.columns if c != "severity"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in layout.iter_rows(named=True):
        cells = "".join(f"<td>{html.escape(r[c])}</td>" for c in cols)
        body.append(f"<tr class='sev-{html.escape(r['severity'])}'>{cells}</tr>")
    parts.append(f"<table class='published'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return "\n".join(parts)


def results_layout(groups: pl.DataFrame, cox: pl.DataFrame, tests: pl.DataFrame) -> pl.DataFrame:
    """The study's layout: one row per group with median [95% CI] (log and SPSS), HR [95% CI], p, n, events."""
    rows = []
    for g in groups.iter_rows(named=True):
        fit = cox.filter((pl.col("model") == "unstratified") & (pl.col("group") == g["group"])) if cox.height else cox
        hr = "reference" if g["is_reference"] else "–"
        p = ""
        if fit.height:
            f = fit.row(0, named=True)
            hr = f"{f['hr']:.3f} [{f['hr_lower']:.3f}–{f['hr_upper']:.3f}]"
            p = _p(f["wald_p"])
        rows.append(
            {
                "group": g["label"],
                "n": g["n"],
                "events": g["events"],
                "median months [95% CI, log]": (
                    f"{_num(g['median'])} [{_num(g['median_log_lower'])}–{_num(g['median_log_upper'])}]"
                ),
                "[95% CI, SPSS ±1.96·SE]": f"[{_num(g['median_spss_lower'])}–{_num(g['median_spss_upper'])}]",
                "HR [95% CI] (Cox, Efron)": hr,
                "Wald p": p,
                "log-rank p": "",
            }
        )
    lr = tests.filter(pl.col("test") == "logrank") if tests.height else tests
    if lr.height and rows:
        rows[0]["log-rank p"] = _p(lr["p_value"][0])
    return pl.DataFrame(rows, infer_schema_length=None)


def methods_paragraph(config: AnalysesConfig, reconstruction_version: str, time_resolution: float) -> str:
    a_list = "; ".join(f"{a.id} ({a.endpoint}, reference {a.reference}, studies: {a.studies})" for a in config.analyses)
    return (
        "Individual patient data were reconstructed from digitized Kaplan–Meier curves with meta_bm's "
        f"reconstruction engine (version {reconstruction_version}; Guyot et al. 2012, extended: isotonic cleaning "
        "of the clicks, exact numbers at risk and total events, censoring estimated from step heights where no "
        "numbers at risk are published) and pooled with the institutional cohort, times in months "
        f"(rounded to {time_resolution:g} months so that unit conversions create no spurious ties). "
        "Survival was estimated by Kaplan–Meier with Greenwood standard errors. Median survival is given with "
        "95% confidence intervals by the log transformation (R survival's default), the log-log transformation, "
        "and symmetric median ± 1.96·SE(median) with the SE from the IBM SPSS Kaplan–Meier algorithm. Landmark "
        "survival uses log-transformed Greenwood intervals; restricted mean survival time is the area under "
        "the curve to the stated horizon. Groups were compared by the log-rank test (also stratified by study) "
        "and by Cox proportional hazards regression with Efron ties: unstratified, stratified by study, and with "
        "cluster-robust (sandwich) variance by study; proportional hazards were checked with the score test of "
        "scaled Schoenfeld residuals (as R cox.zph, KM time transform). Where studies reported both groups, "
        "per-study log hazard ratios were pooled by fixed-effect and random-effects models (DerSimonian–Laird "
        "and REML) with tau², I², Cochran's Q and 95% prediction intervals. Shared-frailty models were not "
        f"fitted. Analyses: {a_list}. Software: {_versions()}."
    )


def _rejected_section(rejected: pl.DataFrame) -> str:
    """Studies left out of this version of the report's analyses, with every problem (file, row or key)."""
    items = []
    for r in rejected.iter_rows(named=True):
        problems = "".join(f"<li>{html.escape(p)}</li>" for p in (r["message"] or "").splitlines())
        what = "rejected (its folder could not be loaded)" if r["status"] == "rejected" else f"failed at {r['stage']}"
        items.append(f"<li><b>{html.escape(r['study_id'])}</b>: {what}<ul>{problems}</ul></li>")
    return (
        f"<h2>Rejected studies ({rejected.height})</h2><p>The current folder of each study below could not be "
        "used. Its previously stored rows, if any, are the ones analysed; fix the folder and rerun.</p>"
        f"<ul class='rejected'>{''.join(items)}</ul>"
    )


def write_report(
    out_dir: str | Path,
    config: AnalysesConfig,
    tables: dict[str, pl.DataFrame],
    studies: pl.DataFrame,
    fidelity: pl.DataFrame,
    figures_dir: Path,
    reconstruction_version: str,
    time_resolution: float,
    synthetic: bool,
    *,
    published: pl.DataFrame | None = None,
    rejected: pl.DataFrame | None = None,
) -> Path:
    """Write ``report.html`` and ``tables/*.csv`` under ``out_dir``; return the HTML path.

    ``rejected``: studies whose last folder version could not be used (``study_id, status, stage,
    message``); listed with every problem near the top, since their stored rows (if any) are older.

    ``published``: the :func:`~meta_bm.studies.published.compare_published` frames of every study,
    concatenated; when given, the report shows them as "Published vs reconstructed figures" and writes
    ``tables/published_comparison.csv``.
    """
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    csvs = {**tables, "study_characteristics": studies, "reconstruction_fidelity": fidelity}
    if published is not None:
        csvs["published_comparison"] = published
    if rejected is not None:
        csvs["rejected_studies"] = rejected
    for name, df in csvs.items():
        df.write_csv(out / "tables" / f"{name}.csv")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>meta_bm report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
        ".banner{background:#fff3cd;border:2px solid #d39e00;padding:.8em;font-weight:bold}"
        "figure{display:inline-block;margin:.5em}img{max-width:520px}figcaption{font-size:11px}"
        "figure.wide img{max-width:100%}"
        "table.published td{text-align:left}tr.sev-warn td{background:#fff3cd}tr.sev-error td{background:#f8d7da}",
        "</style></head><body><h1>meta_bm: pooled survival after recurrence of brain metastases</h1>",
    ]
    if synthetic:
        parts.append(
            "<p class='banner'>SYNTHETIC DATA: some or all studies in this report are simulated examples shipped "
            "with meta_bm. The results are not evidence about any treatment.</p>"
        )
    if rejected is not None and rejected.height:
        parts.append(_rejected_section(rejected))
    parts += ["<h2>Studies</h2>", _table(studies), "<h2>Reconstruction fidelity per curve</h2>", _table(fidelity, 4)]
    if published is not None:
        parts.append(_published_section(published))
    parts.append("<h2>Results</h2>")
    groups, cox, tests = tables["analysis_groups"], tables["analysis_cox"], tables["analysis_tests"]
    meta = tables.get("analysis_meta", pl.DataFrame())
    for a in config.analyses:
        parts.append(f"<h3>{html.escape(a.title)}</h3>")
        g = groups.filter(pl.col("analysis_id") == a.id) if groups.height else groups
        if g.height == 0:
            parts.append("<p><em>no patients for this analysis</em></p>")
            continue
        parts.append(
            _table(
                results_layout(
                    g,
                    cox.filter(pl.col("analysis_id") == a.id) if cox.height else cox,
                    tests.filter(pl.col("analysis_id") == a.id) if tests.height else tests,
                )
            )
        )
        if a.published:
            pub = ", ".join(f"{k} {v}" for k, v in a.published.items())
            parts.append(f"<p>Published (Basaran et al. 2025): {html.escape(pub)}</p>")
        c = cox.filter(pl.col("analysis_id") == a.id) if cox.height else cox
        if c.height:
            parts.append(
                _table(
                    c.select(
                        "model",
                        "group",
                        "hr",
                        "hr_lower",
                        "hr_upper",
                        "se",
                        "robust_se",
                        "wald_p",
                        "lr_p",
                        "n",
                        "events",
                    )
                )
            )
        m = meta.filter(pl.col("analysis_id") == a.id) if meta.height else meta
        if m.height:
            parts.append(
                _table(
                    m.select(
                        "group",
                        "method",
                        "k",
                        "hr",
                        "hr_lower",
                        "hr_upper",
                        "p_value",
                        "tau2",
                        "i2",
                        "q",
                        "q_p",
                        "pi_lower",
                        "pi_upper",
                    )
                )
            )
        parts.append(_img(figures_dir / f"km_{a.id}.png", f"Kaplan–Meier: {a.title}"))
        parts.append(_img(figures_dir / f"forest_{a.id}.png", f"Forest plot: {a.title}"))
    overlays = sorted(figures_dir.glob("study_*.png"))
    if overlays:
        parts.append("<h2>Reconstructions: digitized vs reconstructed, per study</h2>")
        parts += [_img(p, p.stem.removeprefix("study_"), "wide") for p in overlays]
    parts.append(
        "<h2>Methods</h2><p>" + html.escape(methods_paragraph(config, reconstruction_version, time_resolution))
    )
    parts.append("</p></body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
