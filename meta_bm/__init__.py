"""meta_bm: IPD meta-analysis from published Kaplan–Meier curves.

The science core (``meta_bm.reconstruction``, ``meta_bm.survival``, ``meta_bm.simulation``) is plain
Python on numpy and imports no Dagster; the Dagster layer lives in ``meta_bm.orchestration``.
"""

__version__ = "0.1.0"
