"""``meta-bm run`` killed at seeded random moments, then rerun: the store ends exactly as after a clean run.

The issue: "A test kills the run at random points (seeded, >= 10 points, real process kill) and asserts
after each rerun: all tables agree with a clean run bit for bit, and every cohort row's source_sha256
is the hash of a file stored for that study."

One clean ``meta-bm run`` (a real subprocess, its own Dagster instance) gives the reference snapshot of
every DuckDB table (timestamps dropped, rows sorted, floats compared by their exact bits) and the
duration of a whole run. Then, per kill point, on a fresh Dagster instance and database: the same
command is started in its own process group and the whole group (the CLI, the gRPC code server it
starts and the run worker the code server starts) gets SIGKILL after a delay drawn over that duration,
so the kills land before the run is launched, while the code location loads, during the study step,
during the pooled step and after. Some scenarios also kill the first rerun. What a kill left behind
must already keep every study whole (all of its rows as in the reference, or none). Then a normal
``meta-bm run`` (which first fails the dead run and frees its pool slot) must succeed and leave every
table equal to the reference. The instance limits the ``duckdb`` pool to one slot, as the repository's
``.dagster_home/dagster.yaml`` does, so a slot held by a killed run would block the rerun.

A second test kills only the ``meta-bm run`` process mid-run, so the run worker (a child of the code
server) lives on: the rerun must wait for it (not fail a live run) and end with the same tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from meta_bm.pipeline.study import STUDY_UNIT_TABLES
from meta_bm.settings import analyses_file
from meta_bm.store import ANALYSIS_TABLES, TABLES
from meta_bm.store.cohort_store import POOLED_VERSIONS

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # (the checkout: its workspace.yaml)
SEED = 20261205
KILLS_FIRST_HALF = 3  # import, code server start-up, run launch
KILLS_SECOND_HALF = 7  # study step, pooled step, printing, shutdown
SECOND_KILL_SHARE = 0.3  # scenarios whose first rerun is killed too
LEADER_KILLS = 3  # scenarios killing only the meta-bm process, mid-run
RUN_TIMEOUT = 300.0
SNAPSHOT_TABLES = (*TABLES, *ANALYSIS_TABLES, POOLED_VERSIONS)
DROPPED_COLUMNS = {"loaded_at", "updated_at"}
DAGSTER_YAML = """telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""

Snapshot = dict[str, tuple[tuple[str, ...], list[tuple]] | None]


# ---------------------------------------------------------------- processes


def _home(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text(DAGSTER_YAML)
    return path


def _start(studies: Path, work: Path, home: Path) -> subprocess.Popen:
    """``meta-bm run`` in its own session (so its process group is the CLI and everything it starts).

    The analyses config is the test's own copy (``analyses.yaml`` next to ``studies``): an edit of
    the packaged analyses config during the test must not change the tables between scenarios.
    """
    env = {**os.environ, "DAGSTER_HOME": str(home), "META_BM_ANALYSES": str(studies.parent / "analyses.yaml")}
    for name in ("META_BM_STUDIES", "META_BM_DATABASE", "META_BM_OUTPUT", "META_BM_DEPLOYMENT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "meta_bm.cli", "run", "--studies", str(studies)]
    cmd += ["--database", str(work / "c.duckdb"), "--output", str(work / "out"), "-q"]
    log = open(work / f"run_{time.monotonic_ns()}.log", "wb")  # closed by _output
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc.log_file = log  # type: ignore[attr-defined]
    return proc


def _output(proc: subprocess.Popen) -> str:
    proc.log_file.close()  # type: ignore[attr-defined]
    return Path(proc.log_file.name).read_text(errors="replace")  # type: ignore[attr-defined]


def _live_processes(home: Path) -> dict[int, tuple[int, str]]:
    """Live (not zombie) processes started with this scenario's DAGSTER_HOME: ``{pid: (pgid, command)}``."""
    marker = b"DAGSTER_HOME=" + str(home).encode() + b"\x00"
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker not in f.read() + b"\x00":
                    continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                state, _ppid, pgid = f.read().rsplit(b")", 1)[1].split()[:3]
            if state in (b"Z", b"X"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\x00", b" ").decode(errors="replace").strip()
            found[int(entry)] = (int(pgid), cmd)
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def _reap(procs: list[subprocess.Popen], home: Path, escaped: list[str]) -> None:
    """Kill whatever is left of this scenario's processes: the process groups of ``procs``, then any
    process of the scenario outside them (recorded in ``escaped``: the group kill missed it)."""
    groups = {p.pid for p in procs}
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(30)
    deadline = time.monotonic() + 15
    while True:
        left = _live_processes(home)
        if not left:
            return
        for pid, (pgid, cmd) in left.items():
            if pgid not in groups:
                escaped.append(f"{pid} (group {pgid}): {cmd[:160]}")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of {home} survive SIGKILL: {left}")
        time.sleep(0.1)


def _run_to_end(
    studies: Path, work: Path, home: Path, escaped: list[str], earlier: tuple[subprocess.Popen, ...] = ()
) -> tuple[int, str, float]:
    """One normal ``meta-bm run``: its exit code, output and duration. Then its leftovers (and those
    of the ``earlier`` runs of the scenario) are killed."""
    t0 = time.monotonic()
    proc = _start(studies, work, home)
    try:
        code = proc.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = -1
    seconds = time.monotonic() - t0
    # a finished run's code server stops on its own; give it a moment before killing it
    deadline = time.monotonic() + 5
    while any(g == proc.pid for g, _ in _live_processes(home).values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    _reap([proc, *earlier], home, escaped)
    return code, _output(proc), seconds


def _run_killed(studies: Path, work: Path, home: Path, delay: float, escaped: list[str]) -> None:
    """Start ``meta-bm run`` and SIGKILL its whole process group after ``delay`` seconds."""
    proc = _start(studies, work, home)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(delay)
    _reap([proc], home, escaped)
    _output(proc)


# ---------------------------------------------------------------- what the store and the instance hold


def _cell(v: object) -> object:
    return v.hex() if isinstance(v, float) else v  # exact bits (also -0.0 vs 0.0)


def _snapshot(db: Path, scratch: Path) -> Snapshot:
    """Every table's columns and sorted rows, read from a copy (the crashed files stay as they are)."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    if not db.exists():
        return dict.fromkeys(SNAPSHOT_TABLES)
    for f in db.parent.glob(db.name + "*"):
        if not f.name.endswith(".lock"):
            shutil.copy2(f, scratch / f.name)
    out: Snapshot = {}
    with duckdb.connect(str(scratch / db.name)) as con:
        existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert existing <= set(SNAPSHOT_TABLES), f"unexpected tables {existing - set(SNAPSHOT_TABLES)}"
        for t in SNAPSHOT_TABLES:
            if t not in existing:
                out[t] = None
                continue
            cols = tuple(r[0] for r in con.execute(f"DESCRIBE {t}").fetchall() if r[0] not in DROPPED_COLUMNS)
            select = ", ".join(f'"{c}"' for c in cols)
            rows = con.execute(f"SELECT {select} FROM {t}").fetchall()
            out[t] = (cols, sorted((tuple(_cell(v) for v in r) for r in rows), key=repr))
    return out


def _differences(got: Snapshot, want: Snapshot, limit: int = 4) -> list[str]:
    out = []
    for t in SNAPSHOT_TABLES:
        g, w = got.get(t), want.get(t)
        if g == w:
            continue
        if g is None or w is None:
            out.append(
                f"{t}: {'missing' if g is None else 'present'} (reference: {'missing' if w is None else 'present'})"
            )
            continue
        if g[0] != w[0]:
            out.append(f"{t}: columns {g[0]} != reference {w[0]}")
            continue
        only_got = [r for r in g[1] if r not in w[1]]
        only_want = [r for r in w[1] if r not in g[1]]
        out.append(
            f"{t} ({len(g[1])} rows, reference {len(w[1])}), columns {g[0]}:\n"
            f"    only after the rerun: {only_got[:limit]}\n    only in the reference: {only_want[:limit]}"
        )
    return out


def _study_rows(snap: Snapshot, table: str, sid: str) -> list[tuple]:
    entry = snap.get(table)
    if entry is None:
        return []
    i = entry[0].index("study_id")
    return [r for r in entry[1] if r[i] == sid]


def _torn_studies(snap: Snapshot, reference: Snapshot, study_ids: list[str]) -> list[str]:
    """Studies a crash left half-written: some unit tables with the reference's rows, some not."""
    problems = []
    for sid in study_ids:
        stored = bool(_study_rows(snap, "studies", sid))
        for t in (*STUDY_UNIT_TABLES, "study_status"):
            got = _study_rows(snap, t, sid)
            want = _study_rows(reference, t, sid) if stored else []
            if got != want:
                problems.append(
                    f"{sid} {'stored' if stored else 'not stored'}, but {t} has {len(got)} rows != {len(want)}"
                )
    return problems


def _provenance_problems(snap: Snapshot, studies: Path) -> list[str]:
    """Cohort rows whose source (or risk table) hash is no file stored for that study; stored hashes
    that are not the hash of the study's file on disk."""
    problems = []
    files_cols, files = snap["source_files"] or ((), [])
    f = {c: i for i, c in enumerate(files_cols)}
    stored = {(r[f["study_id"]], r[f["sha256"]]) for r in files}
    for r in files:
        path = studies / r[f["study_id"]] / r[f["file"]]
        if hashlib.sha256(path.read_bytes()).hexdigest() != r[f["sha256"]]:
            problems.append(f"source_files: {path} does not hash to {r[f['sha256']]}")
    cohort_cols, cohort = snap["cohort"] or ((), [])
    c = {name: i for i, name in enumerate(cohort_cols)}
    for r in cohort:
        for col in ("source_sha256", "risk_table_sha256"):
            value = r[c[col]]
            if (value is not None or col == "source_sha256") and (r[c["study_id"]], value) not in stored:
                problems.append(f"cohort row {r[c['study_id']]}/{r[c['patient_id']]}: {col} {value} is no stored file")
    return problems


def _copy_if_present(src: str, dst: str) -> None:
    """Copy one file of a live instance (a run worker may still be writing: SQLite's -shm/-wal come and go)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.copy2(src, dst)


def _copy_live_tree(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, copy_function=_copy_if_present)


def _phase(home: Path, scratch: Path, committed: bool) -> str:
    """Where the kill landed, from the killed instance's event log (read from a copy)."""
    storage = home / "history"
    if not (storage / "runs.db").exists():
        return "before any run was created"
    _copy_live_tree(storage, scratch)
    try:
        with contextlib.closing(sqlite3.connect(scratch / "runs.db")) as con:
            runs = con.execute("SELECT run_id FROM runs").fetchall()
        if not runs:
            return "before any run was created"
        with contextlib.closing(sqlite3.connect(scratch / "runs" / f"{runs[0][0]}.db")) as con:
            events = set(con.execute("SELECT dagster_event_type, coalesce(step_key, '') FROM event_logs").fetchall())
    except sqlite3.Error as exc:
        return f"unknown ({exc})"
    if ("PIPELINE_SUCCESS", "") in events:
        return "after the run succeeded"
    if ("STEP_SUCCESS", "pooled") in events:
        return "after the pooled step"
    if ("STEP_START", "pooled") in events:
        return "during the pooled step"
    if ("STEP_SUCCESS", "study_unit") in events:
        return "between the study and pooled steps"
    if ("STEP_START", "study_unit") in events:
        return "during the study step" + (" (after its commit)" if committed else " (before its commit)")
    return "run created, before its first step"


# ---------------------------------------------------------------- the test


def _clean_reference(studies_root: Path, tmp_path: Path, escaped: list[str]) -> tuple[Path, list[str], Snapshot, float]:
    """The test's copy of the studies (and analyses config), a clean run's snapshot and its duration."""
    studies = tmp_path / "kill_studies"
    shutil.copytree(studies_root, studies)
    shutil.copy2(analyses_file(), tmp_path / "analyses.yaml")
    clean = tmp_path / "clean"
    clean.mkdir()
    code, text, seconds = _run_to_end(studies, clean, _home(clean / "home"), escaped)
    assert code == 0, text
    reference = _snapshot(clean / "c.duckdb", tmp_path / "scratch")
    assert all(reference[t] is not None for t in SNAPSHOT_TABLES), [t for t in SNAPSHOT_TABLES if not reference[t]]
    study_ids = sorted(p.name for p in studies.iterdir())
    assert {r[0] for r in reference["cohort"][1]} == set(study_ids)
    assert not _provenance_problems(reference, studies)
    return studies, study_ids, reference, seconds


def _after_rerun(code: int, text: str, work: Path, reference: Snapshot, studies: Path, scratch: Path) -> list[str]:
    if code != 0:
        return [f"the rerun failed (exit {code}):\n{text[-3000:]}"]
    after = _snapshot(work / "c.duckdb", scratch)
    problems = _differences(after, reference)
    if after["cohort"] is not None:
        problems += _provenance_problems(after, studies)[:10]
    return problems


def _run_statuses(home: Path, scratch: Path) -> dict[str, str]:
    """``{run_id: status}`` of the instance's runs (read from a copy)."""
    if not (home / "history" / "runs.db").exists():
        return {}
    _copy_live_tree(home / "history", scratch)
    with contextlib.closing(sqlite3.connect(scratch / "runs.db")) as con:
        return dict(con.execute("SELECT run_id, status FROM runs ORDER BY create_timestamp").fetchall())


def test_runs_killed_at_random_points_recover_to_a_clean_runs_tables(studies_root, tmp_path):
    rng = random.Random(SEED)
    escaped: list[str] = []
    t_start = time.monotonic()
    studies, study_ids, reference, clean_seconds = _clean_reference(studies_root, tmp_path, escaped)

    # stratified over the clean run's duration, more of them where the steps run
    half = clean_seconds / 2
    delays = [half * (i + rng.random()) / KILLS_FIRST_HALF for i in range(KILLS_FIRST_HALF)]
    delays += [half + half * (i + rng.random()) / KILLS_SECOND_HALF for i in range(KILLS_SECOND_HALF)]
    log = [f"clean run {clean_seconds:.1f} s"]
    failures = []
    for n, delay in enumerate(delays):
        work = tmp_path / f"kill{n}"
        work.mkdir()
        home = _home(work / "home")
        _run_killed(studies, work, home, delay, escaped)
        crashed = _snapshot(work / "c.duckdb", tmp_path / "scratch")
        committed = bool(crashed["studies"] and crashed["studies"][1])
        phase = _phase(home, tmp_path / "scratch_home", committed)
        torn = _torn_studies(crashed, reference, study_ids)
        line = f"kill {n} at {delay:.2f} s: {phase}"
        if rng.random() < SECOND_KILL_SHARE:
            second = rng.uniform(0.1, clean_seconds)
            _run_killed(studies, work, home, second, escaped)
            torn += _torn_studies(_snapshot(work / "c.duckdb", tmp_path / "scratch"), reference, study_ids)
            line += f"; its rerun killed at {second:.2f} s"
        code, text, seconds = _run_to_end(studies, work, home, escaped)
        line += f"; rerun {seconds:.1f} s, exit {code}"
        log.append(line)
        problems = [f"half-written after the kill: {p}" for p in torn]
        problems += _after_rerun(code, text, work, reference, studies, tmp_path / "scratch")
        if problems:
            failures.append(f"{line}\n  " + "\n  ".join(problems))
        shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - t_start
    print("\n".join([*log, f"total {total:.0f} s"]))
    assert not failures, "\n".join(failures)
    assert not escaped, f"processes escaped the run's process group: {escaped}"


def test_a_killed_runner_whose_run_worker_lives_on(studies_root, tmp_path):
    """Only the ``meta-bm run`` process is killed (its run worker, under the code server, goes on):
    the rerun waits for that worker instead of failing its run, and ends with a clean run's tables."""
    rng = random.Random(SEED + 1)
    escaped: list[str] = []
    t_start = time.monotonic()
    studies, study_ids, reference, clean_seconds = _clean_reference(studies_root, tmp_path, escaped)
    log = [f"clean run {clean_seconds:.1f} s"]
    failures = []
    for n in range(LEADER_KILLS):
        work = tmp_path / f"leader{n}"
        work.mkdir()
        home = _home(work / "home")
        delay = clean_seconds * rng.uniform(0.5, 0.85)
        proc = _start(studies, work, home)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(delay)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        _output(proc)
        group = [cmd for g, cmd in _live_processes(home).values() if g == proc.pid]
        worker = any("spawn_main" in cmd for cmd in group)
        crashed = _snapshot(work / "c.duckdb", tmp_path / "scratch")
        phase = _phase(home, tmp_path / "scratch_home", bool(crashed["studies"] and crashed["studies"][1]))
        torn = _torn_studies(crashed, reference, study_ids)
        killed_runs = list(_run_statuses(home, tmp_path / "scratch_home"))
        code, text, seconds = _run_to_end(studies, work, home, escaped, earlier=(proc,))
        statuses = _run_statuses(home, tmp_path / "scratch_home")
        first = statuses[killed_runs[0]] if killed_runs else "never created"
        line = (
            f"runner killed at {delay:.2f} s: {phase}, run worker {'alive' if worker else 'not running'}; "
            f"rerun {seconds:.1f} s, exit {code}; the killed runner's run: {first}"
        )
        log.append(line)
        problems = [f"half-written after the kill: {p}" for p in torn]
        problems += _after_rerun(code, text, work, reference, studies, tmp_path / "scratch")
        if worker and first != "SUCCESS":
            problems.append(f"the rerun did not wait for the killed run's live worker: that run ended {first}")
        if problems:
            failures.append(f"{line}\n  " + "\n  ".join(problems))
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join([*log, f"total {time.monotonic() - t_start:.0f} s"]))
    assert not failures, "\n".join(failures)
    assert not escaped, f"processes escaped the run's process group: {escaped}"
