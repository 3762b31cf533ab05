"""The HTML report: the published vs reconstructed table, and callers that do not pass it."""

from __future__ import annotations

import html as html_lib
from pathlib import Path

import polars as pl
import yaml

from meta_bm.analysis.config import load_analyses
from meta_bm.reports.html import published_layout, write_report
from meta_bm.settings import packaged_analyses
from meta_bm.simulation.study_folders import ArmSpec, write_literature_study
from meta_bm.studies import PUBLISHED_COMPARISON_SCHEMA, compare_published, load_study, reconstruct_study

ANALYSES = packaged_analyses()


def _comparison() -> pl.DataFrame:
    rows = [
        (
            "s_2020",
            "os_rr",
            "n",
            44.0,
            None,
            None,
            44.0,
            None,
            None,
            None,
            "equal",
            "ok",
            "N 44 vs published 44: equal",
        ),
        ("s_2020", "os_rr", "events", 33.0, None, None, 31.0, None, None, None, "different", "error", "events ..."),
        ("s_2020", "os_rr", "median", 14.2, 10.1, 18.0, 13.6789, 10.2345, None, None, "inside_ci", "ok", "median"),
        ("s_2020", "os_rr", "hr", 3.0, 2.5, 3.6, 0.7149, 0.48123, 1.0512, "ns", "outside_ci", "warn", "HR ..."),
        ("s_2020", "os_ns", "none", None, None, None, None, None, None, None, "nothing_published", "warn", "nothing"),
    ]
    return pl.DataFrame(rows, schema=PUBLISHED_COMPARISON_SCHEMA, orient="row")


def _write(tmp_path, **kwargs) -> Path:
    config = load_analyses(ANALYSES)
    empty = pl.DataFrame()
    tables = {"analysis_groups": empty, "analysis_cox": empty, "analysis_tests": empty}
    return write_report(
        tmp_path / "report",
        config,
        tables,
        pl.DataFrame({"study_id": ["s_2020"], "synthetic": [True]}),
        pl.DataFrame({"study_id": ["s_2020"], "curve_id": ["os_rr"]}),
        tmp_path / "figures",
        "1.1.0",
        1e-6,
        True,
        **kwargs,
    )


def test_layout_rounds_and_names_the_figures():
    layout = published_layout(_comparison())
    assert layout.drop("Detail", "severity").rows() == [
        ("s_2020", "os_rr", "N", "44", "44", "OK: equal"),
        ("s_2020", "os_rr", "events", "33", "31", "ERROR: different"),
        ("s_2020", "os_rr", "median", "14.2 [10.1–18.0]", "13.7 [10.2–NR]", "OK: inside the published CI"),
        ("s_2020", "os_rr", "HR vs ns", "3.00 [2.50–3.60]", "0.71 [0.48–1.05]", "WARN: outside the published CI"),
        ("s_2020", "os_ns", "–", "–", "–", "WARN: nothing published to compare"),
    ]


def test_report_shows_the_published_comparison(tmp_path):
    path = _write(tmp_path, published=_comparison())
    text = path.read_text(encoding="utf-8")
    assert "<h2>Published vs reconstructed figures</h2>" in text
    assert "5 comparisons: 2 ok, 2 warn, 1 error" in text
    for header in ("Study", "Curve", "Figure", "Published [95% CI]", "Reconstructed [95% CI]", "Verdict"):
        assert f"<th>{html_lib.escape(header)}</th>" in text
    assert "<td>0.71 [0.48–1.05]</td>" in text
    assert "class='sev-error'" in text and "class='sev-warn'" in text
    csv = pl.read_csv(path.parent / "tables" / "published_comparison.csv")
    assert csv.columns == list(PUBLISHED_COMPARISON_SCHEMA)
    assert csv.height == 5


def test_existing_callers_without_the_comparison_still_work(tmp_path):
    path = _write(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "Published vs reconstructed figures" not in text
    assert "Reconstruction fidelity per curve" in text
    assert not (path.parent / "tables" / "published_comparison.csv").exists()


def test_report_from_a_real_comparison(tmp_path):
    arms = [
        ArmSpec("rr", "Re-resection", "re_resection", 50, 14.0),
        ArmSpec("ns", "Non-surgical", "non_surgical", 50, 9.0),
    ]
    folder = write_literature_study(tmp_path / "studies", "real_2020", arms, seed=2)
    manifest = yaml.safe_load((folder / "study.yaml").read_text())
    manifest["curves"][0]["published"] = {"hr": {"value": 0.62, "lower": 0.41, "upper": 0.94, "reference_arm": "ns"}}
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest))
    comparison = compare_published(reconstruct_study(load_study(folder)))
    text = _write(tmp_path, published=comparison).read_text(encoding="utf-8")
    assert "<td>HR vs ns</td>" in text
    assert "<td>0.62 [0.41–0.94]</td>" in text
