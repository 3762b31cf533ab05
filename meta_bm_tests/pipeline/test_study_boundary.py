"""The study boundary (``meta_bm.pipeline.study.process_study``): whatever a folder holds, it returns an
outcome and never raises, a bad study is located and stores nothing, and it never stops the others.

A seeded, bounded fuzz test writes valid synthetic folders (literature with and without a risk table,
institutional), mutates copies a few hundred times with ``random.Random(SEED)`` (byte flips,
truncation, NUL bytes, empty and UTF-16 files, odd YAML: deep nesting, ``!!int x``, huge integers,
duplicate keys; a symlink loop as clicks file, a symlink to ``/proc/self/mem``, patient columns
differing only in case, a patient without one endpoint, a file name over 255 bytes, a risk table
implying an absurd N, odd CSV cells, pathological click curves) and commits every outcome of the
batch, good and bad mixed, through :meth:`CohortStore.commit_studies`, as the study step does: into
an empty store, and into one holding a valid previous version of every study (which the bad ones
must keep). Deterministic: the same cases on every run. Named regression tests follow the issue.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

import meta_bm.pipeline.study as study_module
from meta_bm.pipeline.study import STUDY_UNIT_TABLES, StudyOutcome, process_studies, process_study
from meta_bm.simulation.study_folders import ArmSpec, write_institutional_study, write_literature_study
from meta_bm.store import CohortStore
from meta_bm_tests.byte_mutations import flip_bytes, truncate

SEED = 20261205
CASES = 300
STATUSES = {"ok", "rejected", "failed"}
# Mutations after which the folder is still valid: the study must come out ok.
BENIGN = {"none", "endpoint_empty"}


# ---------------------------------------------------------------- folders


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("boundary_bases")
    return {
        "lit": write_literature_study(
            root,
            "lit_2020",
            [ArmSpec("rr", "Re-resection", "re_resection", 30, 14.0), ArmSpec("ns", "NS", "non_surgical", 25, 9.0)],
            percent=True,
            seed=1,
        ),
        "notable": write_literature_study(
            root,
            "notable_2021",
            [ArmSpec("srs", "SRS", "re_srs", 40, 11.0)],
            risk_table=False,
            total_events=True,
            seed=2,
        ),
        "inst": write_institutional_study(
            root,
            "inst_2022",
            [ArmSpec("rr", "RR", "re_resection", 15, 18.0), ArmSpec("ns", "NS", "non_surgical", 12, 9.0)],
            seed=3,
        ),
    }


def _copy(base: Path, root: Path, sid: str) -> Path:
    """A copy of ``base`` as study ``sid`` (folder name and manifest study_id)."""
    folder = root / sid
    shutil.copytree(base, folder, symlinks=True)
    manifest = folder / "study.yaml"
    manifest.write_text(manifest.read_text().replace(f"study_id: {base.name}\n", f"study_id: {sid}\n", 1))
    return folder


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())


def _manifest(folder: Path) -> dict:
    return yaml.safe_load((folder / "study.yaml").read_text())


def _write_manifest(folder: Path, data: dict) -> None:
    (folder / "study.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def _blank_endpoint(folder: Path, rng: random.Random, endpoint: str = "local_pfs") -> str:
    """Empty both fields of one endpoint for one patient (valid: that patient lacks the endpoint)."""
    path = folder / "patients.csv"
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    ti, ei = head.index(f"{endpoint}_time"), head.index(f"{endpoint}_event")
    i = rng.randrange(1, len(lines))
    cells = lines[i].split(",")
    cells[ti] = cells[ei] = ""
    lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return cells[0]


def _mutate(rng: random.Random, folder: Path, kind: str) -> str:
    """Apply one mutation of ``kind``; returns what it did (for failure messages)."""
    files = _files(folder)
    target = rng.choice(files) if files else folder / "study.yaml"
    manifest = folder / "study.yaml"
    source = "institutional" if (folder / "patients.csv").exists() else "literature"
    data_files = [p for p in files if p.suffix == ".csv"]
    if kind == "none":
        return "unchanged"
    if kind == "flip":
        return flip_bytes(rng, target)
    if kind == "truncate":
        return truncate(rng, target)
    if kind == "nul":
        data = target.read_bytes()
        at = rng.randrange(len(data) + 1)
        target.write_bytes(data[:at] + b"\x00" * rng.randint(1, 4) + data[at:])
        return f"NUL bytes in {target.name}"
    if kind == "empty":
        target.write_bytes(b"")
        return f"empty {target.name}"
    if kind == "utf16":
        enc = rng.choice(["utf-16", "utf-16-le", "utf-16-be"])
        target.write_bytes(target.read_bytes().decode("utf-8", "replace").encode(enc))
        return f"{target.name} as {enc}"
    if kind == "deep":
        depth = rng.choice([30, 500, 5000])
        bracket = rng.choice(["[]", "{}"])
        nested = bracket[0] * depth + bracket[1] * depth if bracket == "[]" else "{a: " * depth + "1" + "}" * depth
        manifest.write_text(manifest.read_text() + f"notes: {nested}\n")
        return f"manifest nested {depth} deep"
    if kind == "int_tag":
        manifest.write_text(manifest.read_text() + rng.choice(["year: !!int x\n", "extra: !!int x\n"]))
        return "manifest gets !!int x"
    if kind == "huge_int":
        text = manifest.read_text()
        key = rng.choice(["year", "total_n", "total_events"])
        lines = text.splitlines()
        hits = [i for i, line in enumerate(lines) if line.strip().lstrip("- ").startswith(f"{key}:")]
        if not hits:
            lines.append("year: 100000000000000000000")
            key = "year"
        else:
            i = rng.choice(hits)
            lines[i] = lines[i].split(":")[0] + ": 100000000000000000000"
        manifest.write_text("\n".join(lines) + "\n")
        return f"manifest {key}: 100000000000000000000"
    if kind == "dup_key":
        lines = manifest.read_text().splitlines()
        top = [i for i, line in enumerate(lines) if line[:1].isalpha() and line.split(":", 1)[-1].strip()]
        i = rng.choice(top)
        lines.insert(i + 1, lines[i] if rng.random() < 0.5 else lines[i].split(":")[0] + ": other")
        manifest.write_text("\n".join(lines) + "\n")
        return f"manifest key {lines[i].split(':')[0]} twice"
    if kind == "symlink_loop":
        victim = rng.choice(data_files or files)
        victim.unlink()
        victim.symlink_to(victim.name)
        return f"{victim.name} is a symlink to itself"
    if kind == "proc_mem":
        if rng.random() < 0.5 and data_files:
            victim = rng.choice(data_files)
            victim.unlink()
        else:
            victim = folder / "stray.csv"
        victim.symlink_to("/proc/self/mem")
        return f"{victim.name} -> /proc/self/mem"
    if kind == "case_columns":
        if source != "institutional":
            clicks = rng.choice(data_files)
            lines = clicks.read_text().splitlines()
            lines.insert(0, "X,x")
            clicks.write_text("\n".join(lines) + "\n")
            return f"header X,x in {clicks.name}"
        path = folder / "patients.csv"
        lines = path.read_text().splitlines()
        lines = [lines[0] + ",OS_TIME"] + [line + "," + line.split(",")[2] for line in lines[1:]]
        path.write_text("\n".join(lines) + "\n")
        return "patients.csv has os_time and OS_TIME"
    if kind == "endpoint_empty":
        if source != "institutional":
            return "unchanged"
        return f"patient {_blank_endpoint(folder, rng, rng.choice(['os', 'local_pfs']))} without one endpoint"
    if kind == "long_name":
        data = _manifest(folder)
        name = "x" * rng.choice([256, 300, 1100]) + ".csv"
        if source == "institutional":
            data["patients"]["file"] = name
        else:
            data["curves"][0][rng.choice(["clicks", "risk_table"])] = name
        _write_manifest(folder, data)
        return f"manifest names a file of {len(name)} bytes"
    if kind == "absurd_risk":
        if source == "institutional":
            return "unchanged"
        data = _manifest(folder)
        curve = data["curves"][0]
        (folder / curve["clicks"]).write_text("0,1\n1,0.5\n2,0\n3,0\n5,0\n")
        curve["risk_table"] = curve.get("risk_table") or "absurd_risk.csv"
        (folder / curve["risk_table"]).write_text("time,n_risk\n4,50\n")
        curve.pop("total_events", None)
        if rng.random() < 0.5:
            curve.pop("total_n", None)  # N implied from the risk table
        else:
            curve["total_n"] = 50
        _write_manifest(folder, data)
        return "clicks 0,1 1,0.5 2,0 3,0 5,0 with risk table 4,50"
    if kind == "csv_cell":
        path = rng.choice(data_files)
        lines = path.read_text().splitlines()
        i = rng.randrange(len(lines))
        cells = lines[i].split(",")
        cells[rng.randrange(len(cells))] = rng.choice(ODD_CELLS)
        lines[i] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")
        return f"{path.name} row {i + 1}: {lines[i][:60]!r}"
    if kind == "odd_clicks":
        if source == "institutional":
            return "unchanged"
        clicks = _manifest(folder)["curves"][0]["clicks"]
        text = rng.choice(ODD_CLICKS)
        (folder / clicks).write_text(text)
        return f"{clicks} is {text[:60]!r}"
    raise AssertionError(kind)


def _try_mutate(rng: random.Random, folder: Path, kind: str) -> str:
    """``_mutate``, where a mutation that needs a readable file an earlier one broke does what it can."""
    try:
        return _mutate(rng, folder, kind)
    except Exception as exc:  # (yaml errors, RecursionError on deep nesting, unreadable files)
        return f"{kind} (cut short: {type(exc).__name__})"


ODD_CELLS = ["1e400", "nan", "-inf", "inf", "-5", "2", "0.5", "0", "", "abc", "1e9", "1e-300", "99999999999999999999"]
ODD_CLICKS = [
    "0,1\n",
    "0,1\n5,1\n10,1\n",
    "0,0.5\n1,0.6\n2,0.9\n3,1\n",
    "3,1\n3,0.5\n3,0\n",
    "0,1\n1,0\n",
    "0,1\n1e-9,0.5\n2e-9,0.2\n",
    "0,100\n1,50\n2,0\n",
    "0,1\n" + "".join(f"{i / 100:g},{1 - i / 10001:.6f}\n" for i in range(1, 10001)),
    "-1,1\n0,0.9\n5,0.2\n",
    "0,1.2\n1,0.7\n2,-0.1\n",
]
KINDS = [
    "csv_cell",
    "csv_cell",
    "odd_clicks",
    "odd_clicks",
    "none",
    "none",
    "flip",
    "flip",
    "truncate",
    "nul",
    "empty",
    "utf16",
    "deep",
    "int_tag",
    "huge_int",
    "dup_key",
    "symlink_loop",
    "proc_mem",
    "case_columns",
    "endpoint_empty",
    "endpoint_empty",
    "long_name",
    "absurd_risk",
    "absurd_risk",
]


# ---------------------------------------------------------------- what an outcome must be


def _names_the_folder(problem: str, folder: Path) -> bool:
    return problem.startswith((f"{folder}/", f"{folder}:", f"{folder},"))


def _outcome_problems(outcome: StudyOutcome, folder: Path) -> list[str]:
    """What is wrong with an outcome (empty: fine)."""
    out = []
    if outcome.status not in STATUSES:
        return [f"status {outcome.status!r}"]
    if outcome.study_id != folder.name:
        out.append(f"study_id {outcome.study_id!r}")
    if outcome.fingerprint is None or len(outcome.fingerprint) != 64:
        out.append(f"fingerprint {outcome.fingerprint!r}")
    if not outcome.ok:
        if not outcome.problems:
            out.append(f"{outcome.status} without problems")
        out += [
            f"problem names no path in the folder: {p[:300]!r}"
            for p in outcome.problems
            if not _names_the_folder(p, folder)
        ]
        return out
    t = outcome.tables
    for name, frame in t.items():
        if name not in STUDY_UNIT_TABLES:
            out.append(f"unexpected table {name}")
        elif "study_id" not in frame.columns or frame["study_id"].unique().to_list() != [folder.name]:
            out.append(f"{name}: rows of another study")
    fidelity = t.get("fidelity")
    blocked = (
        set(fidelity.filter(pl.col("status") == "blocked")["curve_id"].to_list()) if fidelity is not None else set()
    )
    cohort = t.get("cohort")
    if cohort is None or cohort.height == 0:
        # (a literature study whose every curve the fidelity gate holds out has no cohort rows)
        if outcome.source == "institutional" or fidelity is None or fidelity.height != len(blocked):
            out.append("ok without cohort rows")
        return out
    if outcome.source == "literature" and set(cohort["curve_id"].to_list()) & blocked:
        out.append(f"curves {sorted(blocked)} are held out by the fidelity gate but have cohort rows")
    if cohort["time_months"].is_null().any() or not (cohort["time_months"] >= 0).all():
        out.append("cohort times missing or negative")
    if not cohort["time_months"].is_finite().all():
        out.append("cohort times not finite")
    if not cohort["event"].is_in([0, 1]).all():
        out.append(f"cohort events {sorted(set(cohort['event'].to_list()))}")
    if cohort["source_sha256"].is_null().any():
        out.append("cohort rows without source_sha256")
    files = t.get("source_files")
    if files is None or not set(cohort["source_sha256"].to_list()) <= set(files["sha256"].to_list()):
        out.append("cohort source_sha256 not among the study's source files")
    elif any(
        hashlib.sha256((folder / f).read_bytes()).hexdigest() != h
        for f, h in files.select("file", "sha256").iter_rows()
    ):
        out.append("a source file's sha256 is not its content's")
    ipd = t.get("ipd")
    if ipd is not None and not ((ipd["time"] >= 0).all() and ipd["event"].is_in([0, 1]).all()):
        out.append("ipd times negative or events outside {0, 1}")
    return out


def _status_frame(outcomes: dict[str, StudyOutcome]) -> pl.DataFrame:
    """As the study step builds it (meta_bm.orchestration.assets.studies)."""
    return pl.DataFrame(
        {
            "study_id": list(outcomes),
            "stage": [o.stage for o in outcomes.values()],
            "status": [o.status for o in outcomes.values()],
            "fingerprint": [o.fingerprint for o in outcomes.values()],
            "pipeline_version": "test",
            "message": [o.message for o in outcomes.values()],
        },
        schema_overrides={"fingerprint": pl.String, "message": pl.String},
    )


def _commit(store: CohortStore, outcomes: dict[str, StudyOutcome]) -> None:
    store.commit_studies(
        {sid: o.tables for sid, o in outcomes.items() if o.ok}, _status_frame(outcomes), STUDY_UNIT_TABLES
    )


def _rows(store: CohortStore, study_ids: list[str]) -> dict[str, dict[str, int]]:
    return store.rows_per_study(study_ids, [*STUDY_UNIT_TABLES, "study_status"])


# ---------------------------------------------------------------- the fuzz test


def test_process_study_never_raises_and_a_mixed_batch_commits_only_the_good(bases, tmp_path):
    rng = random.Random(SEED)
    root = tmp_path / "studies"
    root.mkdir()
    outcomes: dict[str, StudyOutcome] = {}
    labels: dict[str, str] = {}
    failures: list[str] = []
    for case in range(CASES):
        kind = rng.choice(list(bases))
        sid = f"{kind}_{case:03d}"
        folder = _copy(bases[kind], root, sid)
        kinds = [rng.choice(KINDS) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        done = [_try_mutate(rng, folder, k) for k in kinds]
        label = f"case {case} {sid}: " + "; ".join(done)
        labels[sid] = label
        try:
            outcome = process_study(folder)
        except BaseException as exc:  # (anything escaping is the defect under test)
            failures.append(f"{label}: {type(exc).__name__} escaped process_study: {str(exc)[:300]}")
            continue
        outcomes[sid] = outcome
        problems = _outcome_problems(outcome, folder)
        if set(kinds) <= BENIGN and not outcome.ok:
            problems.append(f"a valid folder came out {outcome.status}: {outcome.message}")
        failures += [f"{label}: {p}" for p in problems]
    assert not failures, "\n".join(failures)
    counts = {s: sum(o.status == s for o in outcomes.values()) for s in STATUSES}
    assert counts["ok"] >= 30 and counts["rejected"] >= CASES // 3, counts

    store = CohortStore(tmp_path / "batch.duckdb")
    _commit(store, outcomes)
    rows = _rows(store, list(outcomes))
    for sid, o in outcomes.items():
        for table in STUDY_UNIT_TABLES:
            want = o.tables[table].height if o.ok and table in o.tables else 0
            assert rows[table][sid] == want, f"{labels[sid]}: {table} has {rows[table][sid]} rows, expected {want}"
        assert rows["study_status"][sid] == 1, labels[sid]
    status = dict(store.query("SELECT study_id, status FROM study_status").rows())
    assert status == {sid: o.status for sid, o in outcomes.items()}

    # Where every study already has a valid previous version, the same batch replaces the good ones
    # and leaves each bad one's previous rows as they were (only its status changes).
    previous = {k: process_study(b) for k, b in bases.items()}
    assert all(o.ok for o in previous.values())
    before = {sid: _relabel(previous[sid.rsplit("_", 1)[0]], sid) for sid in outcomes}
    store = CohortStore(tmp_path / "previous.duckdb")
    _commit(store, before)
    _commit(store, outcomes)
    rows = _rows(store, list(outcomes))
    for sid, o in outcomes.items():
        kept = o if o.ok else before[sid]
        for table in STUDY_UNIT_TABLES:
            want = kept.tables[table].height if table in kept.tables else 0
            assert rows[table][sid] == want, f"{labels[sid]}: {table} has {rows[table][sid]} rows, expected {want}"
    status = dict(store.query("SELECT study_id, status FROM study_status").rows())
    assert status == {sid: o.status for sid, o in outcomes.items()}


def _relabel(outcome: StudyOutcome, sid: str) -> StudyOutcome:
    """The outcome of another study as if it were ``sid``'s (its rows keyed by ``sid``)."""
    tables = {t: f.with_columns(pl.lit(sid).alias("study_id")) for t, f in outcome.tables.items()}
    return dataclasses.replace(outcome, study_id=sid, tables=tables)


# ---------------------------------------------------------------- regressions of the issue


def test_institutional_patient_without_one_endpoint_is_stored(bases, tmp_path):
    folder = _copy(bases["inst"], tmp_path, "inst_2023")
    path = folder / "patients.csv"
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    cells = lines[1].split(",")
    patient = cells[0]
    cells[head.index("local_pfs_time")] = cells[head.index("local_pfs_event")] = ""
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")

    outcome = process_study(folder)
    assert outcome.ok, outcome.message
    cohort = outcome.tables["cohort"]
    mine = cohort.filter(pl.col("patient_id") == patient)
    assert mine["endpoint"].to_list() == ["os"]
    n_patients = len(lines) - 1
    assert cohort.filter(pl.col("endpoint") == "os").height == n_patients
    assert cohort.filter(pl.col("endpoint") == "local_pfs").height == n_patients - 1
    store = CohortStore(tmp_path / "c.duckdb")
    _commit(store, {"inst_2023": outcome})
    stored = store.query("SELECT endpoint FROM cohort WHERE patient_id = $p", {"p": patient})
    assert stored["endpoint"].to_list() == ["os"]


def test_a_special_file_in_one_folder_does_not_stop_the_others(bases, tmp_path):
    root = tmp_path / "studies"
    root.mkdir()
    good = [_copy(bases[k], root, f"{k}_2024") for k in ("lit", "notable", "inst")]
    bad = _copy(bases["lit"], root, "special_2024")
    (bad / "stray.csv").symlink_to("/proc/self/mem")
    clicks = next(p for p in _files(bad) if p.name.endswith("_clicks.csv"))
    clicks.unlink()
    clicks.symlink_to("/proc/self/mem")
    folders = sorted([*good, bad])
    (root / "mem_2024").symlink_to("/proc/self/mem")  # and a special entry among the study folders

    from meta_bm.orchestration.resources import StudyFolders

    fingerprints = StudyFolders(root=str(root)).fingerprints()  # the sensor's and the runner's view
    assert sorted(fingerprints) == sorted(f.name for f in folders)
    assert all(len(v) == 64 for v in fingerprints.values())
    outcomes = {f.name: o for f, o in zip(folders, process_studies(folders), strict=True)}
    assert {sid for sid, o in outcomes.items() if o.ok} == {f.name for f in good}
    spoiled = outcomes["special_2024"]
    assert spoiled.status == "rejected" and spoiled.fingerprint == fingerprints["special_2024"]
    assert any(p.startswith(f"{bad}/") and clicks.name in p for p in spoiled.problems), spoiled.problems
    store = CohortStore(tmp_path / "c.duckdb")
    _commit(store, outcomes)
    rows = _rows(store, list(outcomes))
    assert all(rows["cohort"][f.name] > 0 for f in good)
    assert all(rows[t]["special_2024"] == 0 for t in STUDY_UNIT_TABLES)


def test_any_exception_inside_a_stage_is_caught_at_the_study_boundary(bases, tmp_path, monkeypatch):
    folder = _copy(bases["lit"], tmp_path, "boom_2024")

    def boom(*args, **kwargs):
        raise RuntimeError("a bug in a stage")

    monkeypatch.setattr(study_module, "compare_published", boom)
    outcome = process_study(folder)
    assert outcome.status == "failed" and not outcome.tables
    assert outcome.fingerprint is not None and outcome.source == "literature"
    assert len(outcome.problems) == 1
    assert outcome.problems[0].startswith(f"{folder}: ")
    assert "RuntimeError" in outcome.problems[0] and "a bug in a stage" in outcome.problems[0]
