"""Loading study folders: hashes, parsing errors with file and row, institutional tables, discovery."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import yaml

from meta_bm.studies import StudyError, discover_studies, folder_fingerprint, load_study, validate_studies


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_loaded_study_hashes_every_file(studies_root):
    study = load_study(studies_root / "alpha_2020")
    hashes = {f.name: f.sha256 for f in study.files}
    assert set(hashes) == {"study.yaml", "os_rr_clicks.csv", "os_rr_risk.csv", "os_ns_clicks.csv", "os_ns_risk.csv"}
    for name, digest in hashes.items():
        assert digest == _sha(studies_root / "alpha_2020" / name)
    assert study.curves[0].clicks_sha256 == _sha(studies_root / "alpha_2020" / "os_rr_clicks.csv")
    # the percent axis was detected and converted
    assert study.curves[0].clicks.y_scale == "percent"
    assert study.curves[0].clicks.survival.max() <= 1.0


def test_fingerprint_changes_with_any_edit(studies_root):
    folder = studies_root / "beta_2021"
    before = folder_fingerprint(folder)
    assert folder_fingerprint(folder) == before
    clicks = folder / "os_srs_clicks.csv"
    clicks.write_text(clicks.read_text() + "\n")
    assert folder_fingerprint(folder) != before


def test_problems_name_file_and_row(studies_root):
    folder = studies_root / "alpha_2020"
    lines = (folder / "os_rr_clicks.csv").read_text().splitlines()
    bad_row = len(lines) - 1
    lines[bad_row - 1] = "3.5,abc"
    (folder / "os_rr_clicks.csv").write_text("\n".join(lines) + "\n")
    (folder / "os_ns_risk.csv").unlink()
    with pytest.raises(StudyError) as info:
        load_study(folder)
    problems = info.value.problems
    assert any(p.startswith(f"{folder / 'os_rr_clicks.csv'}, row {bad_row}:") and "abc" in p for p in problems)
    assert any("file 'os_ns_risk.csv' not found" in p for p in problems)
    assert len(problems) == 2


def test_increasing_risk_table_and_small_total_n(studies_root):
    folder = studies_root / "alpha_2020"
    (folder / "os_rr_risk.csv").write_text("time,n_risk\n0,40\n10,30\n20,35\n")
    manifest = yaml.safe_load((folder / "study.yaml").read_text())
    manifest["curves"][1]["total_n"] = 5
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest))
    problems = " | ".join(validate_studies(studies_root)["alpha_2020"])
    assert f"{folder / 'os_rr_risk.csv'}, row 4:" in problems
    assert "total_n: 5 is smaller than the first number at risk 36" in problems


def test_symlink_out_of_the_folder_is_refused(studies_root, tmp_path):
    folder = studies_root / "beta_2021"
    secret = tmp_path / "secret.csv"
    secret.write_text("0,1\n1,0.5\n2,0.2\n")
    (folder / "os_srs_clicks.csv").unlink()
    (folder / "os_srs_clicks.csv").symlink_to(secret)
    with pytest.raises(StudyError, match="points outside the study folder"):
        load_study(folder)


def test_institutional_table_long_form(studies_root):
    study = load_study(studies_root / "inst_2025")
    p = study.patients
    assert set(p["endpoint"].unique()) == {"os", "local_pfs"}
    assert p.filter(p["endpoint"] == "os").height == 45
    assert p["patient_id"].n_unique() == 45
    assert set(p["event"].unique().to_list()) <= {0, 1}


def test_institutional_table_errors(studies_root):
    folder = studies_root / "inst_2025"
    text = (folder / "patients.csv").read_text().splitlines()
    header = text[0].split(",")
    rows = [r.split(",") for r in text[1:]]
    rows[1][0] = rows[0][0]  # duplicate id at file row 3
    rows[2][header.index("os_event")] = "2"  # row 4
    rows[3][header.index("arm")] = "chemo"  # row 5
    rows[4][header.index("os_time")] = "-1"  # row 6
    rows[5][header.index("kps")] = "high"  # row 7
    rows[6][header.index("resection_extent")] = "partial"  # row 8
    (folder / "patients.csv").write_text(
        "\n".join([",".join([*header, "colour"])] + [",".join([*r, "x"]) for r in rows])
    )
    problems = " | ".join(validate_studies(studies_root)["inst_2025"])
    assert "column 'colour': unknown column" in problems
    (folder / "patients.csv").write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]))
    problems = " | ".join(validate_studies(studies_root)["inst_2025"])
    src = folder / "patients.csv"
    for expected in (
        f"{src}, row 3: patient_id 'P0001' appears more than once",
        f"{src}, row 4: os_event 2 must be 0 (censored) or 1 (event)",
        f"{src}, row 5: arm 'chemo' is not an arm of the manifest",
        f"{src}, row 6: os_time -1 is negative",
        f"{src}, row 7: kps 'high' is not a number",
        f"{src}, row 8: resection_extent 'partial' must be one of gtr, str",
    ):
        assert expected in problems


def test_discovery_skips_hidden_and_reports_bad_names(studies_root):
    (studies_root / ".git").mkdir()
    (studies_root / "_drafts").mkdir()
    (studies_root / "Bad Name").mkdir()
    (studies_root / "notes.txt").write_text("x")
    found = discover_studies(studies_root)
    assert found.study_ids == ["alpha_2020", "beta_2021", "inst_2025"]
    assert [n for n, _ in found.ignored] == ["Bad Name"]
    assert discover_studies(studies_root / "missing").study_ids == []


def test_missing_manifest(tmp_path):
    (tmp_path / "empty_2020").mkdir()
    with pytest.raises(StudyError, match="missing manifest file"):
        load_study(tmp_path / "empty_2020")


def test_clicks_rows_survive_loading(studies_root):
    study = load_study(studies_root / "beta_2021")
    rows = study.curves[0].clicks.rows
    assert rows[0] >= 1 and np.all(np.diff(rows) == 1)
