"""Speed of the platform as a user waits for it: ``meta-bm run`` (wall clock of the command) on N studies.

For each size N (default 10 and 1000 synthetic studies of about 100 patients: two arms of 50, risk
tables, OS in months), on a fresh Dagster instance (SQLite) and DuckDB file:

* full refresh: every study new (partition sync, one single-run backfill of the study unit, the
  pooled assets in the same run, all launched through the workspace's code location);
* no-op rerun: nothing changed, nothing launched;
* add one study: a new folder appears; its partition and the pooled assets are refreshed.

Each row also checks what the UI will show: a sample of study partitions' ``dagster/row_count``
equals what DuckDB holds for that study (per-study metadata in a single-run backfill).

Targets (issue 14): 13 studies <= 15 s after the first compile; no-op <= 4 s; 1,000 studies full
refresh <= 5 min; add one study at 1,000 <= 15 s.

Run:  .venv/bin/python benchmarks/platform_speed.py [--sizes 10 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from meta_bm.orchestration.runner import dagster_yaml_template
from meta_bm.simulation.study_folders import ArmSpec, write_literature_study

REPO = Path(__file__).resolve().parents[1]


def _make_studies(root: Path, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        arms = [
            ArmSpec("rr", "Re-resection", "re_resection", 50, 14.7),
            ArmSpec("ns", "Non-surgical", "non_surgical", 50, 10.3),
        ]
        write_literature_study(root, f"study_{i:05d}", arms, seed=i)


def _run(env: dict, args: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "meta_bm.cli", "run", "-q", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode:  # say why, not only that it failed
        tail = "\n".join(done.stderr.splitlines()[-40:])
        raise SystemExit(f"meta-bm run {' '.join(args)} exited {done.returncode}:\n{tail}")
    return time.perf_counter() - t0


def _metadata_matches_store(home: Path, db: Path, n_sample: int = 20) -> str:
    import dagster as dg

    from meta_bm.store import CohortStore

    os.environ["DAGSTER_HOME"] = str(home)
    store = CohortStore(db)
    counts = dict(store.query("SELECT study_id, count(*) FROM cohort GROUP BY 1").rows())
    with dg.DagsterInstance.get() as instance:
        keys = instance.get_dynamic_partitions("study")
        sample = random.Random(0).sample(keys, min(n_sample, len(keys)))
        for sid in sample:
            rec = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("harmonized_cohort"), asset_partitions=[sid]), limit=1
            ).records[0]
            if rec.asset_materialization.metadata["dagster/row_count"].value != counts.get(sid, 0):
                return f"MISMATCH {sid}"
    return f"ok ({len(sample)} sampled)"


def run_size(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        studies, db, home, out = tmp_path / "studies", tmp_path / "cohort.duckdb", tmp_path / "home", tmp_path / "out"
        home.mkdir()
        (home / "dagster.yaml").write_text(dagster_yaml_template())
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        args = ["--studies", str(studies), "--database", str(db), "--output", str(out)]
        t0 = time.perf_counter()
        _make_studies(studies, n)
        gen = time.perf_counter() - t0
        full = _run(env, args)
        noop = _run(env, args)
        _make_studies(studies, 1, start=n)
        add = _run(env, args)
        check = _metadata_matches_store(home, db)
        from meta_bm.store import CohortStore

        patients = CohortStore(db).query("SELECT count(*) n FROM cohort")["n"][0]
        return {"n": n, "patients": patients, "generate": gen, "full": full, "noop": noop, "add": add, "meta": check}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 1000])
    args = ap.parse_args(argv)
    rows = [run_size(n) for n in args.sizes]
    hdr = (
        f"{'studies':>8} {'patients':>9} {'full refresh s':>15} {'per study ms':>13} {'no-op rerun s':>14} "
        f"{'add one study s':>16}  per-partition metadata"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['n']:>8} {r['patients']:>9} {r['full']:>15.1f} {1e3 * r['full'] / r['n']:>13.1f} "
            f"{r['noop']:>14.2f} {r['add']:>16.2f}  {r['meta']}"
        )
    print(
        "\n(wall clock of `meta-bm run -q`, process start included; study folders generated beforehand, not timed: "
        + ", ".join(f"{r['generate']:.0f} s" for r in rows)
        + ")"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
