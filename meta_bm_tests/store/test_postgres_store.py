"""The PostgreSQL cohort store against a real server: what it stores reads back as the DuckDB store's
(the same frames, bit for bit), concurrent writers of the same studies never duplicate or lose rows,
a failed writer leaves nothing, ``read`` refuses writes, and an unusable server names the setting."""

from __future__ import annotations

import threading
import time

import numpy as np
import polars as pl
import psycopg2
import pytest
from polars.testing import assert_frame_equal

from meta_bm.pipeline.study import STUDY_UNIT_TABLES, process_study
from meta_bm.settings import PG_DATABASE_VAR, PG_HOST_VAR, PG_PASSWORD_VAR, PG_PORT_VAR, PG_USER_VAR
from meta_bm.simulation.study_folders import ArmSpec, write_institutional_study, write_literature_study
from meta_bm.store import ANALYSIS_TABLES, TABLES, CohortStore, PostgresCohortStore, StoreUnavailable
from meta_bm.store.schema import COHORT_SCHEMA, polars_schema
from meta_bm_tests.store.conftest import postgres_store


def _status(ids: list[str], status: str = "ok") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "study_id": ids,
            "stage": "harmonization",
            "status": status,
            "fingerprint": [f"f_{i}" for i in ids],
            "pipeline_version": "test",
            "message": None,
        },
        schema_overrides={"message": pl.String},
    )


def _clicks(study: str, n: int, offset: float = 0.0) -> pl.DataFrame:
    return pl.DataFrame(
        {"study_id": study, "curve_id": "c", "row": list(range(n)), "time": [float(i + offset) for i in range(n)],
         "survival": [1.0] * n},
        schema_overrides={"row": pl.Int32},
    )  # fmt: skip


def _equal(got: pl.DataFrame, want: pl.DataFrame, what: str) -> None:
    """Exactly equal frames (names, order, types, values); the failure names ``what``."""
    try:
        assert_frame_equal(got, want, check_exact=True)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def _every_table(store) -> dict[str, pl.DataFrame]:
    """Every declared table, all columns but the load timestamps, in a total order."""
    out = {}
    for t in TABLES:
        cols = [c for c in polars_schema(t) if c not in ("loaded_at", "updated_at")]
        order = ", ".join(f"{c} NULLS FIRST" for c in cols)
        out[t] = store.query(f"SELECT {', '.join(cols)} FROM {t} ORDER BY {order}")
    return out


@pytest.fixture(scope="module")
def study_units(tmp_path_factory) -> dict:
    """Three real study units (two literature studies, one institutional) as the pipeline produces them."""
    root = tmp_path_factory.mktemp("pg_studies")
    folders = [
        write_literature_study(
            root, "lit_2020", [ArmSpec("rr", "Re-resection", "re_resection", 30, 14.0),
                               ArmSpec("ns", "NS", "non_surgical", 25, 9.0)], percent=True, seed=1,
        ),
        write_literature_study(
            root, "notable_2021", [ArmSpec("srs", "SRS", "re_srs", 40, 11.0)], risk_table=False,
            total_events=True, seed=2,
        ),
        write_institutional_study(
            root, "inst_2022", [ArmSpec("rr", "RR", "re_resection", 15, 18.0),
                                ArmSpec("ns", "NS", "non_surgical", 12, 9.0)], seed=3,
        ),
    ]  # fmt: skip
    outcomes = {f.name: process_study(f) for f in folders}
    assert all(o.ok for o in outcomes.values()), {k: o.message for k, o in outcomes.items()}
    return {sid: o.tables for sid, o in outcomes.items()}


def test_a_study_unit_reads_back_exactly_as_from_duckdb(study_units, pg_database, tmp_path):
    duck, pg = CohortStore(tmp_path / "x.duckdb"), postgres_store(pg_database)
    for store in (duck, pg):
        store.commit_studies(study_units, _status(list(study_units)), STUDY_UNIT_TABLES)
    want, got = _every_table(duck), _every_table(pg)
    assert sum(f.height for f in want.values()) > 500  # real content: clicks, IPD, cohort, fidelity ...
    for t in TABLES:
        _equal(got[t], want[t], t)
    ids = sorted(study_units)
    for name, frame in duck.study_views(ids).items():
        sort = [c for c in frame.columns if c != "loaded_at"]
        _equal(pg.study_views(ids)[name].sort(sort), frame.sort(sort), name)
    for name, frame in duck.report_inputs().items():
        _equal(pg.report_inputs()[name], frame, name)
    assert_frame_equal(pg.cohort_overview(), duck.cohort_overview(), check_exact=True)
    assert pg.cohort().schema == pl.Schema(COHORT_SCHEMA)
    assert pg.rows_per_study(ids, TABLES) == duck.rows_per_study(ids, TABLES)
    assert pg.study_info() == duck.study_info() and pg.stored_study_ids() == ids
    # the pooled results of the cohort, stored and read back
    from meta_bm.analysis.config import load_analyses
    from meta_bm.analysis.pooled import run_analysis
    from meta_bm.settings import packaged_analyses

    analysis = load_analyses(packaged_analyses()).analyses[0]
    tables = run_analysis(duck.cohort(analysis.endpoint), analysis, study_info=duck.study_info()).tables()
    for store in (duck, pg):
        store.replace_analysis(analysis.id, tables, {analysis.id: "v1"})
    want, got = duck.analysis_results([analysis.id]), pg.analysis_results([analysis.id])
    assert sum(f.height for f in want.values()) > 10
    for t in ANALYSIS_TABLES:
        _equal(got[t], want[t], t)
    assert pg.pooled_versions() == duck.pooled_versions() == {analysis.id: "v1"}
    # deleting everywhere: the same counts
    assert pg.delete_studies(["lit_2020"]) == duck.delete_studies(["lit_2020"])
    assert pg.stored_study_ids() == duck.stored_study_ids() == ["inst_2022", "notable_2021"]


def test_every_double_null_and_string_round_trips_exactly(pg_database):
    store = postgres_store(pg_database)
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**64, size=2000, dtype=np.uint64).view(np.float64)  # any bit pattern ...
    special = [5e-324, -5e-324, 2.2250738585072014e-308, 1e308, 1.7976931348623157e308, -0.0, 0.0, 0.1,
               1 / 3, float("inf"), float("-inf"), float("nan")]  # fmt: skip
    values = [*special, *bits[np.isfinite(bits)].tolist()]
    texts = ["", None, "ü€😀 naïve", 'a,"b"\n;c', "\\N", "NULL", " ", "\t"]
    frame = pl.DataFrame(
        {
            "study_id": "s",
            "curve_id": [texts[i % len(texts)] for i in range(len(values))],
            "row": pl.Series(range(len(values)), dtype=pl.Int32),
            "time": values,
            "survival": [None if i % 5 == 0 else v for i, v in enumerate(values)],
        }
    )
    store.replace_studies(["s"], {"raw_clicks": frame})
    columns = "study_id, curve_id, row, time, survival"
    copied = store.query(f"SELECT {columns} FROM raw_clicks ORDER BY row")  # read through COPY ... TO STDOUT
    # a timestamptz column is not read through CSV: the rows are fetched one by one
    fetched = store.query(f"SELECT {columns}, now() AS t FROM raw_clicks ORDER BY row")
    assert fetched.schema["t"] == pl.Datetime("us", "UTC")
    for back in (copied, fetched.drop("t")):
        assert back.schema == frame.schema
        for col in ("time", "survival"):  # bit for bit (NaN and -0.0 included)
            want = frame[col].to_numpy().view(np.uint64)
            got = back[col].to_numpy().view(np.uint64)
            assert np.array_equal(np.isnan(back[col].to_numpy()), np.isnan(frame[col].to_numpy()))
            assert np.array_equal(got, want), col
        assert back["curve_id"].to_list() == frame["curve_id"].to_list()  # '' and NULL, unicode kept
        assert back["survival"].null_count() == frame["survival"].null_count() > 0


def test_versions_depend_on_content_not_order(pg_database):
    store = postgres_store(pg_database)
    rows = pl.concat([_clicks("a", 3), _clicks("b", 2)])
    store.replace_studies(["a", "b"], {"raw_clicks": rows})
    first = store._versions({"q": "SELECT * FROM raw_clicks"})
    store.replace_studies(["a", "b"], {"raw_clicks": rows.reverse()})
    assert store._versions({"q": "SELECT * FROM raw_clicks"}) == first
    for changed in (
        rows.with_columns(time=pl.when(pl.col("row") == 1).then(-0.0).otherwise(pl.col("time"))),  # 1.0 -> -0.0
        rows.with_columns(curve_id=pl.when(pl.col("row") == 1).then(pl.lit("")).otherwise(pl.col("curve_id"))),
        rows.with_columns(curve_id=pl.when(pl.col("row") == 1).then(None).otherwise(pl.col("curve_id"))),
    ):
        store.replace_studies(["a", "b"], {"raw_clicks": changed})
        assert store._versions({"q": "SELECT * FROM raw_clicks"}) != first
    assert first["q"].startswith("5:")
    assert set(store.input_versions(["os"])) == {"cohort:os", "cohort"} | {
        f"report:{s}" for s in ("studies", "study_status", "fidelity", "published_comparison", "arms", "curves")
    }


def test_two_writers_replacing_the_same_studies_at_once_keep_exact_rows(pg_database):
    """Each writer replaces its own study and a shared one 20 times; without the per-study lock, READ
    COMMITTED DELETE+INSERT of the shared study would leave both writers' rows."""
    errors: list[BaseException] = []
    seen: list[int] = []  # rows of the shared study after each write (any committed state has 7)
    start = threading.Barrier(2)

    def writer(study: str) -> None:
        store = postgres_store(pg_database, lock_timeout=60)
        try:
            start.wait()
            for r in range(20):
                shared = _clicks("shared", 7, offset=100 * r + (0.5 if study == "w1" else 0.0))
                store.replace_studies([study, "shared"], {"raw_clicks": pl.concat([_clicks(study, 50, r), shared])})
                seen.append(store.query("SELECT count(*) n FROM raw_clicks WHERE study_id = 'shared'")["n"][0])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert seen == [7] * 40
    store = postgres_store(pg_database)
    got = store.query("SELECT study_id, count(*) n, max(time) t FROM raw_clicks GROUP BY 1 ORDER BY 1").rows()
    assert got[0][:2] == ("shared", 7) and got[1:] == [("w1", 50, 68.0), ("w2", 50, 68.0)]
    # the shared study's rows all come from one transaction (one writer's last round)
    assert store.query("SELECT DISTINCT floor(time / 100) r, time - floor(time) k FROM raw_clicks "
                       "WHERE study_id = 'shared'").height == 1  # fmt: skip


def test_a_writer_failing_mid_transaction_leaves_nothing_and_releases_its_locks(pg_database):
    store = postgres_store(pg_database, lock_timeout=5)
    store.replace_studies(["a"], {"raw_clicks": _clicks("a", 3), "arms": pl.DataFrame({"study_id": ["a"],
                                                                                       "arm_id": ["r"]})})  # fmt: skip
    bad = pl.DataFrame({"study_id": ["a"], "curve_id": ["c"], "row": ["not a number"]})
    with pytest.raises(Exception):  # noqa: B017 - the conversion error's type is polars', not our contract
        store.apply(
            [("arms", ["a"], pl.DataFrame({"study_id": ["a"], "arm_id": ["new"]})), ("study_status", ["a"],
             _status(["a"])), ("raw_clicks", ["a"], bad)]
        )  # fmt: skip
    assert store.query("SELECT count(*) n FROM raw_clicks")["n"][0] == 3
    assert store.query("SELECT arm_id FROM arms").rows() == [("r",)]
    assert store.query("SELECT count(*) n FROM study_status")["n"][0] == 0
    # the server fails the transaction after some rows went in (PostgreSQL text cannot hold NUL)
    ipd = pl.DataFrame({"study_id": ["a", "a"], "curve_id": ["c", "c\x00"]})
    with pytest.raises(Exception, match="0x00"):
        store.replace_studies(["a"], {"raw_clicks": _clicks("a", 9), "ipd": ipd})
    assert store.query("SELECT count(*) n FROM raw_clicks")["n"][0] == 3
    started = time.monotonic()  # the locks of the failed transactions are gone: no wait for lock_timeout
    store.replace_studies(["a"], {"raw_clicks": _clicks("a", 4)})
    assert time.monotonic() - started < 2 and store.query("SELECT count(*) n FROM raw_clicks")["n"][0] == 4


def test_a_writer_waits_for_a_study_another_transaction_holds_up_to_its_lock_timeout(pg_database):
    from meta_bm.store.postgres_store import _lock_key

    server, name = pg_database
    store = postgres_store(pg_database, lock_timeout=0.5)
    store.check()
    holder = server.connect(name)  # another writer, in the middle of replacing study "a"
    holder.autocommit = False
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("study", "a"),))
        started = time.monotonic()
        with pytest.raises(Exception, match="lock timeout"):
            store.replace_studies(["a", "b"], {"raw_clicks": _clicks("a", 2)})
        assert 0.4 < time.monotonic() - started < 5
        store.replace_studies(["b"], {"raw_clicks": _clicks("b", 3)})  # other studies are not held up
    finally:
        holder.rollback()
        holder.close()
    store.replace_studies(["a"], {"raw_clicks": _clicks("a", 2)})
    assert store.rows_per_study(["a", "b"], ["raw_clicks"]) == {"raw_clicks": {"a": 2, "b": 3}}


def test_a_batch_too_large_to_lock_study_by_study_waits_for_every_other_study_writer(pg_database):
    from meta_bm.store.postgres_store import MAX_STUDY_LOCKS, _lock_key

    server, name = pg_database
    store = postgres_store(pg_database, lock_timeout=0.5)
    ids = [f"s{i:04d}" for i in range(MAX_STUDY_LOCKS + 1)]
    status = _status(ids)
    store.replace_studies(ids[:MAX_STUDY_LOCKS], {"study_status": status.head(MAX_STUDY_LOCKS)})  # study by study
    holder = server.connect(name)  # a small writer in the middle of replacing a study outside the batch
    holder.autocommit = False
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_lock_key("studies", "all"),))
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("study", "other"),))
        store.replace_studies(ids[:3], {"study_status": status.head(3)})  # small writers run side by side
        with pytest.raises(Exception, match="lock timeout"):
            store.replace_studies(ids, {"study_status": status})
    finally:
        holder.rollback()
        holder.close()
    store.replace_studies(ids, {"study_status": status})
    assert store.query("SELECT count(*) n, count(DISTINCT study_id) d FROM study_status").rows() == [(len(ids),) * 2]


def test_writers_starting_together_on_an_empty_database_create_the_tables_once(pg_database):
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(i: int) -> None:
        try:
            store = postgres_store(pg_database)
            start.wait()
            store.replace_studies([f"s{i}"], {"raw_clicks": _clicks(f"s{i}", i + 1)})
            store.replace_analysis(f"a{i}", {"analysis_flags": pl.DataFrame({"analysis_id": [f"a{i}"], "n": [i]})})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    store = postgres_store(pg_database)
    assert store.rows_per_study(["s0", "s1", "s2", "s3"], ["raw_clicks"]) == {
        "raw_clicks": {"s0": 1, "s1": 2, "s2": 3, "s3": 4}
    }
    assert store.analysis_results()["analysis_flags"].sort("analysis_id")["n"].to_list() == [0, 1, 2, 3]


def test_result_tables_keep_their_frame_types_and_follow_a_new_layout(pg_database, tmp_path):
    frame = pl.DataFrame(
        {
            "analysis_id": ["x", "x"],
            "Study Label": ["ü", ""],
            "n": pl.Series([3, 4], dtype=pl.UInt32),
            "flag": pl.Series([1, None], dtype=pl.Int8),
            "big": pl.Series([2**64 - 1, 0], dtype=pl.UInt64),
            "hr": [float("nan"), -0.0],
            "ok": [True, None],
        }
    )
    pg, duck = postgres_store(pg_database), CohortStore(tmp_path / "x.duckdb")
    for store in (pg, duck):
        store.replace_analysis("x", {"analysis_groups": frame, "analysis_egger": frame.clear()})
        got = store.analysis_results(["x"])
        assert_frame_equal(got["analysis_groups"], frame, check_exact=True)
        assert got["analysis_egger"].schema == frame.schema and got["analysis_egger"].height == 0
        assert got["analysis_cox"].shape == (0, 0)
        # the layout changed: the table is recreated with the new columns
        store.replace_analysis("x", {"analysis_groups": pl.DataFrame({"analysis_id": ["x"], "z": [1.5]})})
        assert store.analysis_results()["analysis_groups"].rows() == [("x", 1.5)]


def test_read_runs_one_statement_and_refuses_writes(pg_database):
    store = postgres_store(pg_database)
    store.replace_studies(["a", "b"], {"study_status": _status(["a", "b"])})
    assert store.read("select study_id from study_status order by 1;")["study_id"].to_list() == ["a", "b"]
    with pytest.raises(psycopg2.Error, match="read-only"):
        store.read("delete from study_status")
    with pytest.raises(psycopg2.Error, match="read-only"):
        store.read("create table t (x int)")
    with pytest.raises(psycopg2.ProgrammingError, match="one SQL statement"):
        store.read("select 1; commit; delete from study_status")
    assert store.query("select count(*) n from study_status")["n"][0] == 2
    assert store.read("show timezone").rows() == [("UTC",)]  # not a query COPY takes: fetched
    assert store.query("select $x::text || ';' || '%' s", {"x": "50%"}).rows() == [("50%;%",)]


def test_an_unusable_server_names_the_setting_quickly(postgres_server, pg_database):
    from deploy.postgres import free_port

    server, name = pg_database

    def fails(store: PostgresCohortStore) -> str:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            store.check()
        assert time.monotonic() - started < 5
        return str(info.value)

    port = free_port()
    said = fails(PostgresCohortStore(server.host, port, server.user, server.password, name, connect_timeout=2))
    assert f"{PG_HOST_VAR}={server.host}" in said and f"{PG_PORT_VAR}={port}" in said
    wrong = "not-the-" + server.password
    said = fails(PostgresCohortStore(server.host, server.port, server.user, wrong, name))
    assert PG_USER_VAR in said and PG_PASSWORD_VAR in said and wrong not in said and server.password not in said
    said = fails(PostgresCohortStore(server.host, server.port, "nobody_here", server.password, name))
    assert f"{PG_USER_VAR}=nobody_here" in said
    said = fails(PostgresCohortStore(server.host, server.port, server.user, server.password, name + "_missing"))
    assert f"{PG_DATABASE_VAR}={name}_missing" in said and PG_PASSWORD_VAR not in said
    assert server.password not in repr(postgres_store(pg_database))
    postgres_store(pg_database).check()  # and the right settings work
