"""The report: one self-contained HTML file (figures embedded), printable on A4, plus every table as CSV.

The page is rendered from Jinja2 templates (``meta_bm/reports/templates``, autoescaped) with a print
stylesheet. This module turns the stored frames into a *view*: tables whose cells are already formatted
strings (:mod:`meta_bm.reports.formatting`), numbered captions, footnotes and flags; the templates only lay
it out. Sections:

1. Title page: title, date, meta_bm version, SYNTHETIC banner, contents.
2. Flow of studies (PRISMA-IPD style, drawn from the data with CSS boxes): folders found, rejected with
   reasons, included (literature / institutional), curves reconstructed vs held out by the fidelity gate,
   patients per endpoint and arm type.
3. Study characteristics; 4. reconstruction fidelity per curve (medians converted to months);
   5. published vs reconstructed figures per curve.
6. One section per configured comparison: survival by group, median CIs by three methods, landmark
   survival, Cox / frailty / log-rank, cox.zph, published vs ours, two-stage meta-analysis, Egger,
   leave-one-out, cumulative; every flag of ``analysis_flags`` printed next to the table it concerns.
7. Reconstruction figures per study; 8. methods generated from the config and what was computed;
   references.

Inputs that an older store lacks (a table absent, a column missing) are left out of the report, never an error.

Example
-------
>>> results_layout(pl.DataFrame(), pl.DataFrame(), pl.DataFrame()).height
0
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape

from meta_bm.analysis.config import AnalysesConfig, Analysis
from meta_bm.reports.formatting import (
    DASH,
    fmt_bool,
    fmt_diff,
    fmt_hr,
    fmt_int,
    fmt_median,
    fmt_months,
    fmt_num,
    fmt_p,
    fmt_pct_ci,
    fmt_rmse,
    is_missing,
    to_months,
)
from meta_bm.studies.citation import study_labels
from meta_bm.survival.km_inference import median_followup

__all__ = ["Cell", "Table", "published_layout", "results_layout", "write_report"]

PACKAGES = ("numpy", "scipy", "polars", "duckdb", "matplotlib", "jinja2", "dagster")
MAX_EMBED_BYTES = 14_000_000  # keep the single HTML file below ~15 MB
TITLE = "Pooled survival after recurrence of brain metastases: individual patient data meta-analysis"
PUBLISHED_SOURCE = "the published figures given in the analyses configuration"


# --------------------------------------------------------------------------------------------------- view


@dataclass(frozen=True)
class Cell:
    """One formatted table cell: ``text`` (escaped by the template), an optional footnote ``mark`` and a
    second line ``sub`` (e.g. numbers at risk)."""

    text: str
    mark: str = ""
    sub: str = ""


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    cls: str = ""  # "muted" (not the headline / unreliable), "flag" (a flagged result), "sev-warn", ...


@dataclass(frozen=True)
class Table:
    """A numbered table: ``id`` (HTML anchor), ``caption``, ``columns`` (readable headers), ``rows``,
    ``notes`` (footnotes; ``(mark, text)``, mark "" for a plain note), ``cls`` (CSS class)."""

    id: str
    number: int
    caption: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    notes: tuple[tuple[str, str], ...] = ()
    cls: str = ""
    kind: str = "table"


@dataclass(frozen=True)
class Figure:
    id: str
    number: int
    caption: str
    src: str  # a data: URI, or "" when left out for size
    kind: str = "figure"


@dataclass(frozen=True)
class Note:
    text: str
    severity: str = "info"  # "info" | "warn"
    kind: str = "note"


@dataclass(frozen=True)
class Heading:
    text: str
    kind: str = "heading"


class _TableBuilder:
    """Collects rows and footnotes (lettered a, b, c in order of first use) of one table."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self.rows: list[Row] = []
        self._notes: dict[str, str] = {}
        self.plain: list[str] = []

    def mark(self, text: str) -> str:
        if not text:
            return ""
        if text not in self._notes:
            self._notes[text] = "abcdefghijklmnopqrstuvwxyz"[len(self._notes) % 26]
        return self._notes[text]

    def add(self, cells: Iterable[Cell | str], cls: str = "") -> None:
        row = tuple(c if isinstance(c, Cell) else Cell(c) for c in cells)
        if len(row) != len(self.columns):
            raise ValueError(f"row of {len(row)} cells for {len(self.columns)} columns")
        self.rows.append(Row(row, cls))

    def notes(self) -> tuple[tuple[str, str], ...]:
        return tuple((m, t) for t, m in self._notes.items()) + tuple(("", t) for t in self.plain)


class _Doc:
    """Numbers tables and figures in document order and embeds figure files within a size budget."""

    def __init__(self, figures_dir: Path) -> None:
        self.figures_dir = figures_dir
        self.n_tables = 0
        self.n_figures = 0
        self.embedded = 0

    def table(self, id_: str, caption: str, b: _TableBuilder, cls: str = "") -> Table:
        self.n_tables += 1
        return Table(id_, self.n_tables, caption, b.columns, tuple(b.rows), b.notes(), cls)

    def figure(self, stem: str, caption: str) -> Figure | None:
        """The figure ``<stem>.svg`` (vector, preferred) or ``<stem>.png`` as a data URI; None if absent."""
        found = [
            (self.figures_dir / f"{stem}.{ext}", mime)
            for ext, mime in (("svg", "image/svg+xml"), ("png", "image/png"))
            if (self.figures_dir / f"{stem}.{ext}").is_file()
        ]
        if not found:
            return None
        path, mime = found[0]
        data = path.read_bytes()
        self.n_figures += 1
        if self.embedded + len(data) * 4 // 3 > MAX_EMBED_BYTES:
            return Figure(
                f"fig-{stem}", self.n_figures, f"{caption} (not embedded to keep the file small: {path.name})", ""
            )
        self.embedded += len(data) * 4 // 3
        return Figure(f"fig-{stem}", self.n_figures, caption, f"data:{mime};base64,{base64.b64encode(data).decode()}")


# ----------------------------------------------------------------------------------------------- helpers


def _require(df: pl.DataFrame, name: str, cols: Sequence[str]) -> None:
    """A non-empty input frame must have the columns the report reads (an empty one is simply left out)."""
    if not isinstance(df, pl.DataFrame):
        raise ValueError(f"{name}: expected a polars DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if df.height and missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")


def _col(df: pl.DataFrame | None, name: str) -> bool:
    return df is not None and name in df.columns


def _rows(df: pl.DataFrame | None) -> list[dict]:
    return [] if df is None or df.height == 0 else list(df.iter_rows(named=True))


def _sub(tables: dict[str, pl.DataFrame], name: str, aid: str) -> pl.DataFrame:
    """Rows of table ``name`` for analysis ``aid`` (empty when the table or its id column is absent)."""
    df = tables.get(name)
    if df is None or df.height == 0 or "analysis_id" not in df.columns:
        return pl.DataFrame()
    return df.filter(pl.col("analysis_id") == aid)


def _g(row: dict, key: str):
    """A value of a row; None when the column is absent or the value is NaN."""
    v = row.get(key)
    return None if is_missing(v) else v


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _human(code: str | None) -> str:
    """A snake_case code as words (``re_resection`` → ``re resection``)."""
    return DASH if code is None else str(code).replace("_", " ")


ENDPOINTS = {"os": "Overall survival", "local_pfs": "Local progression-free survival"}
MODALITIES = {"re_resection": "Re-resection", "re_srs": "Repeat SRS", "non_surgical": "Non-surgical management"}
_UNIT_SHORT = {"days": "d", "weeks": "wk", "months": "mo", "years": "y"}


def _group_label(gid: str, label: str | None) -> str:
    """A group's label; the config's default label (the id with spaces) of a known modality reads better."""
    if label is None or label == gid.replace("_", " "):
        return MODALITIES.get(gid, label or _human(gid))
    return label


def _resolution(x: float) -> str:
    """A small positive number as text: ``1e-06`` → ``10⁻⁶``, ``0.001`` → ``0.001``."""
    if x >= 0.001:
        return f"{x:g}"
    mant, exp = f"{x:.0e}".split("e")
    sup = str(int(exp)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"10{sup}" if mant == "1" else f"{mant} × 10{sup}"


def _endpoint(code: str) -> str:
    return ENDPOINTS.get(code, _cap(_human(code)))


def _endpoint_order(code: str) -> tuple[int, str]:
    return (list(ENDPOINTS).index(code) if code in ENDPOINTS else len(ENDPOINTS), code)


def _endpoint_short(code: str) -> str:
    return {"os": "OS", "local_pfs": "Local PFS"}.get(code, _cap(_human(code)))


def _versions() -> list[str]:
    out = [f"Python {platform.python_version()}"]
    for p in ("meta_bm", *PACKAGES):
        try:
            out.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def _meta_bm_version() -> str:
    try:
        return metadata.version("meta_bm")
    except metadata.PackageNotFoundError:
        from meta_bm import __version__

        return __version__


# ---------------------------------------------------------------------------- published vs reconstructed

_FIGURE_NAMES = {"n": "N", "events": "Events", "median": "Median", "hr": "HR", "none": DASH}
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


def _estimate(figure: str, value, lower, upper, unit: str | None) -> str:
    if value is None and lower is None and upper is None:
        return DASH
    if figure in ("n", "events"):
        return fmt_int(value)
    if figure == "median":
        conv = (lambda x: to_months(x, unit)) if unit else (lambda x: x)
        ci = lower is not None or upper is not None
        return fmt_median(conv(value), conv(lower), conv(upper), with_ci=ci)
    if figure == "hr":
        return fmt_hr(value, lower, upper)
    return fmt_num(value, 2)


def published_layout(
    published: pl.DataFrame,
    units: dict[tuple[str, str], str] | None = None,
    labels: dict[str, str] | None = None,
) -> pl.DataFrame:
    """The comparison frame of :func:`~meta_bm.studies.published.compare_published` for reading.

    Columns: Study, Curve, Figure (``HR vs <reference arm>`` for hazard ratios), Published [95% CI],
    Reconstructed [95% CI], Verdict (``OK`` / ``WARN`` / ``ERROR`` and the verdict in words), Detail,
    severity. N and events are whole numbers; medians are in months to 1 decimal when ``units`` gives the
    curve's time unit (``{(study_id, curve_id): unit}``; else in the curve's own unit); HRs as
    :func:`~meta_bm.reports.formatting.fmt_hr`; a CI limit that is not reached or not given shows as NR.
    ``labels`` maps study ids to "Author Year".

    >>> published_layout(pl.DataFrame()).columns[:3]
    ['Study', 'Curve', 'Figure']
    """
    cols = ("Study", "Curve", "Figure", "Published [95% CI]", "Reconstructed [95% CI]", "Verdict", "Detail")
    schema = {k: pl.String for k in (*cols, "severity")}
    rows = []
    for r in _rows(published):
        fig = r["figure"]
        unit = (units or {}).get((r["study_id"], r["curve_id"]))
        figure = _FIGURE_NAMES.get(fig, _human(fig))
        if fig == "hr" and r.get("reference"):
            figure = f"HR vs {r['reference']}"
        if fig == "median" and unit:
            figure = "Median, months"
        rows.append(
            {
                "Study": (labels or {}).get(r["study_id"], r["study_id"]),
                "Curve": r["curve_id"],
                "Figure": figure,
                "Published [95% CI]": _estimate(
                    fig, _g(r, "published"), _g(r, "published_lower"), _g(r, "published_upper"), unit
                ),
                "Reconstructed [95% CI]": _estimate(
                    fig, _g(r, "reconstructed"), _g(r, "reconstructed_lower"), _g(r, "reconstructed_upper"), unit
                ),
                "Verdict": f"{str(r['severity']).upper()}: {_VERDICTS.get(r['verdict'], _human(r['verdict']))}",
                "Detail": r.get("detail") or "",
                "severity": r["severity"],
            }
        )
    return pl.DataFrame(rows, schema=schema)


# -------------------------------------------------------------------------------- results (CLI + report)


def results_layout(groups: pl.DataFrame, cox: pl.DataFrame, tests: pl.DataFrame) -> pl.DataFrame:
    """The study's layout, one row per group: Group, N, Events, Median, months [95% CI] (log), SPSS-style
    95% CI, HR [95% CI] (unstratified Cox, Efron ties), p (Wald), log-rank p (first row). All cells are
    formatted strings (:mod:`meta_bm.reports.formatting`).

    >>> g = pl.DataFrame({"group": ["a", "b"], "label": ["A", "B"], "is_reference": [False, True],
    ...                   "n": [10, 12], "events": [8, 9], "median": [14.104, None],
    ...                   "median_log_lower": [11.96, 8.0], "median_log_upper": [16.7, None]})
    >>> c = pl.DataFrame({"model": ["unstratified"], "group": ["a"], "hr": [0.61], "hr_lower": [0.487],
    ...                   "hr_upper": [0.765], "wald_p": [1.8e-5]})
    >>> results_layout(g, c, pl.DataFrame()).row(0)
    ('A', '10', '8', '14.1 [12.0–16.7]', '–', '0.61 [0.49–0.77]', '<0.001', '–')
    """
    cols = (
        "Group",
        "N",
        "Events",
        "Median, months [95% CI, log]",
        "95% CI, SPSS ±1.96·SE",
        "HR [95% CI] (Cox, Efron)",
        "p (Wald)",
        "Log-rank p",
    )
    rows = []
    for g in _rows(groups):
        fit = [
            r for r in _rows(cox) if r.get("model", "unstratified") == "unstratified" and r.get("group") == g["group"]
        ]
        hr, p = ("reference", "") if g.get("is_reference") else (DASH, DASH)
        if fit:
            hr, p = (
                fmt_hr(_g(fit[0], "hr"), _g(fit[0], "hr_lower"), _g(fit[0], "hr_upper")),
                fmt_p(_g(fit[0], "wald_p")),
            )
        lo, hi = _g(g, "median_spss_lower"), _g(g, "median_spss_upper")
        spss = DASH if lo is None and hi is None else f"[{fmt_months(lo, 'NR')}{DASH}{fmt_months(hi, 'NR')}]"
        rows.append(
            (
                str(g.get("label") or g["group"]),
                fmt_int(_g(g, "n")),
                fmt_int(_g(g, "events")),
                fmt_median(_g(g, "median"), _g(g, "median_log_lower"), _g(g, "median_log_upper")),
                spss,
                hr,
                p,
                DASH,
            )
        )
    lr = [r for r in _rows(tests) if r.get("test") == "logrank"]
    if lr and rows:
        rows[0] = (*rows[0][:-1], fmt_p(_g(lr[0], "p_value")))
    return pl.DataFrame(rows, schema={c: pl.String for c in cols}, orient="row")


# ------------------------------------------------------------------------------------- per-comparison

# Which table each analysis flag is printed under ("top": the comparison's opening notes).
_FLAG_TARGET = {
    "few_clusters": "cox",
    "ph_rejected": "cox",
    "median_not_reached": "groups",
    "egger_not_done": "meta",
    "no_pooled_model": "meta",
}
_MODEL_NAMES = {
    "unstratified": "Cox, unstratified (headline)",
    "stratified_by_study": "Cox, stratified by study",
    "cluster_robust_by_study": "Cox, cluster-robust variance by study",
}
_META_NAMES = {
    ("FE", "z"): "Fixed effect (inverse variance)",
    ("DL", "z"): "Random effects, DerSimonian–Laird",
    ("REML", "z"): "Random effects, REML",
    ("DL", "knha"): "DerSimonian–Laird with HKSJ",
    ("REML", "knha"): "REML with HKSJ",
}


# The columns of a pooled model in the leave-one-out and cumulative tables.
_POOLED_COLUMNS = ("k", "HR [95% CI]", "p", "τ²", "I²")


def _pooled_cells(r: dict) -> list[str]:
    i2 = f"{fmt_num(_g(r, 'i2'), 0)}%" if _g(r, "i2") is not None else DASH
    hr = fmt_hr(_g(r, "hr"), _g(r, "hr_lower"), _g(r, "hr_upper"))
    return [fmt_int(_g(r, "k")), hr, fmt_p(_g(r, "p_value")), fmt_num(_g(r, "tau2"), 3), i2]


class _Comparison:
    """The items (tables, figures, notes) of one configured comparison."""

    def __init__(
        self, doc: _Doc, a: Analysis, tables: dict[str, pl.DataFrame], study_label: dict[str, str] | None = None
    ) -> None:
        self.doc, self.a, self.aid = doc, a, a.id
        self.study_label = study_label or {}
        self.t = {name: _sub(tables, name, a.id) for name in tables}
        self.groups = _rows(self.t.get("analysis_groups"))
        cfg_labels = {g.id: g.label for g in a.group_defs()}
        self.label = {**cfg_labels, **{g["group"]: str(g.get("label") or g["group"]) for g in self.groups}}
        self.ref = a.reference
        self.flags: dict[str, list[dict]] = {}
        for f in _rows(self.t.get("analysis_flags")):
            self.flags.setdefault(_FLAG_TARGET.get(str(f.get("flag")), "top"), []).append(f)
        self.used: set[str] = set()

    def lab(self, gid: str | None) -> str:
        return _group_label(gid, self.label.get(gid)) if gid else DASH

    def _flag_text(self, f: dict) -> str:
        who = f"{self.lab(f['group'])}: " if f.get("group") else ""
        return f"{who}{f.get('message') or _human(f.get('flag'))}"

    def take_flags(self, target: str, b: _TableBuilder) -> None:
        """Print the flags of ``target`` as notes of the table being built."""
        self.used.add(target)
        for f in self.flags.get(target, []):
            if self._flag_text(f) in b._notes:  # already a footnote of a cell of this table
                continue
            b.plain.append(("⚠ " if f.get("severity") == "warn" else "") + self._flag_text(f))

    def items(self) -> list:
        body: list = []
        if not self.groups:
            flags = [
                Note(self._flag_text(f), str(f.get("severity") or "info")) for fs in self.flags.values() for f in fs
            ]
            return [Note("No patients for this analysis in the store.", "warn"), *flags]
        body.append(self.groups_table())
        body.append(self.median_table())
        lm = self.landmark_table()
        if lm:
            body.append(lm)
        body.append(self.cox_table())
        zph = self.zph_table()
        if zph:
            body.append(zph)
        pub = self.published_table()
        if pub:
            body.append(pub)
        fig = self.doc.figure(f"km_{self.aid}", f"Kaplan–Meier estimates: {self.a.title}. Numbers at risk below.")
        if fig:
            body.append(fig)
        body.extend(self.meta_items())
        top = [
            Note(("⚠ " if f.get("severity") == "warn" else "") + self._flag_text(f), str(f.get("severity") or "info"))
            for target, fs in self.flags.items()
            if target == "top" or target not in self.used
            for f in fs
        ]
        return top + body

    # -- survival by group ------------------------------------------------------------------------------
    def _cox_rows(self, model: str) -> list[dict]:
        return [r for r in _rows(self.t.get("analysis_cox")) if r.get("model") == model]

    def _headline(self) -> dict[str, dict]:
        rows = _rows(self.t.get("analysis_cox"))
        head = [r for r in rows if r.get("headline")] or [r for r in rows if r.get("model") == "unstratified"]
        return {r["group"]: r for r in head}

    def _ph_rejected(self) -> dict[str, str]:
        out = {}
        for f in self.flags.get("cox", []):
            if f.get("flag") == "ph_rejected":
                out[f.get("group") or "*"] = self._flag_text(f)
        return out

    def groups_table(self) -> Table:
        h = self.a.rmst_horizon_months
        b = _TableBuilder(
            (
                "Group",
                "N",
                "Events",
                "Median, months [95% CI]",
                f"RMST to {fmt_num(h, 0)} months ± SE",
                "Follow-up, months: median (max)",
                "HR [95% CI]",
                "p",
            )
        )
        head, ph = self._headline(), self._ph_rejected()
        ci_note = b.mark("95% CI of the median by the log transformation (R survival's default).")
        for g in self.groups:
            gid = g["group"]
            med = fmt_median(_g(g, "median"), _g(g, "median_log_lower"), _g(g, "median_log_upper"))
            note = str(g.get("median_note") or "")
            if _g(g, "median") is None and not note:
                note = "Median not reached: the survival curve stays above 50%."
            med_cell = Cell(med, b.mark(note) if note else ci_note)
            if _g(g, "rmst") is not None:
                rmst = f"{fmt_months(_g(g, 'rmst'))} ± {fmt_num(_g(g, 'rmst_se'), 2)}"
            else:
                rmst = DASH
            fu = DASH
            if _g(g, "followup_median") is not None or _g(g, "followup_max") is not None:
                fu = f"{fmt_months(_g(g, 'followup_median'), 'NR')} ({fmt_months(_g(g, 'followup_max'))})"
            if g.get("is_reference") or gid == self.ref:
                hr, p = Cell("1 (reference)"), Cell("")
            elif gid in head:
                r = head[gid]
                mark = b.mark(ph.get(gid) or ph.get("*", "")) if (gid in ph or "*" in ph) else ""
                hr = Cell(fmt_hr(_g(r, "hr"), _g(r, "hr_lower"), _g(r, "hr_upper")), mark)
                p = Cell(fmt_p(_g(r, "wald_p")))
            else:
                hr, p = Cell(DASH), Cell(DASH)
            b.add([self.lab(gid), fmt_int(_g(g, "n")), fmt_int(_g(g, "events")), med_cell, rmst, fu, hr, p])
        b.plain.append(
            "HR: unstratified Cox model (Efron ties) against the reference group, Wald 95% CI and p. RMST: restricted "
            "mean survival time (area under the Kaplan–Meier curve). Follow-up: reverse Kaplan–Meier median."
        )
        self.take_flags("groups", b)
        return self.doc.table(f"tab-{self.aid}-groups", f"Survival by group: {self.a.title}", b)

    def median_table(self) -> Table:
        b = _TableBuilder(
            ("Group", "Median, months", "95% CI, log (R default)", "95% CI, log-log", "95% CI, SPSS ±1.96·SE", "SE")
        )
        for g in self.groups:

            def ci(lo: str, hi: str, g: dict = g) -> str:
                if _g(g, lo) is None and _g(g, hi) is None and _g(g, "median") is None:
                    return DASH
                return f"{fmt_months(_g(g, lo), 'NR')}{DASH}{fmt_months(_g(g, hi), 'NR')}"

            se = fmt_num(_g(g, "median_spss_se"), 2)
            b.add(
                [
                    self.lab(g["group"]),
                    fmt_median(_g(g, "median"), with_ci=False),
                    ci("median_log_lower", "median_log_upper"),
                    ci("median_loglog_lower", "median_loglog_upper"),
                    ci("median_spss_lower", "median_spss_upper"),
                    se,
                ]
            )
        b.plain.append(
            "log and log-log: Brookmeyer–Crowley intervals from the Greenwood variance (R survfit conf.type "
            "'log', the default, and 'log-log'); SPSS: median ± 1.96·SE(median), SE as in IBM SPSS. "
            "NR: limit not reached."
        )
        return self.doc.table(
            f"tab-{self.aid}-median",
            f"Median survival with 95% confidence intervals by three methods: {self.a.title}",
            b,
        )

    def landmark_table(self) -> Table | None:
        lms = _rows(self.t.get("analysis_landmarks"))
        if not lms:
            return None
        times = sorted({float(r["time"]) for r in lms})
        b = _TableBuilder(("Group", *[f"{fmt_num(t, 0 if t == int(t) else 1)} months, % [95% CI]" for t in times]))
        by = {(r["group"], float(r["time"])): r for r in lms}
        for g in self.groups:
            cells: list[Cell | str] = [self.lab(g["group"])]
            for t in times:
                r = by.get((g["group"], t))
                if r is None:
                    cells.append(DASH)
                    continue
                sub = f"{fmt_int(_g(r, 'n_risk'))} at risk" if _g(r, "n_risk") is not None else ""
                cells.append(Cell(fmt_pct_ci(_g(r, "survival"), _g(r, "lower"), _g(r, "upper")), sub=sub))
            b.add(cells)
        b.plain.append("Kaplan–Meier survival in whole percent; 95% CI by the log transformation of the Greenwood SE.")
        return self.doc.table(f"tab-{self.aid}-landmarks", f"Landmark survival: {self.a.title}", b)

    def _clusters(self, r: dict) -> int | None:
        if _g(r, "clusters") is not None:
            return int(r["clusters"])
        st = self.t.get("analysis_studies")
        return int(st["study_id"].n_unique()) if _col(st, "study_id") and st.height else None

    def cox_table(self) -> Table:
        contrasts = [g["group"] for g in self.groups if g["group"] != self.ref and not g.get("is_reference")]
        multi = len(contrasts) > 1
        cols = ("Model or test", *(("Comparison",) if multi else ()), "HR [95% CI]", "p", "Details")
        b = _TableBuilder(cols)
        ph = self._ph_rejected()
        few = {
            f.get("group") or "*": self._flag_text(f) for f in self.flags.get("cox", []) if f["flag"] == "few_clusters"
        }
        for model in ("unstratified", "stratified_by_study", "cluster_robust_by_study"):
            for r in self._cox_rows(model):
                gid = r.get("group")
                name, mark, cls = _MODEL_NAMES.get(model, _cap(_human(model))), "", ""
                detail = f"SE {fmt_num(_g(r, 'se'), 3)}"
                if model == "unstratified" and (gid in ph or "*" in ph):
                    mark = b.mark(ph.get(gid) or ph["*"])
                    cls = "flag"
                if model == "cluster_robust_by_study":
                    k = self._clusters(r)
                    detail = f"robust SE {fmt_num(_g(r, 'robust_se'), 3)}; {fmt_int(k)} clusters"
                    if gid in few or "*" in few or (k is not None and k < 10):
                        text = (
                            few.get(gid)
                            or few.get("*")
                            or (
                                f"Only {k} clusters: the sandwich variance is unreliable with fewer than 10 clusters; "
                                "shown for completeness, not the headline."
                            )
                        )
                        mark, cls = b.mark(text), "muted"
                if r.get("converged") is False:
                    mark = mark or b.mark("The model did not converge.")
                    cls = "muted"
                if _g(r, "lr_p") is not None:
                    detail += f"; LR p {fmt_p(_g(r, 'lr_p'))}"
                hr = Cell(fmt_hr(_g(r, "hr"), _g(r, "hr_lower"), _g(r, "hr_upper")), mark)
                b.add([name, *((self.lab(gid),) if multi else ()), hr, fmt_p(_g(r, "wald_p")), detail], cls)
        for r in _rows(self.t.get("analysis_frailty")):
            fit = r.get("fit")
            name = (
                "Shared gamma frailty by study (R's default fit)"
                if fit == "r_default"
                else "Shared gamma frailty by study (profile-likelihood maximum)"
                if fit == "profile"
                else f"Shared gamma frailty ({_human(fit)})"
            )
            detail = f"θ {fmt_num(_g(r, 'theta'), 3)}; {fmt_int(_g(r, 'clusters'))} studies"
            hr = fmt_hr(_g(r, "hr"), _g(r, "hr_lower"), _g(r, "hr_upper"))
            b.add([name, *((self.lab(r.get("group")),) if multi else ()), hr, fmt_p(_g(r, "p")), detail])
        tests = {r["test"]: r for r in _rows(self.t.get("analysis_tests"))}
        for test, name in (
            ("logrank", "Log-rank test"),
            ("logrank_stratified_by_study", "Log-rank test, stratified by study"),
        ):
            r = tests.get(test)
            if r is None:
                continue
            detail = f"χ² {fmt_num(_g(r, 'chisq'), 2)} ({fmt_int(_g(r, 'df'))} df)"
            b.add([name, *(("all groups",) if multi else ()), DASH, fmt_p(_g(r, "p_value")), detail])
        if not b.rows:
            b.plain.append("No model could be fitted.")
        b.plain.append(
            f"HR of each group against {self.lab(self.ref)} (reference); HR < 1: lower hazard than the reference. "
            "Cox models with Efron ties; Wald 95% CI and p; LR: likelihood-ratio test. "
            "Frailty rows: Cox model with a shared gamma frailty per study (R coxph(... + frailty(study)))."
        )
        self.take_flags("cox", b)
        return self.doc.table(f"tab-{self.aid}-cox", f"Hazard ratios and tests: {self.a.title}", b)

    def zph_table(self) -> Table | None:
        rows = [r for r in _rows(self.t.get("analysis_tests")) if str(r.get("test", "")).startswith("cox_zph")]
        if not rows:
            return None
        b = _TableBuilder(("Term", "χ²", "df", "p", "Proportional hazards"))
        rows.sort(key=lambda r: r["test"] == "cox_zph_global")
        for r in rows:
            term = "Global" if r["test"] == "cox_zph_global" else self.lab(str(r["test"]).split(":", 1)[1])
            p = _g(r, "p_value")
            verdict = "rejected (p < 0.05)" if p is not None and p < 0.05 else "not rejected" if p is not None else DASH
            b.add(
                [term, fmt_num(_g(r, "chisq"), 2), fmt_int(_g(r, "df")), fmt_p(p), verdict],
                "flag" if "rejected (" in verdict else "",
            )
        b.plain.append(
            "Score test of scaled Schoenfeld residuals of the unstratified Cox model (R cox.zph, KM transform)."
        )
        return self.doc.table(f"tab-{self.aid}-zph", f"Check of proportional hazards: {self.a.title}", b)

    def published_table(self) -> Table | None:
        pub = self.a.published
        if not pub:
            return None
        b = _TableBuilder(("Figure", "Published", "This analysis", "Difference"))
        groups = {g["group"]: g for g in self.groups}
        head = self._headline()
        contrasts = [g for g in self.label if g != self.ref]
        first = next((g for g in contrasts if g in head), contrasts[0] if contrasts else None)
        hr_row = head.get(first) if first else None
        for key, value in pub.items():
            if key.startswith("median_") and key.removeprefix("median_") in self.label:
                gid = key.removeprefix("median_")
                ours = _g(groups.get(gid, {}), "median")
                pv = value if isinstance(value, int | float) else None
                b.add(
                    [
                        f"Median, {self.lab(gid)}, months",
                        fmt_months(pv, "NR") if pv is not None else str(value),
                        fmt_median(ours, with_ci=False),
                        fmt_diff(ours, pv, 1),
                    ]
                )
            elif key == "hr":
                ours = _g(hr_row, "hr") if hr_row else None
                ci = fmt_hr(ours, _g(hr_row, "hr_lower"), _g(hr_row, "hr_upper")) if hr_row else DASH
                pv = value if isinstance(value, int | float) else None
                b.add(
                    [
                        f"HR, {self.lab(first)} vs {self.lab(self.ref)}",
                        fmt_hr(pv) if pv is not None and pv > 0 else str(value),
                        ci,
                        fmt_diff(ours, pv, 2 if pv is None or pv >= 0.1 else 3),
                    ]
                )
            elif key == "p":
                ours = _g(hr_row, "wald_p") if hr_row else None
                pv = fmt_p(value) if isinstance(value, int | float) and 0 <= value <= 1 else str(value)
                b.add(["p (headline Cox model)", pv, fmt_p(ours), DASH])
            else:
                shown = fmt_num(value, 2) if isinstance(value, int | float) else str(value)
                b.add([_cap(_human(key)), shown, DASH, DASH])
        b.plain.append(f"Published: {PUBLISHED_SOURCE}. Difference: this analysis minus published.")
        return self.doc.table(
            f"tab-{self.aid}-published", f"Published figures next to this analysis: {self.a.title}", b
        )

    # -- meta-analysis -----------------------------------------------------------------------------------
    def meta_items(self) -> list:
        meta = _rows(self.t.get("analysis_meta"))
        effects = _rows(self.t.get("analysis_study_effects"))
        out: list = []
        contrasts = list(dict.fromkeys([r["group"] for r in meta] + [r["group"] for r in effects]))
        multi = len(contrasts) > 1
        if contrasts:
            out.append(Heading("Two-stage meta-analysis"))
        for gid in contrasts:
            suffix = f": {self.lab(gid)} vs {self.lab(self.ref)}"
            eff = [r for r in effects if r["group"] == gid]
            if eff:
                b = _TableBuilder(
                    ("Study", f"{self.lab(gid)}: N (events)", f"{self.lab(self.ref)}: N (events)", "HR [95% CI]")
                )
                for r in eff:
                    b.add(
                        [
                            str(r.get("study_label") or self.study_label.get(r["study_id"], r["study_id"])),
                            f"{fmt_int(_g(r, 'n_group'))} ({fmt_int(_g(r, 'events_group'))})",
                            f"{fmt_int(_g(r, 'n_reference'))} ({fmt_int(_g(r, 'events_reference'))})",
                            fmt_hr(_g(r, "hr"), _g(r, "hr_lower"), _g(r, "hr_upper")),
                        ]
                    )
                b.plain.append("Per-study Cox model (Efron ties) within each study reporting both groups.")
                out.append(self.doc.table(f"tab-{self.aid}-{gid}-studies", f"Per-study hazard ratios{suffix}", b))
            m = [r for r in meta if r["group"] == gid]
            if m:
                b = _TableBuilder(
                    ("Method", "k", "HR [95% CI]", "p", "τ²", "I²", "Q (df), p", "95% prediction interval")
                )
                order = list(_META_NAMES)
                m.sort(key=lambda r: order.index(k) if (k := (r["method"], r.get("test") or "z")) in order else 99)
                for r in m:
                    test = r.get("test") or "z"
                    name = _META_NAMES.get((r["method"], test), f"{r['method']} ({test})")
                    hr = fmt_hr(_g(r, "hr"), _g(r, "hr_lower"), _g(r, "hr_upper"))
                    if test == "knha" and _g(r, "df") is not None:
                        name += f" (t, {fmt_int(_g(r, 'df'))} df)"
                    q = DASH
                    if _g(r, "q") is not None:
                        q = f"{fmt_num(_g(r, 'q'), 2)} ({fmt_int(_g(r, 'q_df'))}), {fmt_p(_g(r, 'q_p'))}"
                    pi = DASH
                    if r["method"] != "FE" and _g(r, "pi_lower") is not None:
                        pi = f"{fmt_hr(_g(r, 'pi_lower'))}{DASH}{fmt_hr(_g(r, 'pi_upper'))}"
                    i2 = f"{fmt_num(_g(r, 'i2'), 0)}%" if _g(r, "i2") is not None else DASH
                    tau2 = DASH if r["method"] == "FE" else fmt_num(_g(r, "tau2"), 3)
                    b.add([name, fmt_int(_g(r, "k")), hr, fmt_p(_g(r, "p_value")), tau2, i2, q, pi])
                b.plain.append(
                    "Per-study log hazard ratios pooled by inverse variance. HKSJ: Hartung–Knapp–Sidik–Jonkman "
                    "variance with a t distribution. Q: Cochran's heterogeneity statistic."
                )
                if not multi:
                    self.take_flags("meta", b)
                out.append(self.doc.table(f"tab-{self.aid}-{gid}-meta", f"Two-stage meta-analysis{suffix}", b))
            for stem, what in (
                (f"forest_{self.aid}_{gid}", "Forest plot"),
                *(((f"forest_{self.aid}", "Forest plot"),) if not multi else ()),
            ):
                fig = self.doc.figure(stem, f"{what}{suffix}: per-study hazard ratios and pooled estimates.")
                if fig:
                    out.append(fig)
                    break
            out.extend(self.egger(gid, suffix))
            out.extend(self.sensitivity(gid, suffix))
        if "meta" in self.flags and (multi or not contrasts):
            out.extend(Note(self._flag_text(f), str(f.get("severity") or "info")) for f in self.flags["meta"])
            self.used.add("meta")
        return out

    def egger(self, gid: str, suffix: str) -> list:
        rows = [r for r in _rows(self.t.get("analysis_egger")) if r.get("group") == gid]
        out: list = []
        if rows:
            b = _TableBuilder(("Model", "k", "Test statistic", "p", "Limit estimate [95% CI]"))
            for r in rows:
                name = {
                    "rma": "Random-effects meta-regression on SE (metafor regtest)",
                    "lm": "Classic Egger (weighted linear regression)",
                }.get(r.get("model"), _human(r.get("model")))
                stat = fmt_num(_g(r, "statistic"), 2)
                stat = f"t = {stat} ({fmt_int(_g(r, 'df'))} df)" if _g(r, "df") is not None else f"z = {stat}"
                # metafor's limit estimate is on the log-HR scale (the intercept as SE -> 0): shown as an HR
                est, lo, hi = (_g(r, k) for k in ("limit_estimate", "limit_lower", "limit_upper"))
                lim = (
                    fmt_hr(*(math.exp(v) if v is not None else None for v in (est, lo, hi)))
                    if est is not None
                    else DASH
                )
                b.add([name, fmt_int(_g(r, "k")), stat, fmt_p(_g(r, "p_value")), lim])
            b.plain.append("Egger's regression test for funnel-plot asymmetry; limit estimate: HR as SE → 0.")
            out.append(self.doc.table(f"tab-{self.aid}-{gid}-egger", f"Small-study effects (Egger's test){suffix}", b))
        fig = self.doc.figure(f"funnel_{self.aid}_{gid}", f"Funnel plot{suffix}.")
        if fig:
            out.append(fig)
        return out

    def sensitivity(self, gid: str, suffix: str) -> list:
        out: list = []
        loo = [r for r in _rows(self.t.get("analysis_leave1out")) if r.get("group") == gid]
        if loo:
            b = _TableBuilder(("Study omitted", *_POOLED_COLUMNS))
            for r in loo:
                b.add(
                    [
                        str(r.get("omitted_label") or self.study_label.get(r.get("omitted"), r.get("omitted"))),
                        *_pooled_cells(r),
                    ]
                )
            b.plain.append("REML random-effects estimate with each study left out in turn.")
            out.append(
                self.doc.table(f"tab-{self.aid}-{gid}-leave1out", f"Leave-one-out meta-analysis{suffix}", b, "compact")
            )
        fig = self.doc.figure(f"leave1out_{self.aid}_{gid}", f"Leave-one-out meta-analysis{suffix}.")
        if fig:
            out.append(fig)
        cum = [r for r in _rows(self.t.get("analysis_cumulative")) if r.get("group") == gid]
        if cum:
            b = _TableBuilder(("Step", "Study added", *_POOLED_COLUMNS))
            for r in sorted(cum, key=lambda r: r.get("step") or 0):
                added = str(r.get("added_label") or self.study_label.get(r.get("added"), r.get("added")))
                b.add([fmt_int(_g(r, "step")), added, *_pooled_cells(r)])
            b.plain.append("REML random-effects estimate as studies are added by year of publication.")
            out.append(
                self.doc.table(f"tab-{self.aid}-{gid}-cumulative", f"Cumulative meta-analysis{suffix}", b, "compact")
            )
        fig = self.doc.figure(f"cumulative_{self.aid}_{gid}", f"Cumulative meta-analysis by year{suffix}.")
        if fig:
            out.append(fig)
        return out


# ------------------------------------------------------------------------------------- study-level sections


def _labels(studies: pl.DataFrame) -> dict[str, str]:
    rows = [(r["study_id"], r.get("citation"), r.get("year"), r.get("source") or "literature") for r in _rows(studies)]
    return study_labels(rows) if rows else {}


def _flow(
    studies: pl.DataFrame,
    study_status: pl.DataFrame | None,
    rejected: pl.DataFrame | None,
    fidelity: pl.DataFrame,
    curves: pl.DataFrame | None,
    cohort: pl.DataFrame | None,
) -> dict:
    ids = set(studies["study_id"].to_list()) if _col(studies, "study_id") else set()
    stat = _rows(study_status)
    found = ids | {r["study_id"] for r in stat} | {r["study_id"] for r in _rows(rejected)}
    rej = _rows(rejected) or [r for r in stat if r.get("status") != "ok"]
    rej_items = []
    for r in rej:
        msg = (str(r.get("message") or "").strip().splitlines() or ["no message"])[0]
        still = " (its earlier rows are analysed)" if r["study_id"] in ids else ""
        rej_items.append(
            f"{r['study_id']}: {r.get('status', 'rejected')} at {r.get('stage') or 'loading'}: {msg}{still}"
        )
    src = [r.get("source") for r in _rows(studies)]
    fid = _rows(fidelity)
    by_status: dict[str, int] = {}
    for r in fid:
        by_status[str(r.get("status"))] = by_status.get(str(r.get("status")), 0) + 1
    n_curves = curves.height if curves is not None and curves.height else len(fid)
    from_fig = int(curves["digitized"].sum()) if _col(curves, "digitized") and curves.height else None
    endpoints = []
    if _col(cohort, "endpoint") and cohort.height:
        kind = "modality" if "modality" in cohort.columns else "arm_id"
        for ep in sorted(set(cohort["endpoint"].to_list()), key=_endpoint_order):
            sub = cohort.filter(pl.col("endpoint") == ep)
            arms = sub.group_by(kind).agg(pl.col("n").sum(), pl.col("events").sum()).sort("n", descending=True).rows()
            endpoints.append(
                {
                    "name": _endpoint(ep),
                    "n": fmt_int(int(sub["n"].sum())),
                    "events": fmt_int(int(sub["events"].sum())),
                    "studies": sub["study_id"].n_unique(),
                    "arms": [
                        f"{MODALITIES.get(a, _cap(_human(a)))}: {fmt_int(n)} patients, {fmt_int(e)} events"
                        for a, n, e in arms
                    ],
                }
            )
    held = {s: n for s, n in by_status.items() if s != "ok"}
    return {
        "found": len(found),
        "rejected": len(rej),
        "rejected_items": rej_items,
        "included": len(ids),
        "literature": sum(1 for s in src if s != "institutional"),
        "institutional": sum(1 for s in src if s == "institutional"),
        "curves": n_curves,
        "reconstructed": by_status.get("ok", 0),
        "held_out": sum(held.values()),
        "held_items": [f"{_human(s)}: {n}" for s, n in sorted(held.items())],
        "from_figure": from_fig,
        "endpoints": endpoints,
    }


def _by_study(df: pl.DataFrame | None) -> dict[str, list[dict]]:
    """The rows of ``df`` as dicts, grouped by ``study_id`` (empty when ``df`` has none)."""
    out: dict[str, list[dict]] = {}
    if _col(df, "study_id"):
        for r in _rows(df):
            out.setdefault(r["study_id"], []).append(r)
    return out


def _characteristics(
    doc: _Doc,
    studies: pl.DataFrame,
    labels: dict[str, str],
    fidelity: pl.DataFrame,
    curves: pl.DataFrame | None,
    cohort: pl.DataFrame | None,
    followup: pl.DataFrame | None,
    arms: pl.DataFrame | None,
) -> Table:
    endpoints = (
        sorted(set(cohort["endpoint"].to_list()), key=_endpoint_order)
        if _col(cohort, "endpoint") and cohort.height
        else []
    )
    b = _TableBuilder(
        (
            "Study",
            "Design / source",
            "Arms",
            *[f"{_endpoint_short(e)}: N (events)" for e in endpoints],
            *(() if endpoints else ("Patients",)),
            "Follow-up, months: median (max)",
            "Fidelity: worst RMSE (gate)",
            "Read from figure",
        )
    )
    # every source grouped by study once (a filter per study would make this quadratic in the studies)
    arms_by = _by_study(arms)
    cohort_by = _by_study(cohort)
    fid_by = _by_study(fidelity)
    curves_by = _by_study(curves)
    fu_by = followup.partition_by("study_id", as_dict=True) if _col(followup, "time_months") and followup.height else {}
    for s in _rows(studies):
        sid = s["study_id"]
        inst = s.get("source") == "institutional"
        design = "Institutional IPD" if inst else "KM curves → IPD"
        if s.get("synthetic"):
            design += " (synthetic)"
        arm_names = [r["label"] for r in arms_by.get(sid, []) if r.get("label")]
        if not arm_names and _col(cohort, "arm_label"):
            arm_names = sorted({r["arm_label"] for r in cohort_by.get(sid, []) if r.get("arm_label")})
        cells: list[Cell | str] = [labels.get(sid, sid), design, "; ".join(arm_names) or DASH]
        for e in endpoints:
            sub = [r for r in cohort_by.get(sid, []) if r["endpoint"] == e]
            cells.append(f"{sum(r['n'] for r in sub)} ({sum(r['events'] or 0 for r in sub)})" if sub else DASH)
        if not endpoints:
            cells.append(fmt_int(_g(s, "cohort_rows")))
        fu = DASH
        if fu_by:
            own = fu_by.get((sid,))
            eps = set(own["endpoint"].to_list()) if own is not None else set()
            ep = "os" if "os" in eps else (sorted(eps)[0] if eps else None)
            if ep is not None:
                own = own.filter(pl.col("endpoint") == ep)
                med = median_followup(own["time_months"].to_numpy(), own["event"].to_numpy())
                med = med if np.isfinite(med) else None
                fu = f"{fmt_months(med, 'NR')} ({fmt_months(float(own['time_months'].max()))})"
                if ep != "os":
                    fu += f" {_endpoint_short(ep)}"
        elif _col(cohort, "max_time_months"):
            mx = [r["max_time_months"] for r in cohort_by.get(sid, [])]
            fu = f"max {fmt_months(max(mx))}" if mx else DASH
        cells.append(fu)
        fid = fid_by.get(sid, [])
        if inst or not fid:
            cells.append("not applicable" if inst else DASH)
        else:
            worst = max((_g(r, "rmse") or 0.0) for r in fid)
            st = sorted({str(r.get("status")) for r in fid})
            cells.append(f"{fmt_rmse(worst)} ({', '.join(_human(x) for x in st)})")
        if inst:
            cells.append("not applicable")
        elif _col(curves, "digitized"):
            own = curves_by.get(sid, [])
            k = sum(bool(r["digitized"]) for r in own)
            cells.append("yes" if own and k == len(own) else "no" if k == 0 else f"{k} of {len(own)} curves")
        else:
            cells.append(DASH)
        b.add(cells)
    b.plain.append(
        "KM curves → IPD: individual patient data reconstructed from the published Kaplan–Meier curves. Follow-up: "
        "median by the reverse Kaplan–Meier method (maximum in brackets), of overall survival where reported. "
        "RMSE: root mean square distance between the digitized and the reconstructed curve on the survival scale "
        "(0–1); gate: the fidelity gate's verdict. Read from figure: curves digitized from the paper's figure by "
        "meta_bm rather than clicked by hand."
    )
    return doc.table("tab-studies", "Characteristics of the included studies", b)


def _fidelity_table(doc: _Doc, fidelity: pl.DataFrame, labels: dict[str, str], curves: pl.DataFrame | None) -> Table:
    b = _TableBuilder(
        (
            "Study",
            "Curve",
            "Gate",
            "Clicks",
            "RMSE",
            "Max error",
            "N (publ.)",
            "Events (publ.)",
            "Median rec.",
            "Median dig.",
            "Median publ.",
            "Unit",
            "From figure",
        )
    )
    dig = (
        {(r["study_id"], r["curve_id"]): r.get("digitized") for r in _rows(curves)} if _col(curves, "digitized") else {}
    )
    for r in _rows(fidelity):
        unit = str(r.get("time_unit") or "months")

        def m(key: str, r: dict = r, unit: str = unit) -> str:
            v = _g(r, key)
            return fmt_months(to_months(v, unit), "NR") if v is not None else DASH

        if _g(r, "median") is None and _g(r, "n_patients"):
            med = Cell("NR", b.mark("Not reached: the reconstructed curve stays above 50%."))
        else:
            med = Cell(m("median"))
        d = dig.get((r["study_id"], r["curve_id"]))
        b.add(
            [
                labels.get(r["study_id"], r["study_id"]),
                str(r["curve_id"]),
                _human(r.get("status")),
                fmt_int(_g(r, "n_clicks")),
                fmt_rmse(_g(r, "rmse")),
                fmt_rmse(_g(r, "max_abs_error")),
                f"{fmt_int(_g(r, 'n_patients'))} ({fmt_int(_g(r, 'n_published'))})",
                f"{fmt_int(_g(r, 'events'))} ({fmt_int(_g(r, 'events_published'))})",
                med,
                m("median_digitized"),
                m("median_published"),
                _UNIT_SHORT.get(unit, unit),
                fmt_bool(bool(d)) if d is not None else DASH,
            ],
            "" if r.get("status") in (None, "ok") else "sev-warn",
        )
    b.plain.append(
        "Medians in months (converted from the curve's unit: 1 month = 365.25/12 days; unit: d days, wk weeks, "
        "mo months, y years). rec.: reconstructed IPD; dig.: read off the digitized curve; publ.: as published. "
        "RMSE and max error: distance between digitized and reconstructed survival (0–1). N and events: "
        "reconstructed (published)."
    )
    return doc.table("tab-fidelity", "Reconstruction fidelity per curve", b, "fidelity")


def _published_table(
    doc: _Doc, published: pl.DataFrame, labels: dict[str, str], curves: pl.DataFrame | None
) -> tuple[Table, str]:
    units = {(r["study_id"], r["curve_id"]): r["time_unit"] for r in _rows(curves)} if _col(curves, "time_unit") else {}
    layout = published_layout(published, units, labels)
    cols = ("Study", "Curve", "Figure", "Published [95% CI]", "Reconstructed [95% CI]", "Verdict")
    b = _TableBuilder(cols)
    for r in layout.iter_rows(named=True):
        cells = [Cell(r[c]) for c in cols]
        if r["severity"] != "ok" and r["Detail"]:  # say what is wrong next to the verdict
            cells[-1] = Cell(r["Verdict"], b.mark(r["Detail"]))
        b.add(cells, f"sev-{r['severity']}")
    counts = {s: int((published["severity"] == s).sum()) for s in ("ok", "warn", "error")}
    summary = (
        f"{published.height} comparisons: {counts['ok']} ok, {counts['warn']} warn, {counts['error']} error. "
        "N and events must equal the published ones (ERROR otherwise); the reconstructed median (Kaplan–Meier, "
        "95% CI by the log transform) and hazard ratio (Cox, Efron ties, against the curve of the reference arm, "
        "95% Wald CI) must lie inside the published CI, or within 10% of the published value when no CI is given "
        "(WARN otherwise)."
    )
    b.plain.append("Medians in months" + ("." if units else " (in the curve's own time unit: unit not stored)."))
    return doc.table("tab-published", "Published vs reconstructed figures per curve", b, "published"), summary


# ------------------------------------------------------------------------------------------------ methods


def methods_paragraphs(
    config: AnalysesConfig, reconstruction_version: str, time_resolution: float, tables: dict[str, pl.DataFrame]
) -> list[str]:
    """The methods, generated from the analyses config and from which result tables hold rows.

    >>> from meta_bm.analysis.config import parse_analyses
    >>> cfg = parse_analyses("analyses: [{id: a, title: A, endpoint: os, group_by: modality, "
    ...                      "levels: [re_resection, re_srs], reference: re_srs}]")
    >>> "Egger" in " ".join(methods_paragraphs(cfg, "1.1.0", 1e-6, {}))
    True
    """

    def has(name: str) -> bool:
        df = tables.get(name)
        return df is not None and df.height > 0

    lms = sorted({float(t) for a in config.analyses for t in a.landmarks_months})
    hz = sorted({float(a.rmst_horizon_months) for a in config.analyses})
    res = _resolution(time_resolution)
    out = [
        "Individual patient data (IPD) were reconstructed from digitized Kaplan–Meier curves with meta_bm's "
        f"reconstruction engine (version {reconstruction_version}), an extension of the algorithm of Guyot et al. "
        "(2012): isotonic cleaning of the digitized points, the published numbers at risk and total events used "
        "exactly, and censoring estimated from step heights where no numbers at risk are published. A fidelity gate "
        "holds out curves whose reconstruction departs from the digitized curve or from the published N and events. "
        "Reconstructed IPD were pooled with the institutional cohort. All times are in months (days, weeks and years "
        f"converted with 1 month = 365.25/12 days) and rounded to {res} months so that conversions create no "
        "spurious ties; the report prints times to 0.1 month.",
        "Survival was estimated by the Kaplan–Meier method with Greenwood standard errors. Median survival is given "
        "with 95% confidence intervals by the log transformation (R survival's default), by the log-log "
        "transformation, and as median ± 1.96·SE(median) with the standard error of the IBM SPSS Kaplan–Meier "
        f"procedure. Landmark survival at {', '.join(fmt_num(t, 0) for t in lms)} months uses log-transformed "
        "Greenwood intervals; the restricted mean survival time (RMST) is the area under the curve up to "
        f"{' or '.join(fmt_num(h, 0) for h in hz)} months. Follow-up is summarised by the reverse Kaplan–Meier "
        "median.",
        "Groups were compared by the log-rank test, also stratified by study, and by Cox proportional hazards "
        "regression with Efron's handling of ties. The unstratified model is the headline; the model stratified by "
        "study and the model with cluster-robust (sandwich) variance by study are sensitivity analyses, the latter "
        "flagged when fewer than 10 studies (clusters) contribute, since the sandwich variance is then unreliable. "
        "Proportional hazards were checked with the score test of scaled Schoenfeld residuals (as R cox.zph, "
        "Kaplan–Meier time transform), per term and globally; p < 0.05 is flagged next to the hazard ratio.",
    ]
    if has("analysis_frailty"):
        out.append(
            "A Cox model with a shared gamma frailty per study (penalised partial likelihood, Efron ties) was "
            "fitted twice: as R coxph(Surv ~ group + frailty(study)) reports it by default, whose own search for "
            "the frailty variance θ can stop short of the maximum of its likelihood, and at the maximum of the "
            "profile likelihood in θ (the maximum-likelihood fit)."
        )
    else:
        out.append("Shared-frailty models were not fitted in this version of the results.")
    ma = (
        "In the two-stage meta-analysis, the log hazard ratio of each study reporting both groups (Cox, Efron ties) "
        "was pooled by a fixed-effect (inverse variance) model and by random-effects models with the between-study "
        "variance τ² estimated by DerSimonian–Laird and by REML, each also with the Hartung–Knapp–Sidik–Jonkman "
        "(HKSJ) variance and t distribution; heterogeneity is reported as τ², I² and Cochran's Q, with 95% "
        "prediction intervals for the random-effects models."
    )
    extra = []
    if has("analysis_leave1out"):
        extra.append("leave-one-out analyses (REML)")
    if has("analysis_cumulative"):
        extra.append("cumulative meta-analysis with studies added by year of publication (REML)")
    if extra:
        ma += " Sensitivity analyses: " + " and ".join(extra) + "."
    ma += " Egger's regression test for small-study effects was run only for contrasts with at least 10 studies" + (
        ", and is reported where that was the case." if has("analysis_egger") else "; no contrast had that many."
    )
    out.append(ma)
    out.append(
        "Guard rails: a study folder that cannot be read is rejected with its reasons; a contrast with fewer than "
        "two studies gets no pooled model; every such condition is printed as a note next to the result it "
        "concerns. Software: " + ", ".join(_versions()) + ". R (survival, metafor) served as the reference "
        "implementation for the tests, not at run time."
    )
    return out


REFERENCES = (
    "Guyot P, Ades AE, Ouwens MJNM, Welton NJ. Enhanced secondary analysis of survival data: reconstructing the "
    "data from published Kaplan–Meier survival curves. BMC Med Res Methodol 2012;12:9.",
    "Stewart LA, Clarke M, Rovers M, et al. Preferred Reporting Items for a Systematic Review and Meta-analysis of "
    "Individual Participant Data: the PRISMA-IPD statement. JAMA 2015;313:1657–65.",
    "DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials 1986;7:177–88.",
    "Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical trials with binary outcome. "
    "Stat Med 2001;20:3875–89.",
    "Sidik K, Jonkman JN. A simple confidence interval for meta-analysis. Stat Med 2002;21:3153–9.",
    "Egger M, Davey Smith G, Schneider M, Minder C. Bias in meta-analysis detected by a simple, graphical test. "
    "BMJ 1997;315:629–34.",
    "Therneau TM. A package for survival analysis in R (survival). https://CRAN.R-project.org/package=survival.",
    "Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw 2010;36(3):1–48.",
    "Schemper M, Smith TL. A note on quantifying follow-up in studies of failure time. Control Clin Trials "
    "1996;17:343–6.",
)


def _analyses_table(doc: _Doc, config: AnalysesConfig) -> Table:
    b = _TableBuilder(
        ("Comparison", "Endpoint", "Groups (reference last)", "Studies", "Landmarks, months", "RMST horizon")
    )
    for a in config.analyses:
        gd = a.group_defs()
        names = [_group_label(g.id, g.label) for g in gd if g.id != a.reference]
        names += [f"{_group_label(a.reference, next(g.label for g in gd if g.id == a.reference))} (ref.)"]
        b.add(
            [
                a.title,
                _endpoint(a.endpoint),
                "; ".join(names),
                "all reporting the endpoint" if a.studies == "all" else "only those reporting ≥ 2 groups",
                ", ".join(fmt_num(t, 0 if t == int(t) else 1) for t in a.landmarks_months),
                f"{fmt_num(a.rmst_horizon_months, 0)} months",
            ]
        )
    return doc.table("tab-analyses", "Comparisons configured", b)


# ----------------------------------------------------------------------------------------------- rendering


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("meta_bm.reports", "templates"),
        autoescape=select_autoescape(("html", "j2", "html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
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
    study_status: pl.DataFrame | None = None,
    curves: pl.DataFrame | None = None,
    arms: pl.DataFrame | None = None,
    cohort: pl.DataFrame | None = None,
    followup: pl.DataFrame | None = None,
    generated: dt.date | None = None,
) -> Path:
    """Write ``report.html`` and ``tables/*.csv`` under ``out_dir``; return the HTML path.

    Parameters
    ----------
    tables:
        ``store.analysis_results(ids)``: the pooled-result tables (see the tables contract); absent tables
        and columns are left out of the report.
    studies, fidelity, published, rejected, study_status, curves, arms, cohort, followup:
        The frames of :meth:`~meta_bm.store.CohortStore.report_inputs` (same names; pass them all as
        keywords, e.g. ``write_report(..., **{k: v for k, v in inputs.items() if k not in ("studies",
        "fidelity")})``). Each is optional except ``studies`` and ``fidelity``.
    figures_dir:
        Where the figures are (``km_<id>``, ``forest_<id>[_<group>]``, ``leave1out_<id>_<group>``,
        ``cumulative_<id>_<group>``, ``funnel_<id>_<group>``, ``study_<study>``, ``digitized_<study>_<fig>``;
        SVG embedded in preference to PNG).
    generated:
        The date printed on the title page (today, UTC, by default).
    """
    if not isinstance(time_resolution, int | float) or not np.isfinite(time_resolution) or time_resolution <= 0:
        raise ValueError(f"time_resolution: must be a positive number of months, got {time_resolution!r}")
    _require(studies, "studies", ("study_id",))
    _require(fidelity, "fidelity", ("study_id", "curve_id"))
    for name, df, cols in (
        ("published", published, ("study_id", "curve_id", "figure", "verdict", "severity")),
        ("rejected", rejected, ("study_id",)),
        ("curves", curves, ("study_id", "curve_id")),
        ("cohort", cohort, ("study_id", "endpoint", "n", "events")),
        ("followup", followup, ("study_id", "endpoint", "time_months", "event")),
        ("arms", arms, ("study_id",)),
        ("study_status", study_status, ("study_id", "status")),
    ):
        if df is not None:
            _require(df, name, cols)
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    csvs = {**tables, "study_characteristics": studies, "reconstruction_fidelity": fidelity}
    if published is not None:
        csvs["published_comparison"] = published
    if rejected is not None:
        csvs["rejected_studies"] = rejected
    for name, df in csvs.items():
        df.write_csv(out / "tables" / f"{name}.csv")

    doc = _Doc(Path(figures_dir))
    labels = _labels(studies)
    contents: list[tuple[str, str]] = []
    flow = _flow(studies, study_status, rejected, fidelity, curves, cohort)
    contents.append(("flow", "Flow of studies and patients"))
    characteristics = _characteristics(doc, studies, labels, fidelity, curves, cohort, followup, arms)
    contents.append(("studies", "Study characteristics"))
    fidelity_table = _fidelity_table(doc, fidelity, labels, curves) if fidelity.height else None
    contents.append(("fidelity", "Reconstruction fidelity per curve"))
    pub_table, pub_summary = (None, "")
    if published is not None and published.height:
        pub_table, pub_summary = _published_table(doc, published, labels, curves)
    if published is not None:
        contents.append(("published", "Published vs reconstructed figures"))
    comparisons = []
    for a in config.analyses:
        comparisons.append(
            {"id": f"cmp-{a.id}", "title": a.title, "items": _Comparison(doc, a, tables, labels).items()}
        )
        contents.append((f"cmp-{a.id}", a.title))
    recon_figs = []
    for sid in sorted(labels, key=lambda s: labels[s]):
        fig = doc.figure(f"study_{sid}", f"{labels[sid]}: digitized points and reconstructed Kaplan–Meier curves.")
        if fig:
            recon_figs.append(fig)
        for path in sorted(Path(figures_dir).glob(f"digitized_{sid}_*.png")):
            fig_id = path.stem.removeprefix(f"digitized_{sid}_")
            f = doc.figure(path.stem, f"{labels[sid]}, figure {fig_id}: curves read from the paper's figure.")
            if f:
                recon_figs.append(f)
    if recon_figs:
        contents.append(("reconstructions", "Reconstructions per study"))
    analyses_table = _analyses_table(doc, config)
    contents.append(("methods", "Methods"))
    contents.append(("references", "References"))
    rejected_items = []
    for r in _rows(rejected):
        problems = [p for p in (r.get("message") or "").splitlines() if p.strip()]
        what = (
            "rejected (its folder could not be loaded)"
            if r.get("status") == "rejected"
            else f"failed at {r.get('stage')}"
        )
        rejected_items.append({"study": r["study_id"], "what": what, "problems": problems})
    if rejected is not None and rejected.height:
        contents.insert(0, ("rejected", f"Rejected studies ({rejected.height})"))

    env = _env()
    html = env.get_template("report.html.j2").render(
        title=TITLE,
        date=(generated or dt.datetime.now(dt.UTC).date()).isoformat(),
        version=_meta_bm_version(),
        reconstruction_version=reconstruction_version,
        synthetic=synthetic,
        contents=contents,
        rejected=rejected_items,
        flow=flow,
        characteristics=characteristics,
        fidelity=fidelity_table,
        published=pub_table,
        published_given=published is not None,
        published_summary=pub_summary,
        comparisons=comparisons,
        reconstructions=recon_figs,
        analyses_table=analyses_table,
        methods=methods_paragraphs(config, reconstruction_version, time_resolution, tables),
        references=REFERENCES,
        css=env.loader.get_source(env, "report.css")[0] if env.loader else "",
    )
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
