"""Loading study folders: hashes, parsing errors with file and row, institutional tables, discovery."""

from __future__ import annotations

import errno
import hashlib
import os

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


# --------------------------------------------------------------------------------------------------
# whatever a folder holds, load_study raises StudyError naming the file (issue 15)


def _set(folder, key_path: str, value) -> None:
    manifest = yaml.safe_load((folder / "study.yaml").read_text())
    *parents, last = key_path.split(".")
    node = manifest
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(last) if last.isdigit() else last] = value
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


def _problems(folder) -> list[str]:
    with pytest.raises(StudyError) as info:
        load_study(folder)
    return info.value.problems


def test_symlink_loop_as_clicks_file_is_a_study_error_naming_it(studies_root):
    folder = studies_root / "beta_2021"
    (folder / "loop.csv").symlink_to("loop.csv")
    _set(folder, "curves.0.clicks", "loop.csv")
    assert _problems(folder) == [f"{folder / 'study.yaml'}: 'loop.csv' is a symlink loop"]


def test_nul_byte_in_a_file_name_is_a_study_error(studies_root):
    folder = studies_root / "beta_2021"
    _set(folder, "curves.0.clicks", "os\x00srs.csv")
    [problem] = _problems(folder)
    assert problem.startswith(f"{folder / 'study.yaml'}: curves[0].clicks: ") and "control character" in problem


def test_file_name_over_255_bytes_is_a_study_error(studies_root):
    folder = studies_root / "beta_2021"
    _set(folder, "curves.0.clicks", "x" * 300 + ".csv")
    [problem] = _problems(folder)
    assert problem.startswith(f"{folder / 'study.yaml'}: curves[0].clicks: ") and "above the limit of 255" in problem


def test_yaml_nested_900_deep_is_a_study_error(studies_root):
    folder = studies_root / "beta_2021"
    (folder / "study.yaml").write_text("notes: " + "[" * 900 + "]" * 900 + "\n")
    assert _problems(folder) == [f"{folder / 'study.yaml'}, row 1: nested more than 20 levels deep"]


def test_year_tagged_int_with_text_is_a_study_error_naming_the_row(studies_root):
    folder = studies_root / "beta_2021"
    text = (folder / "study.yaml").read_text()
    row = text.splitlines().index("year: 2020") + 1
    (folder / "study.yaml").write_text(text.replace("year: 2020", "year: !!int x"))
    [problem] = _problems(folder)
    assert problem.startswith(f"{folder / 'study.yaml'}, row {row}: not valid YAML (cannot read 'x' as !!int")


def test_total_n_of_1e20_is_a_study_error_naming_the_key(studies_root):
    folder = studies_root / "beta_2021"
    _set(folder, "curves.0.total_n", 100000000000000000000)
    assert _problems(folder) == [
        f"{folder / 'study.yaml'}: curves[0].total_n: Input should be less than or equal to 1000000 "
        "(the plausibility limit)"
    ]


def test_patient_columns_differing_only_in_case_are_rejected_naming_both(studies_root):
    folder = studies_root / "inst_2025"
    lines = (folder / "patients.csv").read_text().splitlines()
    lines = [f"{ln},{ln.split(',')[2]}" if i else f"{ln},OS_TIME" for i, ln in enumerate(lines)]
    (folder / "patients.csv").write_text("\n".join(lines) + "\n")
    assert _problems(folder) == [
        f"{folder / 'patients.csv'}, row 1: columns 'os_time' and 'OS_TIME' are the same column "
        "(names are compared without case and surrounding spaces)"
    ]


def test_institutional_patient_with_one_endpoint_empty_is_kept_for_the_others(studies_root):
    folder = studies_root / "inst_2025"
    lines = (folder / "patients.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("local_pfs_time")] = ""
    row[header.index("local_pfs_event")] = ""
    lines[1] = ",".join(row)
    (folder / "patients.csv").write_text("\n".join(lines) + "\n")
    p = load_study(folder).patients
    first = row[0]
    assert p.filter(p["patient_id"] == first)["endpoint"].to_list() == ["os"]
    assert p.filter(p["endpoint"] == "local_pfs").height == 44 and p.filter(p["endpoint"] == "os").height == 45
    assert str(p["event"].dtype) == "Int8"


def test_proc_self_mem_symlink_neither_breaks_the_fingerprint_nor_the_study(studies_root):
    folder = studies_root / "beta_2021"
    before = folder_fingerprint(folder)
    (folder / "stray").symlink_to("/proc/self/mem")
    after = folder_fingerprint(folder)
    assert after != before and len(after) == 64
    assert load_study(folder).study_id == "beta_2021"


def test_fingerprint_never_opens_special_files_or_follows_links_out(studies_root, tmp_path, monkeypatch):
    import socket
    import stat

    folder = studies_root / "beta_2021"
    os.mkfifo(folder / "fifo")  # (reading it would block forever)
    (folder / "zero").symlink_to("/dev/zero")  # (reading it would never end)
    (folder / "loop").symlink_to("loop")
    (folder / "dangling").symlink_to("nowhere.csv")
    (folder / "proc").symlink_to("/proc")
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..")
    outside = tmp_path / "outside.csv"
    outside.write_text("a")
    (folder / "out").symlink_to(outside)
    monkeypatch.chdir(folder)  # (a socket's path must be short)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock")
    # every file the fingerprint opens is recorded; anything but a regular file inside the folder is
    # refused (so a regression fails here instead of blocking on the FIFO or reading /dev/zero forever)
    real_open, inside, forbidden = os.open, os.path.realpath(folder) + os.sep, []

    def guarded_open(path, flags, *args, **kwargs):
        real = os.path.realpath(path)
        try:
            regular = stat.S_ISREG(os.stat(real).st_mode)
        except OSError:  # (a loop, a dangling link)
            regular = False
        if not (real.startswith(inside) and regular):
            forbidden.append(str(path))
            raise PermissionError(errno.EACCES, "opened by the test's guard", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    try:
        first = folder_fingerprint(folder)
        assert forbidden == []
        assert folder_fingerprint(folder) == first
        outside.write_text("b")  # a link out of the folder counts by its target text, never its content
        assert folder_fingerprint(folder) == first
        (folder / "dangling").unlink()
        (folder / "dangling").symlink_to("elsewhere.csv")
        assert folder_fingerprint(folder) != first
    finally:
        sock.close()
        monkeypatch.setattr(os, "open", real_open)
    assert forbidden == []
    assert folder_fingerprint(tmp_path / "no_such_folder") == hashlib.sha256().hexdigest()
    assert len(folder_fingerprint("bad\x00name")) == 64


def test_fingerprint_of_plain_files_is_what_it_always_was(studies_root):
    """Stored fingerprints stay valid: over regular files the hash is the original one."""
    folder = studies_root / "alpha_2020"
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("n")
    (folder / ".hidden").write_text("h")
    (folder / "link.csv").symlink_to("os_rr_clicks.csv")  # a link inside counts as its file
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts):
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + _sha(p).encode())
    assert folder_fingerprint(folder) == h.hexdigest()


def test_discover_studies_reports_odd_entries_and_never_raises(studies_root, monkeypatch):
    import socket

    (studies_root / "broken_2020").symlink_to("nowhere")
    (studies_root / "loop_2020").symlink_to("loop_2020")
    os.mkfifo(studies_root / "fifo_2020")
    os.mkdir(os.fsencode(studies_root) + b"/bad\xff")
    (studies_root / "linked_2020").symlink_to(studies_root / "alpha_2020")
    monkeypatch.chdir(studies_root)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock_2020")
    try:
        found = discover_studies(studies_root)
    finally:
        sock.close()
    assert found.study_ids == ["alpha_2020", "beta_2021", "inst_2025", "linked_2020"]
    reasons = dict(found.ignored)
    assert "symbolic link that cannot be followed" in reasons["broken_2020"]
    assert "symbolic link that cannot be followed" in reasons["loop_2020"]
    assert reasons["fifo_2020"] == "a FIFO, not a study folder"
    assert reasons["sock_2020"] == "a socket, not a study folder"
    assert reasons["'bad\\udcff'"].startswith("folder name must be")
    problems = validate_studies(studies_root)
    assert problems["fifo_2020"] == [f"{studies_root / 'fifo_2020'}: a FIFO, not a study folder"]
    assert problems["alpha_2020"] == []
    assert problems["linked_2020"] == [  # (a symlinked study folder is read; its name must still be its id)
        f"{studies_root / 'linked_2020' / 'study.yaml'}: study_id: 'alpha_2020' "
        "must equal the folder name 'linked_2020'"
    ]
    assert discover_studies("bad\x00root").study_ids == []


def test_manifest_that_is_special_or_leaves_the_folder_is_a_study_error(studies_root, tmp_path):
    folder = studies_root / "beta_2021"
    manifest = folder / "study.yaml"
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(manifest.read_text())
    manifest.unlink()
    manifest.symlink_to(outside)
    assert _problems(folder) == [f"{manifest}: 'study.yaml' points outside the study folder"]
    manifest.unlink()
    os.mkfifo(manifest)
    assert _problems(folder) == [f"{manifest}: not a regular file: it is a FIFO"]
    manifest.unlink()
    manifest.mkdir()
    assert _problems(folder) == [f"{manifest}: not a regular file: it is a directory"]
    manifest.rmdir()
    manifest.symlink_to("study.yaml")
    assert _problems(folder) == [f"{manifest}: 'study.yaml' is a symlink loop"]


def test_manifest_encodings(studies_root):
    folder = studies_root / "beta_2021"
    manifest = folder / "study.yaml"
    text = manifest.read_text()
    manifest.write_bytes(text.encode("utf-16"))
    assert load_study(folder).study_id == "beta_2021"
    manifest.write_bytes(text.replace("SYNTHETIC", "SYNTHÉTIQUE").encode("latin-1"))
    [problem] = _problems(folder)
    assert problem.startswith(f"{manifest}: not UTF-8 text")


def test_clicks_that_are_a_fifo_device_or_too_big_are_study_errors(studies_root):
    folder = studies_root / "beta_2021"
    clicks = folder / "os_srs_clicks.csv"
    clicks.unlink()
    os.mkfifo(clicks)
    assert _problems(folder) == [f"{clicks}: not a regular file: it is a FIFO"]
    clicks.unlink()
    with open(clicks, "wb") as f:
        f.truncate(65 * 1024 * 1024)  # (sparse: nothing is written or read)
    [problem] = _problems(folder)
    assert problem.startswith(f"{clicks}: file is 68,157,440 bytes, above the limit of")


def test_utf16_study_files_are_read(studies_root):
    for sid, name in (("beta_2021", "os_srs_clicks.csv"), ("inst_2025", "patients.csv")):
        folder = studies_root / sid
        before = load_study(folder)
        path = folder / name
        path.write_bytes(path.read_text().encode("utf-16"))
        after = load_study(folder)
        if after.patients is not None:
            assert after.patients.equals(before.patients)
        else:
            np.testing.assert_array_equal(after.curves[0].clicks.time, before.curves[0].clicks.time)


def test_patient_values_that_are_not_finite_or_implausible_are_rejected_naming_the_row(studies_root):
    folder = studies_root / "inst_2025"
    text = (folder / "patients.csv").read_text().splitlines()
    header = text[0].split(",")
    rows = [r.split(",") for r in text[1:]]
    rows[0][header.index("os_time")] = "inf"  # row 2
    rows[1][header.index("age")] = "250"  # row 3
    rows[2][header.index("kps")] = "-10"  # row 4
    rows[3][header.index("os_time")] = "1e9"  # row 5
    rows[4][0] = "P\x1b[2J"  # row 6
    (folder / "patients.csv").write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")
    src = folder / "patients.csv"
    problems = _problems(folder)
    for expected in (
        f"{src}, row 2: os_time 'inf' is not a number",
        f"{src}, row 3: age 250 is outside 0..130",
        f"{src}, row 4: kps -10 is outside 0..100",
        f"{src}, row 5: os_time 1e+09 is outside 0..100000",
        f"{src}, row 6: patient_id 'P\\x1b[2J' contains a control character",
    ):
        assert expected in problems, problems


def test_patient_problems_are_listed_for_the_first_rows_then_counted(studies_root):
    from meta_bm.studies.folder import ROWS_LISTED

    folder = studies_root / "inst_2025"
    text = (folder / "patients.csv").read_text().splitlines()
    header = text[0].split(",")
    rows = [r.split(",") for r in text[1:]]
    for r in rows:
        r[header.index("arm")] = "chemo"
    (folder / "patients.csv").write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")
    problems = _problems(folder)
    assert sum("arm 'chemo' is not an arm" in p for p in problems) == ROWS_LISTED
    assert f"{folder / 'patients.csv'}: arm: {45 - ROWS_LISTED} more row(s) with the same problem" in problems


def test_unexpected_errors_become_study_errors_naming_the_file(studies_root, monkeypatch):
    import meta_bm.studies.folder as folder_module

    def boom(*args, **kwargs):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(folder_module, "parse_clicks", boom)
    folder = studies_root / "beta_2021"
    assert _problems(folder) == [
        f"{folder / 'os_srs_clicks.csv'}: unexpected error while reading: RuntimeError: something nobody foresaw"
    ]


def test_load_study_of_dot_compares_with_the_real_folder_name(studies_root, monkeypatch):
    monkeypatch.chdir(studies_root / "beta_2021")
    assert load_study(".").study_id == "beta_2021"
    monkeypatch.chdir(studies_root / "beta_2021")
    _set(studies_root / "beta_2021", "study_id", "other")
    [problem] = _problems(".")
    assert "must equal the folder name 'beta_2021'" in problem


def test_load_study_of_odd_arguments_raises_study_error(tmp_path):
    for odd in ("bad\x00folder", tmp_path / "missing", 42):
        with pytest.raises(StudyError):
            load_study(odd)  # type: ignore[arg-type]
