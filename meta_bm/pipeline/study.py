"""One study folder → every row the store keeps for it, or a located failure (no Dagster here).

A study is one unit: its ingested files, reconstructed IPD, fidelity, published comparison and
harmonized cohort are computed together in memory and committed together
(:meth:`meta_bm.store.CohortStore.commit_studies`), so the stored files, curves, IPD and cohort of a
study always agree. When any stage fails, nothing of the new version is written: the study keeps
its previous consistent rows and only its status records the failure and why.

This function is the study boundary: whatever the folder holds (bad YAML, special files, huge
numbers, a bug in a stage), it returns a :class:`StudyOutcome` and never raises, so one study can
never stop the others.

Example
-------
>>> import tempfile, pathlib
>>> from meta_bm.simulation.study_folders import ArmSpec, write_literature_study
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = write_literature_study(root, "demo_2020", [ArmSpec("a", "Arm A", "re_srs", 30, 12.0)], seed=1)
>>> out = process_study(root / "demo_2020")
>>> out.status, out.tables["ipd"].height, out.tables["cohort"].height
('ok', 30, 30)
>>> missing = process_study(root / "missing_2021")
>>> missing.status, missing.problems[0].endswith("missing_2021: the study folder does not exist")
('rejected', True)
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl

from meta_bm.digitizing.outputs import overlay_png
from meta_bm.errors import InputError
from meta_bm.reports.figures import overlay_curves, study_figure_png
from meta_bm.store.study_tables import ingest_tables
from meta_bm.studies import FidelityGate, StudyError, StudyReconstruction, folder_fingerprint, load_study
from meta_bm.studies.harmonize import institutional_cohort
from meta_bm.studies.published import compare_published
from meta_bm.studies.reconstruct import reconstruct_study

PARALLEL_FROM = 40  # studies in a batch before worker processes pay for their start-up

# Tables a study's unit replaces (all of them, so rows of a curve removed from a study go too).
STUDY_UNIT_TABLES = (
    "studies",
    "source_files",
    "arms",
    "curves",
    "raw_clicks",
    "raw_risk_tables",
    "raw_censor_marks",
    "digitized_curves",
    "raw_patients",
    "ipd",
    "fidelity",
    "cleaning_log",
    "risk_table_fit",
    "published_comparison",
    "institutional_patients",
    "cohort",
)


@dataclass
class StudyOutcome:
    """What processing one study folder gave.

    Attributes
    ----------
    status:
        ``ok`` (every stage passed; ``tables`` holds the rows to store), ``rejected`` (the folder
        could not be loaded: manifest, files, parsing) or ``failed`` (loaded, but a later stage
        could not use it, e.g. published totals the curve cannot hold).
    stage:
        The stage the outcome was decided at: ``ingest``, ``reconstruction`` or ``harmonization``.
    problems:
        Every problem, each naming the file and row or key (empty when ``ok``).
    """

    study_id: str
    status: str
    stage: str
    fingerprint: str | None
    problems: list[str] = field(default_factory=list)
    source: str | None = None
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    figure_png: bytes | None = None
    overlays: dict[str, bytes] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def message(self) -> str | None:
        return "\n".join(self.problems) if self.problems else None


def _unexpected(where: Path, exc: BaseException) -> str:
    return f"{where}: unexpected error: {type(exc).__name__}: {exc}"


def process_study(folder: str | Path, gate: FidelityGate | None = None, figure: bool = False) -> StudyOutcome:
    """Load, reconstruct and harmonize one study folder; never raises (see the module docstring).

    Parameters
    ----------
    folder:
        ``<studies root>/<study_id>``; the folder name is the study id.
    gate:
        The fidelity gate deciding which curves are held out of the cohort.
    figure:
        Also draw the study's reconstruction figure (clicks vs reconstructed KM with numbers at risk).
    """
    folder = Path(folder)
    sid = folder.name
    try:
        fingerprint: str | None = folder_fingerprint(folder) if folder.is_dir() else None
    except Exception:  # a folder we cannot even hash is reported by load_study below
        fingerprint = None
    if not folder.is_dir():
        return StudyOutcome(sid, "rejected", "ingest", None, [f"{folder}: the study folder does not exist"])
    try:
        study = load_study(folder)
    except StudyError as exc:
        return StudyOutcome(sid, "rejected", "ingest", fingerprint, list(exc.problems))
    except Exception as exc:  # the boundary: nothing a folder holds may escape it
        return StudyOutcome(sid, "rejected", "ingest", fingerprint, [_unexpected(folder, exc)])
    stage = "reconstruction"
    try:
        tables = dict(ingest_tables(study))
        tables["studies"] = tables["studies"].with_columns(
            pl.lit(dt.datetime.now(dt.UTC).replace(tzinfo=None)).alias("loaded_at")
        )
        rec = None
        if study.manifest.source == "literature":
            rec = reconstruct_study(study, gate)
            tables["ipd"] = rec.ipd()
            tables["fidelity"] = rec.fidelity()
            tables["cleaning_log"] = rec.cleaning_log()
            tables["risk_table_fit"] = _risk_table_fit(rec)
            tables["published_comparison"] = compare_published(rec)
            stage = "harmonization"
            tables["cohort"] = rec.cohort()
        else:
            stage = "harmonization"
            tables["institutional_patients"] = institutional_cohort(study)
            tables["cohort"] = tables["institutional_patients"]
    except InputError as exc:
        return StudyOutcome(sid, "failed", stage, fingerprint, [str(exc)], study.manifest.source)
    except Exception as exc:
        return StudyOutcome(sid, "failed", stage, fingerprint, [_unexpected(folder, exc)], study.manifest.source)
    png, overlays = None, {}
    if figure and rec is not None and rec.curves:
        try:
            png = study_figure_png(overlay_curves(rec), title=sid)
            # (each figure's extracted points drawn on the figure itself, for a person to check)
            overlays = {fid: overlay_png(fig) for fid, fig in study.figures.items()}
        except Exception as exc:  # a figure never costs a study its rows
            return StudyOutcome(sid, "failed", "figure", fingerprint, [_unexpected(folder, exc)], study.manifest.source)
    return StudyOutcome(
        sid,
        "ok",
        stage,
        study.fingerprint,
        source=study.manifest.source,
        tables={k: v for k, v in tables.items() if v.height},
        figure_png=png,
        overlays=overlays,
    )


def process_studies(
    folders: list[Path], gate: FidelityGate | None = None, figure: bool = False, workers: int = 1
) -> Iterator[StudyOutcome]:
    """:func:`process_study` over many folders, in order; with ``workers`` > 1 over that many processes.

    Worth it from a few dozen studies on (each worker imports the package, about 2 s); the
    outcomes come back in the order of ``folders``.
    """
    if workers <= 1 or len(folders) < PARALLEL_FROM:
        for f in folders:
            yield process_study(f, gate, figure)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        yield from pool.map(partial(process_study, gate=gate, figure=figure), folders, chunksize=4)


def _risk_table_fit(rec: StudyReconstruction) -> pl.DataFrame:
    """Published vs reconstructed numbers at risk of every curve with a risk table."""
    frames = [
        r.reconstruction.fidelity.risk_table.with_columns(
            pl.lit(rec.study.study_id).alias("study_id"), pl.lit(r.curve.spec.curve_id).alias("curve_id")
        )
        for r in rec.curves
        if r.reconstruction.fidelity.risk_table.height
    ]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
