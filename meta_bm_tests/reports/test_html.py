"""The HTML report: number formatting, the published vs reconstructed table, the results layout, follow-up."""

from __future__ import annotations

import html as html_lib
import math
import re
from pathlib import Path

import polars as pl
import pytest
import yaml

from meta_bm.analysis.config import load_analyses
from meta_bm.reports import formatting as f
from meta_bm.reports.html import published_layout, results_layout, write_report
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
        ("s_2020", "os_rr", "Events", "33", "31", "ERROR: different"),
        ("s_2020", "os_rr", "Median", "14.2 [10.1–18.0]", "13.7 [10.2–NR]", "OK: inside the published CI"),
        ("s_2020", "os_rr", "HR vs ns", "3.00 [2.50–3.60]", "0.71 [0.48–1.05]", "WARN: outside the published CI"),
        ("s_2020", "os_ns", "–", "–", "–", "WARN: nothing published to compare"),
    ]


def test_report_shows_the_published_comparison(tmp_path):
    path = _write(tmp_path, published=_comparison())
    text = path.read_text(encoding="utf-8")
    assert "<h2>Published vs reconstructed figures</h2>" in text and 'id="tab-published"' in text
    assert "5 comparisons: 2 ok, 2 warn, 1 error" in text
    for header in ("Study", "Curve", "Figure", "Published [95% CI]", "Reconstructed [95% CI]", "Verdict"):
        assert f'<th scope="col">{html_lib.escape(header)}</th>' in text
    assert '<td class="nw">0.71 [0.48–1.05]</td>' in text
    assert 'class="sev-error"' in text and 'class="sev-warn"' in text
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
    assert '<td class="nw">HR vs ns</td>' in text
    assert '<td class="nw">0.62 [0.41–0.94]</td>' in text


def test_layout_converts_medians_to_months_and_names_studies():
    layout = published_layout(_comparison(), units={("s_2020", "os_rr"): "weeks"}, labels={"s_2020": "Smith 2020"})
    row = layout.filter(layout["Figure"] == "Median, months").row(0, named=True)
    # 14.2 weeks = 14.2 * 7 * 12 / 365.25 = 3.266 months; 13.6789 weeks = 3.146; 10.1 -> 2.323, 18.0 -> 4.140
    assert (row["Study"], row["Published [95% CI]"], row["Reconstructed [95% CI]"]) == (
        "Smith 2020",
        "3.3 [2.3–4.1]",
        "3.1 [2.4–NR]",
    )


# -- formatting rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0123, "0.012"),
        (0.357, "0.357"),
        (0.04999, "0.050"),
        (0.001, "0.001"),
        (0.000999, "<0.001"),
        (8.5e-8, "<0.001"),
        (0.0015, "0.002"),
        (0.96, "0.960"),
        (0.99951, "1.000"),
        (1.0, "1.00"),
        (0.0, "<0.001"),
        (None, "–"),
        (math.nan, "–"),
    ],
)
def test_p_values_as_journals_print_them(p, text):
    assert f.fmt_p(p) == text


@pytest.mark.parametrize("bad", [1.2, -0.01, math.inf, "0.03", True])
def test_p_values_out_of_range_are_errors(bad):
    with pytest.raises(ValueError, match="p-value"):
        f.fmt_p(bad)


def test_hazard_ratios_and_intervals():
    assert f.fmt_hr(0.664, 0.5213, 0.8402) == "0.66 [0.52–0.84]"
    assert f.fmt_hr(1.014, 1.009, 1.019) == "1.01 [1.01–1.02]"
    assert f.fmt_hr(0.0512, 0.0358, 0.0717) == "0.051 [0.036–0.072]"  # 3 decimals below 0.1
    assert f.fmt_hr(0.0999, 0.05, 0.2) == "0.100 [0.050–0.20]"
    assert f.fmt_hr(2.5, None, 3.1) == "2.50 [NE–3.10]"  # a limit that could not be estimated
    assert f.fmt_hr(None, 0.2, 0.4) == "–"
    with pytest.raises(ValueError, match="positive"):
        f.fmt_hr(-0.5)
    with pytest.raises(ValueError, match="lower limit"):
        f.fmt_hr(0.5, 0.0, 1.0)


def test_times_percentages_counts_and_flags():
    assert f.fmt_median(14.104, 11.958, 16.705) == "14.1 [12.0–16.7]"
    assert f.fmt_median(None, 9.7, None) == "NR [9.7–NR]"
    assert f.fmt_months(0.04) == "0.0" and f.fmt_months(None) == "–"
    assert f.fmt_pct_ci(0.768445, 0.724053, 0.815559) == "77 [72–82]"
    assert f.fmt_pct(0.3187) == "32" and f.fmt_pct(0.996) == "100" and f.fmt_pct(0.004) == "0"
    assert f.fmt_int(261) == "261" and f.fmt_int(None) == "–"
    assert f.fmt_bool(True) == "yes" and f.fmt_bool(False) == "no"
    assert f.fmt_num(-0.494142, 3) == "−0.494" and f.fmt_num(-0.0004, 3) == "0.000"
    assert f.fmt_diff(14.104, 14.74) == "−0.6" and f.fmt_diff(0.61, 0.55, 2) == "+0.06"
    assert f.fmt_rmse(0.0014781) == "0.0015" and f.fmt_rmse(1e-9) == "<0.0001"
    for bad, fn in ((-1.0, f.fmt_months), (1.5, f.fmt_pct), (2.5, f.fmt_int), (-3, f.fmt_int), ("x", f.fmt_num)):
        with pytest.raises(ValueError):
            fn(bad)
    with pytest.raises(ValueError, match="flag"):
        f.fmt_bool(1)


def test_time_units_to_months():
    # 1 year = 12 months; 1 month = 365.25 / 12 days
    assert f.to_months(2.0, "years") == 24.0
    assert f.to_months(365.25, "days") == pytest.approx(12.0)
    assert f.to_months(65.6813, "weeks") == pytest.approx(65.6813 * 7 * 12 / 365.25)
    assert f.to_months(None, "days") is None
    with pytest.raises(ValueError, match="time unit"):
        f.to_months(1.0, "fortnights")


def test_results_layout_for_the_cli():
    groups = pl.DataFrame(
        {
            "group": ["rr", "ns"],
            "label": ["Re-resection", "Non-surgical"],
            "is_reference": [False, True],
            "n": [386, 220],
            "events": [261, 180],
            "median": [14.10425, 10.313],
            "median_log_lower": [11.9578, 8.102],
            "median_log_upper": [16.70505, 12.7344],
            "median_spss_lower": [11.581748, 8.852172],
            "median_spss_upper": [16.626752, 11.773828],
        }
    )
    cox = pl.DataFrame(
        {
            "model": ["unstratified"],
            "group": ["rr"],
            "hr": [0.610094],
            "hr_lower": [0.486755],
            "hr_upper": [0.764686],
            "wald_p": [1.8e-5],
        }
    )
    tests = pl.DataFrame({"test": ["logrank"], "p_value": [0.000015]})
    out = results_layout(groups, cox, tests)
    assert all("_" not in c for c in out.columns)
    assert out.rows() == [
        ("Re-resection", "386", "261", "14.1 [12.0–16.7]", "[11.6–16.6]", "0.61 [0.49–0.76]", "<0.001", "<0.001"),
        ("Non-surgical", "220", "180", "10.3 [8.1–12.7]", "[8.9–11.8]", "reference", "", "–"),
    ]


def test_bad_inputs_are_named(tmp_path):
    config = load_analyses(ANALYSES)
    studies = pl.DataFrame({"study_id": ["s_2020"], "synthetic": [True]})
    fidelity = pl.DataFrame({"study_id": ["s_2020"], "curve_id": ["os_rr"]})
    args = (tmp_path / "r", config, {}, studies, fidelity, tmp_path / "figures", "1.1.0")
    with pytest.raises(ValueError, match="time_resolution"):
        write_report(*args, math.nan, True)
    with pytest.raises(ValueError, match="fidelity: missing column"):
        write_report(*args[:4], fidelity.drop("curve_id"), *args[5:], 1e-6, True)
    with pytest.raises(ValueError, match=r"cohort: missing column\(s\) n, events"):
        write_report(*args, 1e-6, True, cohort=pl.DataFrame({"study_id": ["s_2020"], "endpoint": ["os"]}))


def test_text_from_the_data_is_escaped(tmp_path):
    rejected = pl.DataFrame(
        {"study_id": ["x_2020"], "status": ["rejected"], "stage": ["loading"], "message": ["<script>alert(1)</script>"]}
    )
    text = _write(tmp_path, rejected=rejected).read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Rejected studies (1)" in text


def test_report_from_real_results_of_twelve_studies(tmp_path):
    """Real (not hand-made) result tables with every method, Egger's test included, render without a gap."""
    from meta_bm.analysis.adhoc import analyze_table
    from meta_bm.analysis.config import AnalysesConfig
    from meta_bm.reports.analysis_figures import write_analysis_figures

    data = Path(__file__).parents[1] / "analysis" / "data" / "os_many_studies.csv"
    res = analyze_table(
        pl.read_csv(data), "time", "event", "group", study="study_id", reference="non_surgical", rmst_horizon=24
    )
    assert res.egger["re_resection"][0].limit_lower < 0  # a log HR: negative limits must not break the report
    write_analysis_figures(res, tmp_path / "figures")
    ids = sorted(res.data.studies)
    path = write_report(
        tmp_path / "report",
        AnalysesConfig(analyses=[res.analysis]),
        res.tables(),
        pl.DataFrame({"study_id": ids, "year": [2010 + i for i in range(len(ids))], "synthetic": [True] * len(ids)}),
        pl.DataFrame(schema={"study_id": pl.String, "curve_id": pl.String}),
        tmp_path / "figures",
        "1.1.0",
        1e-6,
        True,
    )
    text = path.read_text(encoding="utf-8")
    for caption in ("Small-study effects (Egger", "Leave-one-out meta-analysis", "Cumulative meta-analysis", "Funnel"):
        assert caption in text, caption
    body = html_lib.unescape(re.sub(r"<[^>]+>", " ", text.split("<body", 1)[1]))
    assert not re.search(r"\b(nan|None|True|False)\b", body)
