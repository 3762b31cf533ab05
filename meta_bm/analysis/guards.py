"""Guard rails: what a statistical reviewer would flag in a pooled analysis, as data the report prints.

Each :class:`Flag` names the analysis part it concerns (a group, or the analysis as a whole), a severity
(``"warn"``: a number that must not be read at face value; ``"info"``: something not computed, and why)
and a sentence for the reader. The rules:

``few_clusters`` (warn)
    Cluster-robust (sandwich) variance by study with fewer than :data:`MIN_ROBUST_CLUSTERS` clusters. The
    sandwich estimator is biased low with few clusters (with two it can give a near-zero SE and a tiny
    p-value), so the model is shown for completeness and never used for the headline HR.
``ph_rejected`` (warn)
    R ``cox.zph`` rejects proportional hazards (p < :data:`PH_ALPHA`) for a term or globally: the hazard
    ratio is an average over time and is flagged where it is printed.
``median_not_reached`` (info)
    A group's Kaplan–Meier curve never falls to 50 %: the median is "NR", with the lowest survival and
    when it is reached.
``no_pooled_model`` (info)
    Fewer than two studies report both groups of a contrast: no second-stage (two-stage) pooled model.
``egger_not_done`` (info)
    Fewer than :data:`MIN_EGGER_STUDIES` studies in a meta-analysis: no funnel-plot asymmetry test
    (Cochrane Handbook 10.4.3.1: the test has too little power below ten studies).
``single_study`` / ``no_comparison`` (info)
    One study only (no study-level models), or fewer than two groups (nothing compared).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MIN_EGGER_STUDIES", "MIN_ROBUST_CLUSTERS", "PH_ALPHA", "Flag", "median_note"]

MIN_ROBUST_CLUSTERS = 10
MIN_EGGER_STUDIES = 10
PH_ALPHA = 0.05


@dataclass(frozen=True)
class Flag:
    """One guard-rail finding: ``group`` is None when it concerns the whole analysis."""

    flag: str
    severity: str
    message: str
    group: str | None = None


def median_note(km) -> str:
    """Why a Kaplan–Meier median is not reached ("" when it is), in words for a table footnote.

    >>> from meta_bm.survival.km import kaplan_meier
    >>> median_note(kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 0, 0])))
    'not reached: survival stays above 50% (lowest 75% at 1.0 months, follow-up to 4.0 months)'
    >>> median_note(kaplan_meier(np.array([1.0, 2.0]), np.array([1, 1])))
    ''
    """
    if km.time.size == 0:
        return "not estimable: no patients"
    if np.isfinite(km.median()):
        return ""
    i = int(np.argmin(km.survival))
    return (
        f"not reached: survival stays above 50% (lowest {100 * km.survival[i]:.0f}% at {km.time[i]:.1f} months, "
        f"follow-up to {km.time[-1]:.1f} months)"
    )
