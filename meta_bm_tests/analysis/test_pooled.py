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
    assert tables["analysis_groups"].height == 2 and tables["analysis_meta"].height == 3


def test_missing_group_and_single_study(cohort):
    res = run_analysis(cohort.filter(pl.col("study_id") == "s3"), CFG.get("rr_ns"))
    assert res.cox == {} and any("fewer than two groups" in n for n in res.notes)
    one = run_analysis(cohort.filter(pl.col("study_id") == "s1"), CFG.get("rr_ns"))
    assert set(one.cox) == {"unstratified"} and one.meta == {}
