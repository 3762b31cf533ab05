"""The Dagster layer (thin): assets, checks, partitions, jobs, sensors, schedules and resources.

Each concern has its own module; ``meta_bm.definitions`` wires them. Every asset calls the science
core (``meta_bm.studies``, ``meta_bm.reconstruction``, ``meta_bm.store``) and adds no science itself.
"""

import warnings

import dagster as dg

# BackfillPolicy.single_run (one run for a range of studies) is marked beta in 1.13; we rely on it knowingly.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
