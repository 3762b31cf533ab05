"""The Dagster layer: assets, checks, partitions, sensors, schedules and resources.

It only calls the science core (``meta_bm.reconstruction``, ``meta_bm.survival``) and never
reimplements it. Filled by the asset-platform issue.
"""
