"""What the platform computes, as plain Python (no Dagster): the per-study unit and the pooled state.

* :mod:`meta_bm.pipeline.study` turns one study folder into every row the store keeps for it
  (ingested files, reconstructed IPD, fidelity, published comparison, harmonized cohort), or into a
  located failure. Whatever the folder holds, the failure stops at that study.
* :mod:`meta_bm.pipeline.pooled` says which pooled results are out of date: every pooled asset
  records the version of the inputs it was computed from, so a crash between a study's commit and
  the pooled refresh is repaired by the next run.

The Dagster assets in :mod:`meta_bm.orchestration` and ``meta-bm run`` both call these functions.
Import the submodules directly (this package imports nothing, so each stays as light as it is).
"""
