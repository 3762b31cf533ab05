"""Parsing of digitizer exports (clicks) and numbers-at-risk tables.

Every expected value here is written out by hand or computed directly from the text the test wrote,
never by calling back into the parser.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from meta_bm.errors import InputError
from meta_bm.reconstruction.parsing import (
    Clicks,
    RiskTable,
    clicks_from_arrays,
    parse_clicks,
    parse_risk_table,
    read_clicks,
    read_risk_table,
    risk_table_from_arrays,
)

# --------------------------------------------------------------------------------------------------
# helpers


def write(tmp_path: Path, text: str, name: str = "arm.csv", encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def read_error(path: Path, reader=read_clicks, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        reader(path, **kwargs)
    return info.value


def assert_located(exc: InputError, path: Path, row: int | None) -> None:
    """The error names the file and (when given) the row, both in attributes and in the message."""
    msg = str(exc)
    assert exc.source == str(path)
    assert str(path) in msg
    assert exc.row == row
    if row is None:
        assert ", row " not in msg
    else:
        assert f"row {row}" in msg
        assert msg.startswith(f"{path}, row {row}: ")


# --------------------------------------------------------------------------------------------------
# click files: layouts and separators


def test_two_columns_without_header(tmp_path):
    p = write(tmp_path, "0,1\n2.5,0.8\n5,0.615\n10,0.3\n")
    c = read_clicks(p)
    assert isinstance(c, Clicks)
    assert c.time.tolist() == [0.0, 2.5, 5.0, 10.0]
    assert c.survival.tolist() == [1.0, 0.8, 0.615, 0.3]
    assert c.rows.tolist() == [1, 2, 3, 4]
    assert c.source == str(p)
    assert c.y_scale == "probability"
    assert len(c) == 4
    assert c.time.dtype == np.float64 and c.survival.dtype == np.float64


def test_two_columns_with_header(tmp_path):
    p = write(tmp_path, "time,survival\n0,1\n2.5,0.8\n5,0.615\n")
    c = read_clicks(p)
    assert c.time.tolist() == [0.0, 2.5, 5.0]
    assert c.survival.tolist() == [1.0, 0.8, 0.615]
    # row numbers are file lines: the header is line 1
    assert c.rows.tolist() == [2, 3, 4]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("0,1\n1.5,0.9\n3,0.75\n6,0.4\n", "comma"),
        ("0;1\n1.5;0.9\n3;0.75\n6;0.4\n", "semicolon"),
        ("0\t1\n1.5\t0.9\n3\t0.75\n6\t0.4\n", "tab"),
        ("0 1\n1.5 0.9\n3 0.75\n6 0.4\n", "space"),
        ("   0     1\n 1.5   0.9  \n3      0.75\n6 0.4\n", "runs of spaces"),
        ("0, 1\n1.5 , 0.9\n3 ,0.75\n6,0.4\n", "comma with padding"),
        ("0 ; 1\n1.5; 0.9\n3 ;0.75\n6;0.4\n", "semicolon with padding"),
        ("0,1\r\n1.5,0.9\r\n3,0.75\r\n6,0.4\r\n", "CRLF"),
        ('"0","1"\n"1.5","0.9"\n"3","0.75"\n"6","0.4"\n', "quoted cells"),
    ],
    ids=lambda v: v if isinstance(v, str) and "\n" not in v else None,
)
def test_separators(tmp_path, text, label):
    c = read_clicks(write(tmp_path, text))
    assert c.time.tolist() == [0.0, 1.5, 3.0, 6.0], label
    assert c.survival.tolist() == [1.0, 0.9, 0.75, 0.4], label
    assert c.rows.tolist() == [1, 2, 3, 4], label


@pytest.mark.parametrize("sep", [";", "\t"])
def test_decimal_comma(tmp_path, sep):
    text = f"time{sep}surv\n0{sep}1\n2,5{sep}0,8\n5{sep}0,615\n12,25{sep}0,3\n"
    c = read_clicks(write(tmp_path, text))
    assert c.time.tolist() == [0.0, 2.5, 5.0, 12.25]
    assert c.survival.tolist() == [1.0, 0.8, 0.615, 0.3]
    assert c.rows.tolist() == [2, 3, 4, 5]
    assert c.y_scale == "probability"


@pytest.mark.parametrize("sep", [";", "\t"])
def test_decimal_comma_percent(tmp_path, sep):
    text = f"0{sep}100\n2,5{sep}80\n5{sep}61,5\n"
    c = read_clicks(write(tmp_path, text))
    assert c.y_scale == "percent"
    np.testing.assert_allclose(c.survival, [1.0, 0.8, 0.615], rtol=1e-15)
    assert c.time.tolist() == [0.0, 2.5, 5.0]


def test_decimal_point_still_works_with_semicolon(tmp_path):
    c = read_clicks(write(tmp_path, "0;1\n2.5;0.8\n5;0,615\n"))
    assert c.time.tolist() == [0.0, 2.5, 5.0]
    assert c.survival.tolist() == [1.0, 0.8, 0.615]


def test_decimal_comma_with_whitespace_separator(tmp_path):
    c = read_clicks(write(tmp_path, "0 1\n2,5 0,8\n5 0,615\n"))
    assert c.time.tolist() == [0.0, 2.5, 5.0]
    assert c.survival.tolist() == [1.0, 0.8, 0.615]


def test_webplotdigitizer_export(tmp_path):
    text = "Dataset 1,\nX,Y\n0.0,1.0,\n1.5,0.9,\n3.0,0.9,\n3.0,0.7,,\n8.25,0.55,\n"
    c = read_clicks(write(tmp_path, text))
    assert c.time.tolist() == [0.0, 1.5, 3.0, 3.0, 8.25]
    assert c.survival.tolist() == [1.0, 0.9, 0.9, 0.7, 0.55]
    assert c.rows.tolist() == [3, 4, 5, 6, 7]


def test_webplotdigitizer_export_tab(tmp_path):
    text = "Dataset 1\t\nX\tY\n0\t100\t\n4\t90\t\t\n9\t45\t\n"
    c = read_clicks(write(tmp_path, text))
    assert c.y_scale == "percent"
    assert c.time.tolist() == [0.0, 4.0, 9.0]
    np.testing.assert_allclose(c.survival, [1.0, 0.9, 0.45], rtol=1e-15)
    assert c.rows.tolist() == [3, 4, 5]


def test_blank_and_comment_lines_are_skipped_but_counted(tmp_path):
    text = "# digitized by hand\n\ntime,surv\n0,1\n\n   \n# a note\n2,0.8\n3,0.7\n"
    c = read_clicks(write(tmp_path, text))
    assert c.time.tolist() == [0.0, 2.0, 3.0]
    assert c.rows.tolist() == [4, 8, 9]


def test_utf8_bom_and_latin1(tmp_path):
    c = read_clicks(write(tmp_path, "\ufefftime,surv\n0,1\n1,0.9\n2,0.5\n", name="bom.csv"))
    assert c.time.tolist() == [0.0, 1.0, 2.0]
    assert c.rows.tolist() == [2, 3, 4]
    c = read_clicks(write(tmp_path, "Zeit;Überleben\n0;1\n1;0,9\n2;0,5\n", name="l1.csv", encoding="latin-1"))
    assert c.survival.tolist() == [1.0, 0.9, 0.5]


def test_scientific_notation_and_signs(tmp_path):
    c = read_clicks(write(tmp_path, "+0,1E0\n1.5e1,9.5e-1\n3e1,.5\n-1e-2,1.\n"))
    assert c.time.tolist() == [0.0, 15.0, 30.0, -0.01]
    assert c.survival.tolist() == [1.0, 0.95, 0.5, 1.0]


def test_parse_clicks_string_source():
    c = parse_clicks("0,1\n1,0.5\n2,0.25\n")
    assert c.source == "<string>"
    c = parse_clicks("0,1\n1,0.5\n2,0.25\n", source="mine")
    assert c.source == "mine"


def test_clicks_keep_file_order():
    # parsing does not sort or clean: that is the cleaning step's job
    c = parse_clicks("5,0.5\n0,1\n2,0.9\n2,0.95\n")
    assert c.time.tolist() == [5.0, 0.0, 2.0, 2.0]
    assert c.survival.tolist() == [0.5, 1.0, 0.9, 0.95]
    assert c.rows.tolist() == [1, 2, 3, 4]


# --------------------------------------------------------------------------------------------------
# y scale


def test_percent_autodetected(tmp_path):
    c = read_clicks(write(tmp_path, "0,100\n2,80\n5,61.5\n9,0\n"))
    assert c.y_scale == "percent"
    np.testing.assert_allclose(c.survival, [1.0, 0.8, 0.615, 0.0], rtol=1e-15)


def test_probability_autodetected_even_at_the_threshold(tmp_path):
    # 1.5 does not exceed the 1.5 threshold: probability scale, hence out of range
    exc = read_error(write(tmp_path, "0,1\n1,1.5\n2,0.5\n"))
    assert_located(exc, tmp_path / "arm.csv", 2)
    assert "probability" in str(exc)


@pytest.mark.parametrize("scale", ["probability", "auto"])
def test_probability_given_or_detected(tmp_path, scale):
    c = read_clicks(write(tmp_path, "0,1\n1,0.9\n2,0.5\n"), y_scale=scale)
    assert c.y_scale == "probability"
    assert c.survival.tolist() == [1.0, 0.9, 0.5]


def test_percent_given(tmp_path):
    c = read_clicks(write(tmp_path, "0,100\n1,90\n2,50\n"), y_scale="percent")
    assert c.y_scale == "percent"
    np.testing.assert_allclose(c.survival, [1.0, 0.9, 0.5], rtol=1e-15)


def test_probability_override_contradicted_by_percent_data(tmp_path):
    p = write(tmp_path, "time,surv\n0,99\n5,100\n10,60\n")
    exc = read_error(p, y_scale="probability")
    # the largest value (100, line 3) is the one shown
    assert_located(exc, p, 3)
    assert "100" in str(exc) and "percent" in str(exc)


def test_percent_override_contradicted_by_probability_data(tmp_path):
    p = write(tmp_path, "0,1\n5,0.8\n10,0.6\n")
    exc = read_error(p, y_scale="percent")
    assert_located(exc, p, None)
    assert "probabilit" in str(exc)


def test_unknown_y_scale(tmp_path):
    p = write(tmp_path, "0,1\n5,0.8\n10,0.6\n")
    exc = read_error(p, y_scale="fraction")
    assert_located(exc, p, None)
    assert "fraction" in str(exc)
    with pytest.raises(InputError, match="fraction"):
        clicks_from_arrays([0, 1, 2], [1, 0.9, 0.8], y_scale="fraction")


# --------------------------------------------------------------------------------------------------
# click errors: each names the file and, when it belongs to one line, that line


def test_missing_file(tmp_path):
    p = tmp_path / "nope.csv"
    exc = read_error(p)
    assert_located(exc, p, None)
    assert "not found" in str(exc)
    exc = read_error(p, reader=read_risk_table)
    assert_located(exc, p, None)


def test_directory_is_not_a_file(tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    exc = read_error(d)
    assert_located(exc, d, None)
    assert "not a regular file" in str(exc)


@pytest.mark.parametrize(
    ("text", "row", "cell"),
    [
        ("0,1\n1,abc\n2,0.5\n", 2, "abc"),
        ("time,surv\n0,1\n1,0.9\nx,0.5\n", 4, "x"),
        ("0,1\n1,0.9\n2,0.5\n3,\n", 4, ""),
        ("0,1\n1,nan\n2,0.5\n", 2, "nan"),
        ("0,1\n1,inf\n2,0.5\n", 2, "inf"),
        ("0,1\n1,0.9\n2,0..5\n", 3, "0..5"),
        ("0;1\n1;0,9\n2;0,5,1\n", 3, "0,5,1"),
        ("0,1\n# fine\n\n1,0.9 x\n2,0.5\n", 4, "0.9 x"),
        ("a,b\nc,d\ne,f\n0,1\n", 3, "e"),  # at most two header lines
        ("0,zero\n1,0.9\n2,0.5\n", 1, "zero"),  # a half-numeric first line is no header
    ],
)
def test_non_numeric_cell(tmp_path, text, row, cell):
    p = write(tmp_path, text)
    exc = read_error(p)
    assert_located(exc, p, row)
    if cell:
        assert repr(cell) in str(exc)


@pytest.mark.parametrize("text", ["", "\n\n   \n", "# only a comment\n\n"])
def test_empty_file(tmp_path, text):
    p = write(tmp_path, text)
    exc = read_error(p)
    assert_located(exc, p, None)
    assert "empty" in str(exc)


@pytest.mark.parametrize("text", ["time,surv\n", "Dataset 1,\nX,Y\n\n"])
def test_header_without_rows(tmp_path, text):
    p = write(tmp_path, text)
    exc = read_error(p)
    assert_located(exc, p, None)
    assert "header but no data rows" in str(exc)


@pytest.mark.parametrize("text", ["0,1\n", "0,1\n1,0.5\n", "time,surv\n0,1\n5,0.5\n"])
def test_fewer_than_three_clicks(tmp_path, text):
    p = write(tmp_path, text)
    exc = read_error(p)
    assert_located(exc, p, None)
    assert "at least 3" in str(exc)


@pytest.mark.parametrize("text", ["3,1\n3,0.9\n3,0.5\n", "0,1\n0,0.9\n0,0.5\n"])
def test_all_times_equal(tmp_path, text):
    p = write(tmp_path, text)
    exc = read_error(p)
    assert_located(exc, p, None)
    assert "same time" in str(exc)


@pytest.mark.parametrize(
    ("text", "row", "found"),
    [
        ("0,1\n1,0.9,0.3\n2,0.5\n", 2, 3),
        ("0,1\n1\n2,0.5\n", 2, 1),
        ("time,surv\n0;1\n1;0.5\n2;0.3\n3\n", 5, 1),
        ("0\t1\n1\t0.9\n2\t0.5\t7\n", 3, 3),
    ],
)
def test_wrong_column_count(tmp_path, text, row, found):
    p = write(tmp_path, text)
    exc = read_error(p)
    assert_located(exc, p, row)
    assert f"expected 2 columns (clicks), found {found}" in str(exc)


def test_decimal_comma_with_comma_separator_gets_a_hint(tmp_path):
    p = write(tmp_path, "0,1\n2,5,0,8\n5,0,615\n")
    exc = read_error(p)
    assert_located(exc, p, 2)
    assert "found 4" in str(exc)
    assert "decimal commas" in str(exc)


@pytest.mark.parametrize(
    ("text", "row", "shown"),
    [
        ("0,1\n1,1.2\n2,0.5\n", 2, "1.2"),
        ("0,1\n1,0.9\n2,-0.1\n", 3, "-0.1"),
        ("0,1\n1,0.9\n2,1.06\n3,0.5\n", 3, "1.06"),
        ("0,100\n1,120\n2,50\n", 2, "120"),
        ("0,100\n1,90\n2,-6\n", 3, "-6"),
        ("t;s\n0;100\n1;90\n2;-6\n3;-10\n", 4, "-6"),  # the first bad row is named
    ],
)
def test_survival_out_of_range(tmp_path, text, row, shown):
    p = write(tmp_path, text)
    exc = read_error(p)
    assert_located(exc, p, row)
    assert f"survival {shown} is outside" in str(exc)


def test_small_survival_excursions_are_accepted(tmp_path):
    c = read_clicks(write(tmp_path, "0,1.04\n1,0.9\n2,-0.04\n"))
    assert c.survival.tolist() == [1.04, 0.9, -0.04]
    c = read_clicks(write(tmp_path, "0,104\n1,90\n2,-4\n"))
    np.testing.assert_allclose(c.survival, [1.04, 0.9, -0.04], rtol=1e-14)


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ("0,1\n-1,0.9\n10,0.5\n", 2),  # -1 < -0.02 * 10
        ("time,surv\n-0.3,1\n5,0.9\n10,0.5\n", 2),
        ("0,1\n-0.21,0.9\n-0.5,0.8\n10,0.5\n", 2),
    ],
)
def test_negative_time_beyond_excursion(tmp_path, text, row):
    p = write(tmp_path, text)
    exc = read_error(p)
    assert_located(exc, p, row)
    assert "negative time" in str(exc)


def test_small_negative_time_is_accepted(tmp_path):
    c = read_clicks(write(tmp_path, "-0.19,1\n5,0.9\n10,0.5\n"))
    assert c.time.tolist() == [-0.19, 5.0, 10.0]


# --------------------------------------------------------------------------------------------------
# clicks_from_arrays


def test_clicks_from_arrays():
    c = clicks_from_arrays([0, 1, 2.5], [1, 0.75, 0.5])
    assert c.time.tolist() == [0.0, 1.0, 2.5]
    assert c.survival.tolist() == [1.0, 0.75, 0.5]
    assert c.rows.tolist() == [1, 2, 3]
    assert c.source == "<arrays>"
    assert c.y_scale == "probability"
    c = clicks_from_arrays(np.array([0, 1, 2]), np.array([100, 75, 50]), source="arm b")
    assert c.y_scale == "percent"
    assert c.source == "arm b"
    np.testing.assert_allclose(c.survival, [1.0, 0.75, 0.5], rtol=1e-15)


@pytest.mark.parametrize(
    ("time", "surv", "row", "match"),
    [
        ([0, 1, 2], [1, 0.5], None, "equal length"),
        ([[0, 1, 2]], [[1, 0.9, 0.5]], None, "1-D"),
        ([0, 1, np.nan], [1, 0.9, 0.5], 3, "non-finite"),
        ([0, 1, 2], [1, np.inf, 0.5], 2, "non-finite"),
        ([0, 1], [1, 0.5], None, "at least 3"),
        ([2, 2, 2], [1, 0.9, 0.5], None, "same time"),
        ([0, 1, 2], [1, 0.9, 1.2], 3, "outside"),
        ([0, -1, 10], [1, 0.9, 0.5], 2, "negative time"),
    ],
)
def test_clicks_from_arrays_errors(time, surv, row, match):
    with pytest.raises(InputError, match=match) as info:
        clicks_from_arrays(time, surv, source="api")
    assert info.value.source == "api"
    assert info.value.row == row
    assert str(info.value).startswith("api" if row is None else f"api, row {row}")


# --------------------------------------------------------------------------------------------------
# risk tables


@pytest.mark.parametrize(
    "text",
    [
        "time,n_risk\n0,120\n6,98\n12,61\n18,20\n",
        "0,120\n6,98\n12,61\n18,20\n",
        "t;n\n0;120\n6;98\n12;61\n18;20\n",
        "Time\tN_Risk\n0\t120\n6\t98\n12\t61\n18\t20\n",
        '"time","at_risk"\n0,120\n6,98\n12,61\n18,20\n',
        "time n.risk\n0 120\n6 98\n12 61\n18 20\n",
    ],
)
def test_risk_table(tmp_path, text):
    p = write(tmp_path, text, name="risk.csv")
    r = read_risk_table(p)
    assert isinstance(r, RiskTable)
    assert r.time.tolist() == [0.0, 6.0, 12.0, 18.0]
    assert r.n_risk.tolist() == [120, 98, 61, 20]
    assert r.n_risk.dtype == np.int64
    has_header = not text[0].isdigit()
    assert r.rows.tolist() == ([2, 3, 4, 5] if has_header else [1, 2, 3, 4])
    assert r.source == str(p)
    assert len(r) == 4


def test_risk_table_decimal_comma_times_and_whole_float_counts():
    r = parse_risk_table("time;n_risk\n0;50\n2,5;40.0\n7,5;31\n", source="r")
    assert r.time.tolist() == [0.0, 2.5, 7.5]
    assert r.n_risk.tolist() == [50, 40, 31]


def test_risk_table_constant_counts_allowed():
    r = parse_risk_table("0,10\n1,10\n2,0\n")
    assert r.n_risk.tolist() == [10, 10, 0]


@pytest.mark.parametrize(
    ("text", "row", "match"),
    [
        ("time,n_risk\n0,100\n5,-1\n", 3, "negative n_risk"),
        ("time,n_risk\n0,100\n5,80.5\n10,60\n", 3, "not a whole number"),
        ("0,100\n5,80\n10,85\n", 3, "increases"),
        ("time,n_risk\n0,100\n10,80\n5,70\n", 4, "not sorted"),
        ("time,n_risk\n0,100\n5,80\n5,70\n", 4, "duplicated risk time"),
        ("time,n_risk\n-1,100\n5,80\n", 2, "negative risk time"),
        ("time,n_risk\n0,100\n5,abc\n", 3, "non-numeric"),
        ("time,n_risk\n0,100\n5,80,3\n", 3, "expected 2 columns"),
        ("foo,bar\n0,100\n5,80\n", 1, "header must be 'time,n_risk'"),
        ("time,n_risk,extra\n0,100\n5,80\n", 1, "header must be 'time,n_risk'"),
        ("n_risk,time\n0,100\n5,80\n", 1, "header must be 'time,n_risk'"),
    ],
)
def test_risk_table_errors(tmp_path, text, row, match):
    p = write(tmp_path, text, name="risk.csv")
    exc = read_error(p, reader=read_risk_table)
    assert_located(exc, p, row)
    assert match in str(exc)


@pytest.mark.parametrize("text", ["", "time,n_risk\n"])
def test_risk_table_empty(tmp_path, text):
    p = write(tmp_path, text, name="risk.csv")
    exc = read_error(p, reader=read_risk_table)
    assert_located(exc, p, None)
    assert "risk table" in str(exc)


@pytest.mark.parametrize(
    ("text", "row"),
    [("# from figure 2\nfoo,bar\n0,100\n5,80\n", 2), ("\nfoo,bar\n0,100\n", 2)],
)
def test_risk_table_bad_header_row_not_first_line(tmp_path, text, row):
    p = write(tmp_path, text, name="risk.csv")
    exc = read_error(p, reader=read_risk_table)
    assert_located(exc, p, row)


def test_risk_table_from_arrays():
    r = risk_table_from_arrays([0, 3, 6], [40, 33.0, 20])
    assert r.time.tolist() == [0.0, 3.0, 6.0]
    assert r.n_risk.tolist() == [40, 33, 20]
    assert r.n_risk.dtype == np.int64
    assert r.rows.tolist() == [1, 2, 3]
    assert r.source == "<arrays>"


@pytest.mark.parametrize(
    ("time", "n", "row", "match"),
    [
        ([0, 3], [40], None, "equal-length"),
        ([], [], None, "non-empty"),
        ([[0, 3]], [[40, 30]], None, "1-D"),
        ([0, np.nan], [40, 30], None, "non-finite"),
        ([0, 3, 6], [40, 30, 31], 3, "increases"),
        ([0, 3, 3], [40, 30, 20], 3, "duplicated"),
        ([0, 6, 3], [40, 30, 20], 3, "not sorted"),
        ([0, 3, 6], [40, 30.2, 20], 2, "whole number"),
        ([-2, 3, 6], [40, 30, 20], 1, "negative risk time"),
        ([0, 3, 6], [40, 30, -1], 3, "negative n_risk"),
    ],
)
def test_risk_table_from_arrays_errors(time, n, row, match):
    with pytest.raises(InputError, match=match) as info:
        risk_table_from_arrays(time, n, source="tbl")
    assert info.value.source == "tbl"
    assert info.value.row == row


# --------------------------------------------------------------------------------------------------
# property tests: write valid clicks in any accepted layout, read them back

_FLOAT = {"allow_nan": False, "allow_infinity": False, "allow_subnormal": False}


@st.composite
def valid_clicks(draw, min_max_survival: float = 0.0):
    n = draw(st.integers(3, 25))
    times = draw(st.lists(st.floats(0, 1e5, **_FLOAT), min_size=n, max_size=n))
    assume(max(times) > 0 and min(times) != max(times))
    surv = draw(st.lists(st.floats(0, 1, **_FLOAT), min_size=n, max_size=n))
    surv.sort(reverse=True)
    assume(surv[0] >= min_max_survival)
    return np.array(times), np.array(surv)


SEPARATORS = [",", ";", "\t", " ", "   "]


@st.composite
def layouts(draw):
    sep = draw(st.sampled_from(SEPARATORS))
    decimal_comma = sep in (";", "\t") and draw(st.booleans())
    headers = ["none", "one"] + (["wpd"] if sep.strip() or sep == "\t" else [])
    header = draw(st.sampled_from(headers))
    trailing = sep in (",", ";", "\t") and draw(st.booleans())  # trailing empty columns (not for whitespace)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return sep, decimal_comma, header, trailing, newline


def render(times, values, layout, extras) -> tuple[str, list[int]]:
    """File text for (times, values) and the expected 1-based line number of each data row."""
    sep, decimal_comma, header, trailing, newline = layout
    lines: list[str] = []
    if header == "one":
        lines.append(f"time{sep}survival")
    elif header == "wpd":
        lines += [f"Dataset 1{sep}", f"X{sep}Y"]
    rows = []
    for t, v, extra in zip(times, values, extras, strict=True):
        if extra == "blank":
            lines.append("")
        elif extra == "comment":
            lines.append("# comment")
        cells = [repr(float(t)), repr(float(v))]
        if decimal_comma:
            cells = [c.replace(".", ",") for c in cells]
        line = sep.join(cells) + (sep + sep if trailing else "")
        lines.append(line)
        rows.append(len(lines))
    return newline.join(lines) + newline, rows


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=valid_clicks(), layout=layouts(), extra=st.data())
def test_roundtrip_probability(data, layout, extra):
    times, surv = data
    n = len(times)
    extras = extra.draw(st.lists(st.sampled_from(["", "", "", "blank", "comment"]), min_size=n, max_size=n))
    text, rows = render(times, surv, layout, extras)
    c = parse_clicks(text, source="rt.csv")
    assert c.y_scale == "probability"
    np.testing.assert_allclose(c.time, times, rtol=1e-12, atol=0)
    np.testing.assert_allclose(c.survival, surv, rtol=1e-12, atol=0)
    assert c.rows.tolist() == rows
    assert c.source == "rt.csv"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=valid_clicks(min_max_survival=0.5), layout=layouts(), extra=st.data())
def test_roundtrip_percent(data, layout, extra):
    times, surv = data
    # "auto" reads percent when two or more values exceed 1.5 (one such value is taken for a typo)
    assume(int(np.sum(surv * 100.0 > 1.5)) >= 2)
    extras = extra.draw(st.lists(st.sampled_from(["", "blank"]), min_size=len(times), max_size=len(times)))
    text, rows = render(times, surv * 100.0, layout, extras)
    c = parse_clicks(text, source="pc.csv", y_scale="auto")
    assert c.y_scale == "percent"
    np.testing.assert_allclose(c.time, times, rtol=1e-12, atol=0)
    np.testing.assert_allclose(c.survival, surv, rtol=1e-12, atol=0)
    assert c.rows.tolist() == rows
    # forcing the scale the data is written in gives the same numbers
    forced = parse_clicks(text, source="pc.csv", y_scale="percent")
    np.testing.assert_array_equal(forced.survival, c.survival)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=valid_clicks(), layout=layouts(), bad=st.data())
def test_non_numeric_cell_row_is_reported(data, layout, bad):
    times, surv = data
    text, rows = render(times, surv, layout, [""] * len(times))
    lines = text.splitlines()
    k = bad.draw(st.integers(0, len(rows) - 1))
    col = bad.draw(st.integers(0, 1))  # the other cell stays numeric, so the line is data, not a header
    sep = layout[0]
    cells = lines[rows[k] - 1].split(sep) if sep.strip() or sep == "\t" else lines[rows[k] - 1].split()
    cells[col] = "n/a"
    lines[rows[k] - 1] = sep.join(cells)
    with pytest.raises(InputError) as info:
        parse_clicks("\n".join(lines) + "\n", source="bad.csv")
    assert info.value.row == rows[k]
    assert info.value.source == "bad.csv"
    assert f"bad.csv, row {rows[k]}" in str(info.value)
    assert "'n/a'" in str(info.value)


@settings(max_examples=50, deadline=None)
@given(
    times=st.lists(st.floats(0, 1e4, **_FLOAT), min_size=1, max_size=15, unique=True),
    counts=st.lists(st.integers(0, 10_000), min_size=15, max_size=15),
    sep=st.sampled_from(SEPARATORS),
    header=st.booleans(),
)
def test_risk_table_roundtrip(times, counts, sep, header):
    times = sorted(times)
    counts = sorted(counts[: len(times)], reverse=True)
    body = [f"{t!r}{sep}{n}" for t, n in zip(times, counts, strict=True)]
    text = "\n".join(([f"time{sep}n_risk"] if header else []) + body) + "\n"
    r = parse_risk_table(text, source="rk")
    assert r.time.tolist() == times
    assert r.n_risk.tolist() == counts
    first = 2 if header else 1
    assert r.rows.tolist() == list(range(first, first + len(times)))


def test_one_mistyped_value_does_not_flip_to_percent():
    # A probability curve with one typo (1.6) must not be read as percent (survival ~0.01): the typo is
    # reported with its row instead.
    with pytest.raises(InputError) as info:
        parse_clicks("0,1\n1,0.9\n2,1.6\n3,0.7\n4,0.6\n", source="typo.csv")
    assert info.value.row == 3
    assert "outside the probability range" in str(info.value)


def test_one_percent_typo_in_probability_file_is_reported():
    with pytest.raises(InputError) as info:
        parse_clicks("0,1\n1,0.9\n2,90\n3,0.7\n4,0.6\n", source="typo.csv")
    assert info.value.row == 3


# --------------------------------------------------------------------------------------------------
# encodings, special files and plausibility limits (issue 15)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_clicks_are_read_with_or_without_a_bom(tmp_path, encoding):
    path = write(tmp_path, "time\tsurvival\n0\t100\n2,5\t80\n5\t61,5\n", encoding=encoding)
    c = read_clicks(path)
    assert c.time.tolist() == [0.0, 2.5, 5.0]
    assert c.survival.tolist() == [1.0, 0.8, 0.615]
    assert c.rows.tolist() == [2, 3, 4]


def test_utf16_risk_table_is_read(tmp_path):
    path = write(tmp_path, "time,n_risk\n0,40\n12,21\n", name="risk.csv", encoding="utf-16")
    table = read_risk_table(path)
    assert table.n_risk.tolist() == [40, 21]


def test_broken_utf16_is_named_as_utf16(tmp_path):
    path = tmp_path / "arm.csv"
    path.write_bytes("0,1\n1,0.5\n2,0.2\n".encode("utf-16") + b"\x00")  # odd length: truncated
    exc = read_error(path)
    assert_located(exc, path, None)
    assert "UTF-16" in str(exc) and "save it as UTF-8" in str(exc)


def test_utf32_is_named_and_refused(tmp_path):
    path = write(tmp_path, "0,1\n1,0.5\n2,0.2\n", encoding="utf-32")
    assert "UTF-32" in str(read_error(path))


def test_nul_byte_in_a_text_file_is_refused_naming_the_row(tmp_path):
    path = tmp_path / "arm.csv"
    path.write_bytes(b"0,1\n1,0.5\n2,\x000.2\n3,0.1\n")
    exc = read_error(path)
    assert_located(exc, path, 3)
    assert "NUL" in str(exc)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "arm.csv"
    os.mkfifo(fifo)
    exc = read_error(fifo)
    assert_located(exc, fifo, None)
    assert "not a regular file: it is a FIFO" in str(exc)


def test_symlink_loop_is_reported_not_raised(tmp_path):
    loop = tmp_path / "arm.csv"
    loop.symlink_to(loop)
    exc = read_error(loop)
    assert_located(exc, loop, None)
    assert "cannot read" in str(exc) and "symbolic links" in str(exc)


def test_nul_in_a_path_is_an_input_error():
    with pytest.raises(InputError, match="cannot read"):
        read_clicks("arm\x00.csv")


def test_file_above_the_size_limit_is_refused(tmp_path):
    from meta_bm.reconstruction.parsing import read_input_bytes

    path = write(tmp_path, "".join(f"{i},{1 - i / 100:.2f}\n" for i in range(40)))
    with pytest.raises(InputError, match="above the limit of 64"):
        read_input_bytes(path, limit=64)
    assert read_input_bytes(path, limit=path.stat().st_size) == path.read_bytes()


def test_clicks_above_the_limit_are_rejected_naming_the_first_row_over(tmp_path):
    from meta_bm.errors import MAX_CLICKS

    n = MAX_CLICKS + 3
    path = write(tmp_path, "".join(f"{i / n:.6f},{1 - i / n:.6f}\n" for i in range(n)))
    exc = read_error(path)
    assert_located(exc, path, MAX_CLICKS + 3)
    assert f"above the limit of {MAX_CLICKS:,}" in str(exc)
    with pytest.raises(InputError, match="above the limit"):
        clicks_from_arrays(np.linspace(0, 1, MAX_CLICKS + 1), np.linspace(1, 0, MAX_CLICKS + 1))


def test_click_time_above_the_limit_is_rejected_naming_the_row(tmp_path):
    path = write(tmp_path, "0,1\n1,0.5\n1e9,0.2\n")
    exc = read_error(path)
    assert_located(exc, path, 3)
    assert "beyond the limit of 100000" in str(exc)


def test_n_risk_above_the_limit_is_rejected_naming_the_row(tmp_path):
    path = write(tmp_path, "time,n_risk\n0,5000000\n10,20\n", name="risk.csv")
    exc = read_error(path, reader=read_risk_table)
    assert_located(exc, path, 2)
    assert "above the limit of 1,000,000" in str(exc)


def test_risk_time_above_the_limit_and_too_many_rows_are_rejected(tmp_path):
    path = write(tmp_path, "time,n_risk\n0,50\n1e7,20\n", name="risk.csv")
    assert_located(read_error(path, reader=read_risk_table), path, 3)
    with pytest.raises(InputError, match="risk table rows, above the limit"):
        risk_table_from_arrays(np.arange(2000.0), np.full(2000, 5))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (True, "whole number, not bool"),
        ("40", "whole number, not str"),
        (40.5, "not a whole number"),
        (float("inf"), "not a whole number"),
        (-1, "below 1"),
        (10**12, "above the limit"),
    ],
)
def test_check_count_is_strict(value, match):
    from meta_bm.reconstruction.parsing import check_count

    with pytest.raises(InputError, match=match):
        check_count(value, "total N", "x.csv", minimum=1)


def test_check_count_accepts_integers_and_whole_floats():
    from meta_bm.reconstruction.parsing import check_count

    assert check_count(np.int64(40), "n", None) == 40
    assert check_count(40.0, "n", None) == 40
