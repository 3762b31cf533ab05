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

import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MANIFEST_NAME = "study.yaml"
STUDY_ID_PATTERN = re.compile(r"^[a-z0-9_]+$")
ID_PATTERN = r"^[A-Za-z0-9_.-]+$"

Modality = Literal["re_resection", "re_srs", "non_surgical", "wbrt", "systemic", "litt", "other"]
Endpoint = Literal["os", "pfs", "local_pfs"]
TimeUnit = Literal["days", "weeks", "months", "years"]
ENDPOINTS: tuple[str, ...] = ("os", "pfs", "local_pfs")

# Months per unit: a month is 365.25 / 12 days, the convention of survival papers reporting months.
MONTHS_PER_UNIT = {"days": 12 / 365.25, "weeks": 7 * 12 / 365.25, "months": 1.0, "years": 12.0}


class StudyError(ValueError):
    """A study folder that cannot be used, with every problem found (each ``"file: key: problem"``)."""

    def __init__(self, study: str, problems: list[str]) -> None:
        self.study = study
        self.problems = problems
        super().__init__(f"study {study!r} rejected:\n  - " + "\n  - ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _safe_relative(name: str) -> str:
    """A file name inside the study folder: relative, no ``..``, no drive or backslash tricks."""
    if not name:
        raise ValueError("file name is empty")
    if "\\" in name or PureWindowsPath(name).drive or PurePosixPath(name).is_absolute():
        raise ValueError(f"{name!r} must be a relative path inside the study folder")
    if any(part in ("..", "") for part in PurePosixPath(name).parts) or name.startswith("~"):
        raise ValueError(f"{name!r} must not contain '..' or leave the study folder")
    return name


class Estimate(_Strict):
    """A published point estimate with its confidence interval (same unit as the curve)."""

    value: float = Field(gt=0)
    lower: float | None = Field(default=None, gt=0)
    upper: float | None = Field(default=None, gt=0)

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
    events: int | None = Field(default=None, ge=0)


class Arm(_Strict):
    """A treatment arm, harmonized to the controlled vocabulary."""

    arm_id: str = Field(pattern=ID_PATTERN)
    label: str
    modality: Modality
    resection_extent: Literal["gtr", "str"] | None = None
    adjuvant: Literal["re_srs", "re_rt", "none"] | None = None


class Curve(_Strict):
    """One digitized Kaplan–Meier curve (one arm, one endpoint)."""

    curve_id: str = Field(pattern=ID_PATTERN)
    arm: str
    endpoint: Endpoint
    time_unit: TimeUnit
    clicks: str
    y_scale: Literal["auto", "probability", "percent"] = "auto"
    risk_table: str | None = None
    total_n: int | None = Field(default=None, gt=0)
    total_events: int | None = Field(default=None, ge=0)
    published: Published | None = None

    @field_validator("clicks", "risk_table")
    @classmethod
    def _files(cls, v: str | None) -> str | None:
        return v if v is None else _safe_relative(v)

    @model_validator(mode="after")
    def _n_known(self) -> Curve:
        if self.risk_table is None and self.total_n is None:
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
    curves: list[Curve] = Field(default_factory=list)
    patients: Patients | None = None

    @field_validator("study_id")
    @classmethod
    def _study_id(cls, v: str) -> str:
        if not STUDY_ID_PATTERN.match(v):
            raise ValueError(f"{v!r} must be lowercase letters, digits and underscores")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> StudyManifest:
        problems = []
        for kind, ids in (("arm_id", [a.arm_id for a in self.arms]), ("curve_id", [c.curve_id for c in self.curves])):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                problems.append(f"duplicate {kind}: {', '.join(dup)}")
        arm_ids = {a.arm_id for a in self.arms}
        for i, c in enumerate(self.curves):
            if c.arm not in arm_ids:
                problems.append(f"curves[{i}].arm: unknown arm {c.arm!r} (arms: {', '.join(sorted(arm_ids))})")
            if c.published and c.published.hr and c.published.hr.reference_arm not in arm_ids:
                problems.append(f"curves[{i}].published.hr.reference_arm: unknown arm {c.published.hr.reference_arm!r}")
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

    def files(self) -> list[tuple[str, str]]:
        """Every file the manifest names, as ``(role, name)``."""
        out = []
        for c in self.curves:
            out.append((f"clicks:{c.curve_id}", c.clicks))
            if c.risk_table:
                out.append((f"risk_table:{c.curve_id}", c.risk_table))
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


def parse_manifest(text: str, source: str = MANIFEST_NAME, folder_name: str | None = None) -> StudyManifest:
    """Parse and validate manifest text (YAML loaded with ``safe_load``); raise :class:`StudyError`.

    ``folder_name``, when given, must equal ``study_id``.
    """
    study = folder_name or "<unknown>"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = f", row {mark.line + 1}" if mark is not None else ""
        raise StudyError(study, [f"{source}{row}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if not isinstance(raw, dict):
        raise StudyError(study, [f"{source}: expected a mapping of keys (study_id, citation, ...)"])
    problems = []
    if folder_name is not None and raw.get("study_id") != folder_name:
        problems.append(f"{source}: study_id: {raw.get('study_id')!r} must equal the folder name {folder_name!r}")
    try:
        manifest = StudyManifest.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            key = _loc(err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{source}: {key}: {msg}")
        raise StudyError(study, problems) from None
    if problems:
        raise StudyError(study, problems)
    return manifest


def load_manifest(folder: str | Path) -> StudyManifest:
    """Read ``<folder>/study.yaml`` and validate it (the folder name must equal ``study_id``)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise StudyError(folder.name, [f"{path}: missing manifest file"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise StudyError(folder.name, [f"{path}: not UTF-8 text ({exc.reason})"]) from None
    return parse_manifest(text, source=str(path), folder_name=folder.name)
