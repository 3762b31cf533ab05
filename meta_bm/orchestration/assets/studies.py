"""The per-study assets: one study folder → raw digitizations, curves read from figures, reconstructed
IPD, harmonized rows.

The five assets (``study_sources`` → ``digitized_curves`` → ``reconstructed_ipd`` /
``institutional_ipd`` → ``harmonized_cohort``) are computed by one step per run (``meta_bm.pipeline.process_study`` per
study) and committed per study as one unit, so a study's stored files, curves, IPD and cohort always
agree, and a study that fails at any stage keeps its previous consistent rows.

Why one step for many studies, and how each study still tells its own story: a single-run backfill
over 1,000 studies costs seconds where one run per study would cost an hour, but Dagster gives the
whole range one materialization *output*. We attach each study's own metadata to its partition with
``context.add_asset_metadata(..., partition_key=study)`` (Dagster merges it into that partition's
materialization event) and log each study's check evaluations for its partition; the numbers come
from what DuckDB holds for the study after the commit, so the UI shows what is stored.
"""

import os
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import polars as pl

from meta_bm.orchestration.checks import (
    STUDY_CHECK_SPECS,
    extraction_evaluation,
    fidelity_evaluation,
    manifest_evaluation,
    published_evaluation,
    rows_evaluation,
)
from meta_bm.orchestration.constants import (
    GROUP_COHORT,
    GROUP_INGEST,
    GROUP_RECONSTRUCTION,
    OWNERS,
    PIPELINE_VERSION,
    STORE_POOL,
    STUDY_CODE_VERSIONS,
    SYNTHETIC_BANNER,
)
from meta_bm.orchestration.executors import where_running
from meta_bm.orchestration.metadata import md_list, png_metadata, progress, table_metadata
from meta_bm.orchestration.partitions import study_partitions
from meta_bm.orchestration.resources import FidelityTolerance, OutputDir, StoreResource, StudyFolders
from meta_bm.store import CohortStore

if TYPE_CHECKING:
    from meta_bm.pipeline.study import StudyOutcome

RAW_TABLES = ("raw_clicks", "raw_risk_tables", "raw_patients")
COUNTED = (*RAW_TABLES, "ipd", "institutional_patients", "cohort", "curves", "digitized_curves", "raw_censor_marks")
# Processes drawing and reconstructing in large runs (a study figure takes ~0.2 s: 1,000 of them would
# be most of a full refresh in one process).
WORKERS = max(1, min(2, os.cpu_count() or 1))


def _spec(key: str, group: str, deps: list[str], description: str, kinds: set[str]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        group_name=group,
        deps=deps,
        partitions_def=study_partitions,
        code_version=STUDY_CODE_VERSIONS[key],
        kinds=kinds,
        owners=OWNERS,
        description=description + " " + SYNTHETIC_BANNER,
    )


STUDY_SPECS = [
    _spec(
        "study_sources",
        GROUP_INGEST,
        [],
        "The study folder as loaded: manifest, clicks, risk tables, patient table, SHA-256 of every file.",
        {"duckdb", "polars"},
    ),
    _spec(
        "digitized_curves",
        GROUP_INGEST,
        ["study_sources"],
        "Curves read from published figures (vector PDF paths and text, or image pixels): step corners, "
        "censoring marks, numbers at risk, each figure's SHA-256, quality figures and an overlay to check.",
        {"duckdb", "pdf"},
    ),
    _spec(
        "reconstructed_ipd",
        GROUP_RECONSTRUCTION,
        ["study_sources", "digitized_curves"],
        "IPD reconstructed from each digitized curve, with fidelity and published vs reconstructed figures.",
        {"duckdb", "numpy"},
    ),
    _spec(
        "institutional_ipd",
        GROUP_RECONSTRUCTION,
        ["study_sources"],
        "Institutional patient-level data, validated, in months (institutional studies only).",
        {"duckdb", "polars"},
    ),
    _spec(
        "harmonized_cohort",
        GROUP_COHORT,
        ["reconstructed_ipd", "institutional_ipd"],
        "The study's rows of the cohort: one per patient per endpoint, months, vocabulary, provenance.",
        {"duckdb", "polars"},
    ),
]


def build_study_unit(studies_per_run: int | None = None) -> dg.AssetsDefinition:
    """The study unit: all studies of a run in one step (``None``, the embedded default: one single-run
    backfill), or ``studies_per_run`` per run (shared deployment: a backfill becomes runs spread over workers)."""
    policy = (
        dg.BackfillPolicy.single_run()
        if studies_per_run is None
        else dg.BackfillPolicy.multi_run(max_partitions_per_run=studies_per_run)
    )
    return dg.multi_asset(
        name="study_unit",
        specs=STUDY_SPECS,
        check_specs=STUDY_CHECK_SPECS,
        partitions_def=study_partitions,
        backfill_policy=policy,
        pool=STORE_POOL,
        can_subset=False,
        description="Load, reconstruct and harmonize each study of the run; commit each study as one unit.",
    )(_study_unit)


def _study_unit(
    context: dg.AssetExecutionContext,
    folders: StudyFolders,
    cohort_store: StoreResource,
    tolerance: FidelityTolerance,
    output: OutputDir,
):
    from meta_bm.pipeline.study import STUDY_UNIT_TABLES, process_studies  # the science core, loaded to run

    keys = list(context.partition_keys)
    context.log.info(f"{len(keys)} studies, on {where_running()}")
    gate = tolerance.gate()
    outcomes: dict[str, StudyOutcome] = {}
    paths = [folders.path(sid) for sid in keys]
    for i, outcome in enumerate(process_studies(paths, gate, figure=True, workers=WORKERS)):
        sid = keys[i]
        outcomes[sid] = outcome
        progress(context, "study", i, len(keys), sid)
        if not outcome.ok:
            context.log.warning(f"{sid} {outcome.status}: {outcome.message}")
    store = cohort_store.store()
    store.commit_studies(
        {sid: o.tables for sid, o in outcomes.items() if o.ok}, _status_frame(outcomes), STUDY_UNIT_TABLES
    )
    ok = [s for s, o in outcomes.items() if o.ok]
    context.log.info(f"stored {len(ok)} of {len(keys)} studies; {len(keys) - len(ok)} rejected or failed")

    stored = _read_back(store, keys)
    figures = output.figures()
    figures.mkdir(parents=True, exist_ok=True)
    evaluations = []
    for sid in keys:
        png = outcomes[sid].figure_png or _figure(sid, stored)  # not ok: the stored version's figure
        target = figures / f"study_{sid}.png"
        if png:
            target.write_bytes(png)
        elif target.exists():
            target.unlink()
        overlays = _overlays(figures, sid, outcomes[sid], stored)
        meta, evals = _study_story(sid, outcomes[sid], stored, gate, str(folders.path(sid)), png, overlays)
        for asset, m in meta.items():
            context.add_asset_metadata(m, asset_key=asset, partition_key=sid)
        evaluations += evals
    if not any(o.ok for o in outcomes.values()):
        # Nothing of this run could be stored (typically the one study a sensor or UI run is for): the
        # run fails, so its partitions show as Failed, not as a fresh materialization; the checks say
        # why (against the stored version's materialization) and the failure sensor refreshes the report.
        yield from _record_checks(context, evaluations)
        raise dg.Failure(
            description=f"{len(keys)} study(ies) not stored: "
            + "; ".join(f"{sid} {o.status}: {o.problems[0] if o.problems else ''}" for sid, o in outcomes.items()),
            metadata={"rejected_studies": dg.MetadataValue.json({s: o.problems for s, o in outcomes.items()})},
            allow_retries=False,
        )
    single = len(keys) == 1 and outcomes[keys[0]].fingerprint is not None
    for spec in STUDY_SPECS:
        version = (
            dg.DataVersion(outcomes[keys[0]].fingerprint) if single and spec.key.path[-1] == "study_sources" else None
        )
        yield dg.MaterializeResult(asset_key=spec.key, data_version=version)
    yield from _record_checks(context, evaluations)  # after the materializations: they are the targets


def _record_checks(context: dg.AssetExecutionContext, evaluations: list[dg.AssetCheckEvaluation]):
    """Log each study's check evaluations, then close the step's check outputs (yielding also flushes
    the logged events, before a failure too).

    Each evaluation points at its partition's latest materialization (the one just written, or the
    stored version's when nothing was): Dagster shows a check's partition status only for evaluations
    targeting the latest materialization.
    """
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    targets: dict[tuple[dg.AssetKey, str], AssetCheckEvaluationTargetMaterializationData] = {}
    for key in {ev.asset_key for ev in evaluations}:
        parts = {ev.partition for ev in evaluations if ev.asset_key == key}
        latest = context.instance.event_log_storage.get_latest_storage_id_by_partition(
            key, dg.DagsterEventType.ASSET_MATERIALIZATION, parts
        )
        if not latest:
            continue
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=list(latest.values())), limit=len(latest)
        ).records
        for rec in records:
            targets[(key, rec.partition_key)] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=rec.storage_id, run_id=rec.run_id, timestamp=rec.timestamp
            )
    for ev in evaluations:
        context.log_event(
            dg.AssetCheckEvaluation(
                asset_key=ev.asset_key,
                check_name=ev.check_name,
                passed=ev.passed,
                metadata=ev.metadata,
                severity=ev.severity,
                description=ev.description,
                partition=ev.partition,
                target_materialization_data=targets.get((ev.asset_key, ev.partition)),
            )
        )
    for check in STUDY_CHECK_SPECS:  # the per-study evaluations above are the results
        yield dg.Output(None, output_name=check.get_python_identifier())


def _status_frame(outcomes: dict[str, "StudyOutcome"]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_id": list(outcomes),
            "stage": [o.stage for o in outcomes.values()],
            "status": [o.status for o in outcomes.values()],
            "fingerprint": [o.fingerprint for o in outcomes.values()],
            "pipeline_version": PIPELINE_VERSION,
            "message": [o.message for o in outcomes.values()],
        },
        schema_overrides={"fingerprint": pl.String, "message": pl.String},
    )


def _by_study(df: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {k[0]: v for k, v in df.partition_by("study_id", as_dict=True).items()} if df.height else {}


def _read_back(store: CohortStore, keys: list[str]) -> dict:
    """What DuckDB holds for the run's studies after the commit (the UI shows what is stored)."""
    out: dict = {"counts": store.rows_per_study(keys, COUNTED)}
    out.update({name: _by_study(frame) for name, frame in store.study_views(keys).items()})
    return out


def _overlays(figures, sid: str, outcome: "StudyOutcome", stored: dict) -> dict[str, bytes]:
    """Each figure's extraction overlay: this run's (written to ``figures/digitized_<study>_<figure>.png``),
    else, when the study was not stored, the stored version's files."""
    prefix = f"digitized_{sid}_"
    if outcome.ok:
        for old in figures.glob(f"{prefix}*.png"):
            if old.name.removeprefix(prefix).removesuffix(".png") not in outcome.overlays:
                old.unlink()
        for figure_id, data in outcome.overlays.items():
            (figures / f"{prefix}{figure_id}.png").write_bytes(data)
        return dict(outcome.overlays)
    kept = stored["digitized"].get(sid)
    ids = set(kept["figure_id"].to_list()) if kept is not None else set()
    paths = {figure_id: figures / f"{prefix}{figure_id}.png" for figure_id in sorted(ids)}
    return {figure_id: p.read_bytes() for figure_id, p in paths.items() if p.is_file()}


def _study_story(
    sid: str,
    outcome: "StudyOutcome",
    stored: dict,
    gate,
    folder: str,
    png: bytes | None,
    overlays: dict[str, bytes],
) -> tuple[dict[str, dict], list[dg.AssetCheckEvaluation]]:
    """Per-asset metadata and check evaluations of one study, from what the store holds for it."""
    counts = {t: stored["counts"][t][sid] for t in COUNTED}
    empty = pl.DataFrame()
    info = stored["studies"].get(sid, empty)
    source = outcome.source or (info["source"][0] if info.height else None)
    status = outcome.status
    note = (
        "stored rows are those of the study's last valid version"
        if status != "ok" and info.height
        else ("nothing stored yet" if status != "ok" else "stored from this run")
    )
    common = {"status": status, "stored": note}
    if outcome.problems:
        common["problems"] = md_list(outcome.problems)
    files = stored["files"].get(sid, empty)
    meta: dict[str, dict] = {
        "study_sources": {
            **common,
            "dagster/row_count": sum(counts[t] for t in RAW_TABLES),
            "rows_by_table": dg.MetadataValue.json({t: counts[t] for t in RAW_TABLES}),
            "source": source or "unknown",
            "curves": counts["curves"],
            "folder_fingerprint": outcome.fingerprint or "unreadable",
            "stored_fingerprint": info["fingerprint"][0] if info.height else "none",
            "pipeline_version": PIPELINE_VERSION,
            "files": table_metadata(files.drop("study_id").with_columns(pl.col("sha256").str.slice(0, 16)))
            if files.height
            else "none",
        }
    }
    if info.height:
        meta["study_sources"]["citation"] = info["citation"][0] or ""
        meta["study_sources"]["loaded_at"] = str(info["loaded_at"][0])
    fid = stored["fidelity"].get(sid, empty)
    published = stored["published"].get(sid, empty)
    digitized = stored["digitized"].get(sid, empty)
    dmeta: dict = {**common, "dagster/row_count": counts["digitized_curves"], "applies": digitized.height > 0}
    if digitized.height:
        # (narrow enough for the UI's metadata column: the figure's own details are in `figures`)
        dmeta["curves"] = table_metadata(
            digitized.select(
                pl.col("curve_id").alias("curve"),
                pl.col("figure_id").alias("figure"),
                "label",
                "points",
                pl.col("censor_marks").alias("marks"),
                pl.col("risk_rows").alias("risk rows"),
                (pl.col("gap_fraction") * 100).round(1).alias("unseen %"),
                (pl.col("overlap_fraction") * 100).round(1).alias("overlap %"),
                "confidence",
            )
        )
        figures_read = digitized.unique("figure_id", keep="first", maintain_order=True)
        dmeta["figures"] = dg.MetadataValue.json(
            {
                r["figure_id"]: {
                    "file": r["figure_file"],
                    "page": r["figure_page"],
                    "read as": f"{r['kind']} ({r['method']}), axes from {r['calibration']}",
                    "sha256": r["figure_sha256"],
                }
                for r in figures_read.iter_rows(named=True)
            }
        )
        dmeta["censor_marks"] = counts["raw_censor_marks"]
        for figure_id, data in overlays.items():
            dmeta[f"overlay_{figure_id}"] = png_metadata(data, f"{sid} {figure_id}: extracted points on the figure")
    else:
        dmeta["note"] = "no curve of this study is read from a figure (hand-made clicks or patient data)"
    meta["digitized_curves"] = dmeta
    if source == "institutional":
        meta["reconstructed_ipd"] = {
            **common,
            "dagster/row_count": 0,
            "applies": False,
            "note": "institutional study: patient-level data, nothing to reconstruct (see institutional_ipd)",
        }
        meta["institutional_ipd"] = {
            **common,
            "dagster/row_count": counts["institutional_patients"],
            "applies": True,
        }
    else:
        rec_meta: dict = {
            **common,
            "dagster/row_count": counts["ipd"],
            "applies": True,
            "curves": fid.height,
            "curves_held_out": int((fid["status"] == "blocked").sum()) if fid.height else 0,
        }
        if fid.height:
            rec_meta["fidelity"] = table_metadata(_fidelity_view(fid, stored["published"].get(sid, empty)))
            rec_meta["worst_rmse"] = round(float(fid["rmse"].max()), 4)
        if published.height:
            from meta_bm.reports.html import published_layout

            rec_meta["published_vs_reconstructed"] = table_metadata(
                published_layout(published).drop("Study", "Detail", "severity")
            )
        if png:
            rec_meta["figure"] = png_metadata(png, f"{sid}: digitized clicks vs reconstructed KM")
        meta["reconstructed_ipd"] = rec_meta
        meta["institutional_ipd"] = {
            **common,
            "dagster/row_count": 0,
            "applies": False,
            "note": "literature study: IPD reconstructed from its curves (see reconstructed_ipd)",
        }
    cohort = stored["cohort"].get(sid, empty)
    cmeta: dict = {**common, "dagster/row_count": counts["cohort"]}
    if cohort.height:
        arms = (
            cohort.group_by("endpoint", "arm_id", "arm_label", "modality")
            .agg(
                pl.len().alias("patients"),
                pl.col("event").sum().cast(pl.Int64).alias("events"),
                pl.col("time_months").max().round(1).alias("max_months"),
            )
            .sort("endpoint", "arm_id")
        )
        cmeta["arms"] = table_metadata(arms)
        cmeta["patients_by_endpoint"] = dg.MetadataValue.json(dict(cohort.group_by("endpoint").len().rows()))
    meta["harmonized_cohort"] = cmeta

    evals = [manifest_evaluation(sid, status, outcome.problems, folder)]
    if status == "failed" and source == "literature":
        evals.append(fidelity_evaluation(sid, fid, gate, outcome.problems))
    if status == "ok":
        if digitized.height:
            evals.append(extraction_evaluation(sid, digitized))
        if source == "literature":
            evals.append(fidelity_evaluation(sid, fid, gate, None))
            evals.append(published_evaluation(sid, published))
        evals.append(rows_evaluation(sid, cohort))
    return meta, evals


def _fidelity_view(fid: pl.DataFrame, published: pl.DataFrame) -> pl.DataFrame:
    """What a reader wants per curve, narrow enough for the UI: error at the clicks, N, events, median."""
    med = (
        published.filter(pl.col("figure") == "median").select("curve_id", "published_lower", "published_upper")
        if published.height
        else pl.DataFrame(schema={"curve_id": pl.String, "published_lower": pl.Float64, "published_upper": pl.Float64})
    )

    def num(col: str, digits: int = 2) -> pl.Expr:
        return pl.col(col).round(digits).cast(pl.String).fill_null("–")

    return fid.join(med, on="curve_id", how="left").select(
        pl.col("curve_id").alias("curve"),
        "status",
        pl.col("rmse").round(4).alias("RMSE"),
        pl.col("max_abs_error").round(3).alias("max err"),
        pl.format("{} / {}", "n_patients", num("n_published", 0)).alias("N rec/pub"),
        pl.format("{} / {}", "events", num("events_published", 0)).alias("events rec/pub"),
        pl.format(
            "{} / {} [{}–{}]", num("median"), num("median_published"), num("published_lower"), num("published_upper")
        )
        .str.replace(" [–––]", "", literal=True)
        .alias("median rec / pub [CI]"),
        pl.col("time_unit").alias("unit"),
    )


def _figure(sid: str, stored: dict) -> bytes | None:
    from meta_bm.reports.figures import OverlayCurve, study_figure_png

    curves = stored["curves"].get(sid)
    clicks, ipd, fit = stored["clicks"].get(sid), stored["ipd"].get(sid), stored["risk_fit"].get(sid)
    if curves is None or clicks is None or ipd is None:
        return None
    c_by = {k[0]: v for k, v in clicks.partition_by("curve_id", as_dict=True).items()}
    i_by = {k[0]: v for k, v in ipd.partition_by("curve_id", as_dict=True).items()}
    f_by = {k[0]: v for k, v in fit.partition_by("curve_id", as_dict=True).items()} if fit is not None else {}
    overlay = [
        OverlayCurve(
            label=f"{r['label']} ({r['curve_id']}, {r['endpoint']})",
            time_unit=r["time_unit"],
            click_time=c_by[r["curve_id"]]["time"].to_numpy(),
            click_survival=c_by[r["curve_id"]]["survival"].to_numpy(),
            ipd_time=i_by[r["curve_id"]]["time"].to_numpy(),
            ipd_event=i_by[r["curve_id"]]["event"].to_numpy().astype(np.int64),
            risk_fit=f_by.get(r["curve_id"]),
        )
        for r in curves.iter_rows(named=True)
        if r["curve_id"] in c_by and r["curve_id"] in i_by
    ]
    return study_figure_png(overlay, title=sid) if overlay else None


# the embedded default's study unit (tests and tools that build definitions by hand use it)
study_unit = build_study_unit()
