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

import csv
import errno
import hashlib
import io
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import numpy as np
import polars as pl

from meta_bm.digitizing import DigitizedCurve, DigitizedFigure, DigitizeError, curve_index, digitize_bytes
from meta_bm.errors import MAX_AGE, MAX_INPUT_BYTES, MAX_KPS, MAX_N, MAX_TIME, InputError
from meta_bm.reconstruction import (
    Clicks,
    RiskTable,
    clicks_from_arrays,
    parse_censor_marks,
    parse_clicks,
    parse_risk_table,
    risk_table_from_arrays,
)
from meta_bm.reconstruction.parsing import decode_text, file_kind, os_reason, read_input_bytes
from meta_bm.studies.manifest import (
    ENDPOINTS,
    MANIFEST_NAME,
    STUDY_ID_PATTERN,
    Adjuvant,
    Curve,
    ResectionExtent,
    StudyError,
    StudyManifest,
    folder_name,
    read_manifest,
    resolve_inside,
    short_repr,
    unexpected,
)

COVARIATES = {
    "age": pl.Float64,
    "sex": pl.String,
    "kps": pl.Float64,
    "primary_histology": pl.String,
    "resection_extent": pl.String,
    "adjuvant": pl.String,
}
# (the manifest's vocabulary: one definition of the allowed values)
_COVARIATE_VALUES = {
    "resection_extent": set(get_args(ResectionExtent)),
    "adjuvant": set(get_args(Adjuvant)),
    "sex": {"f", "m"},
}
_COVARIATE_RANGES = {"age": (0.0, MAX_AGE), "kps": (0.0, MAX_KPS)}
# Rows listed per kind of problem in a patient table (the rest are counted).
ROWS_LISTED = 20


def shown(name: str) -> str:
    """A file or folder name fit for a message: as is when printable, else escaped (``ascii``)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(name)
    return name if name.isprintable() else ascii(name)


@dataclass(frozen=True)
class Discovery:
    """Study folders under a root: valid ids, and entries ignored with the reason."""

    study_ids: list[str]
    ignored: list[tuple[str, str]] = field(default_factory=list)


def discover_studies(root: str | Path) -> Discovery:
    """Study folders under ``root`` (hidden and ``_``-prefixed entries are skipped silently).

    Folders with a name that is not a study id, and entries that are neither folders nor regular
    files (broken or looping symlinks, FIFOs, sockets, devices), are listed in ``ignored`` with the
    reason; regular files are skipped. Never raises.
    """
    try:
        root = Path(root)
        if not root.is_dir():
            return Discovery([])
        entries = sorted(root.iterdir())
    except (OSError, ValueError, TypeError) as exc:
        return Discovery([], [(".", f"cannot list the folder ({os_reason(exc)})")])
    ids, ignored = [], []
    for p in entries:
        name = p.name
        if name.startswith((".", "_")):
            continue
        try:
            is_dir = p.is_dir()
            if not is_dir:
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode):
                    continue
                if stat.S_ISLNK(st.st_mode):
                    try:
                        target = os.stat(p)
                    except OSError as exc:
                        ignored.append((shown(name), f"a symbolic link that cannot be followed ({os_reason(exc)})"))
                        continue
                    if stat.S_ISREG(target.st_mode):
                        continue
                    ignored.append((shown(name), f"a symbolic link to {file_kind(target.st_mode)}, not a study folder"))
                    continue
                ignored.append((shown(name), f"{file_kind(st.st_mode)}, not a study folder"))
                continue
        except (OSError, ValueError) as exc:
            ignored.append((shown(name), f"cannot be read ({os_reason(exc)})"))
            continue
        if STUDY_ID_PATTERN.match(name):
            ids.append(name)
        else:
            ignored.append((shown(name), "folder name must be lowercase letters, digits and underscores"))
    return Discovery(ids, ignored)


# ---- fingerprint -------------------------------------------------------------------------------------


def _content_digest(path: str, size: int, mtime_ns: int) -> bytes:
    """SHA-256 (hex) of a regular file, read without blocking; files above MAX_INPUT_BYTES (which
    loading refuses anyway) by size and modification time, and anything else by its kind."""
    if size > MAX_INPUT_BYTES:
        return f"<large file {size} {mtime_ns}>".encode()
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return f"<unreadable {exc.errno}>".encode()
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # (swapped since it was listed)
            return f"<{file_kind(st.st_mode)}>".encode()
        h = hashlib.sha256()
        left = MAX_INPUT_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(1 << 20, left))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
        return h.hexdigest().encode()
    except OSError as exc:
        return f"<unreadable {exc.errno}>".encode()
    finally:
        os.close(fd)


def _entry_digest(path: str, st: os.stat_result, base: str) -> bytes | None:
    """What one folder entry contributes (None: a directory, walked instead)."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return _content_digest(path, st.st_size, st.st_mtime_ns)
    if stat.S_ISLNK(mode):
        try:
            link = os.readlink(path)
        except OSError as exc:
            return f"<unreadable symlink {exc.errno}>".encode()
        # A symlink to a regular file inside the folder counts as that file's content; any other
        # link (outside, to a folder, a device, /proc, a loop, dangling) as its target text.
        real = os.path.realpath(path)
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            try:
                target = os.stat(real)
            except (OSError, ValueError):
                target = None
            if target is not None and stat.S_ISREG(target.st_mode):
                return _content_digest(real, target.st_size, target.st_mtime_ns)
        return b"<symlink>" + os.fsencode(link)
    return f"<{file_kind(mode)}>".encode()


def folder_fingerprint(folder: str | Path) -> str:
    """SHA-256 over every entry in the folder (names and contents): any edit changes it.

    Regular files count by name and content (symlinks to regular files inside the folder too);
    symlinks going anywhere else by their target text, never followed; FIFOs, sockets and devices
    by their kind, never opened; unreadable entries by their error. Hidden entries are skipped.
    Never raises, never blocks, and reads each regular file once (files above the input limit by
    size and time): cheap enough for a sensor tick over thousands of studies.
    """
    h = hashlib.sha256()
    try:
        folder = Path(folder)
        base = os.path.realpath(folder)
        entries: list[tuple[tuple[str, ...], str, os.stat_result | None, str | None]] = []
        stack: list[tuple[tuple[str, ...], str]] = [((), os.fspath(folder))]
        while stack:
            parts, path = stack.pop()
            try:
                with os.scandir(path) as it:
                    listed = list(it)
            except OSError as exc:
                if parts:
                    entries.append((parts, path, None, f"<unlistable {exc.errno}>"))
                elif exc.errno not in (errno.ENOENT, errno.ENOTDIR):  # (no folder: no entries, as always)
                    h.update(f"<unlistable folder {exc.errno}>".encode())
                continue
            for e in listed:
                if e.name.startswith("."):
                    continue
                sub = (*parts, e.name)
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError as exc:
                    entries.append((sub, e.path, None, f"<unreadable {exc.errno}>"))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append((sub, e.path))
                else:
                    entries.append((sub, e.path, st, None))
        for parts, path, st, error in sorted(entries, key=lambda x: x[0]):
            digest = error.encode() if st is None or error else _entry_digest(path, st, base)
            if digest is not None:
                h.update("/".join(parts).encode("utf-8", "surrogateescape") + b"\0" + digest)
    except Exception as exc:  # (an unforeseen failure still gives a hash, one that changes with it)
        h.update(f"<error {type(exc).__name__}: {exc}>".encode("utf-8", "backslashreplace"))
    return h.hexdigest()


# ---- loading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """One input file with its content hash (provenance of every row derived from it)."""

    role: str
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FigureCurve:
    """Where a curve read from a figure came from: the figure, its file's SHA-256, the curve extracted."""

    figure_id: str
    file: str
    page: int | None
    sha256: str
    curve: DigitizedCurve


@dataclass(frozen=True)
class LoadedCurve:
    """One curve of a study, parsed: clicks (a digitizer's export, or the corners extracted from a
    figure), the risk table (typed, or read from the figure), censoring-mark times when known, and the
    SHA-256 of every file they came from."""

    spec: Curve
    clicks: Clicks
    risk_table: RiskTable | None
    clicks_sha256: str | None
    risk_table_sha256: str | None
    censor_times: np.ndarray | None = None
    censor_marks_sha256: str | None = None
    figure: FigureCurve | None = None
    marks_exact: bool = False  # (the marks were read from a vector PDF: exact times, not pixel readings)

    @property
    def source_file(self) -> str:
        """The file the curve's points came from: the clicks file, or the figure."""
        return self.figure.file if self.figure is not None else str(self.spec.clicks)

    @property
    def source_sha256(self) -> str:
        """SHA-256 of :attr:`source_file` (the provenance of every patient row of the curve)."""
        sha = self.figure.sha256 if self.figure is not None else self.clicks_sha256
        assert sha is not None
        return sha


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
    figures: dict[str, DigitizedFigure] = field(default_factory=dict)


def load_study(folder: str | Path) -> LoadedStudy:
    """Load and validate one study folder; raise :class:`StudyError` listing every problem.

    Nothing but :class:`StudyError` escapes, whatever the folder holds: every problem names a
    file in the folder (an unforeseen failure as ``"<file>: unexpected error while reading: ..."``).
    """
    where: list[object] = [Path(str(folder)) / MANIFEST_NAME if isinstance(folder, (str, Path)) else folder]
    try:
        study = folder_name(folder)
    except Exception:
        study = str(folder)
    try:
        return _load_study(Path(folder), where)
    except StudyError:
        raise
    except Exception as exc:
        raise StudyError(study, [unexpected(where[0], exc)]) from exc
    except BaseException as exc:  # (a panic in a native library)
        if not isinstance(exc, pl.exceptions.PanicException):
            raise
        raise StudyError(study, [unexpected(where[0], exc)]) from exc


def _load_study(folder: Path, where: list[object]) -> LoadedStudy:
    manifest, manifest_bytes = read_manifest(folder)
    manifest_path = folder / MANIFEST_NAME
    problems: list[str] = []
    files = [SourceFile("manifest", MANIFEST_NAME, hashlib.sha256(manifest_bytes).hexdigest(), len(manifest_bytes))]
    hashes: dict[str, str] = {}
    texts: dict[str, str] = {}
    raws: dict[str, bytes] = {}
    for role, name in manifest.files():
        where[0] = folder / name
        if name not in raws:
            try:
                path = resolve_inside(folder, name, str(manifest_path))
                raws[name] = read_input_bytes(path, str(folder / name))
            except InputError as exc:
                if exc.problem == "file not found":
                    problems.append(f"{manifest_path}: {role.replace(':', ' of curve ')}: file {name!r} not found")
                else:
                    problems.append(str(exc))
                continue
            hashes[name] = hashlib.sha256(raws[name]).hexdigest()
        files.append(SourceFile(role, name, hashes[name], len(raws[name])))
    figures = _digitize_figures(folder, manifest, raws, problems)
    curves: list[LoadedCurve] = []
    for c in manifest.curves:
        named = [c.clicks, c.risk_table, c.censor_marks, manifest.figure(c.figure).file if c.figure else None]
        if any(name is not None and name not in hashes for name in named):
            continue
        if c.figure is not None and c.figure not in figures:
            continue  # (the figure's problem is reported)
        try:
            figure, clicks, table = None, None, None
            if c.figure is not None:
                figure = _figure_curve(folder, manifest, c, figures[c.figure], hashes)
                clicks, table = _from_figure(folder, c, figure)
            else:
                assert c.clicks is not None
                where[0] = folder / c.clicks
                clicks = parse_clicks(_text(texts, raws, folder, c.clicks), str(folder / c.clicks), c.y_scale)
            if c.risk_table:  # (a typed table wins over one read from a figure)
                where[0] = folder / c.risk_table
                table = parse_risk_table(_text(texts, raws, folder, c.risk_table), str(folder / c.risk_table))
            marks = figure.curve.censor_times if figure is not None else None
            if c.censor_marks:
                where[0] = folder / c.censor_marks
                text = _text(texts, raws, folder, c.censor_marks)
                marks = parse_censor_marks(text, str(folder / c.censor_marks)).time
        except InputError as exc:
            problems.append(str(exc))
            continue
        if table is None and c.total_n is None:
            problems.append(
                f"{manifest_path}: curves[{c.curve_id}].total_n: required, as no numbers at risk were read from "
                f"figure {c.figure!r} and no risk_table is given"
            )
            continue
        if table is not None and c.total_n is not None and c.total_n < int(table.n_risk[0]):
            problems.append(
                f"{manifest_path}: curves[{c.curve_id}].total_n: {c.total_n} is smaller than the first "
                f"number at risk {int(table.n_risk[0])} in {c.risk_table or table.source}"
            )
            continue
        curves.append(
            LoadedCurve(
                c,
                clicks,
                table,
                hashes[c.clicks] if c.clicks else None,
                hashes.get(c.risk_table or ""),
                censor_times=marks,
                censor_marks_sha256=hashes.get(c.censor_marks or ""),
                figure=figure,
                marks_exact=figure is not None and not c.censor_marks and figures[str(c.figure)].kind == "vector",
            )
        )
    patients = None
    if manifest.patients and manifest.patients.file in hashes:
        name = manifest.patients.file
        where[0] = folder / name
        try:
            patients = read_patients(folder / name, manifest, raws[name])
        except StudyError as exc:
            problems.extend(exc.problems)
    if problems:
        raise StudyError(manifest.study_id, problems)
    where[0] = folder
    return LoadedStudy(
        study_id=manifest.study_id,
        folder=folder,
        manifest=manifest,
        files=files,
        curves=curves,
        patients=patients,
        patients_sha256=hashes.get(manifest.patients.file) if manifest.patients else None,
        fingerprint=folder_fingerprint(folder),
        figures=figures,
    )


def _digitize_figures(
    folder: Path, manifest: StudyManifest, raws: dict[str, bytes], problems: list[str]
) -> dict[str, DigitizedFigure]:
    """Every figure of the manifest digitized (:func:`meta_bm.digitizing.digitize_bytes`); a figure that
    cannot be read adds its problem (file, page, what was not found) and is left out."""
    out: dict[str, DigitizedFigure] = {}
    for f in manifest.figures:
        if f.file not in raws:
            continue  # (its reading problem is reported)
        source = str(folder / f.file)
        try:
            out[f.figure_id] = digitize_bytes(
                raws[f.file],
                source,
                page=f.page,
                crop=tuple(f.crop) if f.crop else None,  # type: ignore[arg-type]
                x_range=tuple(f.x_range) if f.x_range else None,  # type: ignore[arg-type]
                y_range=tuple(f.y_range) if f.y_range else None,  # type: ignore[arg-type]
                y_scale=f.y_scale,
                n_curves=f.curves,
            )
        except InputError as exc:
            problems.append(f"{exc} (figures[{f.figure_id}])")
        except Exception as exc:  # a bug in the extraction stops at this figure, located
            problems.append(unexpected(f"{source} (figures[{f.figure_id}])", exc))
    return out


def _figure_curve(
    folder: Path, manifest: StudyManifest, c: Curve, fig: DigitizedFigure, hashes: dict[str, str]
) -> FigureCurve:
    """The curve of ``fig`` that curve ``c`` names: by legend label (default: the arm's label) or rank."""
    spec = manifest.figure(str(c.figure))
    source = str(folder / spec.file)
    wanted = c.figure_curve if c.figure_curve is not None else manifest.arm(c.arm).label
    if isinstance(wanted, int):
        if wanted > len(fig.curves):
            raise DigitizeError(
                f"curves[{c.curve_id}].figure_curve: rank {wanted}, but {len(fig.curves)} curve(s) were found",
                source,
                fig.page,
            )
        chosen = fig.curves[wanted - 1]
    else:
        try:
            chosen = fig.curves[curve_index(fig, wanted)]
        except DigitizeError as exc:
            how = "figure_curve" if c.figure_curve is not None else "the arm's label (set figure_curve)"
            raise DigitizeError(f"curves[{c.curve_id}], by {how}: {exc.problem}", source, fig.page) from None
    return FigureCurve(spec.figure_id, spec.file, fig.page, hashes[spec.file], chosen)


def _from_figure(folder: Path, c: Curve, figure: FigureCurve) -> tuple[Clicks, RiskTable | None]:
    """The extracted corners as clicks (probability scale) and the numbers at risk read, if any."""
    page = f", page {figure.page}" if figure.page else ""
    source = f"{folder / figure.file}{page}, curve {figure.curve.label or c.curve_id!r}"
    d = figure.curve
    clicks = clicks_from_arrays(d.time, d.survival, source, "probability")
    table = None
    if d.risk_time is not None and d.n_risk is not None:
        table = risk_table_from_arrays(d.risk_time, d.n_risk, source + " (numbers at risk)")
    return clicks, table


def _text(texts: dict[str, str], raws: dict[str, bytes], folder: Path, name: str) -> str:
    if name not in texts:
        texts[name] = decode_text(raws[name], str(folder / name))
    return texts[name]


def _listed(problems: list[str], rows: Iterable[int], message: Callable[[int], str], what: str) -> None:
    """One problem per row, the first ROWS_LISTED of them, then how many more."""
    rows = list(rows)
    problems.extend(message(i) for i in rows[:ROWS_LISTED])
    if len(rows) > ROWS_LISTED:
        problems.append(f"{what}: {len(rows) - ROWS_LISTED} more row(s) with the same problem")


def _header_problems(text: str, src: str) -> list[str]:
    """Columns that are the same once case and surrounding spaces are ignored (``os_time,OS_TIME``)."""
    first = text.split("\n", 1)[0]
    try:
        cells = next(csv.reader([first]), [])
    except csv.Error:
        return []
    seen: dict[str, str] = {}
    out = []
    for c in cells:
        key = c.strip().lower()
        if key in seen:
            out.append(
                f"{src}, row 1: columns {short_repr(seen[key])} and {short_repr(c)} are the same column "
                "(names are compared without case and surrounding spaces)"
            )
        else:
            seen[key] = c
    return out


def read_patients(path: Path, manifest: StudyManifest, raw: bytes | None = None) -> pl.DataFrame:
    """Read and validate an institutional patient table; return it in long form.

    Columns: ``patient_id``, ``arm`` (an arm_id of the manifest), per endpoint ``<endpoint>_time``
    (>= 0, in the manifest's ``patients.time_unit``) and ``<endpoint>_event`` (0/1), both or
    neither; optional covariates ``age, sex, kps, primary_histology, resection_extent, adjuvant``.
    Returns one row per patient and endpoint with a non-missing time: ``patient_id, arm_id,
    endpoint, time, event`` plus the covariates. Row numbers in errors are file lines (header = 1).
    ``raw``: the file's bytes when already read.
    """
    src = str(path)
    try:
        text = decode_text(read_input_bytes(path, src) if raw is None else raw, src)
    except InputError as exc:
        raise StudyError(manifest.study_id, [str(exc)]) from None
    problems = _header_problems(text, src)
    if problems:
        raise StudyError(manifest.study_id, problems)
    try:
        df = pl.read_csv(io.BytesIO(text.encode("utf-8")), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise StudyError(manifest.study_id, [f"{src}: cannot read as CSV ({reason})"]) from None
    df = df.rename({c: c.strip().lower() for c in df.columns})
    allowed = {"patient_id", "arm"} | set(COVARIATES) | {f"{e}_{k}" for e in ENDPOINTS for k in ("time", "event")}
    for col in df.columns:
        if col not in allowed:
            problems.append(f"{src}: column {short_repr(col)}: unknown column (allowed: {', '.join(sorted(allowed))})")
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
    if df.height > MAX_N:
        problems.append(f"{src}: {df.height:,} patient rows, above the limit of {MAX_N:,}")
    if problems:
        raise StudyError(manifest.study_id, problems)

    line = np.arange(df.height) + 2
    ids = df["patient_id"].str.strip_chars()
    _listed(
        problems,
        np.flatnonzero(ids.is_null().to_numpy() | (ids == "").fill_null(True).to_numpy()),
        lambda i: f"{src}, row {line[i]}: patient_id is empty",
        f"{src}: patient_id",
    )
    _listed(
        problems,
        np.flatnonzero(ids.str.contains(r"[\x00-\x1f\x7f]").fill_null(False).to_numpy()),
        lambda i: f"{src}, row {line[i]}: patient_id {short_repr(ids[int(i)])} contains a control character",
        f"{src}: patient_id",
    )
    _listed(
        problems,
        np.flatnonzero(ids.is_duplicated().to_numpy()),
        lambda i: f"{src}, row {line[i]}: patient_id {short_repr(ids[int(i)])} appears more than once",
        f"{src}: patient_id",
    )
    arm_ids = {a.arm_id for a in manifest.arms}
    arms = df["arm"].str.strip_chars()
    arm_list = arms.to_list()
    _listed(
        problems,
        [i for i, a in enumerate(arm_list) if a not in arm_ids],
        lambda i: (
            f"{src}, row {line[i]}: arm {short_repr(arm_list[i])} is not an arm of the manifest "
            f"({', '.join(sorted(arm_ids))})"
        ),
        f"{src}: arm",
    )

    def numeric(col: str, low: float, high: float) -> np.ndarray:
        """The column as floats (NaN where empty); non-numbers and values outside low..high are problems."""
        raw_col = df[col].str.strip_chars()
        num = raw_col.cast(pl.Float64, strict=False)
        given = (raw_col.is_not_null() & (raw_col != "")).fill_null(False).to_numpy()
        values = num.to_numpy().astype(float)
        bad = given & ~np.isfinite(values)
        _listed(
            problems,
            np.flatnonzero(bad),
            lambda i: f"{src}, row {line[i]}: {col} {short_repr(raw_col[int(i)])} is not a number",
            f"{src}: {col}",
        )
        values[bad] = np.nan
        with np.errstate(invalid="ignore"):
            out_of_range = np.isfinite(values) & ((values < low) | (values > high))
        if low == 0.0 and col.endswith("_time"):
            _listed(
                problems,
                np.flatnonzero(np.isfinite(values) & (values < 0)),
                lambda i: f"{src}, row {line[i]}: {col} {values[i]:g} is negative",
                f"{src}: {col}",
            )
            out_of_range &= values >= 0
        _listed(
            problems,
            np.flatnonzero(out_of_range),
            lambda i: f"{src}, row {line[i]}: {col} {values[i]:g} is outside {low:g}..{high:g}",
            f"{src}: {col}",
        )
        return values

    long_parts = []
    for e in endpoints:
        t = numeric(f"{e}_time", 0.0, MAX_TIME)
        ev = numeric(f"{e}_event", -np.inf, np.inf)
        has_t, has_e = np.isfinite(t), np.isfinite(ev)
        _listed(
            problems,
            np.flatnonzero(has_t != has_e),
            lambda i, e=e: f"{src}, row {line[i]}: {e}_time and {e}_event must both be given or both be empty",
            f"{src}: {e}",
        )
        _listed(
            problems,
            np.flatnonzero(has_e & ~np.isin(ev, (0.0, 1.0))),
            lambda i, e=e, ev=ev: f"{src}, row {line[i]}: {e}_event {ev[i]:g} must be 0 (censored) or 1 (event)",
            f"{src}: {e}_event",
        )
        keep = has_t & has_e
        long_parts.append((e, keep, t, ev))
    cov: dict[str, pl.Series] = {}
    for name, dtype in COVARIATES.items():
        if name not in df.columns:
            cov[name] = pl.Series(name, [None] * df.height, dtype=dtype)
        elif dtype == pl.Float64:
            low, high = _COVARIATE_RANGES.get(name, (-np.inf, np.inf))
            cov[name] = pl.Series(name, numeric(name, low, high))
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
                val_list = vals.to_list()
                _listed(
                    problems,
                    [i for i, v in enumerate(val_list) if v is not None and v not in _COVARIATE_VALUES[name]],
                    lambda i, name=name, val_list=val_list, allowed_values=allowed_values: (
                        f"{src}, row {line[i]}: {name} {short_repr(val_list[i])} must be one of {allowed_values}"
                    ),
                    f"{src}: {name}",
                )
            cov[name] = vals.alias(name)
    if problems:
        raise StudyError(manifest.study_id, problems)
    base = pl.DataFrame({"patient_id": ids, "arm_id": arms, **cov})
    frames = []
    for e, keep, t, ev in long_parts:
        # (only rows with both fields: a patient without this endpoint has NaN, which no Int8 holds)
        frames.append(
            base.filter(pl.Series(keep)).with_columns(
                pl.lit(e).alias("endpoint"), pl.Series("time", t[keep]), pl.Series("event", ev[keep]).cast(pl.Int8)
            )
        )
    return pl.concat(frames).select("patient_id", "arm_id", "endpoint", "time", "event", *COVARIATES)


def validate_studies(root: str | Path) -> dict[str, list[str]]:
    """Every problem of every study folder under ``root`` (empty list = valid); ignored entries
    (bad folder names, broken symlinks, special files) too. Never raises."""
    found = discover_studies(root)
    out: dict[str, list[str]] = {name: [f"{Path(root) / name}: {why}"] for name, why in found.ignored}
    for sid in found.study_ids:
        try:
            load_study(Path(root) / sid)
            out[sid] = []
        except StudyError as exc:
            out[sid] = exc.problems
    return out
