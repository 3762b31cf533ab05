"""The cohort store, on both backends (the ``store`` fixture): atomic per-study replace, deletion everywhere,
the cohort's types; and the DuckDB file's own rules: one writer across processes, older files upgraded."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from meta_bm.store import TABLES, CohortStore
from meta_bm.store.schema import COHORT_SCHEMA


def _clicks(study: str, n: int, offset: float = 0.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_id": study,
            "curve_id": "c",
            "row": list(range(n)),
            "time": [float(i + offset) for i in range(n)],
            "survival": [1.0] * n,
        }
    )


def test_replace_only_touches_the_given_studies(store):
    store.replace_studies(["a", "b"], {"raw_clicks": pl.concat([_clicks("a", 3), _clicks("b", 4)])})
    store.replace_studies(["a"], {"raw_clicks": _clicks("a", 5, offset=10)})
    got = store.query("SELECT study_id, count(*) n, min(time) t FROM raw_clicks GROUP BY 1 ORDER BY 1").rows()
    assert got == [("a", 5, 10.0), ("b", 4, 0.0)]


def test_failed_replace_leaves_everything_as_it_was(store):
    store.replace_studies(
        ["a"], {"raw_clicks": _clicks("a", 3), "arms": pl.DataFrame({"study_id": ["a"], "arm_id": ["r"]})}
    )
    bad = pl.DataFrame({"study_id": ["a"], "curve_id": ["c"], "row": ["not a number"]})
    with pytest.raises(Exception):  # noqa: B017 - the backend's conversion error type is not part of our contract
        store.replace_studies(["a"], {"arms": pl.DataFrame({"study_id": ["a"], "arm_id": ["new"]}), "raw_clicks": bad})
    assert store.query("SELECT count(*) n FROM raw_clicks")["n"][0] == 3
    assert store.query("SELECT arm_id FROM arms")["arm_id"].to_list() == ["r"]
    with pytest.raises(ValueError, match=r"rows for \['b'\] given while replacing \['a'\]"):
        store.replace_studies(["a"], {"raw_clicks": _clicks("b", 2)})
    with pytest.raises(KeyError, match="unknown table 'patients'"):
        store.replace_studies(["a"], {"patients": _clicks("a", 1)})


def test_delete_studies_everywhere(store):
    store.replace_studies(
        ["a", "b"],
        {
            "raw_clicks": pl.concat([_clicks("a", 3), _clicks("b", 2)]),
            "arms": pl.DataFrame({"study_id": ["a", "b"], "arm_id": ["r", "s"]}),
        },
    )
    deleted = store.delete_studies(["a"])
    assert deleted["raw_clicks"] == 3 and deleted["arms"] == 1 and set(deleted) == set(TABLES)
    assert store.stored_study_ids() == ["b"]


def _cohort_rows(study: str, endpoint: str, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_id": study,
            "patient_id": [f"{study}_{i}" for i in range(n)],
            "endpoint": endpoint,
            "time_months": [float(i + 1) for i in range(n)],
            "event": [i % 2 for i in range(n)],
            "synthetic": True,
        }
    ).select(
        [
            pl.col(c).cast(t)
            if c in ("study_id", "patient_id", "endpoint", "time_months", "event", "synthetic")
            else pl.lit(None, t).alias(c)
            for c, t in COHORT_SCHEMA.items()
        ]
    )


def test_cohort_reads_every_row_or_one_endpoint(store):
    empty = store.cohort()
    assert empty.height == 0 and empty.schema == pl.Schema(COHORT_SCHEMA)
    rows = pl.concat([_cohort_rows("a", "os", 3), _cohort_rows("a", "local_pfs", 2), _cohort_rows("b", "os", 4)])
    store.replace_studies(["a", "b"], {"cohort": rows})
    everything = store.cohort()
    assert everything.schema == pl.Schema(COHORT_SCHEMA)
    assert everything.sort("study_id", "endpoint", "patient_id").equals(rows.sort("study_id", "endpoint", "patient_id"))
    os_rows = store.cohort("os")
    assert sorted(os_rows["patient_id"].to_list()) == ["a_0", "a_1", "a_2", "b_0", "b_1", "b_2", "b_3"]
    assert store.cohort("local_pfs")["patient_id"].sort().to_list() == ["a_0", "a_1"]
    assert store.cohort("pfs").height == 0


def _status(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "study_id": pl.String,
            "stage": pl.String,
            "status": pl.String,
            "fingerprint": pl.String,
            "pipeline_version": pl.String,
            "message": pl.String,
        },
        orient="row",
    )


STATUS = [
    ("ok_1", "harmonization", "ok", "f1", "v1", None),
    ("rej_2", "ingest", "rejected", "f2", "v1", "study.yaml: year: missing\nclicks.csv, row 3: not a number"),
    ("fail_3", "reconstruction", "failed", "f3", "v2", "os_rr: unexpected error"),
    ("gone_4", "ingest", "rejected", None, "v1", "the study folder does not exist"),
]


def test_failed_attempts_name_the_folder_and_code_version_of_each_unstored_study(store):
    assert store.failed_attempts() == {}
    store.replace_studies([r[0] for r in STATUS], {"study_status": _status(STATUS)})
    # ok studies are not attempts that failed; a folder without a fingerprint cannot be matched again
    assert store.failed_attempts() == {"rej_2": ("f2", "v1"), "fail_3": ("f3", "v2")}


def test_study_problems_of_the_given_studies_in_id_order(store):
    store.replace_studies([r[0] for r in STATUS], {"study_status": _status(STATUS)})
    got = store.study_problems(["rej_2", "ok_1", "gone_4", "never_seen"])
    assert got == {"gone_4": "the study folder does not exist", "rej_2": STATUS[1][5]}
    assert list(got) == ["gone_4", "rej_2"]
    assert store.study_problems([]) == {}
    # every study of a run rejected or failed: as many problems as studies
    assert len(store.study_problems(["rej_2", "fail_3"])) == 2
    assert len(store.study_problems(["rej_2", "ok_1"])) == 1


# A writer in its own interpreter (started with -c, so it needs only the installed package, however pytest
# was started): it says "ready" once imported, waits for "go" on stdin, then replaces its rows 15 times.
WRITER = """
import sys
import polars as pl
from meta_bm.store import CohortStore

path, study = sys.argv[1], sys.argv[2]
store = CohortStore(path, lock_timeout=120)


def clicks(sid, n, offset=0.0):
    return pl.DataFrame({"study_id": sid, "curve_id": "c", "row": list(range(n)),
                         "time": [float(i + offset) for i in range(n)], "survival": [1.0] * n})


print("ready", flush=True)
sys.stdin.readline()
for r in range(15):
    store.replace_studies([study, "shared"], {"raw_clicks": pl.concat([clicks(study, 50, r), clicks("shared", 7)])})
    store.query("SELECT count(*) FROM raw_clicks")
"""


def test_two_processes_write_without_lock_errors_or_lost_rows(tmp_path):
    path = str(tmp_path / "x.duckdb")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, path, s],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in ("p1", "p2")
    ]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"]
        for p in procs:  # both imported: start them together
            p.stdin.write("go\n")
            p.stdin.flush()
        errors = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], errors
    got = (
        CohortStore(path).query("SELECT study_id, count(*) n, max(time) t FROM raw_clicks GROUP BY 1 ORDER BY 1").rows()
    )
    assert got == [("p1", 50, 63.0), ("p2", 50, 63.0), ("shared", 7, 6.0)]


def test_a_store_made_by_an_older_version_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))  # the ipd table as meta_bm 0.1 (before figures) created it
    con.execute(
        """CREATE TABLE ipd (study_id VARCHAR, curve_id VARCHAR, patient_index INTEGER, time DOUBLE, event TINYINT,
        time_unit VARCHAR, clicks_sha256 VARCHAR, reconstruction_version VARCHAR)"""
    )
    con.execute("INSERT INTO ipd VALUES ('s1', 'c', 0, 2.5, 1, 'months', 'ab', '1.0')")
    con.close()
    store = CohortStore(path)
    new = pl.DataFrame({"study_id": ["s2"], "curve_id": ["c"], "patient_index": [0], "time": [1.0], "event": [0],
                        "figure_sha256": ["f00d"]}).cast({"event": pl.Int8, "patient_index": pl.Int32})  # fmt: skip
    store.replace_studies(["s2"], {"ipd": new})
    rows = store.query("select study_id, time, clicks_sha256, figure_sha256 from ipd order by study_id").rows()
    assert rows == [("s1", 2.5, "ab", None), ("s2", 1.0, None, "f00d")]
    assert "digitized_curves" in store.query("select table_name from information_schema.tables")["table_name"]
