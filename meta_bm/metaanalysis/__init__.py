"""Meta-analysis of per-study estimates (the second stage of a two-stage IPD meta-analysis).

metafor 3.8 equivalents:

* :func:`meta_analysis` -- ``rma.uni`` for the FE, DL and REML models, z or Knapp–Hartung (``test="knha"``)
  tests; see :mod:`meta_bm.metaanalysis.two_stage`.
* :func:`leave_one_out`, :func:`cumulative` -- ``leave1out`` and ``cumul``; see
  :mod:`meta_bm.metaanalysis.sensitivity`.
* :func:`meta_regression` -- ``rma.uni(..., mods = ~ x)``; :func:`egger_test` -- ``regtest`` with
  ``model="rma"`` (default) or the classic ``model="lm"``; see :mod:`meta_bm.metaanalysis.regression`.

Example
-------
>>> from meta_bm.metaanalysis import meta_analysis
>>> res = meta_analysis([0.2, 0.4], [0.01, 0.01], method="FE")
>>> round(res.estimate, 4), round(res.se, 4), res.tau2
(0.3, 0.0707, 0.0)
"""

from __future__ import annotations

from meta_bm.metaanalysis.regression import (
    EGGER_MODELS,
    EggerResult,
    MetaRegressionResult,
    egger_test,
    meta_regression,
)
from meta_bm.metaanalysis.sensitivity import Cumulative, LeaveOneOut, cumulative, leave_one_out
from meta_bm.metaanalysis.two_stage import METHODS, TESTS, MetaResult, meta_analysis

__all__ = [
    "EGGER_MODELS",
    "METHODS",
    "TESTS",
    "Cumulative",
    "EggerResult",
    "LeaveOneOut",
    "MetaRegressionResult",
    "MetaResult",
    "cumulative",
    "egger_test",
    "leave_one_out",
    "meta_analysis",
    "meta_regression",
]
