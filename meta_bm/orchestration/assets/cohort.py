"""The harmonized patient-level cohort: one row per patient per endpoint, months, provenance columns."""

import dagster as dg
import polars as pl

from meta_bm.orchestration.assets._helpers import DETAIL_LIMIT, progress, status_frame, stored_scope, table_metadata
from meta_bm.orchestration.assets.reconstruction import institutional_ipd, reconstructed_ipd
from meta_bm.orchestration.constants import CODE_VERSIONS, DUCKDB_POOL, GROUP_COHORT, OWNERS, SYNTHETIC_BANNER
from meta_bm.orchestration.partitions import study_partitions
from meta_bm.orchestration.resources import DuckDBStore
from meta_bm.studies.harmonize import COHORT_SCHEMA, harmonize_literature

ROWS_CHECK = "cohort_rows_valid"
PROVENANCE = ["study_id", "source_file", "source_sha256"]


def _deps(*pairs: tuple[str, str]) -> list[dg.TableColumnDep]:
    return [dg.TableColumnDep(asset_key=dg.AssetKey(a), column_name=c) for a, c in pairs]


# Where each cohort column comes from (shown in the UI's column lineage).
COLUMN_LINEAGE = dg.TableColumnLineage(
    deps_by_column={
        "time_months": _deps(("reconstructed_ipd", "time"), ("institutional_ipd", "time_months")),
        "event": _deps(("reconstructed_ipd", "event"), ("institutional_ipd", "event")),
        "patient_id": _deps(("reconstructed_ipd", "patient_index"), ("institutional_ipd", "patient_id")),
        "modality": _deps(("study_sources", "modality")),
        "resection_extent": _deps(("study_sources", "resection_extent"), ("institutional_ipd", "resection_extent")),
        "adjuvant": _deps(("study_sources", "adjuvant"), ("institutional_ipd", "adjuvant")),
        "source_sha256": _deps(("study_sources", "sha256")),
        "reconstruction_version": _deps(("reconstructed_ipd", "reconstruction_version")),
    }
)


def cohort_row_problems(df: pl.DataFrame) -> dict[str, int]:
    """Counts of rows breaking the cohort invariants (all zero = valid)."""
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


@dg.asset(
    group_name=GROUP_COHORT,
    partitions_def=study_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    deps=[reconstructed_ipd, institutional_ipd],
    code_version=CODE_VERSIONS["harmonized_cohort"],
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    tags={"layer": "harmonized"},
    check_specs=[
        dg.AssetCheckSpec(
            ROWS_CHECK,
            asset="harmonized_cohort",
            description="unique patient ids per study and endpoint, times >= 0, events in {0, 1}, provenance set",
        )
    ],
    description=(
        "The study's rows of the harmonized cohort (table cohort): one row per patient per endpoint, time in "
        "months, modality / extent of resection / adjuvant from the controlled vocabulary, and provenance "
        "(study_id, curve_id, source_file, source_sha256, risk_table_sha256, reconstruction_version). Curves "
        "held out by the fidelity gate are not included. " + SYNTHETIC_BANNER
    ),
)
def harmonized_cohort(context: dg.AssetExecutionContext, duckdb: DuckDBStore) -> dg.MaterializeResult:
    store = duckdb.store()
    keys, usable, studies = stored_scope(context, store)
    p = {"ids": usable}
    where = "WHERE study_id IN (SELECT unnest($ids))"
    with store.connect() as con:
        ipd = con.sql(f"SELECT * FROM ipd {where}", params=p).pl()
        fid = con.sql(f"SELECT study_id, curve_id, status FROM fidelity {where}", params=p).pl()
        files = con.sql(
            f"SELECT study_id, curve_id, clicks_file, clicks_sha256, risk_table_sha256 FROM curves {where}", params=p
        ).pl()
        inst = con.sql(f"SELECT * FROM institutional_patients {where}", params=p).pl()
    by = {
        name: (df.partition_by("study_id", as_dict=True) if df.height else {})
        for name, df in (("ipd", ipd), ("fid", fid), ("files", files), ("inst", inst))
    }
    frames = []
    for i, sid in enumerate(usable):
        study = studies[sid]
        progress(context, "harmonize", i, len(usable), sid)
        if study.manifest.source == "literature":
            part = by["ipd"].get((sid,))
            if part is None:
                continue
            frames.append(harmonize_literature(study.manifest, part, by["fid"][(sid,)], by["files"][(sid,)]))
        elif (sid,) in by["inst"]:
            frames.append(by["inst"][(sid,)].select(list(COHORT_SCHEMA)))
    df = pl.concat(frames) if frames else pl.DataFrame(schema=COHORT_SCHEMA)
    status = [(sid, "cohort", "ok", studies[sid].fingerprint, None) for sid in usable]
    store.apply([("cohort", usable, df), ("study_status", usable, status_frame(status))])

    problems = cohort_row_problems(df)
    metadata: dict = {
        "dagster/row_count": df.height,
        "patients_by_endpoint": dg.MetadataValue.json(
            {r["endpoint"]: r["len"] for r in df.group_by("endpoint").len().to_dicts()} if df.height else {}
        ),
        "dagster/column_lineage": COLUMN_LINEAGE,
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(k, str(v)) for k, v in COHORT_SCHEMA.items()]),
    }
    if len(keys) <= DETAIL_LIMIT and df.height:
        summary = (
            df.group_by("study_id", "endpoint", "arm_id", "modality")
            .agg(pl.len().alias("patients"), pl.col("event").sum().alias("events"))
            .sort("study_id", "endpoint", "arm_id")
        )
        metadata["arms"] = table_metadata(summary)
    check = dg.AssetCheckResult(
        check_name=ROWS_CHECK,
        passed=not any(problems.values()),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: int(v) for k, v in problems.items()},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
