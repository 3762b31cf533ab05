"""Raw digitizations: each study folder as loaded (manifest, clicks, risk tables, patient table, SHA-256s)."""

import dagster as dg
import polars as pl

from meta_bm.orchestration.assets._helpers import (
    DETAIL_LIMIT,
    problems_markdown,
    progress,
    run_scope,
    status_frame,
    table_metadata,
)
from meta_bm.orchestration.constants import CODE_VERSIONS, DUCKDB_POOL, GROUP_INGEST, OWNERS, SYNTHETIC_BANNER
from meta_bm.orchestration.partitions import study_partitions
from meta_bm.orchestration.resources import DuckDBStore, StudyFolders
from meta_bm.store.study_tables import ingest_tables
from meta_bm.studies import StudyError, folder_fingerprint, load_study

MANIFEST_CHECK = "manifest_valid"


@dg.asset(
    group_name=GROUP_INGEST,
    partitions_def=study_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    code_version=CODE_VERSIONS["study_sources"],
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    tags={"layer": "raw"},
    check_specs=[
        dg.AssetCheckSpec(
            MANIFEST_CHECK,
            asset="study_sources",
            description="study.yaml follows the schema and every file it names exists and parses",
        )
    ],
    description=(
        "The study folder as loaded: manifest, digitized clicks (probability scale, with file rows), "
        "risk tables and the institutional patient table, each file with its SHA-256. Tables: studies, "
        "source_files, arms, curves, raw_clicks, raw_risk_tables, raw_patients. A rejected study keeps its "
        "previously stored rows and fails the manifest check with every problem listed. " + SYNTHETIC_BANNER
    ),
)
def study_sources(
    context: dg.AssetExecutionContext, folders: StudyFolders, duckdb: DuckDBStore
) -> dg.MaterializeResult:
    keys = run_scope(context)
    ok: list[str] = []
    parts: dict[str, list[pl.DataFrame]] = {}
    problems: dict[str, list[str]] = {}
    status = []
    fingerprints: dict[str, str] = {}
    for i, sid in enumerate(keys):
        progress(context, "ingest", i, len(keys), sid)
        try:
            study = load_study(folders.path(sid))
        except StudyError as exc:
            problems[sid] = exc.problems
            fp = folder_fingerprint(folders.path(sid)) if folders.path(sid).is_dir() else None
            status.append((sid, "ingest", "error", fp, "\n".join(exc.problems)))
            context.log.warning(str(exc))
            continue
        ok.append(sid)
        fingerprints[sid] = study.fingerprint
        status.append((sid, "ingest", "ingested", study.fingerprint, None))
        for name, frame in ingest_tables(study).items():
            if frame.height:
                parts.setdefault(name, []).append(frame)
    tables = ["studies", "source_files", "arms", "curves", "raw_clicks", "raw_risk_tables", "raw_patients"]
    changes = [(t, ok, pl.concat(parts[t], how="diagonal_relaxed") if t in parts else pl.DataFrame()) for t in tables]
    changes.append(("study_status", keys, status_frame(status)))
    duckdb.store().apply(changes)

    metadata: dict = {
        "studies_loaded": len(ok),
        "studies_rejected": len(problems),
        "clicks_rows": sum(f.height for f in parts.get("raw_clicks", [])),
    }
    if len(keys) <= DETAIL_LIMIT and ok:
        files = pl.concat(parts["source_files"]).select("study_id", "role", "file", "sha256", "bytes")
        metadata["files"] = table_metadata(files)
    if len(keys) == 1 and ok:
        metadata["fingerprint"] = fingerprints[keys[0]]
    check = dg.AssetCheckResult(
        check_name=MANIFEST_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rejected": problems_markdown(problems), "rejected_count": len(problems)},
        description=None if not problems else f"{len(problems)} study folder(s) rejected; their stored rows are kept",
    )
    data_version = dg.DataVersion(fingerprints[keys[0]]) if len(keys) == 1 and ok else None
    return dg.MaterializeResult(metadata=metadata, check_results=[check], data_version=data_version)
