"""The study manifest (``data/studies/<study_id>/study.yaml``): schema and validation.

One folder per study holds ``study.yaml`` and the files it names (digitized clicks, risk tables,
an institutional patient table). The schema is strict: unknown keys, unknown modalities, duplicate
ids, dangling references and unsafe file names are errors. Validation collects every problem at
once, each naming the file and the key (``arms[1].modality``), so a user fixes a manifest in one go.

Example
-------
>>> m = parse_manifest('''
... study_id: smith_2019
... citation: Smith J et al. Salvage surgery. J Neurooncol 2019
... year: 2019
... source: literature
... synthetic: true
... arms: [{arm_id: rr, label: Re-resection, modality: re_resection}]
... curves: [{curve_id: os_rr, arm: rr, endpoint: os, time_unit: months, clicks: os_rr.csv, total_n: 40}]
... ''', source="smith_2019/study.yaml")
>>> m.curves[0].endpoint, m.arm("rr").modality
('os', 're_resection')
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meta_bm.digitizing import MAX_CURVES, MAX_PAGE
from meta_bm.errors import (
    MAX_ID_CHARS,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_DEPTH,
    MAX_MANIFEST_NODES,
    MAX_N,
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    MAX_TIME,
    InputError,
)
from meta_bm.reconstruction.parsing import decode_text, os_reason, read_input_bytes

MANIFEST_NAME = "study.yaml"
# \Z, not $: "$" also matches before a trailing newline ("evil\n" would pass).
STUDY_ID_PATTERN = re.compile(r"^[a-z0-9_]+\Z")
# (checked by pydantic's Rust regex engine, where "$" is the end of the text)
ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
# Control characters (C0 but tab and newline, DEL, C1): never in a manifest's text; in a file name
# not even tab or newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Modality = Literal["re_resection", "re_srs", "non_surgical", "wbrt", "systemic", "litt", "other"]
Endpoint = Literal["os", "pfs", "local_pfs"]
TimeUnit = Literal["days", "weeks", "months", "years"]
ResectionExtent = Literal["gtr", "str"]
Adjuvant = Literal["re_srs", "re_rt", "none"]
ENDPOINTS: tuple[str, ...] = get_args(Endpoint)

# Months per unit: a month is 365.25 / 12 days, the convention of survival papers reporting months.
MONTHS_PER_UNIT = {"days": 12 / 365.25, "weeks": 7 * 12 / 365.25, "months": 1.0, "years": 12.0}


class StudyError(ValueError):
    """A study folder that cannot be used, with every problem found (each ``"file: key: problem"``)."""

    def __init__(self, study: str, problems: list[str]) -> None:
        self.study = study
        self.problems = problems
        super().__init__(f"study {study!r} rejected:\n  - " + "\n  - ".join(problems))


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a message never echoes a megabyte)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unexpected(where: object, exc: BaseException) -> str:
    """The last-resort problem text for an exception no check foresaw."""
    return f"{where}: unexpected error while reading: {type(exc).__name__}: {str(exc)[:300]}"


def folder_name(folder: str | Path) -> str:
    """The study folder's own name, also for ``.`` or ``sub/..`` (lexically: symlinks are not followed)."""
    return Path(os.path.abspath(folder)).name


class _Strict(BaseModel):
    # strict: no string or boolean for a number, no number for a string or boolean
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, v: object) -> object:
        if isinstance(v, str) and _CONTROL.search(v):
            raise ValueError(f"{short_repr(v)} contains a control character")
        return v


def _safe_relative(name: str) -> str:
    """A file name inside the study folder: relative, no ``..``, no drive or backslash tricks, no
    control characters, and short enough for the OS."""
    if not name:
        raise ValueError("file name is empty")
    if _CONTROL_IN_NAME.search(name):
        raise ValueError(f"{short_repr(name)} contains a control character")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{short_repr(name)} is not valid Unicode text") from None
    if "\\" in name or PureWindowsPath(name).drive or PurePosixPath(name).is_absolute():
        raise ValueError(f"{name!r} must be a relative path inside the study folder")
    if any(part in ("..", "") for part in PurePosixPath(name).parts) or name.startswith("~"):
        raise ValueError(f"{name!r} must not contain '..' or leave the study folder")
    if len(encoded) > MAX_PATH_BYTES:
        raise ValueError(f"{short_repr(name)} is {len(encoded)} bytes long, above the limit of {MAX_PATH_BYTES}")
    for part in PurePosixPath(name).parts:
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(
                f"{short_repr(name)}: a name of {len(part.encode('utf-8'))} bytes, above the limit of {MAX_NAME_BYTES}"
            )
    return name


class Estimate(_Strict):
    """A published point estimate with its confidence interval (same unit as the curve)."""

    value: float = Field(gt=0, le=MAX_TIME, allow_inf_nan=False)
    lower: float | None = Field(default=None, gt=0, le=MAX_TIME, allow_inf_nan=False)
    upper: float | None = Field(default=None, gt=0, le=MAX_TIME, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Estimate:
        if self.lower is not None and self.lower > self.value:
            raise ValueError(f"lower {self.lower} is above the estimate {self.value}")
        if self.upper is not None and self.upper < self.value:
            raise ValueError(f"upper {self.upper} is below the estimate {self.value}")
        return self


class HazardRatio(Estimate):
    """A published hazard ratio of this curve's arm against ``reference_arm``."""

    reference_arm: str


class Published(_Strict):
    """Figures the paper reports for the curve, compared with the reconstruction."""

    median: Estimate | None = None
    hr: HazardRatio | None = None
    events: int | None = Field(default=None, ge=0, le=MAX_N)


class Arm(_Strict):
    """A treatment arm, harmonized to the controlled vocabulary."""

    arm_id: str = Field(pattern=ID_PATTERN, max_length=MAX_ID_CHARS)
    label: str
    modality: Modality
    resection_extent: ResectionExtent | None = None
    adjuvant: Adjuvant | None = None


class Figure(_Strict):
    """A published figure (PDF page, PNG or JPEG) whose curves are extracted by :mod:`meta_bm.digitizing`.

    ``crop`` is ``[x0, y0, x1, y1]``: PDF points from the bottom left, or image pixels from the top
    left. ``x_range``/``y_range`` are the values of the outermost labelled ticks, needed for images
    (a PDF's tick labels are read); ``y_scale`` overrides how the survival axis is read; ``curves``
    is how many curves the figure has (helps reading an image).
    """

    figure_id: str = Field(pattern=ID_PATTERN, max_length=MAX_ID_CHARS)
    file: str
    page: int | None = Field(default=None, ge=1, le=MAX_PAGE)
    crop: list[float] | None = Field(default=None, min_length=4, max_length=4)
    x_range: list[float] | None = Field(default=None, min_length=2, max_length=2)
    y_range: list[float] | None = Field(default=None, min_length=2, max_length=2)
    y_scale: Literal["probability", "percent"] | None = None
    curves: int | None = Field(default=None, ge=1, le=MAX_CURVES)

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _safe_relative(v)

    @field_validator("crop", "x_range", "y_range")
    @classmethod
    def _bounded(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        if not all(math.isfinite(x) and abs(x) <= MAX_TIME for x in v):
            raise ValueError(f"{v}: every value must be finite and within ±{MAX_TIME:g}")
        half = len(v) // 2
        if any(v[i] >= v[i + half] for i in range(half)):
            raise ValueError(f"{v}: each upper value must exceed its lower value")
        return v


class Curve(_Strict):
    """One Kaplan–Meier curve (one arm, one endpoint): digitized clicks, or a curve of a figure.

    Exactly one of ``clicks`` (a digitizer's export) and ``figure`` (a ``figure_id`` of the manifest's
    ``figures``) is given. ``figure_curve`` names the curve in the figure: its legend label (by
    default the arm's label), or, for a figure without a legend, its 1-based rank from the highest
    curve at the end of follow-up down. A typed ``risk_table`` overrides the one read from a figure;
    ``censor_marks`` (a ``time`` column) gives the censoring marks of hand-made clicks.
    """

    curve_id: str = Field(pattern=ID_PATTERN, max_length=MAX_ID_CHARS)
    arm: str
    endpoint: Endpoint
    time_unit: TimeUnit
    clicks: str | None = None
    figure: str | None = None
    figure_curve: str | int | None = None
    y_scale: Literal["auto", "probability", "percent"] = "auto"
    risk_table: str | None = None
    censor_marks: str | None = None
    total_n: int | None = Field(default=None, gt=0, le=MAX_N)
    total_events: int | None = Field(default=None, ge=0, le=MAX_N)
    published: Published | None = None

    @field_validator("clicks", "risk_table", "censor_marks")
    @classmethod
    def _files(cls, v: str | None) -> str | None:
        return v if v is None else _safe_relative(v)

    @field_validator("figure_curve")
    @classmethod
    def _rank(cls, v: str | int | None) -> str | int | None:
        if isinstance(v, int) and not 1 <= v <= MAX_CURVES:
            raise ValueError(f"{v}: a curve's rank in its figure is 1 to {MAX_CURVES}")
        if isinstance(v, str) and not v:
            raise ValueError("empty label")
        return v

    @model_validator(mode="after")
    def _n_known(self) -> Curve:
        if (self.clicks is None) == (self.figure is None):
            raise ValueError("give either clicks (a digitizer's export) or figure (a figure_id of figures), not both")
        if self.figure is None and self.figure_curve is not None:
            raise ValueError("figure_curve is for curves read from a figure")
        if self.figure is not None and self.y_scale != "auto":
            raise ValueError("y_scale belongs to the figure (figures[].y_scale) for a curve read from a figure")
        if self.risk_table is None and self.total_n is None and self.figure is None:
            raise ValueError("total_n is required when the curve has no risk_table")
        if self.total_n is not None and self.total_events is not None and self.total_events > self.total_n:
            raise ValueError(f"total_events {self.total_events} exceeds total_n {self.total_n}")
        return self


class Patients(_Strict):
    """The institutional patient table: ``patient_id, arm, <endpoint>_time, <endpoint>_event, covariates``."""

    file: str
    time_unit: TimeUnit = "months"

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _safe_relative(v)


class StudyManifest(_Strict):
    """The whole ``study.yaml``."""

    study_id: str
    citation: str
    year: int = Field(ge=1900, le=2100)
    doi: str | None = None
    source: Literal["literature", "institutional"]
    synthetic: bool
    notes: str | None = None
    arms: list[Arm] = Field(min_length=1)
    figures: list[Figure] = Field(default_factory=list)
    curves: list[Curve] = Field(default_factory=list)
    patients: Patients | None = None

    @field_validator("study_id", mode="before")
    @classmethod
    def _study_id(cls, v: object) -> object:
        # (before whitespace is stripped: "evil\n" is not an id)
        if not isinstance(v, str):
            return v  # (the type check reports it)
        if not STUDY_ID_PATTERN.match(v):
            raise ValueError(f"{short_repr(v)} must be lowercase letters, digits and underscores")
        if len(v) > MAX_ID_CHARS:
            raise ValueError(f"{len(v)} characters, above the limit of {MAX_ID_CHARS}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> StudyManifest:
        problems = []
        ids_of = {
            "arm_id": [a.arm_id for a in self.arms],
            "curve_id": [c.curve_id for c in self.curves],
            "figure_id": [f.figure_id for f in self.figures],
        }
        for kind, ids in ids_of.items():
            dup = sorted(i for i, k in Counter(ids).items() if k > 1)
            if dup:
                problems.append(f"duplicate {kind}: {', '.join(dup)}")
        arm_ids = {a.arm_id for a in self.arms}
        for i, c in enumerate(self.curves):
            if c.arm not in arm_ids:
                problems.append(f"curves[{i}].arm: unknown arm {c.arm!r} (arms: {', '.join(sorted(arm_ids))})")
            if c.figure is not None and c.figure not in ids_of["figure_id"]:
                known = ", ".join(ids_of["figure_id"]) or "none"
                problems.append(f"curves[{i}].figure: unknown figure {c.figure!r} (figures: {known})")
            if c.published and c.published.hr and c.published.hr.reference_arm not in arm_ids:
                problems.append(f"curves[{i}].published.hr.reference_arm: unknown arm {c.published.hr.reference_arm!r}")
        used = {c.figure for c in self.curves}
        for i, f in enumerate(self.figures):
            if f.figure_id not in used:
                problems.append(f"figures[{i}]: figure {f.figure_id!r} is named by no curve")
        if self.source == "literature":
            if not self.curves:
                problems.append("curves: a literature study needs at least one digitized curve")
            if self.patients is not None:
                problems.append("patients: only institutional studies have a patient table")
        elif self.patients is None:
            problems.append("patients: an institutional study needs a patient table")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def arm(self, arm_id: str) -> Arm:
        return next(a for a in self.arms if a.arm_id == arm_id)

    def figure(self, figure_id: str) -> Figure:
        return next(f for f in self.figures if f.figure_id == figure_id)

    def files(self) -> list[tuple[str, str]]:
        """Every file the manifest names, as ``(role, name)``."""
        out = [(f"figure:{f.figure_id}", f.file) for f in self.figures]
        for c in self.curves:
            if c.clicks:
                out.append((f"clicks:{c.curve_id}", c.clicks))
            if c.risk_table:
                out.append((f"risk_table:{c.curve_id}", c.risk_table))
            if c.censor_marks:
                out.append((f"censor_marks:{c.curve_id}", c.censor_marks))
        if self.patients:
            out.append(("patients", self.patients.file))
        return out


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-after", "literal_error")):
            out += ("." if out else "") + part
    return out


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping of the manifest (YAML would silently keep the last)."""


class _ManifestLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and locates every value it cannot construct."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # (merge keys may override; unhashable keys are refused by the base class)
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue
                if first is not None:
                    raise _DuplicateKey(
                        None, None, f"duplicate key {short_repr(key)} (first at row {first})", key_node.start_mark
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node, deep=False):  # type: ignore[override]
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:  # e.g. "!!int x": ValueError from int()
            value = short_repr(node.value) if isinstance(node, yaml.ScalarNode) else "a collection"
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"cannot read {value} as {node.tag.replace('tag:yaml.org,2002:', '!!')} ({type(exc).__name__}: {exc})",
                node.start_mark,
            ) from None


class _ShapeError(Exception):
    pass


class _TooDeep(Exception):
    def __init__(self, row: int) -> None:
        self.row = row


_OPEN_TOKENS = (
    yaml.FlowSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.BlockMappingStartToken,
)
_CLOSE_TOKENS = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)


def _check_token_depth(text: str) -> None:
    """Raise :class:`_TooDeep` when collections nest deeper than MAX_MANIFEST_DEPTH, from the
    tokens (the scanner is iterative; the composer would recurse, slowly, into a RecursionError).
    Every opening token is one collection, so this never counts more levels than the document has."""
    depth = 0
    for token in yaml.scan(text, Loader=_ManifestLoader):
        if isinstance(token, _OPEN_TOKENS):
            depth += 1
            if depth > MAX_MANIFEST_DEPTH:
                raise _TooDeep(token.start_mark.line + 1)
        elif isinstance(token, _CLOSE_TOKENS):
            depth -= 1


def _shape_problem(raw: object) -> str | None:
    """What makes the loaded YAML too big or odd to validate: nesting, size with aliases expanded,
    an alias that contains itself. Each shared node is measured once."""
    measured: dict[int, tuple[int, int]] = {}  # id -> (values with aliases expanded, height)
    open_nodes: set[int] = set()

    def walk(node: object, depth: int) -> tuple[int, int]:
        if isinstance(node, dict):
            children: list = [*node.keys(), *node.values()]
        elif isinstance(node, (list, tuple, set, frozenset)):
            children = list(node)
        else:
            return 1, 0
        key = id(node)
        if key in open_nodes:
            raise _ShapeError("a YAML alias refers to a collection that contains it (a recursive structure)")
        if key not in measured:
            if depth >= MAX_MANIFEST_DEPTH:
                raise _ShapeError(f"nested more than {MAX_MANIFEST_DEPTH} levels deep")
            open_nodes.add(key)
            size, height = 1, 0
            for child in children:
                n, h = walk(child, depth + 1)
                size, height = size + n, max(height, h + 1)
                if size > MAX_MANIFEST_NODES:
                    raise _ShapeError(
                        f"more than {MAX_MANIFEST_NODES:,} values once YAML aliases are expanded (an alias bomb?)"
                    )
            open_nodes.discard(key)
            measured[key] = (size, height)
        size, height = measured[key]
        if depth + height > MAX_MANIFEST_DEPTH:
            raise _ShapeError(f"nested more than {MAX_MANIFEST_DEPTH} levels deep")
        return size, height

    try:
        walk(raw, 0)
    except _ShapeError as exc:
        return str(exc)
    return None


def parse_manifest(text: str, source: str = MANIFEST_NAME, folder_name: str | None = None) -> StudyManifest:
    """Parse and validate manifest text (YAML loaded with ``safe_load``); raise :class:`StudyError`.

    ``folder_name``, when given, must equal ``study_id``. Duplicate keys, values YAML cannot
    construct (``!!int x``), nesting beyond :data:`~meta_bm.errors.MAX_MANIFEST_DEPTH` and alias
    bombs are reported with the row where YAML locates them; nothing but :class:`StudyError` escapes.
    """
    study = folder_name or "<unknown>"
    try:
        return _parse_manifest(text, source, folder_name, study)
    except StudyError:
        raise
    except Exception as exc:
        raise StudyError(study, [unexpected(source, exc)]) from exc


def _parse_manifest(text: str, source: str, folder_name: str | None, study: str) -> StudyManifest:
    if not isinstance(text, str):
        raise StudyError(study, [f"{source}: expected the manifest's text, got {type(text).__name__}"])
    if len(text) > MAX_MANIFEST_BYTES:
        raise StudyError(study, [f"{source}: {len(text):,} characters, above the limit of {MAX_MANIFEST_BYTES:,}"])
    try:
        _check_token_depth(text)  # (before the recursive composer meets a deep nesting)
        raw = yaml.load(text, Loader=_ManifestLoader)  # (a SafeLoader subclass)
    except _DuplicateKey as exc:
        mark = exc.problem_mark
        row = f", row {mark.line + 1}" if mark is not None else ""
        raise StudyError(study, [f"{source}{row}: {exc.problem}; a key may be given once"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = f", row {mark.line + 1}" if mark is not None else ""
        raise StudyError(study, [f"{source}{row}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    except _TooDeep as exc:
        raise StudyError(
            study, [f"{source}, row {exc.row}: nested more than {MAX_MANIFEST_DEPTH} levels deep"]
        ) from None
    except RecursionError:
        raise StudyError(study, [f"{source}: not valid YAML (nested too deeply to read)"]) from None
    shape = _shape_problem(raw)
    if shape is not None:
        raise StudyError(study, [f"{source}: {shape}"])
    if not isinstance(raw, dict):
        raise StudyError(study, [f"{source}: expected a mapping of keys (study_id, citation, ...)"])
    problems = []
    if folder_name is not None and raw.get("study_id") != folder_name:
        given = short_repr(raw.get("study_id"))
        problems.append(f"{source}: study_id: {given} must equal the folder name {short_repr(folder_name)}")
    try:
        manifest = StudyManifest.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            key = _loc(err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif err["type"] in ("int_type", "bool_type", "float_type", "string_type") and "input" in err:
                msg += f", not {type(err['input']).__name__} {short_repr(err['input'])}"
            elif err["type"] == "less_than_equal":
                msg += " (the plausibility limit)"
            problems.append(f"{source}: {key}: {msg}")
        raise StudyError(study, problems) from None
    if problems:
        raise StudyError(study, problems)
    return manifest


def resolve_inside(folder: Path, name: str, source: str) -> Path:
    """``folder / name`` with every symlink resolved; :class:`InputError` (naming ``source``) when
    it leaves the folder, loops, or cannot be resolved."""
    try:
        base = folder.resolve(strict=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot open the study folder ({os_reason(exc)})", source) from None
    try:
        path = (folder / name).resolve()
    except RuntimeError:
        raise InputError(f"{name!r} is a symlink loop", source) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{name!r} cannot be resolved ({os_reason(exc)})", source) from None
    if not path.is_relative_to(base):
        raise InputError(f"{name!r} points outside the study folder", source)
    return path


def read_manifest(folder: str | Path) -> tuple[StudyManifest, bytes]:
    """:func:`load_manifest` and the manifest's bytes (what its SHA-256 is taken of)."""
    folder = Path(folder)
    study = folder_name(folder)
    path = folder / MANIFEST_NAME
    try:
        target = resolve_inside(folder, MANIFEST_NAME, str(path))
        if not target.exists():
            raise StudyError(study, [f"{path}: missing manifest file"])
        raw = read_input_bytes(target, str(path), MAX_MANIFEST_BYTES)
        text = decode_text(raw, str(path), latin1_fallback=False)
    except InputError as exc:
        raise StudyError(study, [str(exc)]) from None
    except StudyError:
        raise
    except Exception as exc:
        raise StudyError(study, [unexpected(path, exc)]) from exc
    return parse_manifest(text, source=str(path), folder_name=study), raw


def load_manifest(folder: str | Path) -> StudyManifest:
    """Read ``<folder>/study.yaml`` and validate it (the folder name must equal ``study_id``).

    Raises :class:`StudyError` and nothing else, whatever the folder holds: a missing, special,
    oversized, non-UTF-8 or symlinked-out manifest is a problem naming the file.
    """
    return read_manifest(folder)[0]
