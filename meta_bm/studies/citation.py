"""How a study is named in tables and figures: "Author Year", as journals label forest-plot rows.

The first author's surname is read from the manifest's free-text ``citation`` (``"Smith J et al. Salvage
surgery. J Neurooncol 2019"`` gives ``"Smith 2019"``). Shipped synthetic examples and citations that do not
start with a surname are named from the study id (``"brandt_2018"`` gives ``"Brandt 2018"``); the
institutional cohort is ``"Institutional cohort 2025"``. Labels are made unique by appending the id's
letter suffix or, failing that, the study id.

Example
-------
>>> study_label("smith_2019", "Smith J, Doe A. Salvage surgery. J Neurooncol 2019", 2019)
'Smith 2019'
>>> study_label("brandt_2018", "SYNTHETIC example study brandt_2018 (simulated, not evidence)", 2018)
'Brandt 2018'
>>> study_label("institutional_2025", "SYNTHETIC institutional cohort", 2025, source="institutional")
'Institutional cohort 2025'
>>> study_labels([("li_2020a", "Li X et al. 2020", 2020), ("li_2020b", "Li Y et al. 2020", 2020)])
{'li_2020a': 'Li 2020a', 'li_2020b': 'Li 2020b'}
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["study_label", "study_labels"]

# A surname: a capitalised word (hyphens, apostrophes and particles such as "van der" allowed), then an
# initial, a comma or "et al".
_SURNAME = re.compile(
    r"^\s*((?:(?:van|von|de|der|den|da|di|du|del|la|le)\s+)*[A-ZÀ-Þ][\w'’\-]*(?:\s+[A-ZÀ-Þ][a-zß-ÿ'’\-]+)?)"
    r"(?=\s*(?:,|\s+[A-Z]{1,3}\b|\s+et\s+al))"
)
_ID = re.compile(r"^([a-z][a-z_]*?)_?(\d{4})([a-z]?)$")


def _from_id(study_id: str) -> tuple[str, str]:
    m = _ID.match(study_id)
    if not m:
        return " ".join(w.capitalize() for w in study_id.split("_") if w) or study_id, ""
    name = " ".join(w.capitalize() for w in m.group(1).split("_") if w)
    return name, m.group(3)


def study_label(study_id: str, citation: str | None, year: int | None, source: str = "literature") -> str:
    """The "Author Year" label of one study (see the module docstring)."""
    year_txt = f" {int(year)}" if year is not None else ""
    if source == "institutional":
        return f"Institutional cohort{year_txt}"
    text = (citation or "").strip()
    m = None if text.upper().startswith("SYNTHETIC") else _SURNAME.match(text)
    if m:
        return f"{m.group(1)}{year_txt}"
    name, _ = _from_id(study_id)
    return f"{name}{year_txt}" if year_txt and not name.endswith(year_txt.strip()) else name


def study_labels(
    studies: Iterable[tuple[str, str | None, int | None] | tuple[str, str | None, int | None, str]],
) -> dict:
    """Unique labels for ``(study_id, citation, year[, source])`` rows: ``{study_id: label}``.

    Two studies with the same label get the letter suffix of their ids (``li_2020a`` → ``Li 2020a``), or
    else their study id in brackets.
    """
    rows = list(studies)
    labels = {r[0]: study_label(r[0], r[1], r[2], *(r[3:4] or ("literature",))) for r in rows}
    seen: dict[str, list[str]] = {}
    for sid, lab in labels.items():
        seen.setdefault(lab, []).append(sid)
    for lab, ids in seen.items():
        if len(ids) < 2:
            continue
        for sid in ids:
            suffix = _from_id(sid)[1]
            labels[sid] = (
                f"{lab}{suffix}" if suffix and len({_from_id(i)[1] for i in ids}) == len(ids) else (f"{lab} [{sid}]")
            )
    return labels
