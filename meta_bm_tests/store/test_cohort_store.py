"""The DuckDB store: atomic per-study replace, deletion everywhere, one writer across processes."""

from __future__ import annotations

import multiprocessing as mp

import polars as pl
import pytest

from meta_bm.store import TABLES, CohortStore


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


def test_replace_only_touches_the_given_studies(tmp_path):
    store = CohortStore(tmp_path / "x.duckdb")
    store.replace_studies(["a", "b"], {"raw_clicks": pl.concat([_clicks("a", 3), _clicks("b", 4)])})
    store.replace_studies(["a"], {"raw_clicks": _clicks("a", 5, offset=10)})
    got = store.query("SELECT study_id, count(*) n, min(time) t FROM raw_clicks GROUP BY 1 ORDER BY 1").rows()
    assert got == [("a", 5, 10.0), ("b", 4, 0.0)]


def test_failed_replace_leaves_everything_as_it_was(tmp_path):
    store = CohortStore(tmp_path / "x.duckdb")
    store.replace_studies(
        ["a"], {"raw_clicks": _clicks("a", 3), "arms": pl.DataFrame({"study_id": ["a"], "arm_id": ["r"]})}
    )
    bad = pl.DataFrame({"study_id": ["a"], "curve_id": ["c"], "row": ["not a number"]})
    with pytest.raises(Exception):  # noqa: B017 - DuckDB's conversion error type is not part of our contract
        store.replace_studies(["a"], {"arms": pl.DataFrame({"study_id": ["a"], "arm_id": ["new"]}), "raw_clicks": bad})
    assert store.query("SELECT count(*) n FROM raw_clicks")["n"][0] == 3
    assert store.query("SELECT arm_id FROM arms")["arm_id"].to_list() == ["r"]
    with pytest.raises(ValueError, match=r"rows for \['b'\] given while replacing \['a'\]"):
        store.replace_studies(["a"], {"raw_clicks": _clicks("b", 2)})
    with pytest.raises(KeyError, match="unknown table 'patients'"):
        store.replace_studies(["a"], {"patients": _clicks("a", 1)})


def test_delete_studies_everywhere(tmp_path):
    store = CohortStore(tmp_path / "x.duckdb")
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


def _writer(path: str, study: str, rounds: int) -> None:
    store = CohortStore(path, lock_timeout=120)
    for r in range(rounds):
        store.replace_studies(
            [study, "shared"], {"raw_clicks": pl.concat([_clicks(study, 50, r), _clicks("shared", 7)])}
        )
        store.query("SELECT count(*) FROM raw_clicks")


def test_two_processes_write_without_lock_errors_or_lost_rows(tmp_path):
    path = str(tmp_path / "x.duckdb")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, s, 15)) for s in ("p1", "p2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    got = (
        CohortStore(path).query("SELECT study_id, count(*) n, max(time) t FROM raw_clicks GROUP BY 1 ORDER BY 1").rows()
    )
    assert got == [("p1", 50, 63.0), ("p2", 50, 63.0), ("shared", 7, 6.0)]
