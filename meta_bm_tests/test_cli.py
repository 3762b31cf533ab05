"""The meta-bm command: output format, stderr summary, exit status on bad input."""

from __future__ import annotations

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


def test_run_materializes_through_dagster(studies_root, tmp_path):
    env = {"DAGSTER_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    cmd = [
        sys.executable,
        "-m",
        "meta_bm.cli",
        "run",
        "--studies",
        str(studies_root),
        "--database",
        str(tmp_path / "c.duckdb"),
        "--output",
        str(tmp_path / "out"),
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "| inst_2025" in first.stdout and "3 studies refreshed, 0 unchanged, 0 rejected" in first.stderr
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert "0 studies refreshed, 3 unchanged" in second.stderr


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
