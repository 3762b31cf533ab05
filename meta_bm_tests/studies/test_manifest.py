"""Manifest schema: every violation is reported with the file and the key, all at once."""

from __future__ import annotations

import pytest
import yaml

from meta_bm.studies import StudyError, parse_manifest

BASE = {
    "study_id": "smith_2019",
    "citation": "Smith J et al. 2019",
    "year": 2019,
    "doi": "10.1000/x",
    "source": "literature",
    "synthetic": False,
    "arms": [
        {"arm_id": "rr", "label": "Re-resection", "modality": "re_resection", "resection_extent": "gtr"},
        {"arm_id": "ns", "label": "Non-surgical", "modality": "non_surgical"},
    ],
    "curves": [
        {
            "curve_id": "os_rr",
            "arm": "rr",
            "endpoint": "os",
            "time_unit": "months",
            "clicks": "os_rr.csv",
            "risk_table": "os_rr_risk.csv",
            "published": {
                "median": {"value": 14.2, "lower": 10.0, "upper": 18.0},
                "hr": {"value": 0.6, "lower": 0.4, "upper": 0.9, "reference_arm": "ns"},
            },
        },
        {
            "curve_id": "os_ns",
            "arm": "ns",
            "endpoint": "os",
            "time_unit": "weeks",
            "clicks": "os_ns.csv",
            "total_n": 30,
            "total_events": 25,
        },
    ],
}


def _problems(data, folder="smith_2019") -> list[str]:
    with pytest.raises(StudyError) as info:
        parse_manifest(yaml.safe_dump(data), source="smith_2019/study.yaml", folder_name=folder)
    return info.value.problems


def _edit(path: str, value):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is KeyError:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


def test_valid_manifest_round_trip():
    m = parse_manifest(yaml.safe_dump(BASE), folder_name="smith_2019")
    assert m.curves[0].published.hr.reference_arm == "ns"
    assert m.arm("rr").resection_extent == "gtr"
    assert m.files() == [
        ("clicks:os_rr", "os_rr.csv"),
        ("risk_table:os_rr", "os_rr_risk.csv"),
        ("clicks:os_ns", "os_ns.csv"),
    ]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("colour", "blue", "smith_2019/study.yaml: colour: unknown key"),
        ("arms.0.dose", 18, "smith_2019/study.yaml: arms[0].dose: unknown key"),
        ("arms.1.modality", "surgery", "smith_2019/study.yaml: arms[1].modality: Input should be"),
        ("arms.0.adjuvant", "chemo", "arms[0].adjuvant: Input should be"),
        ("curves.0.endpoint", "dfs", "curves[0].endpoint: Input should be"),
        ("curves.0.time_unit", "hours", "curves[0].time_unit: Input should be"),
        ("curves.0.clicks", "../other/os.csv", "curves[0].clicks: '../other/os.csv' must not contain '..'"),
        ("curves.0.clicks", "/etc/passwd", "curves[0].clicks: '/etc/passwd' must be a relative path"),
        ("curves.0.clicks", "C:\\data\\x.csv", "curves[0].clicks: 'C:\\\\data\\\\x.csv' must be a relative path"),
        ("curves.0.risk_table", "sub/../../x.csv", "curves[0].risk_table: 'sub/../../x.csv' must not contain '..'"),
        ("curves.1.total_n", KeyError, "curves[1]: total_n is required when the curve has no risk_table"),
        ("curves.1.total_events", 31, "curves[1]: total_events 31 exceeds total_n 30"),
        ("curves.0.published.median.lower", 15.0, "curves[0].published.median: lower 15.0 is above the estimate"),
        ("source", "registry", "source: Input should be 'literature' or 'institutional'"),
        ("year", "recent", "year: Input should be a valid integer"),
        ("citation", KeyError, "citation: Field required"),
    ],
)
def test_each_violation_names_file_and_key(path, value, expected):
    problems = _problems(_edit(path, value))
    assert any(expected in p for p in problems), problems


def test_cross_references_and_duplicates():
    data = _edit("curves.0.arm", "xx")
    data["arms"].append({"arm_id": "ns", "label": "dup", "modality": "other"})
    data["curves"][1]["published"] = {"hr": {"value": 1.2, "reference_arm": "zz"}}
    problems = " | ".join(_problems(data))
    assert "duplicate arm_id: ns" in problems
    assert "curves[0].arm: unknown arm 'xx'" in problems
    assert "curves[1].published.hr.reference_arm: unknown arm 'zz'" in problems


def test_study_id_must_match_folder_and_pattern():
    assert any("must equal the folder name 'other'" in p for p in _problems(BASE, folder="other"))
    assert any("lowercase letters" in p for p in _problems(_edit("study_id", "Smith-2019"), folder="Smith-2019"))


def test_source_specific_requirements():
    assert any("needs at least one digitized curve" in p for p in _problems(_edit("curves", [])))
    inst = _edit("source", "institutional")
    assert any("an institutional study needs a patient table" in p for p in _problems(inst))
    lit = _edit("curves.0.clicks", "os_rr.csv")
    lit["patients"] = {"file": "p.csv"}
    assert any("only institutional studies have a patient table" in p for p in _problems(lit))


def test_yaml_errors_name_the_row_and_unsafe_tags_are_refused():
    with pytest.raises(StudyError, match=r"study.yaml, row 3: not valid YAML"):
        parse_manifest("study_id: a\ncitation: x\n  bad: [1, 2\n", source="study.yaml")
    with pytest.raises(StudyError, match="not valid YAML"):
        parse_manifest("!!python/object/apply:os.system ['echo hacked']\n", source="study.yaml")
    with pytest.raises(StudyError, match="expected a mapping"):
        parse_manifest("- a\n- b\n", source="study.yaml")
