"""The rendered report as a reader (and a printer) sees it.

A report is rendered from hand-made frames that follow the pooled-tables contract (every table, every
flag), then parsed: every announced table is there with a numbered caption, no header is a raw column
name, no cell prints ``nan`` / ``None`` / ``True`` / ``False``, p-values follow the journal format, the
numbers are the fixture's numbers formatted by hand, and every flag is printed. Where chromium is
installed, the page is laid out at A4 width (screen and print rules) and no table may be wider than
the text column. The real store of the main checkout, when present, is rendered from a copy as well.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from meta_bm.analysis.config import parse_analyses
from meta_bm.reports.html import write_report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
REAL_STORE = Path("/work/main/data/warehouse/meta_bm.duckdb")

CONFIG = parse_analyses(
    """
analyses:
  - id: os_rr_vs_ns
    title: "OS: re-resection vs non-surgical management"
    endpoint: os
    group_by: modality
    levels: [re_resection, non_surgical]
    labels: {re_resection: Re-resection, non_surgical: Non-surgical management}
    reference: non_surgical
    published: {median_re_resection: 14.74, median_non_surgical: 10.34, hr: 0.664, p: "<0.001"}
  - id: os_three
    title: "OS: three groups"
    endpoint: os
    group_by: modality
    levels: [re_resection, re_srs, non_surgical]
    labels: {re_resection: Re-resection, re_srs: Repeat SRS, non_surgical: Non-surgical management}
    reference: non_surgical
    landmarks_months: [12]
  - id: os_empty
    title: "OS: nothing stored"
    endpoint: os
    group_by: modality
    levels: [re_resection, re_srs]
    reference: re_srs
"""
)
A, B = "os_rr_vs_ns", "os_three"
NAN = float("nan")


def _df(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


def contract_tables() -> dict[str, pl.DataFrame]:
    """Every pooled table of the contract, for analyses A (two groups, all flags) and B (three groups)."""
    g = {
        "median_loglog_lower": 11.88,
        "median_loglog_upper": 16.70,
        "rmst_horizon": 24.0,
        "median_note": "",
    }
    groups = _df(
        [
            {
                "analysis_id": A,
                "group": "re_resection",
                "label": "Re-resection",
                "is_reference": False,
                "n": 386,
                "events": 261,
                "median": 14.104,
                "median_log_lower": 11.958,
                "median_log_upper": 16.705,
                "median_spss_lower": 11.58,
                "median_spss_upper": 16.63,
                "median_spss_se": 1.287,
                "rmst": 14.62,
                "rmst_se": 0.452,
                "followup_median": 24.06,
                "followup_max": 51.5,
                **g,
            },
            {
                "analysis_id": A,
                "group": "non_surgical",
                "label": "Non-surgical management",
                "is_reference": True,
                "n": 220,
                "events": 180,
                "median": None,
                "median_log_lower": 9.7,
                "median_log_upper": None,
                "median_spss_lower": None,
                "median_spss_upper": None,
                "median_spss_se": None,
                "rmst": 12.5,
                "rmst_se": 0.54,
                "followup_median": 20.0,
                "followup_max": 42.0,
                **g,
                "median_note": "not reached: survival stays above 50% (lowest 62% at 30.1 months)",
            },
            *[
                {
                    "analysis_id": B,
                    "group": gid,
                    "label": lab,
                    "is_reference": gid == "non_surgical",
                    "n": n,
                    "events": n - 10,
                    "median": m,
                    "median_log_lower": m - 2,
                    "median_log_upper": m + 2,
                    "median_spss_lower": m - 2.1,
                    "median_spss_upper": m + 2.1,
                    "median_spss_se": 1.07,
                    "rmst": 11.0,
                    "rmst_se": 0.5,
                    "followup_median": 22.0,
                    "followup_max": 40.0,
                    **g,
                }
                for gid, lab, n, m in (
                    ("re_resection", "Re-resection", 100, 14.0),
                    ("re_srs", "Repeat SRS", 80, 11.0),
                    ("non_surgical", "Non-surgical management", 60, 9.0),
                )
            ],
        ]
    )
    landmarks = _df(
        [
            {
                "analysis_id": A,
                "group": grp,
                "time": t,
                "survival": s,
                "se": 0.02,
                "lower": lo,
                "upper": hi,
                "n_risk": nr,
            }
            for grp, rows in (
                (
                    "re_resection",
                    (
                        (6.0, 0.768445, 0.724053, 0.815559, 243),
                        (12.0, 0.549769, 0.497308, 0.607764, 162),
                        (24.0, 0.318756, 0.268665, 0.378185, 73),
                    ),
                ),
                (
                    "non_surgical",
                    ((6.0, 0.70, 0.64, 0.77, 137), (12.0, 0.42, 0.36, 0.50, 78), (24.0, 0.14, 0.09, 0.20, 19)),
                ),
            )
            for t, s, lo, hi, nr in rows
        ]
        + [
            {
                "analysis_id": B,
                "group": grp,
                "time": 12.0,
                "survival": 0.5,
                "se": 0.05,
                "lower": 0.4,
                "upper": 0.6,
                "n_risk": 30,
            }
            for grp in ("re_resection", "re_srs", "non_surgical")
        ]
    )
    tests = _df(
        [
            {"analysis_id": A, "test": "logrank", "chisq": 18.744, "df": 1, "p_value": 1.5e-5},
            {"analysis_id": A, "test": "logrank_stratified_by_study", "chisq": 9.08, "df": 1, "p_value": 0.002584},
            {"analysis_id": A, "test": "cox_zph:re_resection", "chisq": 4.20, "df": 1, "p_value": 0.0404},
            {"analysis_id": A, "test": "cox_zph_global", "chisq": 4.20, "df": 1, "p_value": 0.0404},
            {"analysis_id": B, "test": "logrank", "chisq": 5.0, "df": 2, "p_value": 0.0821},
        ]
    )
    cox_common = {
        "reference": "non_surgical",
        "lr_chisq": 17.3,
        "lr_p": 3.2e-5,
        "n": 606,
        "events": 441,
        "converged": True,
    }
    cox = _df(
        [
            {
                "analysis_id": A,
                "model": "unstratified",
                "group": "re_resection",
                "coef": -0.494,
                "se": 0.1152,
                "robust_se": None,
                "hr": 0.610094,
                "hr_lower": 0.486755,
                "hr_upper": 0.764686,
                "wald_p": 1.8e-5,
                "clusters": None,
                "headline": True,
                **cox_common,
            },
            {
                "analysis_id": A,
                "model": "stratified_by_study",
                "group": "re_resection",
                "coef": -0.5137,
                "se": 0.172,
                "robust_se": None,
                "hr": 0.598294,
                "hr_lower": 0.42688,
                "hr_upper": 0.83854,
                "wald_p": 0.04999,
                "clusters": None,
                "headline": False,
                **cox_common,
            },
            {
                "analysis_id": A,
                "model": "cluster_robust_by_study",
                "group": "re_resection",
                "coef": 0.0139,
                "se": 0.1152,
                "robust_se": 0.0026,
                "hr": 1.014,
                "hr_lower": 1.009,
                "hr_upper": 1.019,
                "wald_p": 8.5e-8,
                "clusters": 2,
                "headline": False,
                **cox_common,
            },
            *[
                {
                    "analysis_id": B,
                    "model": "unstratified",
                    "group": gid,
                    "coef": math.log(hr),
                    "se": 0.2,
                    "robust_se": None,
                    "hr": hr,
                    "hr_lower": hr * 0.7,
                    "hr_upper": hr * 1.4,
                    "wald_p": p,
                    "clusters": None,
                    "headline": True,
                    **cox_common,
                }
                for gid, hr, p in (("re_resection", 0.0512, 0.0123), ("re_srs", 0.9, 0.357))
            ],
        ]
    )
    effects = _df(
        [
            {
                "analysis_id": A,
                "study_id": sid,
                "group": "re_resection",
                "reference": "non_surgical",
                "log_hr": math.log(hr),
                "se": 0.3,
                "hr": hr,
                "hr_lower": lo,
                "hr_upper": hi,
                "n_group": ng,
                "events_group": eg,
                "n_reference": nr,
                "events_reference": er,
                "study_label": lab,
                "year": yr,
            }
            for sid, lab, yr, hr, lo, hi, ng, eg, nr, er in (
                ("lindqvist_2013", "Lindqvist 2013", 2013, 1.002946, 0.613559, 1.639454, 44, 33, 40, 34),
                ("tanaka_2015", "Tanaka 2015", 2015, 0.275784, 0.131681, 0.577586, 26, 18, 22, 22),
                ("quinn_2024", "Quinn 2024", 2024, 0.64, 0.38, 1.07, 48, 28, 40, 30),
                ("institutional_2025", "Institutional cohort 2025", 2025, 0.4885, 0.2735, 0.8727, 54, 36, 20, 19),
            )
        ]
    )
    meta_common = {
        "analysis_id": A,
        "group": "re_resection",
        "reference": "non_surgical",
        "k": 4,
        "q": 8.924585,
        "q_df": 3,
        "q_p": 0.0303,
    }
    meta = _df(
        [
            {
                **meta_common,
                "method": "FE",
                "test": "z",
                "df": None,
                "log_hr": -0.48,
                "se": 0.17,
                "hr": 0.62,
                "hr_lower": 0.47,
                "hr_upper": 0.82,
                "p_value": 0.0006,
                "tau2": 0.0,
                "i2": 66.4,
                "pi_lower": None,
                "pi_upper": None,
            },
            {
                **meta_common,
                "method": "REML",
                "test": "z",
                "df": None,
                "log_hr": -0.56,
                "se": 0.26,
                "hr": 0.571,
                "hr_lower": 0.343,
                "hr_upper": 0.951,
                "p_value": 0.0311,
                "tau2": 0.177,
                "i2": 67.7,
                "pi_lower": 0.217,
                "pi_upper": 1.494,
            },
            {
                **meta_common,
                "method": "REML",
                "test": "knha",
                "df": 3,
                "log_hr": -0.56,
                "se": 0.31,
                "hr": 0.571,
                "hr_lower": 0.21,
                "hr_upper": 1.55,
                "p_value": 0.168,
                "tau2": 0.177,
                "i2": 67.7,
                "pi_lower": 0.1,
                "pi_upper": 3.2,
            },
            {
                **meta_common,
                "method": "DL",
                "test": "z",
                "df": None,
                "log_hr": -0.56,
                "se": 0.26,
                "hr": 0.57,
                "hr_lower": 0.35,
                "hr_upper": 0.93,
                "p_value": 0.026,
                "tau2": 0.167,
                "i2": 66.4,
                "pi_lower": 0.22,
                "pi_upper": 1.46,
            },
        ]
    )
    frailty = _df(
        [
            {
                "analysis_id": A,
                "fit": fit,
                "group": "re_resection",
                "reference": "non_surgical",
                "coef": -0.5,
                "se": 0.15,
                "hr": hr,
                "hr_lower": lo,
                "hr_upper": hi,
                "p": p,
                "theta": th,
                "c_loglik": -1800.2,
                "n": 606,
                "events": 441,
                "clusters": 4,
            }
            for fit, hr, lo, hi, p, th in (
                ("r_default", 0.59, 0.44, 0.80, 0.0007, 0.1234),
                ("profile", 0.60, 0.45, 0.81, 0.0009, 0.15),
            )
        ]
    )
    loo = _df(
        [
            {
                "analysis_id": A,
                "group": "re_resection",
                "method": "REML",
                "omitted": sid,
                "omitted_label": lab,
                "k": 3,
                "log_hr": -0.5,
                "se": 0.3,
                "hr": hr,
                "hr_lower": hr * 0.6,
                "hr_upper": hr * 1.5,
                "p_value": 0.2,
                "tau2": 0.1,
                "i2": 50.0,
                "q": 4.0,
                "q_p": 0.13,
            }
            for sid, lab, hr in (("lindqvist_2013", "Lindqvist 2013", 0.48), ("tanaka_2015", "Tanaka 2015", 0.70))
        ]
    )
    cumulative = _df(
        [
            {
                "analysis_id": A,
                "group": "re_resection",
                "method": "REML",
                "step": i + 1,
                "added": sid,
                "added_label": lab,
                "year": yr,
                "k": i + 1,
                "log_hr": 0.0,
                "se": 0.3,
                "hr": hr,
                "hr_lower": hr * 0.6,
                "hr_upper": hr * 1.6,
                "p_value": p,
                "tau2": t2,
                "i2": i2,
            }
            for i, (sid, lab, yr, hr, p, t2, i2) in enumerate(
                (
                    ("lindqvist_2013", "Lindqvist 2013", 2013, 1.003, 0.99, None, None),
                    ("tanaka_2015", "Tanaka 2015", 2015, 0.55, 0.2, 0.6, 86.0),
                )
            )
        ]
    )
    egger = _df(
        [
            {
                "analysis_id": A,
                "group": "re_resection",
                "model": "rma",
                "k": 11,
                "statistic": -1.234,
                "df": None,
                "p_value": 0.217,
                # log-HR scale, as metafor's regtest reports it (the report shows exp: 0.71 [0.50–1.01])
                "limit_estimate": math.log(0.71),
                "limit_lower": math.log(0.5),
                "limit_upper": math.log(1.01),
            },
            {
                "analysis_id": A,
                "group": "re_resection",
                "model": "lm",
                "k": 11,
                "statistic": -1.5,
                "df": 9,
                "p_value": 0.168,
                "limit_estimate": -0.3567,
                "limit_lower": -0.7133,
                "limit_upper": 0.0,
            },
        ]
    )
    flags = _df(
        [
            {
                "analysis_id": A,
                "group": "re_resection",
                "severity": "warn",
                "flag": "few_clusters",
                "message": "cluster-robust variance with 2 clusters: unreliable, not the headline",
            },
            {
                "analysis_id": A,
                "group": "re_resection",
                "severity": "warn",
                "flag": "ph_rejected",
                "message": "cox.zph p = 0.040: hazards may not be proportional",
            },
            {
                "analysis_id": A,
                "group": "non_surgical",
                "severity": "info",
                "flag": "median_not_reached",
                "message": "median not reached in Non-surgical management",
            },
            {
                "analysis_id": B,
                "group": None,
                "severity": "info",
                "flag": "egger_not_done",
                "message": "Egger's test not done: fewer than 10 studies",
            },
            {
                "analysis_id": B,
                "group": "re_srs",
                "severity": "warn",
                "flag": "no_pooled_model",
                "message": "fewer than 2 studies report Repeat SRS and Non-surgical management",
            },
            {
                "analysis_id": "os_empty",
                "group": None,
                "severity": "warn",
                "flag": "no_comparison",
                "message": "no study reports both groups",
            },
            {
                "analysis_id": B,
                "group": None,
                "severity": "info",
                "flag": "single_study",
                "message": "only one study contributes to this comparison",
            },
        ]
    )
    studies = _df(
        [
            {"analysis_id": A, "study_id": s, "group": "re_resection", "n": 40, "events": 30}
            for s in ("lindqvist_2013", "tanaka_2015", "quinn_2024", "institutional_2025")
        ]
    )
    return {
        "analysis_groups": groups,
        "analysis_landmarks": landmarks,
        "analysis_tests": tests,
        "analysis_cox": cox,
        "analysis_study_effects": effects,
        "analysis_meta": meta,
        "analysis_studies": studies,
        "analysis_frailty": frailty,
        "analysis_leave1out": loo,
        "analysis_cumulative": cumulative,
        "analysis_egger": egger,
        "analysis_flags": flags,
    }


def report_inputs() -> dict[str, pl.DataFrame]:
    """The frames of ``CohortStore.report_inputs`` for three literature studies (one rejected folder, one
    curve held out, one curve in weeks, one read from a figure) and the institutional cohort."""
    studies = _df(
        [
            {
                "study_id": "lindqvist_2013",
                "citation": "Lindqvist A et al. J Neurooncol 2013",
                "year": 2013,
                "source": "literature",
                "synthetic": True,
                "curve_endpoints": "os",
                "cohort_rows": 84,
                "modalities": "non_surgical, re_resection",
            },
            {
                "study_id": "tanaka_2015",
                "citation": "SYNTHETIC example study tanaka_2015",
                "year": 2015,
                "source": "literature",
                "synthetic": True,
                "curve_endpoints": "os",
                "cohort_rows": 48,
                "modalities": "non_surgical, re_resection",
            },
            {
                "study_id": "quinn_2024",
                "citation": "Quinn B, Roe C. Neurosurgery 2024",
                "year": 2024,
                "source": "literature",
                "synthetic": True,
                "curve_endpoints": "os",
                "cohort_rows": 88,
                "modalities": "non_surgical, re_resection",
            },
            {
                "study_id": "institutional_2025",
                "citation": "SYNTHETIC institutional cohort",
                "year": 2025,
                "source": "institutional",
                "synthetic": True,
                "curve_endpoints": None,
                "cohort_rows": 74,
                "modalities": "non_surgical, re_resection",
            },
        ]
    )
    fid = []
    for sid, cid, status, unit, med, rmse in (
        ("lindqvist_2013", "os_rr", "ok", "months", 12.6249, 0.003196),
        ("lindqvist_2013", "os_ns", "ok", "months", 9.248425, 0.001908),
        ("tanaka_2015", "os_rr", "ok", "weeks", 65.6813, 0.001107),
        ("tanaka_2015", "os_ns", "blocked", "weeks", None, 0.0412),
        ("quinn_2024", "os_rr", "ok", "months", 18.114721, 1.0128e-9),
        ("quinn_2024", "os_ns", "ok", "months", 10.792729, 1.0168e-9),
    ):
        fid.append(
            {
                "study_id": sid,
                "curve_id": cid,
                "status": status,
                "n_clicks": 40,
                "rmse": rmse,
                "max_abs_error": 0.01,
                "n_patients": 44,
                "n_published": 44,
                "events": 33,
                "events_published": None,
                "median": med,
                "median_published": None,
                "median_digitized": med,
                "time_unit": unit,
            }
        )
    curves = _df(
        [
            {
                "study_id": r["study_id"],
                "curve_id": r["curve_id"],
                "arm_id": r["curve_id"][3:],
                "endpoint": "os",
                "time_unit": r["time_unit"],
                "figure_id": "fig1" if r["study_id"] == "quinn_2024" else None,
                "digitized": r["study_id"] == "quinn_2024",
            }
            for r in fid
        ]
    )
    cohort = _df(
        [
            {
                "study_id": sid,
                "endpoint": "os",
                "arm_id": arm,
                "arm_label": lab,
                "modality": mod,
                "source": src,
                "n": n,
                "events": e,
                "max_time_months": mx,
            }
            for sid, arm, lab, mod, src, n, e, mx in (
                ("lindqvist_2013", "rr", "Re-resection", "re_resection", "literature", 44, 33, 33.6),
                ("lindqvist_2013", "ns", "Non-surgical", "non_surgical", "literature", 40, 34, 41.9),
                ("tanaka_2015", "rr", "Re-resection", "re_resection", "literature", 26, 18, 36.4),
                ("quinn_2024", "rr", "Re-resection", "re_resection", "literature", 48, 28, 30.7),
                ("quinn_2024", "ns", "Non-surgical", "non_surgical", "literature", 40, 30, 30.6),
                ("institutional_2025", "gtr", "Re-resection, GTR", "re_resection", "institutional", 54, 36, 46.9),
                ("institutional_2025", "ns", "Non-surgical", "non_surgical", "institutional", 20, 19, 28.0),
            )
        ]
    )
    followup = _df(
        [
            {"study_id": sid, "endpoint": "os", "time_months": float(t), "event": int(e)}
            for sid in ("lindqvist_2013", "tanaka_2015", "quinn_2024", "institutional_2025")
            for t, e in zip(
                (1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 12, 12, 15),
                (1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0),
                strict=True,
            )
        ]
    )
    rejected = _df(
        [
            {
                "study_id": "broken_2019",
                "status": "rejected",
                "stage": "loading",
                "message": "study.yaml: year: not an integer\nclicks.csv: row 3: survival above 1",
            }
        ]
    )
    status = _df(
        [{"study_id": s, "stage": "harmonization", "status": "ok", "message": None} for s in studies["study_id"]]
        + [{"study_id": "broken_2019", "stage": "loading", "status": "rejected", "message": "study.yaml: year"}]
    )
    published = _df(
        [
            {
                "study_id": "tanaka_2015",
                "curve_id": "os_rr",
                "figure": "median",
                "published": 66.0,
                "published_lower": 50.0,
                "published_upper": None,
                "reconstructed": 65.6813,
                "reconstructed_lower": 52.0,
                "reconstructed_upper": None,
                "reference": None,
                "verdict": "inside_ci",
                "severity": "ok",
                "detail": "median inside",
            },
            {
                "study_id": "lindqvist_2013",
                "curve_id": "os_rr",
                "figure": "hr",
                "published": 0.98,
                "published_lower": 0.6,
                "published_upper": 1.6,
                "reconstructed": 1.0029,
                "reconstructed_lower": 0.6136,
                "reconstructed_upper": 1.6395,
                "reference": "ns",
                "verdict": "inside_ci",
                "severity": "ok",
                "detail": "hr inside",
            },
            {
                "study_id": "lindqvist_2013",
                "curve_id": "os_ns",
                "figure": "events",
                "published": 35.0,
                "published_lower": None,
                "published_upper": None,
                "reconstructed": 34.0,
                "reconstructed_lower": None,
                "reconstructed_upper": None,
                "reference": None,
                "verdict": "different",
                "severity": "error",
                "detail": "events 34 vs 35",
            },
        ]
    )
    arms = _df(
        [
            {"study_id": r["study_id"], "arm_id": r["arm_id"], "label": r["arm_label"], "modality": r["modality"]}
            for r in cohort.iter_rows(named=True)
        ]
    )
    return {
        "studies": studies,
        "fidelity": _df(fid),
        "published": published,
        "rejected": rejected,
        "study_status": status,
        "curves": curves,
        "arms": arms,
        "cohort": cohort,
        "followup": followup,
    }


def render(
    tmp_path: Path,
    tables: dict[str, pl.DataFrame] | None = None,
    inputs: dict | None = None,
    config=CONFIG,
    figures: Path | None = None,
) -> Path:
    inputs = report_inputs() if inputs is None else inputs
    figs = figures or tmp_path / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    return write_report(
        tmp_path / "report",
        config,
        contract_tables() if tables is None else tables,
        inputs["studies"],
        inputs["fidelity"],
        figs,
        "1.1.0",
        1e-6,
        True,
        **{k: v for k, v in inputs.items() if k not in ("studies", "fidelity")},
    )


# ------------------------------------------------------------------------------------------------- parsing


class _Parsed(HTMLParser):
    """Tables (id, class, caption, headers, rows of (cells, row class)), figures (id, caption), texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.figures: list[dict] = []
        self._stack: list[str] = []
        self._t: dict | None = None
        self._f: dict | None = None
        self._buf: list[str] | None = None
        self._row: list[str] | None = None
        self._row_cls = ""
        self.sup_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._t = {"id": a.get("id"), "cls": a.get("class") or "", "caption": "", "th": [], "rows": []}
        elif tag == "tr" and self._t is not None:
            self._row, self._row_cls = [], a.get("class") or ""
        elif tag in ("th", "td", "caption", "figcaption"):
            self._buf = []
        elif tag == "figure":
            self._f = {"id": a.get("id"), "caption": "", "img": False}
        elif tag == "img" and self._f is not None:
            self._f["img"] = bool(a.get("src"))
        elif tag == "sup":
            self.sup_depth += 1

    def handle_endtag(self, tag):
        text = "".join(self._buf or []).strip()
        if tag == "th" and self._t is not None:
            self._t["th"].append(text)
            self._buf = None
        elif tag == "td" and self._row is not None:
            self._row.append(text)
            self._buf = None
        elif tag == "caption" and self._t is not None:
            self._t["caption"] = text
            self._buf = None
        elif tag == "tr" and self._t is not None and self._row is not None:
            if self._row:
                self._t["rows"].append((self._row, self._row_cls))
            self._row = None
        elif tag == "table" and self._t is not None:
            self.tables.append(self._t)
            self._t = None
        elif tag == "figcaption" and self._f is not None:
            self._f["caption"] = text
            self._buf = None
        elif tag == "figure" and self._f is not None:
            self.figures.append(self._f)
            self._f = None
        elif tag == "sup":
            self.sup_depth -= 1

    def handle_data(self, data):
        if self._buf is not None and not self.sup_depth:
            self._buf.append(data)


def parse(path: Path) -> _Parsed:
    p = _Parsed()
    p.feed(path.read_text(encoding="utf-8"))
    return p


P_CELL = re.compile(r"^(<0\.001|0\.\d{3}|1\.00|–|)$")
BAD = re.compile(r"\b(nan|NaN|None|True|False|null|inf)\b")


def check_structure(parsed: _Parsed) -> None:
    """What every report must satisfy, whatever its data."""
    assert parsed.tables, "no tables"
    numbers = []
    for t in parsed.tables:
        assert t["id"] and t["id"].startswith("tab-"), t
        m = re.match(r"^Table (\d+)\. \S", t["caption"])
        assert m, f"table {t['id']} has no numbered caption: {t['caption']!r}"
        numbers.append(int(m.group(1)))
        for h in t["th"]:
            assert h and "_" not in h, f"raw column name {h!r} in {t['id']}"
        for cells, _ in t["rows"]:
            for c in cells:
                assert not BAD.search(c), f"{c!r} in {t['id']}"
        for i, h in enumerate(t["th"]):
            if h in ("p", "p (Wald)", "Log-rank p"):
                for cells, _ in t["rows"]:
                    assert P_CELL.match(cells[i]), f"p-value {cells[i]!r} in {t['id']}"
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    fig_numbers = []
    for f in parsed.figures:
        m = re.match(r"^Figure (\d+)\. \S", f["caption"])
        assert m, f"figure {f['id']} has no numbered caption"
        fig_numbers.append(int(m.group(1)))
    assert fig_numbers == list(range(1, len(fig_numbers) + 1))


def _table(parsed: _Parsed, id_: str) -> dict:
    found = [t for t in parsed.tables if t["id"] == id_]
    assert found, f"table {id_} missing; have {[t['id'] for t in parsed.tables]}"
    return found[0]


def _cells(t: dict) -> list[list[str]]:
    return [cells for cells, _ in t["rows"]]


# --------------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, _Parsed]:
    tmp = tmp_path_factory.mktemp("report")
    figs = tmp / "figures"
    figs.mkdir()
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><rect width="400" height="300"/></svg>'
    for stem in (f"km_{A}", f"forest_{A}_re_resection", f"leave1out_{A}_re_resection", "study_quinn_2024"):
        (figs / f"{stem}.svg").write_text(svg)
    path = render(tmp, figures=figs)
    return path, parse(path)


def test_every_announced_table_is_there_with_a_caption(report):
    path, parsed = report
    check_structure(parsed)
    ids = {t["id"] for t in parsed.tables}
    for suffix in (
        "groups",
        "median",
        "landmarks",
        "cox",
        "zph",
        "published",
        "re_resection-meta",
        "re_resection-studies",
        "re_resection-leave1out",
        "re_resection-cumulative",
        "re_resection-egger",
    ):
        assert f"tab-{A}-{suffix}" in ids
    assert {"tab-studies", "tab-fidelity", "tab-published", "tab-analyses"} <= ids
    text = path.read_text(encoding="utf-8")
    for anchor in (
        "flow",
        "studies",
        "fidelity",
        "published",
        f"cmp-{A}",
        f"cmp-{B}",
        "cmp-os_empty",
        "methods",
        "references",
        "rejected",
    ):
        assert f'href="#{anchor}"' in text and f'id="{anchor}"' in text
    assert "SYNTHETIC DATA" in text
    assert [f["id"] for f in parsed.figures] == [
        f"fig-km_{A}",
        f"fig-forest_{A}_re_resection",
        f"fig-leave1out_{A}_re_resection",
        "fig-study_quinn_2024",
    ]
    assert all(f["img"] for f in parsed.figures)
    assert (path.parent / "tables" / "analysis_frailty.csv").exists()


def test_survival_by_group_in_the_study_layout(report):
    _, parsed = report
    t = _table(parsed, f"tab-{A}-groups")
    assert t["th"] == [
        "Group",
        "N",
        "Events",
        "Median, months [95% CI]",
        "RMST to 24 months ± SE",
        "Follow-up, months: median (max)",
        "HR [95% CI]",
        "p",
    ]
    assert _cells(t) == [
        ["Re-resection", "386", "261", "14.1 [12.0–16.7]", "14.6 ± 0.45", "24.1 (51.5)", "0.61 [0.49–0.76]", "<0.001"],
        ["Non-surgical management", "220", "180", "NR [9.7–NR]", "12.5 ± 0.54", "20.0 (42.0)", "1 (reference)", ""],
    ]
    html = report[0].read_text(encoding="utf-8")
    assert "not reached: survival stays above 50% (lowest 62% at 30.1 months)" in html
    assert _cells(_table(parsed, f"tab-{A}-median"))[0] == [
        "Re-resection",
        "14.1",
        "12.0–16.7",
        "11.9–16.7",
        "11.6–16.6",
        "1.29",
    ]
    assert _cells(_table(parsed, f"tab-{A}-landmarks"))[0] == [
        "Re-resection",
        "77 [72–82]243 at risk",
        "55 [50–61]162 at risk",
        "32 [27–38]73 at risk",
    ]


def test_cox_frailty_and_tests_with_the_few_clusters_model_greyed(report):
    path, parsed = report
    t = _table(parsed, f"tab-{A}-cox")
    rows = {cells[0]: (cells, cls) for cells, cls in t["rows"]}
    assert rows["Cox, unstratified (headline)"][0][1:3] == ["0.61 [0.49–0.76]", "<0.001"]
    assert rows["Cox, stratified by study"][0][1:3] == ["0.60 [0.43–0.84]", "0.050"]
    robust, cls = rows["Cox, cluster-robust variance by study"]
    assert robust[1:3] == ["1.01 [1.01–1.02]", "<0.001"] and cls == "muted"
    assert "2 clusters" in robust[3]
    assert rows["Shared gamma frailty by study (R's default fit)"][0][1:4] == [
        "0.59 [0.44–0.80]",
        "<0.001",
        "θ 0.123; 4 studies",
    ]
    assert rows["Log-rank test, stratified by study"][0][2:] == ["0.003", "χ² 9.08 (1 df)"]
    text = path.read_text(encoding="utf-8")
    for message in (
        "cluster-robust variance with 2 clusters: unreliable, not the headline",
        "cox.zph p = 0.040: hazards may not be proportional",
        "median not reached in Non-surgical management",
        "Egger&#39;s test not done: fewer than 10 studies",
        "fewer than 2 studies report Repeat SRS and Non-surgical management",
        "only one study contributes to this comparison",
        "no study reports both groups",
    ):
        assert message in text, message
    zph = _table(parsed, f"tab-{A}-zph")
    assert _cells(zph) == [
        ["Re-resection", "4.20", "1", "0.040", "rejected (p < 0.05)"],
        ["Global", "4.20", "1", "0.040", "rejected (p < 0.05)"],
    ]


def test_published_figures_next_to_ours(report):
    _, parsed = report
    assert _cells(_table(parsed, f"tab-{A}-published")) == [
        ["Median, Re-resection, months", "14.7", "14.1", "−0.6"],
        ["Median, Non-surgical management, months", "10.3", "NR", "–"],
        ["HR, Re-resection vs Non-surgical management", "0.66", "0.61 [0.49–0.76]", "−0.05"],
        ["p (headline Cox model)", "<0.001", "<0.001", "–"],
    ]


def test_meta_analysis_tables(report):
    _, parsed = report
    meta = _cells(_table(parsed, f"tab-{A}-re_resection-meta"))
    assert [r[0] for r in meta] == [
        "Fixed effect (inverse variance)",
        "Random effects, DerSimonian–Laird",
        "Random effects, REML",
        "REML with HKSJ (t, 3 df)",
    ]
    assert meta[0] == [
        "Fixed effect (inverse variance)",
        "4",
        "0.62 [0.47–0.82]",
        "<0.001",
        "–",
        "66%",
        "8.92 (3), 0.030",
        "–",
    ]
    assert meta[2][2:] == ["0.57 [0.34–0.95]", "0.031", "0.177", "68%", "8.92 (3), 0.030", "0.22–1.49"]
    assert _cells(_table(parsed, f"tab-{A}-re_resection-studies"))[1] == [
        "Tanaka 2015",
        "26 (18)",
        "22 (22)",
        "0.28 [0.13–0.58]",
    ]
    assert _cells(_table(parsed, f"tab-{A}-re_resection-cumulative"))[0][3:] == ["1.00 [0.60–1.60]", "0.990", "–", "–"]
    egger = _cells(_table(parsed, f"tab-{A}-re_resection-egger"))
    assert egger[0][2:4] == ["z = −1.23", "0.217"] and egger[1][2:4] == ["t = −1.50 (9 df)", "0.168"]
    # three groups: two contrasts in the Cox table, HR below 0.1 with 3 decimals
    cox_b = _cells(_table(parsed, f"tab-{B}-cox"))
    assert cox_b[0][:4] == ["Cox, unstratified (headline)", "Re-resection", "0.051 [0.036–0.072]", "0.012"]
    assert cox_b[1][1:4] == ["Repeat SRS", "0.90 [0.63–1.26]", "0.357"]


def test_flow_characteristics_and_fidelity(report):
    path, parsed = report
    text = path.read_text(encoding="utf-8")
    flow = text[text.index('id="flow"') : text.index('id="studies"')]
    assert "Study folders found<br><b>5</b>" in flow
    assert "Rejected: <b>1</b>" in flow and "broken_2019: rejected at loading: study.yaml: year: not an integer" in flow
    assert "Studies included<br><b>4</b>" in flow and "3 literature" in flow and "1 institutional IPD" in flow
    assert "<b>6</b>; reconstructed: <b>5</b>" in flow and "Held out by the fidelity gate: <b>1</b>" in flow
    assert "Overall survival</b>: 272 patients, 198 events, 4 studies" in flow
    assert "Re-resection: 172 patients, 115 events" in flow
    chars = _table(parsed, "tab-studies")
    rows = {r[0]: r for r in _cells(chars)}
    # reverse-KM median of the fixture times is 10.0 (R: quantile(survfit(Surv(t, 1 - e) ~ 1), 0.5))
    assert rows["Lindqvist 2013"][1:] == [
        "KM curves → IPD (synthetic)",
        "Re-resection; Non-surgical",
        "84 (67)",
        "10.0 (15.0)",
        "0.0032 (ok)",
        "no",
    ]
    assert rows["Quinn 2024"][-2:] == ["<0.0001 (ok)", "yes"]
    assert rows["Tanaka 2015"][-2] == "0.0412 (blocked, ok)"
    assert rows["Institutional cohort 2025"][1] == "Institutional IPD (synthetic)"
    fid = {(r[0], r[1]): r for r in _cells(_table(parsed, "tab-fidelity"))}
    # 65.6813 weeks = 65.6813 * 7 * 12 / 365.25 months = 15.105
    assert fid[("Tanaka 2015", "os_rr")][8:] == ["15.1", "15.1", "–", "wk", "no"]
    assert fid[("Tanaka 2015", "os_ns")][2] == "blocked"
    assert fid[("Quinn 2024", "os_rr")][-1] == "yes"
    assert "events 34 vs 35" in text  # what is wrong, as a footnote of the ERROR verdict
    pub = {(r[0], r[2]): r for r in _cells(_table(parsed, "tab-published"))}
    assert pub[("Tanaka 2015", "Median, months")][3:5] == ["15.2 [11.5–NR]", "15.1 [12.0–NR]"]
    assert pub[("Lindqvist 2013", "HR vs ns")][3:5] == ["0.98 [0.60–1.60]", "1.00 [0.61–1.64]"]


def test_empty_tables_and_missing_columns_still_render(tmp_path):
    empty = {name: pl.DataFrame() for name in contract_tables()}
    check_structure(parse(render(tmp_path / "empty", tables=empty)))
    old = {
        k: v
        for k, v in contract_tables().items()
        if k
        in (
            "analysis_groups",
            "analysis_landmarks",
            "analysis_tests",
            "analysis_cox",
            "analysis_study_effects",
            "analysis_meta",
            "analysis_studies",
        )
    }
    old["analysis_groups"] = old["analysis_groups"].drop(
        "median_note", "followup_median", "followup_max", "median_spss_se"
    )
    old["analysis_cox"] = old["analysis_cox"].drop("clusters", "headline")
    old["analysis_meta"] = old["analysis_meta"].drop("test", "df")
    old["analysis_study_effects"] = old["analysis_study_effects"].drop("study_label", "year")
    inputs = {k: v for k, v in report_inputs().items() if k in ("studies", "fidelity", "published", "rejected")}
    parsed = parse(render(tmp_path / "old", tables=old, inputs=inputs))
    check_structure(parsed)
    robust = [c for c, cls in _table(parsed, f"tab-{A}-cox")["rows"] if c[0].startswith("Cox, cluster")]
    assert "4 clusters" in robust[0][3]  # counted from analysis_studies when the column is absent


@pytest.mark.skipif(not REAL_STORE.exists(), reason="no real store in this checkout")
def test_report_from_a_copy_of_the_real_store(tmp_path):
    from meta_bm.analysis.config import load_analyses
    from meta_bm.settings import packaged_analyses
    from meta_bm.store import CohortStore

    copy = tmp_path / "store.duckdb"
    shutil.copyfile(REAL_STORE, copy)  # never open the real store itself: the pipeline may be writing it
    try:
        store = CohortStore(copy, lock_timeout=5)
        inputs, tables = store.report_inputs(), store.analysis_results()
    except Exception as exc:  # a copy taken mid-write
        pytest.skip(f"copy of the store not readable: {exc}")
    figs = Path("/work/main/output/figures")
    path = render(
        tmp_path,
        tables=tables,
        inputs=inputs,
        config=load_analyses(packaged_analyses()),
        figures=figs if figs.is_dir() else None,
    )
    check_structure(parse(path))
    assert path.stat().st_size < 15_000_000


WIDTH_SCRIPT = """<script>
window.addEventListener('load', () => {
  const out = [...document.querySelectorAll('table')].map(t => ({id: t.id, scroll: t.scrollWidth,
    box: t.parentElement.clientWidth, right: Math.round(t.getBoundingClientRect().right)}));
  const pre = document.createElement('pre'); pre.id = 'widths'; pre.textContent = JSON.stringify(
    {tables: out, page: document.documentElement.clientWidth, body: document.body.scrollWidth});
  document.body.appendChild(pre);
});
</script>"""


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    profile = tmp / f"profile{len(list(tmp.glob('profile*')))}"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
@pytest.mark.parametrize("media", ["screen", "print"])
def test_no_table_is_wider_than_an_a4_page(report, tmp_path, media):
    path, _ = report
    html = path.read_text(encoding="utf-8")
    width = 794  # A4 at 96 dpi
    if media == "print":
        # the print rules on screen, in the text width of an A4 page with 14 mm margins
        html = html.replace("@media print", "@media all")
        width = 794 - 2 * round(14 / 25.4 * 96)
    page = tmp_path / "page.html"
    page.write_text(html.replace("</body>", WIDTH_SCRIPT + "</body>"), encoding="utf-8")
    res = _chromium([f"--window-size={width},1200", "--dump-dom", page.as_uri()], tmp_path)
    m = re.search(r'<pre id="widths">(.*?)</pre>', res.stdout, re.S)
    assert m, res.stderr[-2000:]
    data = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert data["tables"]
    for t in data["tables"]:
        assert t["scroll"] <= t["box"] + 1, t
        assert t["right"] <= width, t
    assert data["body"] <= data["page"] + 1
    shot = tmp_path / f"a4_{media}.png"
    _chromium([f"--window-size={width},3000", f"--screenshot={shot}", path.as_uri()], tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_prints_on_a4_pages(report, tmp_path):
    path, _ = report
    pdf = tmp_path / "report.pdf"
    _chromium(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", path.as_uri()], tmp_path)
    data = pdf.read_bytes()
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes, "no page boxes in the PDF"
    for w, h in boxes:  # A4: 595.28 x 841.89 pt
        assert abs(float(w) - 595.3) < 1.5 and abs(float(h) - 841.9) < 1.5
    # a page break before each comparison: at least title + flow + fidelity + 3 comparisons + methods
    assert len(boxes) >= 7


def test_store_report_inputs_have_what_the_report_reads(tmp_path):
    from meta_bm.store import CohortStore

    inputs = CohortStore(tmp_path / "empty.duckdb").report_inputs()
    expected = {
        "studies": {"study_id", "citation", "year", "source", "synthetic"},
        "fidelity": {"study_id", "curve_id", "status", "rmse", "median", "time_unit"},
        "published": {"study_id", "curve_id", "figure", "severity", "detail"},
        "rejected": {"study_id", "status", "stage", "message"},
        "study_status": {"study_id", "stage", "status", "message"},
        "curves": {"study_id", "curve_id", "endpoint", "time_unit", "figure_id", "digitized"},
        "arms": {"study_id", "arm_id", "label", "modality"},
        "cohort": {"study_id", "endpoint", "arm_id", "modality", "source", "n", "events", "max_time_months"},
        "followup": {"study_id", "endpoint", "time_months", "event"},
    }
    assert set(inputs) == set(expected)
    for name, cols in expected.items():
        assert cols <= set(inputs[name].columns), name
    check_structure(parse(render(tmp_path, tables={}, inputs=inputs)))


def test_egger_limit_estimate_is_shown_as_a_hazard_ratio(report):
    """regtest's limit estimate is a log HR (negative below HR 1): the report exponentiates it."""
    _, parsed = report
    t = _table(parsed, f"tab-{A}-re_resection-egger")
    cells = {row[0]: row for row, _ in t["rows"]}
    assert cells["Random-effects meta-regression on SE (metafor regtest)"][1:] == [
        "11", "z = \u22121.23", "0.217", "0.71 [0.50–1.01]"
    ]  # fmt: skip
    assert cells["Classic Egger (weighted linear regression)"][4] == "0.70 [0.49–1.00]"
