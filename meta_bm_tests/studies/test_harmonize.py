"""Harmonized cohort rows: months, vocabulary, provenance, institutional overrides."""

from __future__ import annotations

import hashlib

import numpy as np

from meta_bm.reconstruction import RECONSTRUCTION_VERSION, reconstruct
from meta_bm.studies import COHORT_SCHEMA, load_study, study_cohort


def test_literature_rows_in_months_with_provenance(studies_root):
    study = load_study(studies_root / "alpha_2020")
    cohort, _ = study_cohort(study)
    assert list(cohort.columns) == list(COHORT_SCHEMA)
    c = study.curves[0]
    direct = reconstruct(c.clicks, c.risk_table, total_n=c.spec.total_n)
    rows = cohort.filter(cohort["curve_id"] == "os_rr")
    # weeks -> months: 7 days per week, 365.25 / 12 days per month
    np.testing.assert_allclose(rows["time_months"].to_numpy(), direct.time * 7 * 12 / 365.25, rtol=0, atol=1e-12)
    assert rows["event"].sum() == direct.event.sum()
    assert rows["modality"].unique().to_list() == ["re_resection"]
    sha = hashlib.sha256((studies_root / "alpha_2020" / "os_rr_clicks.csv").read_bytes()).hexdigest()
    assert rows["source_sha256"].unique().to_list() == [sha]
    risk_sha = hashlib.sha256((studies_root / "alpha_2020" / "os_rr_risk.csv").read_bytes()).hexdigest()
    assert rows["risk_table_sha256"].unique().to_list() == [risk_sha]
    assert rows["reconstruction_version"].unique().to_list() == [RECONSTRUCTION_VERSION]
    assert rows["patient_id"].n_unique() == rows.height == 40


def test_total_events_met_in_cohort(studies_root):
    study = load_study(studies_root / "beta_2021")
    cohort, _ = study_cohort(study)
    assert cohort["event"].sum() == study.curves[0].spec.total_events


def test_institutional_rows_override_arm_attributes(studies_root):
    study = load_study(studies_root / "inst_2025")
    cohort, rec = study_cohort(study)
    assert rec is None
    assert cohort.height == 90  # 45 patients x 2 endpoints
    gtr = cohort.filter(cohort["arm_id"] == "gtr")
    assert gtr["resection_extent"].unique().to_list() == ["gtr"]
    assert cohort["age"].null_count() == 0 and cohort["source"].unique().to_list() == ["institutional"]
    raw = study.patients.filter(study.patients["endpoint"] == "os").sort("patient_id")
    got = cohort.filter(cohort["endpoint"] == "os").sort("patient_id")
    np.testing.assert_array_equal(got["time_months"].to_numpy(), raw["time"].to_numpy())
