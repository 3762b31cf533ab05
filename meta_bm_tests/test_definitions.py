"""The Dagster code location loads, and the science core stays free of Dagster."""

from __future__ import annotations

import subprocess
import sys


def test_definitions_load():
    import dagster as dg

    from meta_bm.definitions import defs

    assert isinstance(defs, dg.Definitions)


def test_science_core_imports_no_dagster():
    code = (
        "import sys, meta_bm.reconstruction, meta_bm.survival.km, meta_bm.survival.cox, meta_bm.simulation, "
        "meta_bm.cli; print('dagster' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
