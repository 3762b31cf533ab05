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

``--deployment shared`` times the same three steps on the shared deployment too (``deploy/stack.py``:
PostgreSQL, a Dask scheduler and 2 workers, the code server and dagster-daemon on this machine; runs of
``META_BM_STUDIES_PER_RUN`` studies queued, their steps on the workers) and prints both side by side, with
a check that both cohorts hold the same number of rows.

Run:  .venv/bin/python benchmarks/platform_speed.py [--sizes 10 1000] [--deployment shared]
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
sys.path.insert(0, str(REPO))  # (deploy/ is not part of the installed package)


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


def run_size_shared(n: int, per_run: int) -> dict:
    """The three steps on the shared stack (started here, stopped by its PIDs afterwards)."""
    from deploy import stack
    from meta_bm.store.postgres_store import PostgresCohortStore

    tmp_path = Path(tempfile.mkdtemp(prefix="meta_bm_bench_"))
    tmp_path.chmod(0o755)  # (PostgreSQL runs as nobody when this runs as root)
    studies, state = tmp_path / "studies", tmp_path / "stack"
    env = {k: v for k, v in os.environ.items() if not k.startswith("META_BM_")}
    env |= stack.throwaway_settings(studies, tmp_path / "out", per_run)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        t0 = time.perf_counter()
        _make_studies(studies, n)
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        env |= stack.start(state)
        up = time.perf_counter() - t0
        full = _run(env, [])
        noop = _run(env, [])
        _make_studies(studies, 1, start=n)
        add = _run(env, [])
        store = PostgresCohortStore(
            "127.0.0.1", int(env["META_BM_PG_PORT"]), "meta_bm", env["META_BM_PG_PASSWORD"], "cohort"
        )
        patients = store.query("SELECT count(*) n FROM cohort")["n"][0]
        return {"n": n, "patients": patients, "generate": gen, "full": full, "noop": noop, "add": add, "up": up}
    finally:
        stack.stop(state)
        os.environ.clear()
        os.environ.update(saved)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 1000])
    ap.add_argument("--deployment", choices=["embedded", "shared"], default="embedded",
                    help="shared: time the shared stack too, side by side with the embedded default")
    ap.add_argument("--studies-per-run", type=int, default=50, help="shared: studies per queued run")
    args = ap.parse_args(argv)
    if args.deployment == "shared":
        return _side_by_side(args.sizes, args.studies_per_run)
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


def _side_by_side(sizes: list[int], per_run: int) -> int:
    rows = [(run_size(n), run_size_shared(n, per_run)) for n in sizes]
    hdr = (
        f"{'studies':>8} {'patients':>9} | {'full refresh s':>23} | {'no-op rerun s':>21} | {'add one study s':>21}"
        f" | {'stack start s':>13}"
    )
    print(hdr + "\n" + " " * 20 + "| embedded      shared  | embedded    shared    | embedded    shared    |")
    print("-" * len(hdr))
    for e, sh in rows:
        same = "" if e["patients"] == sh["patients"] else f"  PATIENTS DIFFER: {sh['patients']}"
        print(
            f"{e['n']:>8} {e['patients']:>9} | {e['full']:>10.1f} {sh['full']:>12.1f} | {e['noop']:>9.2f} "
            f"{sh['noop']:>11.2f} | {e['add']:>9.2f} {sh['add']:>11.2f} | {sh['up']:>13.1f}{same}"
        )
    print(
        f"\n(wall clock of `meta-bm run -q`; shared: {per_run} studies per queued run, steps on 2 Dask workers of "
        "this machine, PostgreSQL, dagster-daemon; the stack's start is not in the other columns)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
