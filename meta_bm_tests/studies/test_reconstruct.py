"""Every curve of a study reconstructed as the engine does, and judged by the fidelity gate."""

from __future__ import annotations

import numpy as np
import pytest

from meta_bm.reconstruction import reconstruct
from meta_bm.studies import FidelityGate, load_study, reconstruct_study


def test_each_curve_is_the_engine_reconstruction(studies_root):
    study = load_study(studies_root / "alpha_2020")
    rec = reconstruct_study(study)
    assert [r.curve.spec.curve_id for r in rec.curves] == [c.spec.curve_id for c in study.curves]
    for r, c in zip(rec.curves, study.curves, strict=True):
        direct = reconstruct(c.clicks, c.risk_table, total_n=c.spec.total_n)
        np.testing.assert_array_equal(r.reconstruction.time, direct.time)
        np.testing.assert_array_equal(r.reconstruction.event, direct.event)
    assert rec.fidelity()["n_patients"].to_list() == [40, 36]
    assert rec.ipd()["patient_index"].to_list() == [*range(40), *range(36)]


def test_blocked_curves_are_kept_out(studies_root):
    study = load_study(studies_root / "alpha_2020")
    strict = FidelityGate(warn_rmse=0, warn_max=0, block_rmse=0.0, block_max=0.0)
    rec = reconstruct_study(study, strict)
    assert rec.fidelity()["status"].to_list() == ["blocked", "blocked"]
    assert rec.cohort().height == 0
    assert rec.ipd().height == 76  # the IPD itself is kept for inspection


@pytest.mark.parametrize(
    ("rmse", "max_err", "mismatch", "status"),
    [
        (0.001, 0.01, 0, "ok"),
        (0.03, 0.01, 0, "warn"),
        (0.001, 0.06, 0, "warn"),
        (0.001, 0.01, 1, "warn"),
        (0.06, 0.01, 0, "blocked"),
        (0.001, 0.2, 0, "blocked"),
    ],
)
def test_gate_thresholds(rmse, max_err, mismatch, status):
    assert FidelityGate().status(rmse, max_err, mismatch) == status
