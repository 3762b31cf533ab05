"""The harmonized cohort's columns: what the ``cohort`` table holds and every harmonizer produces."""

from __future__ import annotations

import polars as pl

# One row per patient per endpoint: time in months, the controlled vocabulary, provenance, covariates.
COHORT_SCHEMA: dict[str, pl.DataType] = {
    "study_id": pl.String(),
    "patient_id": pl.String(),
    "endpoint": pl.String(),
    "arm_id": pl.String(),
    "arm_label": pl.String(),
    "modality": pl.String(),
    "resection_extent": pl.String(),
    "adjuvant": pl.String(),
    "time_months": pl.Float64(),
    "event": pl.Int8(),
    "source": pl.String(),
    "synthetic": pl.Boolean(),
    "curve_id": pl.String(),
    "source_file": pl.String(),
    "source_sha256": pl.String(),
    "risk_table_sha256": pl.String(),
    "reconstruction_version": pl.String(),
    "age": pl.Float64(),
    "sex": pl.String(),
    "kps": pl.Float64(),
    "primary_histology": pl.String(),
}
