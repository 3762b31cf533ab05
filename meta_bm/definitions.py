"""The Dagster code location: wires the orchestration layer's assets, checks, sensors and resources.

Thin by design: everything it loads lives in ``meta_bm.orchestration`` and calls the science core.
The assets arrive with the asset-platform issue; until then the location loads empty.
"""

from __future__ import annotations

import dagster as dg


def build_defs() -> dg.Definitions:
    """Build the code location's definitions (a factory so tests can swap resources)."""
    return dg.Definitions()


defs = build_defs()
