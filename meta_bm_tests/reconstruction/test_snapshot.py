"""Every reconstruction output is pinned: an output change without a ``RECONSTRUCTION_VERSION`` bump fails.

The same test runs under ``NUMBA_DISABLE_JIT=1`` (``make test-reference``): the pure-Python path of
the kernels must give the very same outputs as the compiled one.
"""

from __future__ import annotations

import json

from meta_bm.reconstruction import RECONSTRUCTION_VERSION
from meta_bm_tests.reconstruction.snapshots import SNAPSHOT, compute

REFRESH = "python -m meta_bm_tests.reconstruction.snapshots --update"


def test_snapshot_is_of_this_version():
    stored = json.loads(SNAPSHOT.read_text())
    assert stored["version"] == RECONSTRUCTION_VERSION, (
        f"RECONSTRUCTION_VERSION is {RECONSTRUCTION_VERSION} but the snapshot is of {stored['version']}: "
        f"if the outputs changed on purpose, refresh it ({REFRESH})"
    )


def test_every_output_matches_the_snapshot():
    stored = json.loads(SNAPSHOT.read_text())["curves"]
    now = compute()["curves"]
    assert sorted(now) == sorted(stored), "the set of snapshot curves changed: refresh the snapshot"
    changed = {cid: (stored[cid], now[cid]) for cid in stored if stored[cid] != now[cid]}
    assert not changed, (
        f"{len(changed)} of {len(stored)} reconstructions changed without a RECONSTRUCTION_VERSION bump "
        f"(bump it and run {REFRESH} if intended); first: "
        + "; ".join(f"{cid}: was {a}, now {b}" for cid, (a, b) in list(changed.items())[:3])
    )
