"""The batch API gives each curve what a call of its own gives, in order, over processes too."""

import numpy as np
import pytest

from meta_bm.reconstruction import reconstruct_arrays, reconstruct_many
from meta_bm.simulation import SLOPPY, digitize, parametric_pairs


def _curves(n_pairs: int = 3) -> list[dict]:
    out = []
    for p_i, pair in enumerate(parametric_pairs(n_pairs, seed=5)):
        for a, (t, e) in enumerate(pair.arms):
            sim = digitize(t, e, SLOPPY, seed=10 * p_i + a)
            curve = {"name": f"{pair.name} arm {a}", "time": sim.click_time, "survival": sim.click_survival}
            if a == 0:  # (with and without a risk table)
                curve |= {"risk_time": sim.risk_time, "n_risk": sim.n_risk}
            out.append(curve | {"total_n": sim.total_n})
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_matches_single_calls_and_isolates_bad_curves(workers):
    curves = _curves()
    bad = [
        {"name": "two clicks", "time": [0, 1], "survival": [1, 0.5], "total_n": 10},
        {"name": "typo", "time": [0, 1, 2], "survival": [1, 0.9, 0.8], "total_N": 10},
        {"time": [0, 1, "x"], "survival": [1, 0.9, 0.8], "total_n": 10},
    ]
    batch = curves[:2] + bad + curves[2:]
    results = reconstruct_many(batch, workers=workers, chunk_size=2)
    assert [r.name for r in results] == [c.get("name", "curve 5") for c in batch]
    assert [r.ok for r in results] == [True, True, False, False, False] + [True] * (len(curves) - 2)
    assert results[2].error == "two clicks: only 2 click(s); a curve needs at least 3"
    assert results[3].error.startswith("typo: unknown keys ['total_N']")
    assert results[4].error.startswith("curve 5: could not convert string to float")
    for curve, result in zip(curves, [r for r in results if r.ok], strict=True):
        alone = reconstruct_arrays(**{k: v for k, v in curve.items() if k != "name"})
        np.testing.assert_array_equal(result.reconstruction.time, alone.time)
        np.testing.assert_array_equal(result.reconstruction.event, alone.event)
        assert result.reconstruction.fidelity.rmse == alone.fidelity.rmse
