"""Which pooled results are out of date, from the store's own content (no Dagster here).

Every pooled asset (the cohort summary, one asset per analysis, the report) records, in the same
transaction as its results, the *inputs version* it was computed from: a content hash of the rows
it reads plus its code version. A pooled asset is out of date when the version its inputs have now
differs from the recorded one. This does not depend on which studies a run touched, so a crash
between a study commit and the pooled refresh, a rejected study that changed no row, or an edited
analysis are all handled by the same comparison.

Example
-------
>>> import tempfile, os
>>> from meta_bm.store import CohortStore
>>> store = CohortStore(os.path.join(tempfile.mkdtemp(), "c.duckdb"))
>>> state = pooled_state(store, {"analysis_os": ("os", "2+abc")}, {"cohort_summary": "1", "pooled_report": "1"})
>>> state.outdated  # nothing was ever computed
['analysis_os', 'cohort_summary', 'pooled_report']
>>> store.set_pooled_versions(state.current)
>>> pooled_state(store, {"analysis_os": ("os", "2+abc")}, {"cohort_summary": "1", "pooled_report": "1"}).outdated
[]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from meta_bm.store import CohortStore
from meta_bm.studies.manifest import ENDPOINTS

COHORT_SUMMARY = "cohort_summary"
POOLED_REPORT = "pooled_report"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PooledState:
    """Current and recorded inputs versions of every pooled asset."""

    current: dict[str, str]
    recorded: dict[str, str]

    @property
    def outdated(self) -> list[str]:
        """Pooled assets whose inputs changed since they were last computed (or never computed)."""
        return sorted(a for a, v in self.current.items() if self.recorded.get(a) != v)

    def is_current(self, asset: str) -> bool:
        return asset in self.current and self.recorded.get(asset) == self.current[asset]


def pooled_state(
    store: CohortStore, analyses: dict[str, tuple[str, str]], code_versions: dict[str, str]
) -> PooledState:
    """Inputs versions of the pooled assets.

    Parameters
    ----------
    analyses:
        ``{asset_name: (endpoint, code_version)}`` of every analysis asset; an analysis reads the
        cohort rows of its endpoint, so a study adding PFS rows leaves the OS analyses current.
    code_versions:
        Code versions of ``cohort_summary`` and ``pooled_report``.
    """
    v = store.input_versions(ENDPOINTS)
    current = {COHORT_SUMMARY: _digest(code_versions.get(COHORT_SUMMARY, ""), *(v[f"cohort:{e}"] for e in ENDPOINTS))}
    for asset, (endpoint, code) in sorted(analyses.items()):
        current[asset] = _digest(code, v[f"cohort:{endpoint}"])
    current[POOLED_REPORT] = _digest(
        code_versions.get(POOLED_REPORT, ""),
        *(current[a] for a in sorted(current)),
        *(v[name] for name in v if name.startswith("report:")),  # (the studies, their status, fidelity, ...)
    )
    return PooledState(current=current, recorded=store.pooled_versions())
