"""Whole-cohort assets (unpartitioned): refreshed automatically after study partitions change.

The pooled analyses (KM per comparison, medians, log-rank, Cox, meta-analysis, report) belong here,
downstream of ``cohort_summary``; this module holds the cohort-wide summary they build on.
"""

import dagster as dg

from meta_bm.orchestration.assets._helpers import table_metadata
from meta_bm.orchestration.assets.cohort import cohort_row_problems, harmonized_cohort
from meta_bm.orchestration.constants import CODE_VERSIONS, DUCKDB_POOL, GROUP_ANALYSIS, OWNERS, SYNTHETIC_BANNER
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.resources import DuckDBStore

INVARIANTS_CHECK = "cohort_invariants"

# Refresh whenever any study partition was updated, without waiting for missing or failed studies
# (plain eager() would hold the whole cohort back while one study is broken).
COHORT_AUTOMATION = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager, not blocked by missing studies")
)


@dg.asset(
    group_name=GROUP_ANALYSIS,
    deps=[harmonized_cohort],
    pool=DUCKDB_POOL,
    code_version=CODE_VERSIONS["cohort_summary"],
    automation_condition=COHORT_AUTOMATION,
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    tags={"layer": "pooled"},
    check_specs=[
        dg.AssetCheckSpec(
            INVARIANTS_CHECK,
            asset="cohort_summary",
            description=(
                "Whole cohort: unique patient ids per study and endpoint, times >= 0, events in {0, 1}, provenance "
                "set, and every row's study still a study partition"
            ),
        )
    ],
    description=(
        "The whole harmonized cohort, per study, endpoint and arm (patients, events). Removes the rows of studies "
        "that are no longer partitions (deleted folders) from every table first. " + SYNTHETIC_BANNER
    ),
)
def cohort_summary(context: dg.AssetExecutionContext, duckdb: DuckDBStore) -> dg.MaterializeResult:
    store = duckdb.store()
    current = set(context.instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME))
    orphans = [s for s in store.stored_study_ids() if s not in current]
    if orphans:
        deleted = store.delete_studies(orphans)
        context.log.info(f"removed {sum(deleted.values())} rows of deleted studies {orphans}")
    cohort = store.query("SELECT * FROM cohort")
    overview = store.cohort_overview()
    problems = cohort_row_problems(cohort)
    problems["rows_of_unknown_studies"] = cohort.filter(~cohort["study_id"].is_in(sorted(current))).height
    check = dg.AssetCheckResult(
        check_name=INVARIANTS_CHECK,
        passed=not any(problems.values()),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: int(v) for k, v in problems.items()},
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": cohort.height,
            "studies": cohort["study_id"].n_unique() if cohort.height else 0,
            "removed_studies": dg.MetadataValue.json(orphans),
            "overview": table_metadata(overview, limit=200),
            "synthetic_rows": int(cohort["synthetic"].sum()) if cohort.height else 0,
        },
        check_results=[check],
    )
