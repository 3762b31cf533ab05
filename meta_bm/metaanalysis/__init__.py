"""Meta-analysis of per-study estimates (the second stage of a two-stage IPD meta-analysis).

:func:`meta_analysis` reproduces ``metafor::rma.uni`` for the fixed-effect, DerSimonian–Laird and
REML models; see :mod:`meta_bm.metaanalysis.two_stage`.

Example
-------
>>> from meta_bm.metaanalysis import meta_analysis
>>> res = meta_analysis([0.2, 0.4], [0.01, 0.01], method="FE")
>>> round(res.estimate, 4), round(res.se, 4), res.tau2
(0.3, 0.0707, 0.0)
"""

from __future__ import annotations

from meta_bm.metaanalysis.two_stage import METHODS, MetaResult, meta_analysis

__all__ = ["METHODS", "MetaResult", "meta_analysis"]
