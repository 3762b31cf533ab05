"""Asset checks, evaluated per study partition (and once for the whole cohort).

The study checks are declared on the study assets (``check_specs``) with the ``study`` partitions,
and each study of a run gets its own evaluation, logged for its partition: a partition's check says
what was measured for that study alone (and a study that was not checked has no evaluation), so a
single-run backfill over 1,000 studies still tells each study's story. The builders below turn what
the store holds for one study into those evaluations; the assets log them.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from meta_bm.orchestration.metadata import md_list, table_metadata
from meta_bm.orchestration.partitions import study_partitions

if TYPE_CHECKING:
    from meta_bm.studies.reconstruct import FidelityGate

MANIFEST_CHECK = "manifest_valid"
EXTRACTION_CHECK = "extraction_quality"
FIDELITY_CHECK = "fidelity"
PUBLISHED_CHECK = "published_figures"
ROWS_CHECK = "cohort_rows_valid"
INVARIANTS_CHECK = "cohort_invariants"

with warnings.catch_warnings():  # partitioned check specs are a preview feature in 1.13; used knowingly
    warnings.simplefilter("ignore")
    STUDY_CHECK_SPECS = [
        dg.AssetCheckSpec(
            MANIFEST_CHECK,
            asset="study_sources",
            partitions_def=study_partitions,
            description="The folder loads: study.yaml follows the schema, every file it names exists and parses",
        ),
        dg.AssetCheckSpec(
            EXTRACTION_CHECK,
            asset="digitized_curves",
            partitions_def=study_partitions,
            description="Curves read from figures: every curve found whole (no long gaps or overlaps), "
            "confidence not low; see the overlay",
        ),
        dg.AssetCheckSpec(
            FIDELITY_CHECK,
            asset="reconstructed_ipd",
            partitions_def=study_partitions,
            description="Reconstructed KM vs digitized clicks per curve (RMSE, max |error|, numbers at risk)",
        ),
        dg.AssetCheckSpec(
            PUBLISHED_CHECK,
            asset="reconstructed_ipd",
            partitions_def=study_partitions,
            description="Reconstructed vs published N, events, median (against its CI) and HR (Cox, Efron)",
        ),
        dg.AssetCheckSpec(
            ROWS_CHECK,
            asset="harmonized_cohort",
            partitions_def=study_partitions,
            description="Unique patient ids per endpoint, times >= 0, events in {0, 1}, provenance set",
        ),
    ]

PROVENANCE = ["study_id", "source_file", "source_sha256"]


def cohort_row_problems(df: pl.DataFrame) -> dict[str, int]:
    """Counts of cohort rows breaking the invariants (all zero = valid)."""
    if df.height == 0:
        return {}
    return {
        "duplicate_patient_ids": df.height - df.select("study_id", "patient_id", "endpoint").n_unique(),
        "negative_or_missing_times": df.filter(pl.col("time_months").is_null() | (pl.col("time_months") < 0)).height,
        "events_not_0_or_1": df.filter(~pl.col("event").is_in([0, 1]) | pl.col("event").is_null()).height,
        "missing_provenance": df.filter(pl.any_horizontal(pl.col(PROVENANCE).is_null())).height,
        "reconstructed_without_curve": df.filter(
            (pl.col("source") == "literature")
            & (pl.col("curve_id").is_null() | pl.col("reconstruction_version").is_null())
        ).height,
    }


def _evaluation(asset: str, name: str, sid: str, passed: bool, severity, description: str, metadata: dict):
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(asset),
        check_name=name,
        passed=passed,
        severity=severity,
        description=description,
        metadata=metadata,
        partition=sid,
    )


def manifest_evaluation(sid: str, status: str, problems: list[str], folder: str) -> dg.AssetCheckEvaluation:
    """Fails (ERROR) with every problem, each naming its file and row or key, when the folder was rejected."""
    rejected = status == "rejected"
    return _evaluation(
        "study_sources",
        MANIFEST_CHECK,
        sid,
        not rejected,
        dg.AssetCheckSeverity.ERROR,
        f"rejected: {len(problems)} problem(s); the previous valid version's rows are kept"
        if rejected
        else "folder loaded",
        {"folder": dg.MetadataValue.path(folder), "problems": md_list(problems) if rejected else "none"},
    )


# A figure curve is a poor extraction when more than this share of its time span was not seen, or
# drawn over another curve (held at the last level or shared: its steps there are guesses).
MAX_GAP_FRACTION = 0.05
MAX_OVERLAP_FRACTION = 0.25


def extraction_evaluation(sid: str, digitized: pl.DataFrame) -> dg.AssetCheckEvaluation:
    """Per curve read from a figure: confidence, gaps and overlaps; any poor curve → WARN with why."""
    poor = digitized.filter(
        (pl.col("confidence") == "low")
        | (pl.col("gap_fraction") > MAX_GAP_FRACTION)
        | (pl.col("overlap_fraction") > MAX_OVERLAP_FRACTION)
    )
    if poor.height:
        desc = f"{poor.height} of {digitized.height} curve(s) poorly extracted, check the overlay: " + ", ".join(
            f"{r['curve_id']} ({r['confidence']} confidence, {r['gap_fraction']:.0%} unseen, "
            f"{r['overlap_fraction']:.0%} overlapped)"
            for r in poor.rows(named=True)
        )
    else:
        desc = f"all {digitized.height} curve(s) read from figures extracted whole"
    desc += f" (poor: low confidence, over {MAX_GAP_FRACTION:.0%} unseen or {MAX_OVERLAP_FRACTION:.0%} overlapped)"
    view = digitized.select(
        "curve_id", "figure_id", "kind", "label", "points", "gaps",
        pl.col("gap_fraction").round(3), pl.col("overlap_fraction").round(3), "confidence", "censor_marks",
        "risk_rows",
    )  # fmt: skip
    return _evaluation(
        "digitized_curves",
        EXTRACTION_CHECK,
        sid,
        poor.height == 0,
        dg.AssetCheckSeverity.WARN,
        desc,
        {
            "curves": table_metadata(view),
            "worst_unseen_fraction": float(digitized["gap_fraction"].max()),
            "worst_overlap_fraction": float(digitized["overlap_fraction"].max()),
        },
    )


def fidelity_evaluation(
    sid: str, fidelity: pl.DataFrame, gate: FidelityGate, failure: list[str] | None
) -> dg.AssetCheckEvaluation:
    """Per curve: measured RMSE and max |error| against the tolerances; blocked curves → ERROR, warned → WARN."""
    tolerances = {
        "warn_rmse": gate.warn_rmse,
        "warn_max_abs_error": gate.warn_max,
        "block_rmse": gate.block_rmse,
        "block_max_abs_error": gate.block_max,
    }
    if failure:
        return _evaluation(
            "reconstructed_ipd",
            FIDELITY_CHECK,
            sid,
            False,
            dg.AssetCheckSeverity.ERROR,
            "reconstruction failed; the previous valid version's rows are kept",
            {"problems": md_list(failure), **tolerances},
        )
    blocked = fidelity.filter(pl.col("status") == "blocked")
    warned = fidelity.filter(pl.col("status") == "warn")
    curves = fidelity.select(
        "curve_id",
        "status",
        pl.col("rmse").round(4),
        pl.col("max_abs_error").round(4).alias("max_abs_err"),
        pl.col("max_error_time").round(2).alias("at_time"),
        pl.col("risk_table_max_abs_diff").alias("n_risk_missed_by"),
        "warnings",
    )
    if blocked.height:
        desc = f"{blocked.height} of {fidelity.height} curve(s) beyond the block tolerance, held out of the cohort: "
        desc += _measured(blocked)
    elif warned.height:
        desc = f"{warned.height} of {fidelity.height} curve(s) beyond the warn tolerance or missing a number at risk: "
        desc += _measured(warned)
    else:
        desc = f"all {fidelity.height} curve(s) within tolerance (worst RMSE {fidelity['rmse'].max():.4f})"
    return _evaluation(
        "reconstructed_ipd",
        FIDELITY_CHECK,
        sid,
        blocked.height == 0 and warned.height == 0,
        dg.AssetCheckSeverity.ERROR if blocked.height else dg.AssetCheckSeverity.WARN,
        desc,
        {"curves": table_metadata(curves), **tolerances},
    )


def _measured(curves: pl.DataFrame) -> str:
    return ", ".join(
        f"{r['curve_id']} (RMSE {r['rmse']:.3f}, max {r['max_abs_error']:.3f})" for r in curves.rows(named=True)
    )


def published_evaluation(sid: str, comparison: pl.DataFrame) -> dg.AssetCheckEvaluation:
    """Passes only when at least one published figure was compared and every comparison agrees."""
    compared = comparison.filter(pl.col("figure") != "none")
    bad = comparison.filter(pl.col("severity") != "ok")
    errors = comparison.filter(pl.col("severity") == "error")
    if compared.height == 0:
        desc = "nothing published to compare (not a pass: state N, events, median or HR in the manifest)"
    elif bad.height:
        desc = f"{bad.height} of {compared.height} published figure(s) disagree: " + "; ".join(
            f"{r['curve_id']} {r['figure']}: {r['detail']}"
            for r in bad.filter(pl.col("figure") != "none").rows(named=True)
        )
    else:
        desc = f"all {compared.height} published figure(s) agree"
    return _evaluation(
        "reconstructed_ipd",
        PUBLISHED_CHECK,
        sid,
        compared.height > 0 and bad.height == 0,
        dg.AssetCheckSeverity.ERROR if errors.height else dg.AssetCheckSeverity.WARN,
        desc,
        {
            "comparisons": table_metadata(
                comparison.select("curve_id", "figure", "published", "reconstructed", "verdict", "detail")
            )
            if comparison.height
            else "none"
        },
    )


def rows_evaluation(sid: str, cohort: pl.DataFrame) -> dg.AssetCheckEvaluation:
    problems = cohort_row_problems(cohort)
    broken = {k: v for k, v in problems.items() if v}
    return _evaluation(
        "harmonized_cohort",
        ROWS_CHECK,
        sid,
        not broken,
        dg.AssetCheckSeverity.ERROR,
        f"{cohort.height} rows valid"
        if not broken
        else "invalid rows: " + ", ".join(f"{k} {v}" for k, v in broken.items()),
        {k: int(v) for k, v in problems.items()} | {"rows": cohort.height},
    )
