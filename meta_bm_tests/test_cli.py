"""The meta-bm command: output format, stderr summary, exit status on bad input."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from meta_bm.cli import main
from meta_bm.simulation import CAREFUL, digitize, public_pairs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def curve_files(tmp_path):
    t, e = public_pairs()[1].arms[0]
    sim = digitize(t, e, CAREFUL, seed=3)
    clicks = tmp_path / "arm.csv"
    clicks.write_text(
        "time;survival\n"
        + "".join(
            f"{a:.5f};{b * 100:.3f}\n".replace(".", ",")
            for a, b in zip(sim.click_time, sim.click_survival, strict=True)
        )
    )
    risk = tmp_path / "risk.csv"
    risk.write_text("time,n_risk\n" + "".join(f"{a:g},{b}\n" for a, b in zip(sim.risk_time, sim.n_risk, strict=True)))
    return clicks, risk, sim


def test_reconstruct_writes_ipd_and_summary(curve_files, tmp_path, capsys):
    clicks, risk, sim = curve_files
    out = tmp_path / "ipd.csv"
    assert (
        main(
            [
                "reconstruct",
                str(clicks),
                "--risk-table",
                str(risk),
                "--total-events",
                str(sim.total_events),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    lines = out.read_text().splitlines()
    assert lines[0] == "time,event"
    data = np.array([[float(x) for x in ln.split(",")] for ln in lines[1:]])
    assert data.shape == (sim.total_n, 2)
    assert int(data[:, 1].sum()) == sim.total_events
    assert set(np.unique(data[:, 1])) <= {0.0, 1.0}
    err = capsys.readouterr().err
    assert f"events {sim.total_events} (published {sim.total_events})" in err
    assert "numbers at risk" in err


def test_reconstruct_to_stdout_without_table(curve_files, capsys):
    clicks, _, sim = curve_files
    assert main(["reconstruct", str(clicks), "--total-n", str(sim.total_n)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "time,event" and len(out) == sim.total_n + 1


def test_bad_input_exits_2_naming_file_and_row(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("0,1\n1,0.9\n2,abc\n3,0.5\n")
    assert main(["reconstruct", str(bad), "--total-n", "10"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv, row 3" in err and "non-numeric" in err
    assert main(["reconstruct", str(tmp_path / "missing.csv"), "--total-n", "10"]) == 2
    assert "missing.csv: file not found" in capsys.readouterr().err
    rising = tmp_path / "risk.csv"
    rising.write_text("time,n_risk\n0,10\n5,12\n")
    good = tmp_path / "good.csv"
    good.write_text("0,1\n1,0.9\n2,0.8\n")
    assert main(["reconstruct", str(good), "--risk-table", str(rising)]) == 2
    assert "risk.csv, row 3: n_risk increases" in capsys.readouterr().err


def test_output_file_untouched_on_error(tmp_path):
    out = tmp_path / "ipd.csv"
    out.write_text("precious\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("0,1\n")
    assert main(["reconstruct", str(bad), "--total-n", "5", "-o", str(out)]) == 2
    assert out.read_text() == "precious\n"


def test_examples_main_job_runs_on_shipped_data():
    proc = subprocess.run(
        [sys.executable, "-m", "meta_bm.cli", "examples", "--data", str(ROOT / "data" / "examples")],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [ln for ln in proc.stdout.splitlines()[2:] if ln.strip()]
    assert len(rows) == 8 and not any("ERROR" in r for r in rows)
    # every example with a risk table reproduces it exactly (max |dNrisk| column is 0 or '-')
    assert all(r.split()[-2] in {"0", "-"} for r in rows)


def test_examples_reports_a_broken_curve_and_runs_the_rest(tmp_path):
    import shutil

    shutil.copytree(ROOT / "data" / "examples", tmp_path / "ex")
    manifest = tmp_path / "ex" / "curves.csv"
    text = manifest.read_text().splitlines()
    text.append("evil,../../etc/passwd,,10,,auto,")
    manifest.write_text("\n".join(text) + "\n")
    from meta_bm.examples import reconstruct_examples

    table = reconstruct_examples(tmp_path / "ex")
    assert "evil" in table and "must be a relative path" in table
    assert sum("ERROR" in ln for ln in table.splitlines()) == 1


def test_validate_reports_every_problem(studies_root, capsys):
    assert main(["validate", str(studies_root)]) == 0
    (studies_root / "beta_2021" / "study.yaml").write_text("study_id: beta_2021\ncolour: red\n")
    assert main(["validate", str(studies_root)]) == 1
    out = capsys.readouterr().out
    assert "INVALID  beta_2021" in out and "colour: unknown key" in out and "citation: Field required" in out
    assert main(["validate", str(studies_root / "alpha_2020")]) == 0


def _meta_bm_run(studies_root, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    """``meta-bm run`` as a user starts it: its own process, a fresh instance under ``tmp_path``."""
    env = {"DAGSTER_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "meta_bm.cli", "run", *extra, "--studies", str(studies_root)]
    cmd += ["--database", str(tmp_path / "c.duckdb"), "--output", str(tmp_path / "out")]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_run_materializes_through_dagster(studies_root, tmp_path):
    first = _meta_bm_run(studies_root, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "| inst_2025" in first.stdout and "3 studies refreshed, 0 unchanged, 0 rejected or failed" in first.stderr
    second = _meta_bm_run(studies_root, tmp_path)
    assert "0 studies refreshed, 3 unchanged" in second.stderr


def test_run_with_a_broken_folder_stores_the_good_studies_and_names_the_broken(studies_root, tmp_path):
    """Whatever one folder holds, the others are stored and the summary says what happened."""
    bad = studies_root / "zeta_2030"
    bad.mkdir()
    (bad / "study.yaml").write_text("study_id: zeta_2030\nyear: !!int x\n")
    (bad / "loop.csv").symlink_to("loop.csv")
    run = _meta_bm_run(studies_root, tmp_path, "-q")
    assert run.returncode == 0, run.stderr
    assert "3 studies refreshed, 0 unchanged, 1 rejected or failed" in run.stderr
    assert f"REJECTED zeta_2030:\n  {bad / 'study.yaml'}" in run.stderr
    from meta_bm.store import CohortStore

    store = CohortStore(tmp_path / "c.duckdb")
    assert store.query("SELECT DISTINCT study_id FROM cohort ORDER BY 1")["study_id"].to_list() == [
        "alpha_2020",
        "beta_2021",
        "inst_2025",
    ]
    assert store.query("SELECT status FROM study_status WHERE study_id = 'zeta_2030'").item() == "rejected"


def test_analyze_table_and_json(tmp_path, capsys):
    import json

    csv = tmp_path / "ipd.csv"
    rows = ["t,e,arm,site"] + [
        f"{base + k * 1.7 + j:.2f},{int(k % 3 != 0)},{arm},{site}"
        for j, site in enumerate("abc")
        for arm, base in (("surgery", 14.0), ("srs", 10.0))
        for k in range(12)
    ]
    csv.write_text("\n".join(rows) + "\n")
    assert (
        main(
            [
                "analyze",
                str(csv),
                "--time",
                "t",
                "--event",
                "e",
                "--group",
                "arm",
                "--study",
                "site",
                "--reference",
                "srs",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert {r["group"] for r in out["analysis_groups"]} == {"surgery", "srs"}
    assert {r["model"] for r in out["analysis_cox"]} == {
        "unstratified",
        "stratified_by_study",
        "cluster_robust_by_study",
    }
    assert {r["method"] for r in out["analysis_meta"]} == {"FE", "DL", "REML"}
    assert {r["test"] for r in out["analysis_tests"]} >= {"logrank", "logrank_stratified_by_study"}
    assert main(["analyze", str(csv), "--time", "t", "--event", "e", "--group", "arm"]) == 0
    assert "Cox (Efron ties)" in capsys.readouterr().out


def test_analyze_json_carries_every_method_of_an_ipd_meta_analysis(capsys):
    """``--json`` on 12 studies: frailty (both fits), HKSJ, leave-one-out, cumulative, Egger and the guard rails,
    with the values R gives on the same file (meta_bm_tests/analysis/data, scripts/r_reference_pooled.R)."""
    import json

    data = Path(__file__).parent / "analysis" / "data"
    ref = json.loads((data / "os_many_studies.r.json").read_text())
    args = ["analyze", str(data / "os_many_studies.csv"), "--time", "time", "--event", "event", "--group", "group"]
    assert main([*args, "--study", "study_id", "--reference", "non_surgical", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    frailty = {r["fit"]: r for r in out["analysis_frailty"]}
    assert frailty["r_default"]["theta"] == pytest.approx(ref["frailty_default"]["theta"], abs=1e-6)
    assert frailty["profile"]["theta"] == pytest.approx(ref["frailty_profile"]["theta"], abs=1e-5)
    knha = {r["method"]: r for r in out["analysis_meta"] if r["test"] == "knha"}
    assert knha["REML"]["df"] == 11
    assert knha["REML"]["hr_lower"] == pytest.approx(math.exp(ref["meta"]["re_resection"]["REML_knha"]["ci_lb"]))
    assert [r["k"] for r in out["analysis_leave1out"]] == [11] * 12
    assert [r["step"] for r in out["analysis_cumulative"]] == list(range(1, 13))
    egger = {r["model"]: r for r in out["analysis_egger"]}
    assert egger["rma"]["statistic"] == pytest.approx(ref["meta"]["re_resection"]["regtest_rma"]["zval"], abs=1e-6)
    assert egger["lm"]["df"] == 10
    assert "few_clusters" not in {r["flag"] for r in out["analysis_flags"]}  # 12 clusters
    # without --study: one "study", so no frailty, no meta-analysis, and the guard rail says why
    assert main([*args, "--reference", "non_surgical", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "analysis_frailty" not in out and "analysis_meta" not in out
    assert {r["flag"] for r in out["analysis_flags"]} >= {"single_study", "no_pooled_model"}


def test_analyze_errors_name_file_and_row(tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("t,e,arm\n1,1,a\n2,x,b\n3,0,a\n")
    assert main(["analyze", str(csv), "--time", "t", "--event", "e", "--group", "arm"]) == 2
    assert f"{csv}, row 3: e 'x' is not a number" in capsys.readouterr().err
    assert main(["analyze", str(csv), "--time", "t", "--event", "e", "--group", "site"]) == 2
    assert "column 'site' not found" in capsys.readouterr().err
    csv.write_text("t,e,arm\n1,1,a\n2,1,b\n")
    assert main(["analyze", str(csv), "--time", "t", "--event", "e", "--group", "arm", "--reference", "z"]) == 2
    assert "reference 'z' is not a level of 'arm' (a, b)" in capsys.readouterr().err


def test_new_study_scaffold_then_validate(tmp_path, capsys):
    assert main(["new-study", "smith_2024", "--root", str(tmp_path)]) == 0
    assert main(["new-study", "smith_2024", "--root", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["new-study", "Smith 2024", "--root", str(tmp_path)]) == 2
    capsys.readouterr()
    # the untouched template parses; only the files it names are missing
    assert main(["validate", str(tmp_path / "smith_2024")]) == 1
    out = capsys.readouterr().out
    assert "file 'os_rr_clicks.csv' not found" in out and "file 'os_rr_risk.csv' not found" in out
    assert "unknown key" not in out
    assert main(["new-study", "clinic_2025", "--root", str(tmp_path), "--source", "institutional"]) == 0
    assert main(["validate", str(tmp_path / "clinic_2025")]) == 1
    assert "file 'patients.csv' not found" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# plausibility limits, safe output and validate edge cases (issue 15)


@pytest.fixture()
def small_curve(tmp_path):
    clicks = tmp_path / "g.csv"
    clicks.write_text("0,1\n1,0.8\n2,0.6\n3,0.5\n")
    return clicks


def _run(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_implied_n_from_a_curve_at_zero_exits_2_naming_the_risk_row(tmp_path, capsys):
    clicks = tmp_path / "c.csv"
    clicks.write_text("0,1\n1,0.5\n2,0\n3,0\n5,0\n")
    risk = tmp_path / "r.csv"
    risk.write_text("time,n_risk\n4,50\n")
    code, out, err = _run(["reconstruct", clicks, "--risk-table", risk], capsys)
    assert code == 2 and out == ""
    assert f"{risk}, row 2: the risk table starts at 4 with 50 at risk" in err and "give the total N" in err
    clicks.write_text("0,1\n1,0.5\n2,0.001\n3,0.001\n5,0.001\n")
    code, out, err = _run(["reconstruct", clicks, "--risk-table", risk], capsys)
    assert code == 2 and out == "" and "(it would be 50,000)" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--total-n", "1000000000"],
            "--total-n: the number of patients 1,000,000,000 is above the limit of 1,000,000 (patients per curve)",
        ),
        (["--total-n", "-5"], "--total-n: the number of patients -5 is below 1"),
        (["--total-n", "0"], "--total-n: the number of patients 0 is below 1"),
        (["--total-n", "10", "--total-events", "-1"], "--total-events: the number of events -1 is below 0"),
    ],
)
def test_total_n_out_of_bounds_exits_2_with_the_option_named(small_curve, capsys, args, expected):
    code, out, err = _run(["reconstruct", small_curve, *args], capsys)
    assert code == 2 and out == ""
    assert err.strip() == f"meta-bm: error: {expected}"


def test_risk_table_with_nobody_at_time_zero_exits_2(small_curve, tmp_path, capsys):
    risk = tmp_path / "r.csv"
    risk.write_text("0,0\n")
    code, out, err = _run(["reconstruct", small_curve, "--risk-table", risk], capsys)
    assert code == 2 and out == "" and f"{risk}, row 1: the risk table gives no patients at time 0" in err
    code, out, err = _run(["reconstruct", small_curve, "--risk-table", risk, "--total-n", "5"], capsys)
    assert code == 2 and out == "" and "the reconstruction has no patients" in err


def test_output_into_a_missing_folder_exits_2_and_leaves_nothing(small_curve, tmp_path, capsys):
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = _run(["reconstruct", small_curve, "--total-n", "10", "-o", tmp_path / "nodir" / "x.csv"], capsys)
    assert code == 2
    assert f"{tmp_path / 'nodir' / 'x.csv'}: cannot write: the folder {tmp_path / 'nodir'} does not exist" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_output_onto_a_directory_exits_2_and_leaves_no_temporary_file(small_curve, tmp_path, capsys):
    target = tmp_path / "somedir"
    target.mkdir()
    code, _, err = _run(["reconstruct", small_curve, "--total-n", "10", "-o", target], capsys)
    assert code == 2 and f"{target}: is a directory; give a file name" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv", "somedir"] and not any(target.iterdir())


def test_failed_write_removes_the_temporary_file_and_keeps_the_old_output(small_curve, tmp_path, capsys, monkeypatch):
    import os

    out = tmp_path / "ipd.csv"
    out.write_text("precious\n")

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    code, _, err = _run(["reconstruct", small_curve, "--total-n", "10", "-o", out], capsys)
    assert code == 2 and f"{out}: cannot write (No space left on device)" in err
    assert out.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv", "ipd.csv"]


def test_output_through_a_symlink_writes_the_file_it_points_to(small_curve, tmp_path, capsys):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, _, _ = _run(["reconstruct", small_curve, "--total-n", "10", "-o", link], capsys)
    assert code == 0
    assert link.is_symlink() and link.readlink() == real
    assert real.read_text().splitlines()[0] == "time,event" and len(real.read_text().splitlines()) == 11
    assert real.stat().st_mode & 0o777 == 0o640
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere" / "x.csv")
    code, _, err = _run(["reconstruct", small_curve, "--total-n", "10", "-o", dangling], capsys)
    assert code == 2 and "a symbolic link to a missing file" in err and dangling.is_symlink()


def test_output_to_a_fifo_is_written_through_not_replaced(small_curve, tmp_path, capsys):
    import os
    import stat
    import threading

    fifo = tmp_path / "ipd.fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    code, _, _ = _run(["reconstruct", small_curve, "--total-n", "10", "-o", fifo], capsys)
    reader.join(timeout=10)
    assert code == 0 and got and got[0].splitlines()[0] == "time,event" and len(got[0].splitlines()) == 11
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_output_to_dev_full_is_an_error_and_the_device_stays(small_curve, capsys):
    import os
    import stat

    before = os.stat("/dev/full")
    code, _, err = _run(["reconstruct", small_curve, "--total-n", "10", "-o", "/dev/full"], capsys)
    assert code == 2 and "/dev/full: cannot write to a character device (No space left on device)" in err
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


def test_closed_stdout_exits_2_with_a_message(small_curve):
    proc = subprocess.run(
        [sys.executable, "-m", "meta_bm.cli", "reconstruct", str(small_curve), "--total-n", "10"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: __import__("os").close(1),
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "meta-bm: error: <stdout>: standard output is closed; give -o FILE" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_long_cleaning_log_is_summarized_and_written_whole_on_request(tmp_path, capsys):
    from meta_bm.cli import LOG_LINES_SHOWN

    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 36, 3000))
    s = np.exp(-t / 14) + rng.normal(0, 0.01, t.size)
    clicks = tmp_path / "noisy.csv"
    clicks.write_text("".join(f"{a:.4f},{b:.4f}\n" for a, b in zip(t, s, strict=True)))
    log = tmp_path / "log.txt"
    args = ["reconstruct", clicks, "--total-n", "300", "-o", tmp_path / "ipd.csv"]
    code, _, err = _run([*args, "--cleaning-log", log], capsys)
    assert code == 0
    changes = int(err.split("cleaning: ")[1].split(" change(s)")[0])
    assert changes > LOG_LINES_SHOWN
    shown = [ln for ln in err.splitlines() if ln.startswith("  row ") or ln.startswith("  new point")]
    assert len(shown) == LOG_LINES_SHOWN
    assert f"  ... {changes - LOG_LINES_SHOWN} more change(s) not shown (" in err and f"all in {log}" in err
    assert len(log.read_text().splitlines()) == changes
    code, _, err = _run(args, capsys)
    assert code == 0 and "--cleaning-log FILE writes them all" in err and len(err.splitlines()) < LOG_LINES_SHOWN + 20


def test_validate_a_folder_without_manifest_or_studies_exits_2(tmp_path, capsys):
    folder = tmp_path / "smith_2024"
    folder.mkdir()
    (folder / "os_clicks.csv").write_text("0,1\n")
    code, out, err = _run(["validate", folder], capsys)
    assert code == 2 and out == ""
    assert f"meta-bm: error: {folder}: no study.yaml here and no study folders in it" in err


def test_validate_dot_compares_with_the_real_folder_name(studies_root, capsys, monkeypatch):
    monkeypatch.chdir(studies_root / "beta_2021")
    code, out, _ = _run(["validate", "."], capsys)
    assert code == 0 and out.split() == ["ok", "beta_2021"]


def test_validate_lists_odd_entries_of_the_studies_folder(studies_root, capsys):
    import os

    os.mkfifo(studies_root / "fifo_2020")
    (studies_root / "gone_2020").symlink_to("nowhere")
    code, out, _ = _run(["validate", studies_root], capsys)
    assert code == 1
    assert "INVALID  fifo_2020" in out and "a FIFO, not a study folder" in out
    assert "INVALID  gone_2020" in out and "symbolic link that cannot be followed" in out


def test_validate_reports_strict_manifest_types(studies_root, capsys):
    import yaml

    manifest = studies_root / "beta_2021" / "study.yaml"
    data = yaml.safe_load(manifest.read_text())
    data["curves"][0]["total_n"] = "50"
    manifest.write_text(yaml.safe_dump(data))
    code, out, _ = _run(["validate", studies_root / "beta_2021"], capsys)
    assert code == 1 and "curves[0].total_n: Input should be a valid integer, not str '50'" in out


@pytest.mark.parametrize("study_id", ["evil\n", "smith_2024\n", "a" * 65, "x\x00y"])
def test_new_study_refuses_ids_with_a_newline_or_too_long(tmp_path, capsys, study_id):
    code, _, err = _run(["new-study", study_id, "--root", tmp_path], capsys)
    assert code == 2 and "meta-bm: error: study id" in err
    assert list(tmp_path.iterdir()) == []


def test_new_study_in_an_unwritable_place_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _run(["new-study", "smith_2024", "--root", blocker], capsys)
    assert code == 2 and err.startswith("meta-bm: error: ")


def test_digitize_then_reconstruct_with_the_marks(tmp_path, capsys):
    from meta_bm.simulation.km_figures import STYLES, draw_km_figure, simulate_arms

    truth = draw_km_figure(simulate_arms(2, 9), STYLES["mpl_colour"], tmp_path / "km.pdf", fmt="pdf")
    out = tmp_path / "curves"
    assert main(["digitize", str(tmp_path / "km.pdf"), "-o", str(out), "--arms", truth.arms[1].label]) == 0
    err = capsys.readouterr().err
    assert "km.pdf, page 1: 1 curve(s) from vector data (axes from tick labels)" in err
    assert f"1: {truth.arms[1].label}: " in err and "confidence high" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "1_censor.csv", "1_clicks.csv", "1_risk.csv", "curves.json", "overlay.png"
    ]  # fmt: skip
    ipd = tmp_path / "ipd.csv"
    args = ["reconstruct", str(out / "1_clicks.csv"), "--risk-table", str(out / "1_risk.csv"), "-o", str(ipd)]
    assert main([*args, "--censor-marks", str(out / "1_censor.csv"), "--exact-marks"]) == 0
    rows = np.loadtxt(ipd, delimiter=",", skiprows=1)
    arm = truth.arms[1]
    assert rows.shape[0] == arm.time.size  # N from the risk table read off the figure
    # the marks are exact in a PDF: with the numbers at risk read off it, the IPD is the true IPD (every
    # censored time distinct here, so one patient per mark)
    assert np.unique(arm.time[arm.event == 0]).size == (arm.event == 0).sum()
    for flag in (0, 1):
        got, want = np.sort(rows[rows[:, 1] == flag, 0]), np.sort(arm.time[arm.event == flag])
        assert got.size == want.size and np.abs(got - want).max() < 1e-6


def test_digitize_a_file_it_cannot_read_exits_2_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "notes.pdf").write_text("%PDF-1.4\nnot a pdf at all")
    out = tmp_path / "out"
    assert main(["digitize", str(tmp_path / "notes.pdf"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"meta-bm: error: {tmp_path / 'notes.pdf'}") and not out.exists()
