"""One dynamic partition per study folder (key = study_id = folder name)."""

from __future__ import annotations

import dagster as dg

STUDY_PARTITIONS_NAME = "study"
study_partitions = dg.DynamicPartitionsDefinition(name=STUDY_PARTITIONS_NAME)
