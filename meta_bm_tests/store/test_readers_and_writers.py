"""Readers never break a writer: a process holding the DuckDB file outside our lock makes a writer wait
and retry (not fail), and ``meta-bm query`` reads under the store's lock, read-only."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from meta_bm.cli import main
from meta_bm.store import CohortStore
from meta_bm.store import cohort_store as cs

HOLDER = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
    "sys.stdin.readline(); con.close()"
)


def _status(sid: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_id": [sid],
            "stage": ["ingest"],
            "status": ["ok"],
            "fingerprint": ["f"],
            "pipeline_version": ["1"],
            "message": [None],
        },
        schema_overrides={"message": pl.String},
    )


def test_a_writer_meeting_a_foreign_duckdb_lock_waits_and_retries(tmp_path, monkeypatch):
    db = tmp_path / "c.duckdb"
    store = CohortStore(db)
    store.replace_studies(["a"], {"study_status": _status("a")})
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    retries = []

    def release_on_first_retry(seconds: float) -> None:  # the writer did meet the lock: now let it go
        retries.append(seconds)
        if holder.poll() is None:
            holder.stdin.write("go\n")
            holder.stdin.flush()
            holder.wait(timeout=30)

    monkeypatch.setattr(cs, "_sleep", release_on_first_retry)
    fresh = CohortStore(db)  # a new process-like store: opens the file itself
    fresh.replace_studies(["b"], {"study_status": _status("b")})
    assert retries and sorted(fresh.query("SELECT study_id FROM study_status")["study_id"]) == ["a", "b"]


def test_a_writer_gives_up_on_a_foreign_lock_only_after_its_timeout(tmp_path, monkeypatch):
    db = tmp_path / "c.duckdb"
    CohortStore(db).replace_studies(["a"], {"study_status": _status("a")})
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        clock = [0.0]
        monkeypatch.setattr(cs, "_monotonic", lambda: clock[0])
        monkeypatch.setattr(cs, "_sleep", lambda s: clock.__setitem__(0, clock[0] + s))
        with pytest.raises(Exception, match="lock"):
            CohortStore(db, lock_timeout=5).query("SELECT 1")
        assert clock[0] >= 5
    finally:
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.wait(timeout=30)


def test_query_command_reads_under_the_lock_and_refuses_writes(tmp_path, capsys):
    db = tmp_path / "c.duckdb"
    CohortStore(db).replace_studies(["a", "b"], {"study_status": pl.concat([_status("a"), _status("b")])})
    assert main(["query", "select study_id from study_status order by 1", "--database", str(db), "--csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["study_id", "a", "b"]
    assert main(["query", "delete from study_status", "--database", str(db)]) == 2
    assert "read-only" in capsys.readouterr().err
    assert CohortStore(db).query("select count(*) n from study_status")["n"][0] == 2
    assert main(["query", "select 1", "--database", str(tmp_path / "none.duckdb")]) == 2
