"""The Dagster layer (thin): assets, checks, partitions, jobs, sensors, schedules and resources.

Each concern has its own module; ``meta_bm.definitions`` wires them. Every asset calls the science
core (``meta_bm.pipeline``, ``meta_bm.studies``, ``meta_bm.store``) and adds no science itself.
"""
