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


# --------------------------------------------------------------------------------------------------
# strict types, plausibility limits and odd YAML (issue 15)


def test_total_n_above_limit_is_rejected_naming_the_key():
    problems = _problems(_edit("curves.1.total_n", 1_000_000_000))
    assert any(
        p.startswith("smith_2019/study.yaml: curves[1].total_n: Input should be less than or equal to 1000000")
        for p in problems
    ), problems
    problems = _problems(_edit("curves.1.total_n", 100000000000000000000))
    assert any("curves[1].total_n: Input should be less than or equal to 1000000" in p for p in problems), problems


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("curves.1.total_n", "22", "curves[1].total_n: Input should be a valid integer, not str '22'"),
        ("curves.1.total_n", True, "curves[1].total_n: Input should be a valid integer, not bool True"),
        ("curves.1.total_n", 30.0, "curves[1].total_n: Input should be a valid integer"),
        ("curves.1.total_events", "25", "curves[1].total_events: Input should be a valid integer"),
        ("curves.0.published.median.value", "14.2", "curves[0].published.median.value: Input should be a valid number"),
        ("year", "2019", "year: Input should be a valid integer, not str '2019'"),
        ("synthetic", "false", "synthetic: Input should be a valid boolean, not str 'false'"),
        ("synthetic", 0, "synthetic: Input should be a valid boolean"),
        ("citation", 2019, "citation: Input should be a valid string"),
    ],
)
def test_counts_and_flags_of_the_wrong_type_are_rejected_naming_the_key(path, value, expected):
    problems = _problems(_edit(path, value))
    assert any(expected in p for p in problems), problems


def test_published_events_above_limit_is_rejected():
    data = _edit("curves.1.published", {"events": 10**7})
    assert any("curves[1].published.events: Input should be less than or equal to" in p for p in _problems(data))


@pytest.mark.parametrize("text", [".inf", "-.inf", ".nan"])
def test_infinite_or_nan_published_median_is_rejected(text):
    doc = yaml.safe_dump(BASE).replace("value: 14.2", f"value: {text}")
    with pytest.raises(StudyError) as info:
        parse_manifest(doc, source="s.yaml", folder_name="smith_2019")
    assert any("curves[0].published.median.value: Input should be" in p for p in info.value.problems)


def test_published_median_beyond_the_time_limit_is_rejected():
    problems = _problems(_edit("curves.0.published.median.value", 1e9))
    assert any("curves[0].published.median.value: Input should be less than or equal to 100000" in p for p in problems)


def test_duplicate_yaml_keys_are_rejected_naming_both_rows():
    doc = yaml.safe_dump(BASE, sort_keys=False) + "year: 2020\n"
    with pytest.raises(StudyError) as info:
        parse_manifest(doc, source="s.yaml", folder_name="smith_2019")
    [problem] = info.value.problems
    last_row = doc.count("\n")
    assert problem == f"s.yaml, row {last_row}: duplicate key 'year' (first at row 3); a key may be given once"


def test_duplicate_keys_in_a_nested_flow_mapping_are_rejected():
    doc = yaml.safe_dump(_edit("arms", [{"arm_id": "rr"}])).replace(
        "- arm_id: rr", "- {arm_id: rr, label: a, modality: other, label: b}"
    )
    row = doc.splitlines().index("- {arm_id: rr, label: a, modality: other, label: b}") + 1
    with pytest.raises(StudyError) as info:
        parse_manifest(doc, source="s.yaml", folder_name="smith_2019")
    assert info.value.problems == [
        f"s.yaml, row {row}: duplicate key 'label' (first at row {row}); a key may be given once"
    ]


def test_yaml_merge_keys_may_be_overridden_without_a_duplicate_error():
    doc = yaml.safe_dump(_edit("arms", [])).replace(
        "arms: []\n",
        "base: &b {label: Re-resection, modality: re_resection}\n".replace("base", "x_base") + "arms:\n"
        "- <<: *b\n  arm_id: rr\n  modality: other\n- {arm_id: ns, label: N, modality: non_surgical}\n",
    )
    with pytest.raises(StudyError) as info:  # (x_base is an unknown key, nothing else is wrong)
        parse_manifest(doc, source="s.yaml", folder_name="smith_2019")
    assert info.value.problems == ["s.yaml: x_base: unknown key"]


@pytest.mark.parametrize(
    ("value", "tag"),
    [("!!int x", "!!int"), ("!!float y", "!!float"), ("!!bool maybe", "!!bool"), ("!!timestamp z", "!!timestamp")],
)
def test_values_yaml_cannot_construct_are_reported_with_their_row(value, tag):
    doc = yaml.safe_dump(BASE, sort_keys=False).replace("year: 2019", f"year: {value}")
    with pytest.raises(StudyError) as info:
        parse_manifest(doc, source="s.yaml", folder_name="smith_2019")
    [problem] = info.value.problems
    assert problem.startswith("s.yaml, row 3: not valid YAML (cannot read") and tag in problem


def test_deeply_nested_yaml_is_a_study_error():
    for depth in (30, 900, 5000):
        with pytest.raises(StudyError) as info:
            parse_manifest("[" * depth + "]" * depth, source="s.yaml")
        assert info.value.problems == ["s.yaml, row 1: nested more than 20 levels deep"]
    block = "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 40))
    with pytest.raises(StudyError) as info:
        parse_manifest(block, source="s.yaml")
    assert info.value.problems == ["s.yaml, row 21: nested more than 20 levels deep"]


def test_nesting_built_from_aliases_is_still_bounded():
    # (each line nests one level through an alias: no line opens more than one collection)
    doc = "l0: &l0 [x]\n" + "".join(f"l{i}: &l{i} [*l{i - 1}]\n" for i in range(1, 25))
    with pytest.raises(StudyError) as info:
        parse_manifest(doc, source="s.yaml")
    assert info.value.problems == ["s.yaml: nested more than 20 levels deep"]


def test_recursive_alias_and_alias_bomb_are_rejected():
    with pytest.raises(StudyError, match="recursive structure"):
        parse_manifest("a: &a [*a]\n", source="s.yaml")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
    )
    with pytest.raises(StudyError, match="once YAML aliases are expanded"):
        parse_manifest(bomb, source="s.yaml")


def test_manifest_above_the_size_limit_is_rejected():
    from meta_bm.errors import MAX_MANIFEST_BYTES

    with pytest.raises(StudyError, match="above the limit"):
        parse_manifest("notes: " + "x" * MAX_MANIFEST_BYTES, source="s.yaml")


def test_study_id_with_a_trailing_newline_is_rejected():
    from meta_bm.studies.manifest import STUDY_ID_PATTERN

    assert STUDY_ID_PATTERN.match("evil\n") is None
    doc = yaml.safe_dump(_edit("study_id", "evil\n"))
    with pytest.raises(StudyError) as info:
        parse_manifest(doc, source="s.yaml", folder_name="evil\n")
    assert any("study_id" in p and "must be lowercase letters" in p for p in info.value.problems)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("arms.0.arm_id", "r\x00r", "arms[0].arm_id: String should match pattern"),
        ("arms.0.arm_id", "r" * 65, "arms[0].arm_id: String should have at most 64 characters"),
        ("curves.0.curve_id", "os\x1b[31m", "curves[0].curve_id: String should match pattern"),
        ("arms.0.label", "Re-\x1b[2Jresection", "arms[0].label: 'Re-\\x1b[2Jresection' contains a control character"),
        ("citation", "x\x00y", "citation: 'x\\x00y' contains a control character"),
        ("study_id", "s" * 65, "study_id: 65 characters, above the limit of 64"),
    ],
)
def test_ids_and_text_with_control_characters_or_too_long_are_rejected(path, value, expected):
    problems = _problems(_edit(path, value), folder=value if path == "study_id" else "smith_2019")
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("os\x00rr.csv", "contains a control character"),
        ("os\nrr.csv", "contains a control character"),
        ("a" * 256 + ".csv", "a name of 260 bytes, above the limit of 255"),
        ("/".join(["d" * 200] * 6), "above the limit of 1024"),
        ("\ud800.csv", "Input should be a valid string"),
    ],
)
def test_file_names_the_os_cannot_take_are_rejected_in_the_manifest(name, expected):
    problems = _problems(_edit("curves.0.clicks", name))
    assert any(p.startswith("smith_2019/study.yaml: curves[0].clicks: ") and expected in p for p in problems), problems


def test_notes_may_hold_line_breaks_and_tabs():
    data = _edit("notes", "line one\n\tline two")
    assert parse_manifest(yaml.safe_dump(data), folder_name="smith_2019").notes == "line one\n\tline two"


def test_non_text_manifest_input_is_a_study_error():
    with pytest.raises(StudyError, match="expected the manifest's text"):
        parse_manifest(b"study_id: x", source="s.yaml")  # type: ignore[arg-type]


def _with_figure(**changes) -> dict:
    import copy

    data = copy.deepcopy(BASE)
    data["figures"] = [{"figure_id": "fig2", "file": "article.pdf", "page": 5}]
    curve = {"curve_id": "os_rr", "arm": "rr", "endpoint": "os", "time_unit": "months", "figure": "fig2"}
    curve.update(changes)
    data["curves"][0] = {k: v for k, v in curve.items() if v is not None}
    return data


def test_a_curve_may_be_read_from_a_figure_and_mix_with_hand_made_clicks():
    m = parse_manifest(yaml.safe_dump(_with_figure(figure_curve="Re-resection")), folder_name="smith_2019")
    assert m.curves[0].figure == "fig2" and m.curves[0].clicks is None and m.curves[1].clicks == "os_ns.csv"
    assert m.figure("fig2").page == 5
    assert ("figure:fig2", "article.pdf") in m.files() and ("clicks:os_ns", "os_ns.csv") in m.files()
    # without a risk table or N the figure may still hold the numbers at risk: checked when it is read
    ranked = parse_manifest(yaml.safe_dump(_with_figure(figure_curve=2)), folder_name="smith_2019")
    assert ranked.curves[0].figure_curve == 2


def test_figure_manifest_errors_name_the_key():
    both = _problems(_with_figure(clicks="os_rr.csv"))
    assert any("curves[0]: give either clicks" in p for p in both)
    unknown = _problems(_with_figure(figure="fig9"))
    assert any("curves[0].figure: unknown figure 'fig9' (figures: fig2)" in p for p in unknown)
    data = _with_figure()
    data["figures"].append({"figure_id": "fig3", "file": "km.png", "x_range": [36, 0], "crop": [0, 0, 10]})
    problems = _problems(data)
    assert any("figures[1].x_range: [36.0, 0.0]: each upper value must exceed its lower value" in p for p in problems)
    assert any("figures[1].crop: List should have at least 4 items" in p for p in problems)
    data["figures"][1] = {"figure_id": "fig3", "file": "km.png"}  # (cross-checks run once every field is valid)
    assert any("figures[1]: figure 'fig3' is named by no curve" in p for p in _problems(data))
    outside = _with_figure() | {"figures": [{"figure_id": "fig2", "file": "../x.pdf"}]}
    assert any("figures[0].file" in p for p in _problems(outside))
    assert any("figure_curve" in p for p in _problems(_with_figure(figure_curve=0)))
    data = _with_figure()
    data["curves"][1]["figure_curve"] = "A"
    assert any("curves[1]: figure_curve is for curves read from a figure" in p for p in _problems(data))
