"""The analyses config: the shipped file is valid; every mistake names the analysis and the key."""

from __future__ import annotations

import pytest

from meta_bm.analysis.config import AnalysisConfigError, load_analyses, parse_analyses
from meta_bm.settings import packaged_analyses

SHIPPED = packaged_analyses()


def test_shipped_config_has_the_six_comparisons():
    cfg = load_analyses(SHIPPED)
    got = {a.id: (a.endpoint, [g.id for g in a.group_defs()], a.reference) for a in cfg.analyses}
    assert got == {
        "os_rr_vs_nonsurg": ("os", ["re_resection", "non_surgical"], "non_surgical"),
        "os_rr_vs_resrs": ("os", ["re_resection", "re_srs"], "re_srs"),
        "os_gtr_vs_str": ("os", ["gtr", "str"], "str"),
        "os_adj_rert": ("os", ["re_rt", "none"], "none"),
        "lpfs_rr_vs_rr_srs": (
            "local_pfs",
            ["reresection_alone", "reresection_resrs"],
            "reresection_resrs",
        ),
        "lpfs_srs_vs_rr": (
            "local_pfs",
            ["resrs_alone", "reresection_alone"],
            "reresection_alone",
        ),
    }
    assert cfg.get("os_gtr_vs_str").population == {"modality": "re_resection"}


BASE = """
analyses:
  - id: a1
    title: T
    endpoint: os
    group_by: modality
    levels: [re_resection, non_surgical]
    reference: non_surgical
"""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("endpoint: os", "endpoint: dfs"), "analyses[0] (a1): endpoint: Input should be"),
        (("reference: non_surgical", "reference: wbrt"), "analyses[0] (a1): (analysis): reference 'wbrt' is not one"),
        (("    title: T", "    title: T\n    colour: red"), "analyses[0] (a1): colour: unknown key"),
        (("group_by: modality", "group_by: dose"), "analyses[0] (a1): group_by: Input should be"),
        (("    title: T", "    title: T\n    population: {dose: high}"), "analyses[0] (a1): population.dose"),
        (("levels: [re_resection, non_surgical]", "levels: [re_resection]"), "at least two groups"),
        (
            ("    title: T", "    title: T\n    studies: some"),
            "studies: Input should be 'all' or 'at_least_two_groups'",
        ),
        (("    title: T", "    title: T\n    rmst_horizon_months: -3"), "rmst_horizon_months: Input should be greater"),
        (("id: a1", "id: A-1"), "analyses[0] (A-1): id: String should match pattern"),
    ],
)
def test_errors_name_analysis_and_key(edit, expected):
    with pytest.raises(AnalysisConfigError) as info:
        parse_analyses(BASE.replace(*edit), source="analyses.yaml")
    assert any(p.startswith("analyses.yaml: ") and expected in p for p in info.value.problems), info.value.problems


def test_groups_form_and_duplicates():
    text = BASE + BASE.split("analyses:\n")[1]
    with pytest.raises(AnalysisConfigError, match="duplicate analysis ids: a1"):
        parse_analyses(text)
    both = BASE.replace("    reference:", "    groups: [{id: x, label: X, where: {modality: re_srs}}]\n    reference:")
    with pytest.raises(AnalysisConfigError, match="either group_by"):
        parse_analyses(both)
    with pytest.raises(AnalysisConfigError, match="not found"):
        load_analyses("/nonexistent/analyses.yaml")
    with pytest.raises(AnalysisConfigError, match=r"analyses.yaml, row 3: not valid YAML"):
        parse_analyses("analyses:\n  - id: [\n")


def test_analysis_ids_name_assets_so_they_stay_short_and_unreserved(tmp_path):
    import pytest

    from meta_bm.analysis.config import AnalysisConfigError, load_analyses

    base = (
        "analyses:\n  - {{id: {}, title: A, endpoint: os, group_by: modality, levels: [re_srs, re_resection], "
        "reference: re_srs}}\n"
    )
    for bad, match in (("a_very_long_analysis_identifier", "at most 20"), ("cohort_summary", "name other assets")):
        path = tmp_path / "a.yaml"
        path.write_text(base.format(bad))
        with pytest.raises(AnalysisConfigError, match=match):
            load_analyses(path)
