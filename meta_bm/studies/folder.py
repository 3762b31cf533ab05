"""Study folders: discover them, fingerprint them, load and validate everything they hold.

``data/studies/<study_id>/`` holds ``study.yaml`` and the files it names. Loading parses every
file with the reconstruction parsers (so a bad click file is reported with its row), checks the
institutional patient table, hashes every input with SHA-256 and collects all problems of a study
into one :class:`~meta_bm.studies.manifest.StudyError`; a broken study never affects another.

Example
-------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "a_2020").mkdir(); (root / ".hidden").mkdir(); (root / "Bad Name").mkdir()
>>> found = discover_studies(root)
>>> found.study_ids, [name for name, _ in found.ignored]
(['a_2020'], ['Bad Name'])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from meta_bm.errors import InputError
from meta_bm.reconstruction import Clicks, RiskTable, read_clicks, read_risk_table
from meta_bm.studies.manifest import (
    ENDPOINTS,
    MANIFEST_NAME,
    STUDY_ID_PATTERN,
    Curve,
    StudyError,
    StudyManifest,
    load_manifest,
)

COVARIATES = {
    "age": pl.Float64,
    "sex": pl.String,
    "kps": pl.Float64,
    "primary_histology": pl.String,
    "resection_extent": pl.String,
    "adjuvant": pl.String,
}
_COVARIATE_VALUES = {"resection_extent": {"gtr", "str"}, "adjuvant": {"re_srs", "re_rt", "none"}, "sex": {"f", "m"}}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Discovery:
    """Study folders under a root: valid ids, and folders ignored with the reason."""

    study_ids: list[str]
    ignored: list[tuple[str, str]] = field(default_factory=list)


def discover_studies(root: str | Path) -> Discovery:
    """Study folders under ``root`` (hidden and ``_``-prefixed folders are skipped silently)."""
    root = Path(root)
    if not root.is_dir():
        return Discovery([])
    ids, ignored = [], []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith((".", "_")):
            continue
        if STUDY_ID_PATTERN.match(p.name):
            ids.append(p.name)
        else:
            ignored.append((p.name, "folder name must be lowercase letters, digits and underscores"))
    return Discovery(ids, ignored)


def folder_fingerprint(folder: str | Path) -> str:
    """SHA-256 over every regular file in the folder (names and contents): any edit changes it.

    Cheap enough for a sensor tick over thousands of studies (the files are small text files).
    """
    folder = Path(folder)
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts):
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + sha256_file(p).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class SourceFile:
    """One input file with its content hash (provenance of every row derived from it)."""

    role: str
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class LoadedCurve:
    spec: Curve
    clicks: Clicks
    risk_table: RiskTable | None
    clicks_sha256: str
    risk_table_sha256: str | None


@dataclass(frozen=True)
class LoadedStudy:
    """A validated study folder, parsed and hashed."""

    study_id: str
    folder: Path
    manifest: StudyManifest
    files: list[SourceFile]
    curves: list[LoadedCurve]
    patients: pl.DataFrame | None
    patients_sha256: str | None
    fingerprint: str


def _resolve(folder: Path, name: str) -> Path:
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InputError(f"{name!r} points outside the study folder", str(folder / MANIFEST_NAME))
    return path


def load_study(folder: str | Path) -> LoadedStudy:
    """Load and validate one study folder; raise :class:`StudyError` listing every problem."""
    folder = Path(folder)
    manifest = load_manifest(folder)
    problems: list[str] = []
    files = [
        SourceFile(
            "manifest", MANIFEST_NAME, sha256_file(folder / MANIFEST_NAME), (folder / MANIFEST_NAME).stat().st_size
        )
    ]
    hashes: dict[str, str] = {}
    for role, name in manifest.files():
        try:
            path = _resolve(folder, name)
        except InputError as exc:
            problems.append(str(exc))
            continue
        if not path.is_file():
            problems.append(f"{folder / MANIFEST_NAME}: {role.replace(':', ' of curve ')}: file {name!r} not found")
            continue
        hashes[name] = sha256_file(path)
        files.append(SourceFile(role, name, hashes[name], path.stat().st_size))
    curves: list[LoadedCurve] = []
    for c in manifest.curves:
        if c.clicks not in hashes or (c.risk_table and c.risk_table not in hashes):
            continue
        try:
            clicks = read_clicks(folder / c.clicks, y_scale=c.y_scale)
            table = read_risk_table(folder / c.risk_table) if c.risk_table else None
        except InputError as exc:
            problems.append(str(exc))
            continue
        if table is not None and c.total_n is not None and c.total_n < int(table.n_risk[0]):
            problems.append(
                f"{folder / MANIFEST_NAME}: curves[{c.curve_id}].total_n: {c.total_n} is smaller than the first "
                f"number at risk {int(table.n_risk[0])} in {c.risk_table}"
            )
            continue
        curves.append(LoadedCurve(c, clicks, table, hashes[c.clicks], hashes.get(c.risk_table or "")))
    patients = None
    if manifest.patients and manifest.patients.file in hashes:
        try:
            patients = read_patients(folder / manifest.patients.file, manifest)
        except StudyError as exc:
            problems.extend(exc.problems)
    if problems:
        raise StudyError(manifest.study_id, problems)
    return LoadedStudy(
        study_id=manifest.study_id,
        folder=folder,
        manifest=manifest,
        files=files,
        curves=curves,
        patients=patients,
        patients_sha256=hashes.get(manifest.patients.file) if manifest.patients else None,
        fingerprint=folder_fingerprint(folder),
    )


def read_patients(path: Path, manifest: StudyManifest) -> pl.DataFrame:
    """Read and validate an institutional patient table; return it in long form.

    Columns: ``patient_id``, ``arm`` (an arm_id of the manifest), per endpoint ``<endpoint>_time``
    (>= 0, in the manifest's ``patients.time_unit``) and ``<endpoint>_event`` (0/1), both or
    neither; optional covariates ``age, sex, kps, primary_histology, resection_extent, adjuvant``.
    Returns one row per patient and endpoint with a non-missing time: ``patient_id, arm_id,
    endpoint, time, event`` plus the covariates. Row numbers in errors are file lines (header = 1).
    """
    src = str(path)
    try:
        df = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise StudyError(manifest.study_id, [f"{src}: cannot read as CSV ({exc})"]) from None
    df = df.rename({c: c.strip().lower() for c in df.columns})
    problems: list[str] = []
    allowed = {"patient_id", "arm"} | set(COVARIATES) | {f"{e}_{k}" for e in ENDPOINTS for k in ("time", "event")}
    for col in df.columns:
        if col not in allowed:
            problems.append(f"{src}: column {col!r}: unknown column (allowed: {', '.join(sorted(allowed))})")
    for col in ("patient_id", "arm"):
        if col not in df.columns:
            problems.append(f"{src}: column {col!r} is missing")
    endpoints = [e for e in ENDPOINTS if f"{e}_time" in df.columns or f"{e}_event" in df.columns]
    for e in endpoints:
        for k in ("time", "event"):
            if f"{e}_{k}" not in df.columns:
                problems.append(f"{src}: column '{e}_{k}' is missing (endpoint {e} needs time and event)")
    if not endpoints:
        problems.append(f"{src}: no endpoint columns (need e.g. os_time and os_event)")
    if df.height == 0:
        problems.append(f"{src}: no patient rows")
    if problems:
        raise StudyError(manifest.study_id, problems)

    line = np.arange(df.height) + 2
    ids = df["patient_id"].str.strip_chars()
    for i in np.flatnonzero(ids.is_null().to_numpy() | (ids == "").fill_null(True).to_numpy()):
        problems.append(f"{src}, row {line[i]}: patient_id is empty")
    dup = ids.is_duplicated().to_numpy()
    for i in np.flatnonzero(dup)[:20]:
        problems.append(f"{src}, row {line[i]}: patient_id {ids[int(i)]!r} appears more than once")
    arm_ids = {a.arm_id for a in manifest.arms}
    arms = df["arm"].str.strip_chars()
    for i, a in enumerate(arms.to_list()):
        if a not in arm_ids:
            problems.append(
                f"{src}, row {line[i]}: arm {a!r} is not an arm of the manifest ({', '.join(sorted(arm_ids))})"
            )

    def numeric(col: str) -> np.ndarray:
        raw = df[col].str.strip_chars()
        num = raw.cast(pl.Float64, strict=False)
        for i in np.flatnonzero((num.is_null() & raw.is_not_null() & (raw != "")).to_numpy()):
            problems.append(f"{src}, row {line[i]}: {col} {raw[int(i)]!r} is not a number")
        return num.to_numpy().astype(float)

    long_parts = []
    for e in endpoints:
        t, ev = numeric(f"{e}_time"), numeric(f"{e}_event")
        has_t, has_e = np.isfinite(t), np.isfinite(ev)
        for i in np.flatnonzero(has_t != has_e):
            problems.append(f"{src}, row {line[i]}: {e}_time and {e}_event must both be given or both be empty")
        for i in np.flatnonzero(has_t & (t < 0)):
            problems.append(f"{src}, row {line[i]}: {e}_time {t[i]:g} is negative")
        for i in np.flatnonzero(has_e & ~np.isin(ev, (0.0, 1.0))):
            problems.append(f"{src}, row {line[i]}: {e}_event {ev[i]:g} must be 0 (censored) or 1 (event)")
        keep = has_t & has_e
        long_parts.append((e, keep, t, ev))
    cov: dict[str, pl.Series] = {}
    for name, dtype in COVARIATES.items():
        if name not in df.columns:
            cov[name] = pl.Series(name, [None] * df.height, dtype=dtype)
        elif dtype == pl.Float64:
            cov[name] = pl.Series(name, numeric(name))
            cov[name] = cov[name].fill_nan(None)
        else:
            vals = (
                df[name].str.strip_chars().str.to_lowercase()
                if name in _COVARIATE_VALUES
                else df[name].str.strip_chars()
            )
            vals = vals.replace("", None)
            if name in _COVARIATE_VALUES:
                allowed_values = ", ".join(sorted(_COVARIATE_VALUES[name]))
                for i, v in enumerate(vals.to_list()):
                    if v is not None and v not in _COVARIATE_VALUES[name]:
                        problems.append(f"{src}, row {line[i]}: {name} {v!r} must be one of {allowed_values}")
            cov[name] = vals.alias(name)
    if problems:
        raise StudyError(manifest.study_id, problems)
    base = pl.DataFrame({"patient_id": ids, "arm_id": arms, **cov})
    frames = []
    for e, keep, t, ev in long_parts:
        frames.append(
            base.with_columns(
                pl.lit(e).alias("endpoint"), pl.Series("time", t), pl.Series("event", ev).cast(pl.Int8)
            ).filter(pl.Series(keep))
        )
    return pl.concat(frames).select("patient_id", "arm_id", "endpoint", "time", "event", *COVARIATES)


def validate_studies(root: str | Path) -> dict[str, list[str]]:
    """Every problem of every study folder under ``root`` (empty list = valid); ignored folders too."""
    found = discover_studies(root)
    out: dict[str, list[str]] = {name: [f"{Path(root) / name}: {why}"] for name, why in found.ignored}
    for sid in found.study_ids:
        try:
            load_study(Path(root) / sid)
            out[sid] = []
        except StudyError as exc:
            out[sid] = exc.problems
    return out
