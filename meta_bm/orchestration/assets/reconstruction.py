"""Reconstructed IPD per curve (literature studies) and the validated institutional IPD."""

import dagster as dg
import polars as pl

from meta_bm.errors import InputError
from meta_bm.orchestration.assets._helpers import (
    DETAIL_LIMIT,
    png_metadata,
    problems_markdown,
    progress,
    status_frame,
    stored_scope,
    table_metadata,
)
from meta_bm.orchestration.assets.ingest import study_sources
from meta_bm.orchestration.constants import CODE_VERSIONS, DUCKDB_POOL, GROUP_RECONSTRUCTION, OWNERS, SYNTHETIC_BANNER
from meta_bm.orchestration.partitions import study_partitions
from meta_bm.orchestration.resources import DuckDBStore, FidelityTolerance
from meta_bm.reconstruction.plotting import reconstruction_png
from meta_bm.studies import reconstruct_study
from meta_bm.studies.harmonize import institutional_cohort

FIDELITY_CHECK = "fidelity"
PUBLISHED_CHECK = "published_figures"
MEDIAN_TOLERANCE = 0.10  # relative, when the paper gives no CI for its median


def _published_problems(fid: pl.DataFrame) -> tuple[list[dict], list[dict]]:
    """(errors, warnings): N or events that differ from the publication; medians outside its CI."""
    errors, warnings = [], []
    for r in fid.iter_rows(named=True):
        where = {"study_id": r["study_id"], "curve_id": r["curve_id"]}
        if r["n_published"] is not None and r["n_patients"] != r["n_published"]:
            errors.append({**where, "figure": "N", "published": r["n_published"], "reconstructed": r["n_patients"]})
        if r["events_published"] is not None and r["events"] != r["events_published"]:
            errors.append(
                {**where, "figure": "events", "published": r["events_published"], "reconstructed": r["events"]}
            )
        pub, rec = r["median_published"], r["median"]
        if pub is not None and (rec is None or abs(rec - pub) > MEDIAN_TOLERANCE * pub):
            warnings.append({**where, "figure": "median", "published": pub, "reconstructed": rec})
    return errors, warnings


@dg.asset(
    group_name=GROUP_RECONSTRUCTION,
    partitions_def=study_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    deps=[study_sources],
    code_version=CODE_VERSIONS["reconstructed_ipd"],
    kinds={"duckdb", "numpy"},
    owners=OWNERS,
    tags={"layer": "reconstructed"},
    check_specs=[
        dg.AssetCheckSpec(
            FIDELITY_CHECK,
            asset="reconstructed_ipd",
            description=(
                "Reconstructed KM vs digitized clicks (RMSE, max |error|). Beyond the block tolerance a curve is "
                "held out of the cohort (ERROR); beyond the warn tolerance or with a missed number at risk: WARN"
            ),
        ),
        dg.AssetCheckSpec(
            PUBLISHED_CHECK,
            asset="reconstructed_ipd",
            description="Reconstructed vs published N and events (ERROR if different) and median (WARN if off)",
        ),
    ],
    description=(
        "IPD reconstructed from each digitized curve of the literature studies (meta_bm.reconstruction, curve "
        "time units), with the cleaning log, the fidelity table and published vs reconstructed numbers at risk. "
        "Tables: ipd, fidelity, cleaning_log, risk_table_fit. " + SYNTHETIC_BANNER
    ),
)
def reconstructed_ipd(
    context: dg.AssetExecutionContext, duckdb: DuckDBStore, tolerance: FidelityTolerance
) -> dg.MaterializeResult:
    store = duckdb.store()
    keys, usable, studies = stored_scope(context, store)
    gate = tolerance.gate()
    tables: dict[str, list[pl.DataFrame]] = {"ipd": [], "fidelity": [], "cleaning_log": [], "risk_table_fit": []}
    done, failed, recs = [], {}, {}
    for i, sid in enumerate(usable):
        study = studies[sid]
        if study.manifest.source != "literature":
            done.append(sid)
            continue
        progress(context, "reconstruct", i, len(usable), sid)
        try:
            rec = reconstruct_study(study, gate)
        except InputError as exc:  # e.g. published totals the curve cannot hold
            failed[sid] = [str(exc)]
            continue
        done.append(sid)
        recs[sid] = rec
        tables["ipd"].append(rec.ipd())
        tables["fidelity"].append(rec.fidelity())
        tables["cleaning_log"].append(rec.cleaning_log())
        for r in rec.curves:
            rt = r.reconstruction.fidelity.risk_table
            if rt.height:
                tables["risk_table_fit"].append(
                    rt.with_columns(pl.lit(sid).alias("study_id"), pl.lit(r.curve.spec.curve_id).alias("curve_id"))
                )
    frames = {k: (pl.concat(v, how="diagonal_relaxed") if v else pl.DataFrame()) for k, v in tables.items()}
    changes = [(k, done, f) for k, f in frames.items()]
    if failed:
        rows = [(sid, "reconstruction", "error", studies[sid].fingerprint, "\n".join(p)) for sid, p in failed.items()]
        changes.append(("study_status", list(failed), status_frame(rows)))
    store.apply(changes)

    fid = frames["fidelity"]
    blocked = fid.filter(pl.col("status") == "blocked") if fid.height else fid
    warned = fid.filter(pl.col("status") == "warn") if fid.height else fid
    metadata: dict = {
        "dagster/row_count": frames["ipd"].height,
        "curves": fid.height,
        "curves_blocked": blocked.height,
        "curves_warned": warned.height,
        "studies_failed": len(failed),
    }
    if fid.height:
        metadata["mean_rmse"] = float(fid["rmse"].mean())
        metadata["max_abs_error"] = float(fid["max_abs_error"].max())
    if len(keys) <= DETAIL_LIMIT and fid.height:
        metadata["fidelity_table"] = table_metadata(
            fid.select(
                "study_id",
                "curve_id",
                "status",
                "rmse",
                "max_abs_error",
                "n_patients",
                "n_published",
                "events",
                "events_published",
                "median",
                "median_published",
                "median_digitized",
            )
        )
    if len(keys) == 1 and recs:
        rec = recs[keys[0]]
        png = reconstruction_png([(r.curve.spec.curve_id, r.reconstruction) for r in rec.curves], title=keys[0])
        metadata["curves_plot"] = png_metadata(png, f"{keys[0]}: digitized vs reconstructed")
    cols = ["study_id", "curve_id", "status", "rmse", "max_abs_error", "warnings"]
    severity = dg.AssetCheckSeverity.ERROR if blocked.height else dg.AssetCheckSeverity.WARN
    fidelity_check = dg.AssetCheckResult(
        check_name=FIDELITY_CHECK,
        passed=blocked.height == 0 and warned.height == 0 and not failed,
        severity=dg.AssetCheckSeverity.ERROR if failed else severity,
        metadata={
            "blocked": table_metadata(blocked.select(cols)) if blocked.height else "none",
            "warned": table_metadata(warned.select(cols)) if warned.height else "none",
            "failed": problems_markdown(failed),
            "block_rmse": gate.block_rmse,
            "block_max_abs_error": gate.block_max,
        },
    )
    errors, warnings = _published_problems(fid) if fid.height else ([], [])
    published_check = dg.AssetCheckResult(
        check_name=PUBLISHED_CHECK,
        passed=not errors and not warnings,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        metadata={
            "mismatches": table_metadata(
                pl.DataFrame(errors + warnings, infer_schema_length=None).cast(
                    {"published": pl.Float64, "reconstructed": pl.Float64}
                )
            )
            if errors or warnings
            else "none"
        },
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[fidelity_check, published_check])


@dg.asset(
    group_name=GROUP_RECONSTRUCTION,
    partitions_def=study_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    deps=[study_sources],
    code_version=CODE_VERSIONS["institutional_ipd"],
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    tags={"layer": "reconstructed"},
    description=(
        "Institutional (real patient-level) IPD, validated at ingest: one row per patient and endpoint, times in "
        "months, arm vocabulary and covariates (age, sex, KPS, primary histology, extent of resection, adjuvant). "
        "Empty for literature studies. Table: institutional_patients. " + SYNTHETIC_BANNER
    ),
)
def institutional_ipd(context: dg.AssetExecutionContext, duckdb: DuckDBStore) -> dg.MaterializeResult:
    store = duckdb.store()
    _, usable, studies = stored_scope(context, store)
    frames = []
    for sid in usable:
        if studies[sid].manifest.source == "institutional":
            context.log.info(f"institutional IPD {sid}")
            frames.append(institutional_cohort(studies[sid]))
    df = pl.concat(frames) if frames else pl.DataFrame()
    store.apply([("institutional_patients", usable, df)])
    return dg.MaterializeResult(
        metadata={"dagster/row_count": df.height, "patients": df["patient_id"].n_unique() if df.height else 0}
    )
