"""The kernels' compilation: cached outside the source tree, honouring NUMBA_CACHE_DIR, pure Python on demand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import meta_bm

PACKAGE = Path(meta_bm.__file__).parent
# compiles one small kernel only (a second or two), so a cold cache is cheap to test
SNIPPET = (
    "import numpy as np; from meta_bm.reconstruction.censoring_placement import spread_into; "
    "out = np.zeros(2); print(spread_into(out, 0, 0.0, 4.0, 2), out.tolist())"
)


def _run(env: dict[str, str], code: str = SNIPPET) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT")}
    full.update(env)
    done = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _index_files(root: Path) -> set[Path]:
    return set(root.rglob("*.nbi"))


def test_cache_goes_to_the_users_cache_not_the_source_tree(tmp_path):
    before = _index_files(PACKAGE)
    assert _run({"XDG_CACHE_HOME": str(tmp_path)}) == "2 [1.0, 3.0]"
    written = _index_files(tmp_path / "meta_bm" / "numba")
    assert any("censoring_placement.spread_into" in p.name for p in written)
    assert _index_files(PACKAGE) == before  # nothing new next to the sources


def test_numba_cache_dir_is_honoured(tmp_path):
    assert _run({"NUMBA_CACHE_DIR": str(tmp_path / "nc"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}) == "2 [1.0, 3.0]"
    assert any("spread_into" in p.name for p in _index_files(tmp_path / "nc"))
    assert not (tmp_path / "xdg").exists()


def test_disable_jit_gives_the_plain_python_functions():
    code = (
        "import inspect; from meta_bm.reconstruction import event_tracking as e, risk_intervals as r; "
        "print(all(inspect.isfunction(f) for f in (e.track_events, e.best_placement, r.allocate)))"
    )
    assert _run({"NUMBA_DISABLE_JIT": "1"}, code) == "True"
    assert _run({}, code) == "False"


def test_warm_up_compiles_what_a_run_needs_and_reports_it_once(tmp_path):
    # cold: the kernels are compiled in two worker processes, reported before and after
    warm = "from meta_bm.reconstruction.jit import warm_up; msgs = []; warm_up(msgs.append, load=False); print(msgs)"
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    out = _run(env, warm)
    assert "compiling the reconstruction kernels" in out and "compiled the reconstruction kernels in" in out
    # then a run of every kind of curve (the shipped examples and studies, the simulated set) compiles
    # nothing: the warm-up called every kernel with the argument types a run gives it
    run = (
        "from meta_bm_tests.reconstruction.snapshots import compute; from meta_bm.reconstruction import jit; "
        "from meta_bm.reconstruction import reconstruct_arrays as r; compute(); "
        "t, s = [0, 2, 2, 5, 5, 8], [1, 1, .9, .9, .75, .75]; "
        "r(t, s, risk_time=[0, 4], n_risk=[20, 16], censor_times=[1, 3, 6]); "
        "r(t, s, total_n=20, censor_times=[1, 3, 6, 7], total_events=4); "
        # exact marks: read off exactly, and (no IPD fits the table) the general path after all
        "r(t, s, total_n=20, censor_times=[3, 8], exact_marks=True); "
        "r(t, s, risk_time=[0, 4], n_risk=[20, 16], censor_times=[1, 3, 6], exact_marks=True); "
        "print(jit.compiled_this_process())"
    )
    assert _run(env | {"PYTHONPATH": str(PACKAGE.parent)}, run) == "0"
    assert _run(env, warm) == "[]"  # warm: silent
