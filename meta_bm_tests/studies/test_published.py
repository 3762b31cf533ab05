"""Published vs reconstructed figures: each rule against independently known truth.

Studies are simulated and digitized (``write_literature_study``), their manifests given published
figures, then loaded and reconstructed as the platform does. The reconstructed HR is checked against
lifelines' Cox model (Efron ties) on the same reconstructed IPD, the median against the KM of that IPD.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml
from lifelines import CoxPHFitter

from meta_bm.simulation.study_folders import ArmSpec, write_literature_study
from meta_bm.studies import PUBLISHED_COMPARISON_SCHEMA, compare_published, load_study, reconstruct_study
from meta_bm.survival.km import kaplan_meier
from meta_bm.survival.km_inference import median_ci

LIFELINES_TIGHT = {"precision": 1e-14, "r_precision": 0.0, "max_steps": 100}
# Weibull shape 1.2, medians 14 vs 9 months: true HR of rr vs ns = (9 / 14) ** 1.2 = 0.59
ARMS = [
    ArmSpec("rr", "Re-resection", "re_resection", 80, 14.0),
    ArmSpec("ns", "Non-surgical", "non_surgical", 80, 9.0),
]


def _study(tmp_path, edit=None, arms=ARMS, **kwargs):
    folder = write_literature_study(tmp_path / "studies", "pub_2020", arms, seed=11, **kwargs)
    manifest = yaml.safe_load((folder / "study.yaml").read_text())
    if edit is not None:
        edit(manifest, folder)
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return reconstruct_study(load_study(folder))


def _curve(manifest: dict, curve_id: str) -> dict:
    return next(c for c in manifest["curves"] if c["curve_id"] == curve_id)


def _row(table: pl.DataFrame, curve_id: str, figure: str) -> dict:
    rows = table.filter((pl.col("curve_id") == curve_id) & (pl.col("figure") == figure)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def _ipd(rec, curve_id: str) -> tuple[np.ndarray, np.ndarray]:
    r = next(c for c in rec.curves if c.curve.spec.curve_id == curve_id)
    return r.reconstruction.time, r.reconstruction.event


def _lifelines_hr(rec) -> tuple[float, float, float]:
    t1, e1 = _ipd(rec, "os_rr")
    t0, e0 = _ipd(rec, "os_ns")
    df = pd.DataFrame(
        {
            "time": np.concatenate([t1, t0]),
            "event": np.concatenate([e1, e0]).astype(int),
            "rr": np.concatenate([np.ones(t1.size), np.zeros(t0.size)]),
        }
    )
    fit = CoxPHFitter().fit(df, "time", "event", fit_options=LIFELINES_TIGHT)
    beta, se = float(fit.params_["rr"]), float(fit.standard_errors_["rr"])
    z = 1.959963984540054
    return float(np.exp(beta)), float(np.exp(beta - z * se)), float(np.exp(beta + z * se))


def test_schema_and_equal_n_and_events_pass(tmp_path):
    rec = _study(tmp_path, total_events=True)
    table = compare_published(rec)
    assert table.schema == pl.Schema(PUBLISHED_COMPARISON_SCHEMA)
    assert table.select("curve_id", "figure").rows() == [
        ("os_rr", "n"),
        ("os_rr", "events"),
        ("os_ns", "n"),
        ("os_ns", "events"),
    ]
    for r in table.iter_rows(named=True):
        curve = next(c for c in rec.curves if c.curve.spec.curve_id == r["curve_id"])
        truth = curve.curve.spec.total_n if r["figure"] == "n" else curve.curve.spec.total_events
        assert r["published"] == truth
        assert r["reconstructed"] == truth
        assert (r["verdict"], r["severity"]) == ("equal", "ok")
        assert r["reference"] is None


def test_wrong_n_is_an_error(tmp_path):
    def edit(m, folder):
        # the risk table (the digitized figure) says 80 at time 0; the manifest claims 85
        _curve(m, "os_rr")["total_n"] = 85

    row = _row(compare_published(_study(tmp_path, edit)), "os_rr", "n")
    assert (row["published"], row["reconstructed"]) == (85.0, 80.0)
    assert (row["verdict"], row["severity"]) == ("different", "error")
    assert row["detail"] == "N 80 vs published 85: differs by -5"


def test_wrong_events_are_an_error(tmp_path):
    rec = _study(tmp_path)
    true_events = int(_ipd(rec, "os_ns")[1].sum())

    def edit(m, folder):
        _curve(m, "os_ns")["published"] = {"events": true_events + 4}

    row = _row(compare_published(_study(tmp_path, edit)), "os_ns", "events")
    assert (row["published"], row["reconstructed"]) == (true_events + 4, true_events)
    assert (row["verdict"], row["severity"]) == ("different", "error")


def _with_hr(value, lower=None, upper=None, reference="ns"):
    def edit(m, folder):
        hr = {"value": value, "reference_arm": reference}
        if lower is not None:
            hr |= {"lower": lower, "upper": upper}
        _curve(m, "os_rr")["published"] = {"hr": hr}

    return edit


def test_wrong_hr_is_outside_the_ci(tmp_path):
    rec = _study(tmp_path, _with_hr(3.0, 2.5, 3.6))
    row = _row(compare_published(rec), "os_rr", "hr")
    assert row["reconstructed"] < 1.0  # the data say rr lives longer
    assert (row["verdict"], row["severity"]) == ("outside_ci", "warn")
    assert row["reference"] == "ns"
    assert (row["published"], row["published_lower"], row["published_upper"]) == (3.0, 2.5, 3.6)
    assert "outside the published CI" in row["detail"]


def test_correct_hr_passes_and_equals_an_independent_cox_fit(tmp_path):
    rec0 = _study(tmp_path)
    hr, lo, hi = _lifelines_hr(rec0)
    assert 0.4 < hr < 0.85  # near the true 0.59
    # published CI around the (independently fitted) truth of these data
    rec = _study(tmp_path, _with_hr(round(hr, 2), round(lo, 2), round(hi, 2)))
    row = _row(compare_published(rec), "os_rr", "hr")
    assert (row["verdict"], row["severity"]) == ("inside_ci", "ok")
    np.testing.assert_allclose(
        [row["reconstructed"], row["reconstructed_lower"], row["reconstructed_upper"]], [hr, lo, hi], rtol=0, atol=1e-6
    )
    assert row["detail"].startswith(f"HR rr vs ns (os_rr vs os_ns) {hr:.2f} [{lo:.2f}–{hi:.2f}] vs published")
    # the reference curve itself has no HR row
    assert compare_published(rec).filter(pl.col("curve_id") == "os_ns")["figure"].to_list() == ["n"]


def test_hr_without_ci_uses_ten_percent(tmp_path):
    hr = _lifelines_hr(_study(tmp_path))[0]
    ok = _row(compare_published(_study(tmp_path, _with_hr(hr * 1.05))), "os_rr", "hr")
    off = _row(compare_published(_study(tmp_path, _with_hr(hr * 1.3))), "os_rr", "hr")
    assert (ok["verdict"], ok["severity"]) == ("within_10pct", "ok")
    assert (off["verdict"], off["severity"]) == ("off_by_more_than_10pct", "warn")


def test_hr_reference_converted_to_the_same_time_unit(tmp_path):
    """A reference curve digitized in weeks gives the same HR as one in months."""
    rec = _study(tmp_path, _with_hr(0.6, 0.4, 0.9))
    months = _row(compare_published(rec), "os_rr", "hr")

    def weeks(m, folder):
        _with_hr(0.6, 0.4, 0.9)(m, folder)
        c = _curve(m, "os_ns")
        c["time_unit"] = "weeks"
        per_week = 365.25 / 12 / 7
        for name in (c["clicks"], c["risk_table"]):
            lines = (folder / name).read_text().splitlines()
            out = []
            for line in lines:
                head, _, tail = line.partition(",")
                try:
                    out.append(f"{float(head) * per_week:.10g},{tail}")
                except ValueError:
                    out.append(line)
            (folder / name).write_text("\n".join(out) + "\n")

    converted = _row(compare_published(_study(tmp_path, weeks)), "os_rr", "hr")
    assert converted["reconstructed"] == pytest.approx(months["reconstructed"], abs=1e-9)


def test_hr_without_a_reference_curve_is_not_estimable(tmp_path):
    def edit_rr(m, folder):
        _curve(m, "pfs_rr")["published"] = {"hr": {"value": 0.6, "lower": 0.4, "upper": 0.9, "reference_arm": "ns"}}
        m["curves"] = [c for c in m["curves"] if c["curve_id"] != "pfs_ns"]

    row = _row(compare_published(_study(tmp_path, edit_rr, endpoint="pfs")), "pfs_rr", "hr")
    assert (row["verdict"], row["severity"], row["reference"]) == ("not_estimable", "warn", "ns")
    assert row["reconstructed"] is None
    assert "no pfs curve of the reference arm 'ns'" in row["detail"]


def _reconstructed_median(rec, curve_id):
    return median_ci(kaplan_meier(*_ipd(rec, curve_id)), method="log")


def test_median_inside_and_outside_the_published_ci(tmp_path):
    rec0 = _study(tmp_path)
    truth = _reconstructed_median(rec0, "os_rr")
    assert np.isfinite(truth.median)

    def published(value, lower, upper):
        def edit(m, folder):
            _curve(m, "os_rr")["published"] = {"median": {"value": value, "lower": lower, "upper": upper}}

        return edit

    inside = _row(
        compare_published(_study(tmp_path, published(truth.median, truth.median - 1, truth.median + 2))),
        "os_rr",
        "median",
    )
    assert (inside["verdict"], inside["severity"]) == ("inside_ci", "ok")
    assert inside["reconstructed"] == pytest.approx(truth.median, abs=1e-12)
    # the reconstructed CI is R's log-transform CI of the reconstructed KM
    assert inside["reconstructed_lower"] == pytest.approx(truth.lower, abs=1e-12)
    if np.isfinite(truth.upper):
        assert inside["reconstructed_upper"] == pytest.approx(truth.upper, abs=1e-12)
    else:
        assert inside["reconstructed_upper"] is None

    far = truth.median + 10
    outside = _row(compare_published(_study(tmp_path, published(far, far - 2, far + 3))), "os_rr", "median")
    assert (outside["verdict"], outside["severity"]) == ("outside_ci", "warn")
    assert "months" in outside["detail"] and "outside the published CI" in outside["detail"]


def test_median_without_ci_and_not_reached(tmp_path):
    rec0 = _study(tmp_path)
    med = float(_reconstructed_median(rec0, "os_rr").median)

    def no_ci(value):
        def edit(m, folder):
            _curve(m, "os_rr")["published"] = {"median": {"value": value}}

        return edit

    close = _row(compare_published(_study(tmp_path, no_ci(med * 1.08))), "os_rr", "median")
    far = _row(compare_published(_study(tmp_path, no_ci(med * 1.25))), "os_rr", "median")
    assert (close["verdict"], close["severity"]) == ("within_10pct", "ok")
    assert (far["verdict"], far["severity"]) == ("off_by_more_than_10pct", "warn")

    # a long-surviving arm: median 300 months, followed for 36: not reached
    long_arm = [ArmSpec("rr", "Re-resection", "re_resection", 60, 300.0)]

    def edit(m, folder):
        _curve(m, "os_rr")["published"] = {"median": {"value": 30.0, "lower": 20.0, "upper": 40.0}}

    row = _row(compare_published(_study(tmp_path / "long", edit, arms=long_arm)), "os_rr", "median")
    assert (row["verdict"], row["severity"]) == ("not_estimable", "warn")
    assert row["reconstructed"] is None
    assert row["detail"].startswith("median not reached in the reconstruction")


def test_nothing_published(tmp_path):
    def edit(m, folder):
        c = _curve(m, "os_rr")
        del c["total_n"]
        # a risk table that does not start at time 0 and no total N: N cannot be compared
        lines = (folder / c["risk_table"]).read_text().splitlines()
        (folder / c["risk_table"]).write_text("\n".join([lines[0], *lines[2:]]) + "\n")

    table = compare_published(_study(tmp_path, edit))
    row = _row(table, "os_rr", "none")
    assert (row["verdict"], row["severity"], row["detail"]) == (
        "nothing_published",
        "warn",
        "nothing published to compare",
    )
    assert row["published"] is None and row["reconstructed"] is None
    assert table.filter(pl.col("curve_id") == "os_rr").height == 1
    assert _row(table, "os_ns", "n")["severity"] == "ok"
