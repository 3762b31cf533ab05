"""Pooled analyses: one asset per analysis declared in ``data/analyses.yaml``, and the report.

The asset set is built from the config when the code location loads; an analysis's code version
includes the hash of its config entry, so editing an analysis marks it (and the report) stale.
"""

import hashlib
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from meta_bm.analysis.config import AnalysesConfig, Analysis
from meta_bm.analysis.pooled import TIME_RESOLUTION, run_analysis
from meta_bm.orchestration.assets._helpers import png_metadata, table_metadata
from meta_bm.orchestration.assets.analysis import cohort_summary
from meta_bm.orchestration.constants import DUCKDB_POOL, GROUP_ANALYSIS, OWNERS, SYNTHETIC_BANNER
from meta_bm.orchestration.resources import DuckDBStore, OutputDir
from meta_bm.reconstruction import RECONSTRUCTION_VERSION
from meta_bm.reports.figures import forest_figure, km_figure, overlay_figure, png_bytes, save_figure
from meta_bm.reports.html import results_layout, write_report

ANALYSIS_CODE_VERSION = "2"  # 2: forest plots draw at most FOREST_MAX_STUDIES studies
REPORT_CODE_VERSION = "1"
MAX_OVERLAYS = 120  # reconstruction overlays drawn in the report (one per curve); beyond, fidelity table only

EAGER = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


def _config_hash(a: Analysis) -> str:
    return hashlib.sha256(a.model_dump_json().encode()).hexdigest()[:10]


def _analysis_asset(a: Analysis) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"analysis_{a.id}",
        group_name=GROUP_ANALYSIS,
        deps=[cohort_summary],
        pool=DUCKDB_POOL,
        code_version=f"{ANALYSIS_CODE_VERSION}+{_config_hash(a)}",
        automation_condition=EAGER,
        kinds={"duckdb", "matplotlib"},
        owners=OWNERS,
        tags={"layer": "pooled", "endpoint": a.endpoint},
        description=f"{a.title}. KM with three median CIs, landmarks, RMST, log-rank (also stratified by study), "
        "Cox (Efron: unstratified, stratified by study, cluster-robust by study), cox.zph, two-stage meta-analysis "
        f"(FE, DL, REML). Tables analysis_*. {SYNTHETIC_BANNER}",
    )
    def _asset(context: dg.AssetExecutionContext, duckdb: DuckDBStore, output: OutputDir) -> dg.MaterializeResult:
        store = duckdb.store()
        cohort = store.query("SELECT * FROM cohort WHERE endpoint = $e", {"e": a.endpoint})
        context.log.info(f"analysis {a.id}: {cohort.height} rows of endpoint {a.endpoint}")
        result = run_analysis(cohort, a)
        tables = result.tables()
        store.replace_analysis(a.id, tables)
        metadata: dict = {
            "patients": result.data.frame.height,
            "studies": dg.MetadataValue.json(result.data.studies),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in result.notes) or "none"),
        }
        figs = output.figures()
        if result.groups:
            fig = km_figure(result)
            metadata["km_plot"] = png_metadata(png_bytes(fig, dpi=55, close=False), a.title)
            save_figure(fig, figs / f"km_{a.id}")
            metadata["results"] = table_metadata(
                results_layout(tables["analysis_groups"], tables["analysis_cox"], tables["analysis_tests"])
            )
        else:
            for stale in figs.glob(f"km_{a.id}.*"):
                stale.unlink()
        for stale in figs.glob(f"forest_{a.id}.*"):
            stale.unlink()
        for contrast, pooled in result.meta.items():
            eff = result.per_study.filter(pl.col("group") == contrast)
            label = next(g.label for g in a.group_defs() if g.id == a.reference)
            fig = forest_figure(eff, pooled, title=f"{a.title}: {contrast}", reference_label=label)
            save_figure(fig, figs / f"forest_{a.id}" if len(result.meta) == 1 else figs / f"forest_{a.id}_{contrast}")
            reml = pooled["REML"]
            metadata[f"pooled_hr_reml_{contrast}"] = float(np.exp(reml.estimate))
        cox = result.cox.get("unstratified")
        if cox is not None:
            for i, name in enumerate(cox.names):
                metadata[f"hr_{name}"] = float(cox.hr[i])
                metadata[f"wald_p_{name}"] = float(cox.p[i])
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def _report_asset(config: AnalysesConfig, analysis_assets: list[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    @dg.asset(
        name="pooled_report",
        group_name=GROUP_ANALYSIS,
        deps=[cohort_summary, *analysis_assets],
        pool=DUCKDB_POOL,
        code_version=REPORT_CODE_VERSION,
        automation_condition=EAGER,
        kinds={"html", "csv"},
        owners=OWNERS,
        tags={"layer": "report"},
        description="Self-contained HTML report (figures embedded) and every table as CSV, under output/report. "
        + SYNTHETIC_BANNER,
    )
    def _report(context: dg.AssetExecutionContext, duckdb: DuckDBStore, output: OutputDir) -> dg.MaterializeResult:
        path, synthetic = build_report(duckdb.store(), config, output)
        context.log.info(f"report written to {path}")
        return dg.MaterializeResult(
            metadata={
                "report": dg.MetadataValue.path(str(path)),
                "tables": dg.MetadataValue.path(str(path.parent / "tables")),
                "analyses": len(config.analyses),
                "synthetic_data": synthetic,
            }
        )

    return _report


def build_report(store, config: AnalysesConfig, output: OutputDir) -> tuple[Path, bool]:
    """Gather results, study characteristics, fidelity and overlays from the store; write the report."""
    tables = store.analysis_results([a.id for a in config.analyses])
    studies = store.query(
        """WITH ep AS (SELECT study_id, string_agg(DISTINCT endpoint, ', ') AS curve_endpoints
                       FROM curves GROUP BY study_id),
                rows AS (SELECT study_id, count(*) AS cohort_rows FROM cohort GROUP BY study_id),
                md AS (SELECT study_id, string_agg(DISTINCT modality, ', ') AS modalities FROM arms GROUP BY study_id)
           SELECT s.study_id, s.citation, s.year, s.source, s.synthetic, ep.curve_endpoints,
                  coalesce(rows.cohort_rows, 0) AS cohort_rows, md.modalities
           FROM studies s LEFT JOIN ep USING (study_id) LEFT JOIN rows USING (study_id) LEFT JOIN md USING (study_id)
           ORDER BY s.year, s.study_id"""
    )
    fidelity = store.query(
        """SELECT study_id, curve_id, status, n_clicks, rmse, max_abs_error, n_patients, n_published, events,
                  events_published, median, median_published, median_digitized, time_unit
           FROM fidelity ORDER BY study_id, curve_id"""
    )
    figs = output.figures()
    figs.mkdir(parents=True, exist_ok=True)
    for stale in [*figs.glob("overlay_*.png"), *figs.glob("overlay_*.svg")]:
        stale.unlink()
    if 0 < fidelity.height <= MAX_OVERLAYS:
        _draw_overlays(store, fidelity, figs)
    synthetic = bool(studies["synthetic"].any()) if studies.height else False
    path = write_report(
        output.report(), config, tables, studies, fidelity, figs, RECONSTRUCTION_VERSION, TIME_RESOLUTION, synthetic
    )
    return path, synthetic


def _draw_overlays(store, fidelity: pl.DataFrame, figs: Path) -> None:
    import matplotlib.pyplot as plt

    clicks = store.query("SELECT study_id, curve_id, time, survival FROM raw_clicks")
    ipd = store.query("SELECT study_id, curve_id, time, event FROM ipd")
    fit = store.query("SELECT * FROM risk_table_fit")
    c_by = clicks.partition_by("study_id", "curve_id", as_dict=True)
    i_by = ipd.partition_by("study_id", "curve_id", as_dict=True)
    f_by = fit.partition_by("study_id", "curve_id", as_dict=True) if fit.height else {}
    for row in fidelity.iter_rows(named=True):
        key = (row["study_id"], row["curve_id"])
        if key not in i_by or key not in c_by:
            continue
        fig = overlay_figure(
            c_by[key]["time"].to_numpy(),
            c_by[key]["survival"].to_numpy(),
            i_by[key]["time"].to_numpy(),
            i_by[key]["event"].to_numpy(),
            f_by.get(key),
            title=f"{key[0]} / {key[1]} ({row['status']})",
            time_unit=row["time_unit"],
        )
        fig.savefig(figs / f"overlay_{key[0]}__{key[1]}.png", dpi=80)  # embedded in the report: small
        fig.savefig(figs / f"overlay_{key[0]}__{key[1]}.svg")
        plt.close(fig)


def build_analysis_assets(config: AnalysesConfig) -> list[dg.AssetsDefinition]:
    """One asset per analysis of ``config`` plus the report depending on all of them."""
    assets = [_analysis_asset(a) for a in config.analyses]
    return [*assets, _report_asset(config, assets)]
