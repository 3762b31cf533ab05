"""Synthetic study folders: they load as valid studies and carry what was asked for and what was simulated."""

from __future__ import annotations

import numpy as np
import pytest

from meta_bm.simulation.study_folders import ArmSpec, write_institutional_study, write_literature_study
from meta_bm.studies import load_study
from meta_bm.survival.km import kaplan_meier

DAYS_PER_MONTH = 365.25 / 12
ARMS = [
    ArmSpec("rr", "Re-resection", "re_resection", 40, 14.0, attributes={"resection_extent": "gtr"}),
    ArmSpec("ns", "Non-surgical", "non_surgical", 36, 10.0),
]


@pytest.mark.parametrize(("time_unit", "percent"), [("months", False), ("weeks", True), ("days", False)])
def test_literature_folder_loads_with_the_requested_n_and_the_simulated_risk_table(tmp_path, time_unit, percent):
    truth: dict = {}
    folder = write_literature_study(
        tmp_path, "alpha_2020", ARMS, time_unit=time_unit, percent=percent, total_events=True, seed=3, truth=truth
    )
    study = load_study(folder)
    assert study.study_id == "alpha_2020" and study.manifest.synthetic
    assert "SYNTHETIC" in study.manifest.citation
    assert [(a.arm_id, a.modality, a.resection_extent) for a in study.manifest.arms] == [
        ("rr", "re_resection", "gtr"),
        ("ns", "non_surgical", None),
    ]
    per_month = {"months": 1.0, "weeks": DAYS_PER_MONTH / 7, "days": DAYS_PER_MONTH}[time_unit]
    for arm, curve in zip(ARMS, study.curves, strict=True):
        spec = curve.spec
        assert (spec.curve_id, spec.arm, spec.endpoint, spec.time_unit) == (
            f"os_{arm.arm_id}",
            arm.arm_id,
            "os",
            time_unit,
        )
        assert spec.total_n == arm.n
        t_months, event = truth[arm.arm_id]
        assert t_months.size == arm.n and spec.total_events == int(event.sum())
        # the risk table counts the simulated patients still at risk, in the curve's own unit
        t_unit = t_months * per_month
        assert curve.risk_table.n_risk[0] == arm.n and curve.risk_table.time[0] == 0
        assert list(curve.risk_table.n_risk) == [int(np.sum(t_unit >= x - 1e-9)) for x in curve.risk_table.time]
        # clicks written in percent or as probabilities are read back as probabilities
        assert 0.9 < curve.clicks.survival.max() <= 1.01 and curve.clicks.survival.min() >= -0.01
        assert curve.clicks.time.max() == pytest.approx(t_unit.max(), abs=0.05 * t_unit.max())


def test_literature_folder_without_risk_table_still_gives_n(tmp_path):
    folder = write_literature_study(tmp_path, "beta_2021", ARMS[:1], risk_table=False, seed=4)
    (curve,) = load_study(folder).curves
    assert curve.risk_table is None and curve.spec.total_n == 40 and curve.spec.total_events is None


def test_same_seed_same_folder(tmp_path):
    a = write_literature_study(tmp_path / "a", "alpha_2020", ARMS, seed=7)
    b = write_literature_study(tmp_path / "b", "alpha_2020", ARMS, seed=7)
    for name in ("study.yaml", "os_rr_clicks.csv", "os_rr_risk.csv", "os_ns_clicks.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = write_literature_study(tmp_path / "c", "alpha_2020", ARMS, seed=8)
    assert (a / "os_rr_clicks.csv").read_bytes() != (c / "os_rr_clicks.csv").read_bytes()


INSTITUTIONAL = [
    ArmSpec("gtr", "GTR", "re_resection", 25, 20.0, attributes={"resection_extent": "gtr", "adjuvant": "re_srs"}),
    ArmSpec("ns", "Non-surgical", "non_surgical", 20, 10.0),
]


def test_institutional_folder_loads_with_the_simulated_patients(tmp_path):
    truth: dict = {}
    folder = write_institutional_study(tmp_path, "inst_2025", INSTITUTIONAL, seed=5, truth=truth)
    study = load_study(folder)
    assert study.manifest.source == "institutional" and study.manifest.synthetic
    patients = study.patients
    assert patients.height == 2 * (25 + 20)  # one row per patient per endpoint (os, local_pfs)
    for arm in INSTITUTIONAL:
        for endpoint in ("os", "local_pfs"):
            rows = patients.filter((patients["arm_id"] == arm.arm_id) & (patients["endpoint"] == endpoint))
            assert rows.height == arm.n
            t, e = truth[(arm.arm_id, endpoint)]
            # times are written with 3 decimals
            np.testing.assert_allclose(rows.sort("patient_id")["time"].to_numpy(), t, rtol=0, atol=5e-4 + 1e-12)
            np.testing.assert_array_equal(rows.sort("patient_id")["event"].to_numpy(), e)
        # local progression is observed no later than death
        os_t = truth[(arm.arm_id, "os")][0]
        assert np.all(truth[(arm.arm_id, "local_pfs")][0] <= os_t)
    gtr = patients.filter(patients["arm_id"] == "gtr")
    assert set(gtr["resection_extent"].to_list()) == {"gtr"} and set(gtr["adjuvant"].to_list()) == {"re_srs"}
    assert patients["age"].null_count() == 0 and set(patients["sex"].unique().to_list()) <= {"f", "m"}


@pytest.mark.xfail(
    strict=True,
    reason="known bug: write_institutional_study ignores ArmSpec.pfs_median (always 0.6 x median), though "
    "scripts/make_example_studies.py sets it; see the report of issue 16",
)
def test_institutional_local_pfs_median_follows_pfs_median(tmp_path):
    truth: dict = {}
    arms = [
        ArmSpec("long", "Long PFS", "re_resection", 3000, 20.0, pfs_median=30.0),
        ArmSpec("short", "Short PFS", "re_resection", 3000, 20.0, pfs_median=5.0),
    ]
    write_institutional_study(tmp_path, "inst_2025", arms, follow_up_months=400.0, seed=1, truth=truth)
    medians = {a.arm_id: kaplan_meier(*truth[(a.arm_id, "local_pfs")]).median() for a in arms}
    # same OS, local PFS medians 30 vs 5 months asked for: the simulated local PFS must differ by far more
    # than the sampling noise of a median of 3000 patients (a few tenths of a month)
    assert medians["long"] - medians["short"] > 3.0
