"""Pooled analyses on a cohort: patient selection, group assignment, and results tied to independent code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from lifelines import CoxPHFitter

from meta_bm.analysis import parse_analyses, run_analysis, select_patients
from meta_bm.simulation import simulate_ipd
from meta_bm.studies import COHORT_SCHEMA
from meta_bm.survival.coxph import cox_ph
from meta_bm.survival.km import kaplan_meier


def _rows(study, arm, modality, n, median, seed, endpoint="os", source="literature", adjuvant=None, extent=None):
    ipd = simulate_ipd(n, median=median, seed=seed)
    return pl.DataFrame(
        {
            "study_id": study,
            "patient_id": [f"{arm}_{i}" for i in range(n)],
            "endpoint": endpoint,
            "arm_id": arm,
            "arm_label": arm,
            "modality": modality,
            "resection_extent": extent,
            "adjuvant": adjuvant,
            "time_months": ipd.time,
            "event": ipd.event.astype(np.int8),
            "source": source,
            "synthetic": True,
        },
        schema_overrides={"resection_extent": pl.String, "adjuvant": pl.String},
    )


@pytest.fixture()
def cohort() -> pl.DataFrame:
    parts = [
        _rows("s1", "rr", "re_resection", 60, 15, 1, extent="gtr"),
        _rows("s1", "ns", "non_surgical", 60, 10, 2),
        _rows("s2", "rr", "re_resection", 50, 14, 3, extent="str"),
        _rows("s2", "ns", "non_surgical", 40, 9, 4),
        _rows("s3", "srs", "re_srs", 45, 11, 5),
        _rows("s4", "rr", "re_resection", 30, 16, 6, source="institutional", adjuvant="re_rt"),
        _rows("s4", "ns", "non_surgical", 30, 11, 7, source="institutional"),
        _rows("s4", "rr", "re_resection", 25, 20, 8, endpoint="local_pfs", source="institutional"),
    ]
    return pl.concat(parts).select(
        [pl.col(c).cast(t) if c in parts[0].columns else pl.lit(None, t).alias(c) for c, t in COHORT_SCHEMA.items()]
    )


CFG = parse_analyses("""
analyses:
  - {id: rr_ns, title: RR vs NS, endpoint: os, group_by: modality, levels: [re_resection, non_surgical],
     reference: non_surgical}
  - {id: rr_ns_two, title: RR vs NS, endpoint: os, group_by: modality, levels: [re_resection, non_surgical, re_srs],
     reference: non_surgical, studies: at_least_two_groups, include_institutional: false}
  - {id: extent, title: GTR vs STR, endpoint: os, population: {modality: re_resection}, group_by: resection_extent,
     levels: [gtr, str], reference: str}
""")


def test_selection(cohort):
    d = select_patients(cohort, CFG.get("rr_ns"))
    assert d.studies == ["s1", "s2", "s4"] and d.frame.height == 60 + 60 + 50 + 40 + 30 + 30
    d2 = select_patients(cohort, CFG.get("rr_ns_two"))
    assert d2.studies == ["s1", "s2"] and d2.excluded_studies == {"s3": "reports only one of the compared groups"}
    d3 = select_patients(cohort, CFG.get("extent"))
    assert dict(d3.frame.group_by("group").len().rows()) == {"gtr": 60, "str": 50}


def test_results_agree_with_independent_code(cohort):
    res = run_analysis(cohort, CFG.get("rr_ns"))
    df = res.data.frame
    rr = df.filter(pl.col("group") == "re_resection")
    km = kaplan_meier(rr["time"].to_numpy(), rr["event"].to_numpy())
    g = next(x for x in res.groups if x.group == "re_resection")
    assert g.n == rr.height and g.events == int(rr["event"].sum())
    assert g.medians["log"].median == km.median()
    # unstratified Cox HR equals a single-covariate Efron fit of the group indicator, by cox_ph (itself tested
    # against R in survival/test_coxph.py) and by lifelines at tight convergence (independent code)
    x = (df["group"] == "re_resection").cast(pl.Float64).to_numpy()
    b = cox_ph(df["time"].to_numpy(), df["event"].to_numpy(), x).coef[0]
    assert res.cox["unstratified"].coef[0] == pytest.approx(b, abs=1e-7)
    lifelines_fit = CoxPHFitter().fit(
        pd.DataFrame({"time": df["time"].to_numpy(), "event": df["event"].to_numpy(), "x": x}),
        "time",
        "event",
        fit_options={"precision": 1e-14, "r_precision": 0.0, "max_steps": 100},
    )
    assert res.cox["unstratified"].coef[0] == pytest.approx(float(lifelines_fit.params_["x"]), abs=1e-7)
    # per-study effects are per-study Cox fits; two-stage pools them
    eff = res.per_study.sort("study_id")
    for row in eff.iter_rows(named=True):
        part = df.filter(pl.col("study_id") == row["study_id"])
        xs = (part["group"] == "re_resection").cast(pl.Float64).to_numpy()
        assert row["log_hr"] == pytest.approx(
            cox_ph(part["time"].to_numpy(), part["event"].to_numpy(), xs).coef[0], abs=1e-7
        )
    fe = res.meta["re_resection"]["FE"]
    w = 1 / eff["se"].to_numpy() ** 2
    assert fe.estimate == pytest.approx(float(np.sum(w * eff["log_hr"].to_numpy()) / w.sum()), abs=1e-10)
    tables = res.tables()
    assert set(tables["analysis_cox"]["model"]) == {"unstratified", "stratified_by_study", "cluster_robust_by_study"}
    # FE, DL, REML (z) and DL, REML with Hartung-Knapp-Sidik-Jonkman
    assert tables["analysis_groups"].height == 2 and tables["analysis_meta"].height == 5
    assert sorted(tables["analysis_meta"].select("method", "test").rows()) == [
        ("DL", "knha"), ("DL", "z"), ("FE", "z"), ("REML", "knha"), ("REML", "z")
    ]  # fmt: skip


# The columns the report reads (the contract of meta_bm.analysis.result_tables).
CONTRACT = {
    "analysis_groups": ["median_spss_se", "median_note", "followup_median", "followup_max", "rmst", "rmst_se"],
    "analysis_cox": ["model", "group", "hr", "hr_lower", "hr_upper", "wald_p", "clusters", "headline"],
    "analysis_frailty": ["fit", "group", "coef", "se", "hr", "hr_lower", "hr_upper", "p", "theta", "c_loglik"],
    "analysis_meta": ["method", "test", "df", "hr", "hr_lower", "hr_upper", "tau2", "i2", "q", "q_p", "pi_lower"],
    "analysis_leave1out": ["group", "omitted", "omitted_label", "k", "hr", "hr_lower", "hr_upper", "i2"],
    "analysis_cumulative": ["group", "step", "added", "added_label", "year", "k", "hr", "hr_lower", "hr_upper"],
    "analysis_egger": ["group", "model", "k", "statistic", "df", "p_value", "limit_estimate"],
    "analysis_flags": ["group", "severity", "flag", "message"],
    "analysis_study_effects": ["study_label", "year", "events_group", "n_group", "events_reference", "n_reference"],
    "analysis_tests": ["test", "chisq", "df", "p_value"],
}


def test_tables_carry_the_report_contract_and_the_guard_rails(cohort):
    info = {"s1": ("Smith 2019", 2019), "s2": ("Jones 2012", 2012), "s4": ("Institutional cohort 2025", 2025)}
    res = run_analysis(cohort, CFG.get("rr_ns"), study_info=info)
    tables = res.tables()
    for name, cols in CONTRACT.items():
        assert set(cols) <= set(tables[name].columns), name
    # three studies: a sandwich variance from 3 clusters is flagged and is not the headline; no Egger test
    flags = tables["analysis_flags"]
    assert flags.filter(pl.col("flag") == "few_clusters")["severity"].to_list() == ["warn"]
    assert flags.filter(pl.col("flag") == "egger_not_done")["group"].to_list() == ["re_resection"]
    assert tables["analysis_egger"].height == 0
    cox = tables["analysis_cox"]
    assert cox.filter(pl.col("headline"))["model"].to_list() == ["unstratified"]
    # cumulative by publication year: Jones 2012, Smith 2019, the institutional cohort 2025
    cum = tables["analysis_cumulative"]
    assert cum["added_label"].to_list() == ["Jones 2012", "Smith 2019", "Institutional cohort 2025"]
    assert cum["k"].to_list() == [1, 2, 3] and cum["year"].to_list() == [2012, 2019, 2025]
    # its last step is the REML model on every study; leaving one out gives k - 1
    reml = res.meta["re_resection"]["REML"]
    assert cum["log_hr"][-1] == pytest.approx(reml.estimate, abs=1e-12)
    assert tables["analysis_leave1out"]["k"].to_list() == [2, 2, 2]
    # tests: log-rank, stratified, cox.zph global and per term
    assert set(tables["analysis_tests"]["test"]) == {
        "logrank", "logrank_stratified_by_study", "cox_zph_global", "cox_zph:re_resection"
    }  # fmt: skip
    g = tables["analysis_groups"].row(0, named=True)
    assert g["median_spss_se"] == pytest.approx((g["median_spss_upper"] - g["median_spss_lower"]) / 3.92, rel=1e-12)
    # reverse KM follow-up of the re-resection group, by hand: KM of the censoring indicator
    rr = res.data.frame.filter(pl.col("group") == "re_resection")
    rev = kaplan_meier(rr["time"].to_numpy(), 1 - rr["event"].to_numpy())
    assert g["followup_median"] == rev.median() and g["followup_max"] == rr["time"].max()


def test_median_not_reached_is_flagged_with_the_reason(cohort):
    early = cohort.with_columns(
        pl.when(pl.col("modality") == "re_resection").then(0).otherwise(pl.col("event")).alias("event")
    )
    early = early.with_columns(
        pl.when((pl.col("modality") == "re_resection") & (pl.col("patient_id") == "rr_0"))
        .then(1)
        .otherwise(pl.col("event"))
        .alias("event")
    )
    res = run_analysis(early, CFG.get("rr_ns"))
    g = res.tables()["analysis_groups"].filter(pl.col("group") == "re_resection").row(0, named=True)
    assert g["median"] is None or not np.isfinite(g["median"])
    assert g["median_note"].startswith("not reached: survival stays above 50%")
    assert [f.group for f in res.flags if f.flag == "median_not_reached"] == ["re_resection"]


def test_missing_group_and_single_study(cohort):
    res = run_analysis(cohort.filter(pl.col("study_id") == "s3"), CFG.get("rr_ns"))
    assert res.cox == {} and any("fewer than two groups" in n for n in res.notes)
    assert [f.flag for f in res.flags] == ["no_comparison"]
    one = run_analysis(cohort.filter(pl.col("study_id") == "s1"), CFG.get("rr_ns"))
    assert set(one.cox) == {"unstratified"} and one.meta == {} and one.frailty == {}
    assert {f.flag for f in one.flags} >= {"single_study", "no_pooled_model"}
