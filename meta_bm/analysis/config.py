"""The analyses config (``$META_BM_ANALYSES``, else the packaged ``default_analyses.yaml`` next to this
module): which pooled comparisons to compute, declared as data.

Each analysis names an endpoint, a population filter on cohort columns, the groups to compare
(either ``group_by`` + ``levels`` or explicit ``groups`` with their own filters), the reference
group, which studies take part, landmarks and the RMST horizon (months). Errors name the file, the
analysis and the key.

Example
-------
>>> cfg = parse_analyses('''
... analyses:
...   - id: os_rr_vs_ns
...     title: "OS: re-resection vs non-surgical management"
...     endpoint: os
...     group_by: modality
...     levels: [re_resection, non_surgical]
...     reference: non_surgical
... ''')
>>> a = cfg.analyses[0]
>>> [g.id for g in a.group_defs()], a.reference, a.landmarks_months
(['re_resection', 'non_surgical'], 'non_surgical', [6.0, 12.0, 24.0])
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from meta_bm.studies.manifest import Endpoint

ID = r"^[a-z0-9_]+$"


class AnalysisConfigError(ValueError):
    """A bad analyses config: every problem, each naming the file, the analysis and the key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("bad analyses config:\n  - " + "\n  - ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The cohort columns a population or a group may filter on.
FilterColumn = Literal["modality", "resection_extent", "adjuvant", "source", "arm_id", "study_id"]
FILTER_COLUMNS: tuple[str, ...] = get_args(FilterColumn)
Where = dict[FilterColumn, str | list[str]]


class GroupDef(_Strict):
    """One compared group: the cohort rows matching every ``where`` condition (a value or a list)."""

    id: str = Field(pattern=ID)
    label: str
    where: Where


# Names of the platform's other assets: an analysis id is its asset's name, so it may not be one of them.
RESERVED_IDS = frozenset(
    {
        "study_sources",
        "digitized_curves",
        "reconstructed_ipd",
        "institutional_ipd",
        "harmonized_cohort",
        "cohort_summary",
        "pooled_report",
        "pooled",
        "study_unit",
    }
)


class Analysis(_Strict):
    """One pooled comparison. Its ``id`` names its Dagster asset: at most 20 characters, so the lineage
    graph (which shows about 18 per node) stays legible."""

    id: str = Field(pattern=ID, max_length=20)
    title: str
    endpoint: Endpoint
    population: Where = Field(default_factory=dict)
    group_by: Literal["modality", "resection_extent", "adjuvant", "source"] | None = None
    levels: list[str] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    groups: list[GroupDef] | None = None
    reference: str
    studies: Literal["all", "at_least_two_groups"] = "all"
    include_institutional: bool = True
    landmarks_months: list[float] = Field(default_factory=lambda: [6.0, 12.0, 24.0])
    rmst_horizon_months: float = Field(default=24.0, gt=0)
    published: dict[str, float | str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _groups(self) -> Analysis:
        simple = self.group_by is not None or self.levels is not None
        if simple and self.groups is not None:
            raise ValueError("give either group_by + levels or groups, not both")
        if not simple and self.groups is None:
            raise ValueError("give group_by + levels, or groups")
        if simple and (self.group_by is None or not self.levels):
            raise ValueError("group_by and levels go together")
        ids = [g.id for g in self.group_defs()]
        if len(ids) < 2:
            raise ValueError("an analysis compares at least two groups")
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate group ids: {ids}")
        if self.reference not in ids:
            raise ValueError(f"reference {self.reference!r} is not one of the groups {ids}")
        unknown = set(self.labels) - set(ids)
        if unknown:
            raise ValueError(f"labels for unknown groups {sorted(unknown)}")
        if any(t <= 0 for t in self.landmarks_months):
            raise ValueError("landmarks_months must be positive")
        return self

    def group_defs(self) -> list[GroupDef]:
        """The groups in config order (``group_by`` + ``levels`` expanded to filters)."""
        if self.groups is not None:
            return list(self.groups)
        assert self.group_by is not None and self.levels is not None
        return [
            GroupDef(id=v, label=self.labels.get(v, v.replace("_", " ")), where={self.group_by: v}) for v in self.levels
        ]


class AnalysesConfig(_Strict):
    analyses: list[Analysis] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> AnalysesConfig:
        ids = [a.id for a in self.analyses]
        reserved = sorted(set(ids) & RESERVED_IDS)
        if reserved:
            raise ValueError(f"analysis ids name other assets of the platform: {', '.join(reserved)}")
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate analysis ids: {', '.join(dup)}")
        return self

    def get(self, analysis_id: str) -> Analysis:
        return next(a for a in self.analyses if a.id == analysis_id)


def _where(raw: dict, i: int) -> str:
    try:
        return f"analyses[{i}] ({raw['analyses'][i].get('id', '?')})"
    except (KeyError, IndexError, TypeError, AttributeError):
        return f"analyses[{i}]"


def parse_analyses(text: str, source: str = "analyses.yaml") -> AnalysesConfig:
    """Parse and validate the analyses config; raise :class:`AnalysisConfigError` listing every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = f", row {mark.line + 1}" if mark is not None else ""
        raise AnalysisConfigError([f"{source}{row}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if not isinstance(raw, dict):
        raise AnalysisConfigError([f"{source}: expected a mapping with the key 'analyses'"])
    try:
        return AnalysesConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            head = source
            if len(loc) >= 2 and loc[0] == "analyses" and isinstance(loc[1], int):
                head = f"{source}: {_where(raw, loc[1])}"
                loc = loc[2:]
            key = ".".join(str(p) for p in loc if not str(p).startswith("function-")) or "(analysis)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            problems.append(f"{head}: {key}: {msg}")
        raise AnalysisConfigError(problems) from None


def load_analyses(path: str | Path) -> AnalysesConfig:
    path = Path(path)
    if not path.is_file():
        raise AnalysisConfigError([f"{path}: analyses config not found"])
    return parse_analyses(path.read_text(encoding="utf-8"), source=str(path))
