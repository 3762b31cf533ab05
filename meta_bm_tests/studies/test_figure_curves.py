"""Study folders that name a figure instead of clicks: the curves are extracted at load, traced to the
figure's SHA-256 in every row, mixed with hand-made clicks, and a figure that cannot be read rejects
only its study with a message naming the file, the page and what was missing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from meta_bm.pipeline.study import process_study
from meta_bm.simulation.km_figures import STYLES, FigureTruth, draw_km_figure, simulate_arms
from meta_bm.studies import StudyError, load_study


def _study(root: Path, figure_file: str = "km.pdf", **curve_changes) -> tuple[Path, FigureTruth]:
    folder = root / "figure_2024"
    folder.mkdir(parents=True)
    truth = draw_km_figure(simulate_arms(2, 21), STYLES["mpl_colour"], folder / "km.pdf", fmt="pdf")
    a, b = truth.arms
    (folder / "pfs_a.csv").write_text("time,survival\n0,1\n3,1\n3,0.8\n8,0.8\n8,0.5\n12,0.5\n")
    manifest = {
        "study_id": "figure_2024",
        "citation": "SYNTHETIC figure study",
        "year": 2024,
        "source": "literature",
        "synthetic": True,
        "arms": [
            {"arm_id": "a", "label": a.label, "modality": "re_resection"},
            {"arm_id": "b", "label": "Other name", "modality": "non_surgical"},
        ],
        "figures": [{"figure_id": "fig1", "file": figure_file, "page": 1}],
        "curves": [
            {"curve_id": "os_a", "arm": "a", "endpoint": "os", "time_unit": "months", "figure": "fig1"},
            {"curve_id": "os_b", "arm": "b", "endpoint": "os", "time_unit": "months", "figure": "fig1",
             "figure_curve": b.label} | curve_changes,
            {"curve_id": "pfs_a", "arm": "a", "endpoint": "pfs", "time_unit": "months", "clicks": "pfs_a.csv",
             "total_n": 10},
        ],
    }  # fmt: skip
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder, truth


def test_curves_read_from_a_pdf_figure_mix_with_clicks_and_trace_to_the_figure(tmp_path):
    folder, truth = _study(tmp_path)
    figure_sha = hashlib.sha256((folder / "km.pdf").read_bytes()).hexdigest()
    study = load_study(folder)
    a, b = truth.arms
    by_id = {c.spec.curve_id: c for c in study.curves}
    # os_a by its arm's label (the default), os_b by figure_curve; risk tables and marks from the figure
    assert by_id["os_a"].figure.curve.label == a.label and by_id["os_b"].figure.curve.label == b.label
    assert by_id["os_b"].risk_table.n_risk.tolist() == b.n_risk.tolist()
    assert by_id["os_a"].source_sha256 == figure_sha and by_id["os_a"].marks_exact
    assert by_id["pfs_a"].figure is None and by_id["pfs_a"].source_file == "pfs_a.csv"

    out = process_study(folder, figure=True)
    assert out.status == "ok", out.problems
    ipd = out.tables["ipd"]
    os_b = ipd.filter(ipd["curve_id"] == "os_b")
    assert set(os_b["figure_sha256"]) == {figure_sha} and os_b["clicks_sha256"].null_count() == os_b.height
    # exact marks and the printed numbers at risk give back the true IPD
    for flag in (0, 1):
        got = np.sort(os_b.filter(os_b["event"] == flag)["time"].to_numpy())
        want = np.sort(b.time[b.event == flag])
        assert got.size == want.size and np.abs(got - want).max() < 1e-6
    cohort = out.tables["cohort"]
    assert set(cohort.filter(cohort["curve_id"] == "os_a")["source_sha256"]) == {figure_sha}
    assert set(cohort.filter(cohort["curve_id"] == "os_a")["source_file"]) == {"km.pdf"}
    assert set(cohort.filter(cohort["curve_id"] == "pfs_a")["source_file"]) == {"pfs_a.csv"}
    digitized = out.tables["digitized_curves"]
    assert digitized["curve_id"].to_list() == ["os_a", "os_b"]
    assert digitized.row(0, named=True) | {"notes": None} == digitized.row(0, named=True) | {
        "figure_id": "fig1", "figure_file": "km.pdf", "figure_page": 1, "figure_sha256": figure_sha,
        "kind": "vector", "calibration": "tick labels", "label": a.label, "confidence": "high",
        "censor_marks": a.censor_times.size, "risk_rows": a.n_risk.size, "notes": None,
    }  # fmt: skip
    marks = out.tables["raw_censor_marks"]
    assert marks.filter(marks["curve_id"] == "os_b")["time"].to_numpy() == pytest.approx(b.censor_times, abs=1e-6)
    assert out.overlays["fig1"][:4] == b"\x89PNG"


def test_a_curve_name_the_figure_lacks_rejects_the_study_naming_file_page_and_labels(tmp_path):
    folder, truth = _study(tmp_path, figure_curve="Placebo")
    with pytest.raises(StudyError) as info:
        load_study(folder)
    (problem,) = info.value.problems
    assert problem.startswith(f"{folder / 'km.pdf'}, page 1: curves[os_b], by figure_curve: arm 'Placebo' matches")
    assert all(repr(a.label) in problem for a in truth.arms)


def test_a_figure_that_cannot_be_read_rejects_only_its_study(tmp_path):
    folder, _ = _study(tmp_path, figure_file="broken.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)
    out = process_study(folder)
    assert out.status == "rejected" and out.stage == "ingest"
    assert out.problems[0].startswith(str(folder / "broken.pdf")) and "(figures[fig1])" in out.problems[0]


def test_a_figure_without_numbers_at_risk_needs_total_n(tmp_path):
    folder = tmp_path / "bare_2024"
    folder.mkdir()
    draw_km_figure(simulate_arms(2, 3), STYLES["mpl_no_marks_no_table"], folder / "km.pdf", fmt="pdf")
    manifest = {
        "study_id": "bare_2024", "citation": "x", "year": 2024, "source": "literature", "synthetic": True,
        "arms": [{"arm_id": "a", "label": "A", "modality": "re_resection"}],
        "figures": [{"figure_id": "f", "file": "km.pdf"}],
        "curves": [{"curve_id": "os_a", "arm": "a", "endpoint": "os", "time_unit": "months", "figure": "f",
                    "figure_curve": 1}],
    }  # fmt: skip
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(StudyError, match=r"curves\[os_a\]\.total_n: required, as no numbers at risk were read"):
        load_study(folder)
    manifest["curves"][0]["total_n"] = 500
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest))
    study = load_study(folder)
    assert study.curves[0].risk_table is None and study.curves[0].censor_times.size == 0
