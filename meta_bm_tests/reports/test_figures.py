"""Figures: what the forest plot draws when a comparison has many studies."""

import numpy as np
import polars as pl

from meta_bm.metaanalysis.two_stage import meta_analysis
from meta_bm.reports.figures import FOREST_MAX_STUDIES, forest_figure


def _per_study(k: int) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    se = rng.uniform(0.1, 0.8, k)
    log_hr = rng.normal(-0.2, 0.2, k)
    return pl.DataFrame(
        {
            "study_id": [f"s{i:04d}" for i in range(k)],
            "hr": np.exp(log_hr),
            "hr_lower": np.exp(log_hr - 1.96 * se),
            "hr_upper": np.exp(log_hr + 1.96 * se),
            "se": se,
            "log_hr": log_hr,
        }
    )


def _drawn_labels(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def _pooled(per_study: pl.DataFrame) -> dict:
    y, v = per_study["log_hr"].to_numpy(), per_study["se"].to_numpy() ** 2
    return {m: meta_analysis(y, v, method=m) for m in ("FE", "DL", "REML")}


def test_forest_draws_every_study_up_to_the_cap():
    per = _per_study(12)
    labels = _drawn_labels(forest_figure(per, _pooled(per)))
    assert [t for t in labels if t.startswith("s0")] == per["study_id"].to_list()
    assert not [t for t in labels if "more studies" in t]


def test_forest_beyond_the_cap_draws_the_heaviest_studies_and_counts_the_rest():
    k = FOREST_MAX_STUDIES + 140
    per = _per_study(k)
    pooled = _pooled(per)  # pooled over all k studies
    labels = _drawn_labels(forest_figure(per, pooled))
    drawn = [t for t in labels if t.startswith("s0")]
    heaviest = per.sort("se").head(FOREST_MAX_STUDIES)["study_id"].sort().to_list()
    assert drawn == heaviest  # the largest inverse-variance weights, in study order
    note = "… 140 more studies (lower weight; every study is in analysis_study_effects)"
    assert [t for t in labels if "more studies" in t] == [note]
    # the pooled rows still show the estimates over every study
    reml = pooled["REML"]
    assert f"{np.exp(reml.estimate):.2f} [{np.exp(reml.lower):.2f}, {np.exp(reml.upper):.2f}]" in labels
    assert reml.k == k
