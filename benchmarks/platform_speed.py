"""Speed of the Dagster platform: full single-run backfill of many studies, then adding one study.

For each size N (default 10 and 1000 studies of about 100 patients: two arms of 50, risk tables,
OS in months) on a fresh Dagster instance (SQLite) and DuckDB file:

* full refresh: ``meta_bm.orchestration.runner.refresh`` = partition sync + one single-run backfill of
  every study partition (ingest, reconstruction, institutional IPD, harmonized cohort) + the
  whole-cohort asset;
* no-op rerun: nothing changed, nothing recomputed;
* add one study: a new folder appears; its partition and everything downstream are refreshed.

Targets (issue 3): add one study <= 15 s; 1,000 studies (~100,000 patients) <= 5 min. The per-study
time should not grow with N (compare the rows).

Run:  .venv/bin/python benchmarks/platform_speed.py [--sizes 10 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from meta_bm.simulation.study_folders import ArmSpec, write_literature_study


def _make_studies(root: Path, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        arms = [
            ArmSpec("rr", "Re-resection", "re_resection", 50, 14.7),
            ArmSpec("ns", "Non-surgical", "non_surgical", 50, 10.3),
        ]
        write_literature_study(root, f"study_{i:05d}", arms, seed=i)


def run_size(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        studies, db, home = tmp_path / "studies", tmp_path / "cohort.duckdb", tmp_path / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
        import dagster as dg

        from meta_bm.orchestration.runner import refresh
        from meta_bm.store import CohortStore

        t0 = time.perf_counter()
        _make_studies(studies, n)
        gen = time.perf_counter() - t0
        quiet = dict(log=lambda m: None, quiet_dagster=True, output=tmp_path / "out")
        with dg.DagsterInstance.get() as instance:
            full = refresh(instance, studies, db, **quiet)
            assert full.success and len(full.runs) == 2, full
            noop = refresh(instance, studies, db, **quiet)
            assert noop.runs == []
            _make_studies(studies, 1, start=n)
            add = refresh(instance, studies, db, **quiet)
            assert add.refreshed == [f"study_{n:05d}"], add
        patients = CohortStore(db).query("SELECT count(*) n FROM cohort")["n"][0]
        return {
            "n": n,
            "patients": patients,
            "generate": gen,
            "full": full.seconds,
            "noop": noop.seconds,
            "add": add.seconds,
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 1000])
    args = ap.parse_args(argv)
    rows = [run_size(n) for n in args.sizes]
    hdr = (
        f"{'studies':>8} {'patients':>9} {'full refresh s':>15} {'per study ms':>13} {'no-op rerun s':>14} "
        f"{'add one study s':>16}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['n']:>8} {r['patients']:>9} {r['full']:>15.1f} {1e3 * r['full'] / r['n']:>13.1f} "
            f"{r['noop']:>14.2f} {r['add']:>16.2f}"
        )
    print(
        "\n(study folders generated beforehand, not timed: " + ", ".join(f"{r['generate']:.0f} s" for r in rows) + ")"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
