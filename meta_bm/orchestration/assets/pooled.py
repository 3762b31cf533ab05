"""The whole-cohort assets: the cohort summary, one asset per analysis of ``data/analyses.yaml``, the report.

They are one step (``pooled``), so a run refreshes them in one process, and each is recomputed only
when its inputs changed: it records the version of its inputs (``meta_bm.pipeline.pooled``) with its
results in one transaction, and a step whose analysis inputs are unchanged leaves it as it is (no
new materialization). So a study rejected without changing any row rebuilds nothing but the report
(which lists it), a crash between a study commit and the pooled refresh is repaired by the next run,
and editing one analysis recomputes that analysis and the report. ``force`` recomputes everything.
The asset set is built from the config when the code location loads; an analysis's code version
includes the hash of its config entry.
"""

import hashlib
from pathlib import Path

import dagster as dg
import numpy as np

from meta_bm.analysis.config import AnalysesConfig, Analysis
from meta_bm.orchestration.checks import INVARIANTS_CHECK, cohort_row_problems
from meta_bm.orchestration.constants import (
    ANALYSIS_CODE_VERSION,
    COHORT_SUMMARY_CODE_VERSION,
    GROUP_ANALYSIS,
    OWNERS,
    REPORT_CODE_VERSION,
    STORE_POOL,
    SYNTHETIC_BANNER,
)
from meta_bm.orchestration.executors import where_running
from meta_bm.orchestration.metadata import png_metadata, table_metadata
from meta_bm.orchestration.partitions import STUDY_PARTITIONS_NAME
from meta_bm.orchestration.resources import OutputDir, StoreResource
from meta_bm.pipeline.pooled import COHORT_SUMMARY, POOLED_REPORT, pooled_state
from meta_bm.reports.analysis_figures import FigurePool

# Refresh after study partitions change, without waiting for missing or failed studies (plain eager()
# would hold the whole cohort back while one study is broken).
COHORT_AUTOMATION = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager, not blocked by missing studies")
)

# An edited analysis (its config is part of its code version) is recomputed once the location reloads.
ON_CODE_CHANGE = dg.AutomationCondition.code_version_changed().with_label("code or config changed")


class PooledConfig(dg.Config):
    """Run config of the pooled step (Launchpad): ``force`` recomputes every analysis and the report."""

    force: bool = False


def _config_hash(a: Analysis) -> str:
    return hashlib.sha256(a.model_dump_json().encode()).hexdigest()[:10]


def analysis_code_version(a: Analysis) -> str:
    return f"{ANALYSIS_CODE_VERSION}+{_config_hash(a)}"


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def pooled_specs(config: AnalysesConfig) -> list[dg.AssetSpec]:
    """Asset specs of the cohort summary, every analysis and the report (short titles: lineage stays legible)."""
    common = {"group_name": GROUP_ANALYSIS, "owners": OWNERS}
    specs = [
        dg.AssetSpec(
            COHORT_SUMMARY,
            deps=["harmonized_cohort"],
            code_version=COHORT_SUMMARY_CODE_VERSION,
            automation_condition=COHORT_AUTOMATION,
            kinds={"duckdb", "polars"},
            tags={"layer": "pooled"},
            description="The whole harmonized cohort per study, endpoint and arm; drops rows of deleted studies. "
            + SYNTHETIC_BANNER,
            **common,
        )
    ]
    for a in config.analyses:
        specs.append(
            dg.AssetSpec(
                a.id,
                deps=[COHORT_SUMMARY],
                code_version=analysis_code_version(a),
                kinds={"duckdb", "matplotlib"},
                tags={"layer": "pooled", "endpoint": a.endpoint},
                description=_short(a.title) + ". KM, median CIs, log-rank, Cox, gamma frailty, two-stage "
                "meta-analysis (FE/DL/REML, HKSJ), leave-one-out, cumulative, Egger; guard rails in metadata.",
                automation_condition=ON_CODE_CHANGE,
                skippable=True,
                **common,
            )
        )
    specs.append(
        dg.AssetSpec(
            POOLED_REPORT,
            deps=[COHORT_SUMMARY, *(a.id for a in config.analyses)],
            code_version=REPORT_CODE_VERSION,
            kinds={"html", "csv"},
            tags={"layer": "report"},
            description="HTML report (figures embedded) and every table as CSV, under output/report. "
            + SYNTHETIC_BANNER,
            automation_condition=ON_CODE_CHANGE,
            skippable=True,
            **common,
        )
    )
    return specs


def analyses_versions(config: AnalysesConfig) -> dict[str, tuple[str, str]]:
    """``{asset: (endpoint, code_version)}`` of every analysis asset (what ``pooled_state`` needs)."""
    return {a.id: (a.endpoint, analysis_code_version(a)) for a in config.analyses}


POOLED_CODE_VERSIONS = {COHORT_SUMMARY: COHORT_SUMMARY_CODE_VERSION, POOLED_REPORT: REPORT_CODE_VERSION}


def build_pooled_asset(analyses: AnalysesConfig) -> dg.AssetsDefinition:
    """The pooled step: cohort summary, then each out-of-date analysis, then the report if anything changed."""

    @dg.multi_asset(
        name="pooled",
        specs=pooled_specs(analyses),
        check_specs=[
            dg.AssetCheckSpec(
                INVARIANTS_CHECK,
                asset=COHORT_SUMMARY,
                description="Whole cohort: unique patient ids, times >= 0, events in {0, 1}, provenance, "
                "every row's study still a study partition",
            )
        ],
        pool=STORE_POOL,
        can_subset=False,
    )
    def pooled(context: dg.AssetExecutionContext, config: PooledConfig, cohort_store: StoreResource, output: OutputDir):
        store = cohort_store.store()
        context.log.info(f"pooled step on {where_running()}")
        current = set(context.instance.get_dynamic_partitions(STUDY_PARTITIONS_NAME))
        summary_meta, check = _cohort_summary(context, store, current)
        state = pooled_state(store, analyses_versions(analyses), POOLED_CODE_VERSIONS)
        store.set_pooled_versions({COHORT_SUMMARY: state.current[COHORT_SUMMARY]})
        yield dg.MaterializeResult(
            asset_key=COHORT_SUMMARY, metadata=summary_meta, data_version=dg.DataVersion(state.current[COHORT_SUMMARY])
        )
        yield check
        changed = []
        # each analysis's figures are drawn by worker processes while the next analysis computes
        with FigurePool() as figures:
            for a in analyses.analyses:
                name = a.id
                if not config.force and state.is_current(name):
                    context.log.info(f"{name}: its cohort rows and config are unchanged; not recomputed")
                    continue
                metadata = _analysis(context, a, store, output, {name: state.current[name]}, figures)
                changed.append(name)
                yield dg.MaterializeResult(
                    asset_key=name, metadata=metadata, data_version=dg.DataVersion(state.current[name])
                )
            try:
                figures.wait()
            except BaseException:
                # results are stored but their figures are not all drawn: recompute them next run
                store.set_pooled_versions(dict.fromkeys(changed, "figures not drawn"))
                raise
        if config.force or changed or not state.is_current(POOLED_REPORT):
            path, synthetic = build_report(store, analyses, output)
            store.set_pooled_versions({POOLED_REPORT: state.current[POOLED_REPORT]})
            context.log.info(f"report written to {path}")
            yield dg.MaterializeResult(
                asset_key=POOLED_REPORT,
                metadata={
                    "report": dg.MetadataValue.path(str(path)),
                    "tables": dg.MetadataValue.path(str(path.parent / "tables")),
                    "analyses_recomputed": dg.MetadataValue.json(changed),
                    "synthetic_data": synthetic,
                },
            )
        else:
            context.log.info("report inputs unchanged; not rewritten")

    return pooled


def _cohort_summary(context, store, current: set[str]) -> tuple[dict, dg.AssetCheckResult]:
    """Drop rows of studies that are no longer partitions, then summarize the cohort and check it."""
    orphans = [s for s in store.stored_study_ids() if s not in current]
    if orphans:
        deleted = store.delete_studies(orphans)
        context.log.info(f"removed {sum(deleted.values())} rows of deleted studies {orphans}")
    cohort = store.cohort()
    overview = store.cohort_overview()
    problems = cohort_row_problems(cohort)
    problems["rows_of_unknown_studies"] = cohort.filter(~cohort["study_id"].is_in(sorted(current))).height
    check = dg.AssetCheckResult(
        asset_key=COHORT_SUMMARY,
        check_name=INVARIANTS_CHECK,
        passed=not any(problems.values()),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: int(v) for k, v in problems.items()},
    )
    metadata = {
        "dagster/row_count": cohort.height,
        "studies": cohort["study_id"].n_unique() if cohort.height else 0,
        "removed_studies": dg.MetadataValue.json(orphans),
        "overview": table_metadata(overview, limit=200),
        "synthetic_rows": int(cohort["synthetic"].sum()) if cohort.height else 0,
    }
    return metadata, check


def _analysis(context, a: Analysis, store, output: OutputDir, versions: dict[str, str], figures) -> dict:
    from meta_bm.analysis.pooled import run_analysis
    from meta_bm.reports.figures import png_bytes
    from meta_bm.reports.km_plot import km_figure

    cohort = store.cohort(a.endpoint)
    context.log.info(f"analysis {a.id}: {cohort.height} rows of endpoint {a.endpoint}")
    result = run_analysis(cohort, a, study_info=store.study_info())
    tables = result.tables()
    store.replace_analysis(a.id, tables, versions)
    metadata: dict = {
        "patients": result.data.frame.height,
        "studies": dg.MetadataValue.json(result.data.studies),
        "guard_rails": dg.MetadataValue.md(
            "\n".join(f"- **{f.severity}**: {f.message}" for f in result.flags) or "nothing flagged"
        ),
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in result.notes) or "none"),
    }
    figures.submit(result, output.figures())
    if result.groups:  # the UI's thumbnail, drawn here at screen resolution (the files come from the pool)
        metadata["km_plot"] = png_metadata(png_bytes(km_figure(result, title=a.title), dpi=100), a.title)
    for contrast, models in result.meta.items():
        reml = models["REML"]
        metadata[f"pooled_hr_reml_{contrast}"] = round(float(np.exp(reml.estimate)), 4)
    cox = result.cox.get("unstratified")
    if cox is not None:
        for i, name in enumerate(cox.names):
            metadata[f"hr_{name}"] = round(float(cox.hr[i]), 4)
            metadata[f"wald_p_{name}"] = float(f"{cox.p[i]:.4g}")  # 4 significant digits for the UI
    return metadata


def build_report(store, config: AnalysesConfig, output: OutputDir) -> tuple[Path, bool]:
    """Gather results, study characteristics, fidelity and overlays from the store; write the report."""
    from meta_bm.analysis.pooled import TIME_RESOLUTION
    from meta_bm.reconstruction import RECONSTRUCTION_VERSION
    from meta_bm.reports.html import write_report

    tables = store.analysis_results([a.id for a in config.analyses])
    inputs = store.report_inputs()
    studies, fidelity = inputs["studies"], inputs["fidelity"]
    figs = output.figures()
    figs.mkdir(parents=True, exist_ok=True)
    # The study step draws each study's figure (study_<id>.png); drop those of studies gone since.
    present = set(studies["study_id"].to_list())
    for stale in figs.glob("study_*.png"):
        if stale.stem.removeprefix("study_") not in present:
            stale.unlink()
    for old in [*figs.glob("overlay_*.png"), *figs.glob("overlay_*.svg")]:  # per-curve figures of earlier versions
        old.unlink()
    synthetic = bool(studies["synthetic"].any()) if studies.height else False
    extra = {k: v for k, v in inputs.items() if k not in ("studies", "fidelity")}
    path = write_report(
        output.report(),
        config,
        tables,
        studies,
        fidelity,
        figs,
        RECONSTRUCTION_VERSION,
        TIME_RESOLUTION,
        synthetic,
        **extra,
    )
    return path, synthetic
