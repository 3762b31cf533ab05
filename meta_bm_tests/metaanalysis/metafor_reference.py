"""The committed metafor 3.8-1 reference (data/metafor_reference.r.json, written by
scripts/r_reference_metafor.R) and the tolerances its tests use."""

from __future__ import annotations

import json
from pathlib import Path

REF = json.loads((Path(__file__).parent / "data" / "metafor_reference.r.json").read_text())
DATA = REF["datasets"]
TOL = {"rel": 1e-6, "abs": 1e-9}
# I² is in percent: where REML's maximum is on the boundary metafor stops at tau² ~ 1e-11 (I² ~ 2e-7 %) and
# meta_bm returns exactly 0 (see two_stage's module docstring), so I² gets an absolute 1e-6.
I2_TOL = {"rel": 1e-6, "abs": 1e-6}
