"""Read digitizer exports (clicks) and numbers-at-risk tables into validated arrays.

Accepted click files: two numeric columns (time, survival), with or without one or two header lines
(WebPlotDigitizer's "Dataset" / "X,Y" header rows included), separated by comma, semicolon, tab or
whitespace; decimal commas are accepted when the separator is not a comma. Survival may be a
probability or a percentage: ``y_scale="auto"`` decides from the data, ``"probability"`` or
``"percent"`` force it and are checked against the data.

Risk tables: ``time,n_risk`` (header optional), same separators.

Censoring marks (``<k>_censor.csv``): the times of the '+' or '|' marks drawn on the curve, one a
row, in a ``time`` column (header optional; without one the first column, and a second, such as the
marks' survival, is ignored), same separators; a comma is a decimal comma in a one-column file (a
header of one name, or no '.' anywhere).

Files are read as UTF-8 (with or without a byte-order mark), UTF-16 (with a byte-order mark, or
without one when the NUL bytes of ASCII text say so) or, failing UTF-8, Latin-1; any other file
holding NUL bytes is refused as not text. Only regular files are read, up to
:data:`~meta_bm.errors.MAX_INPUT_BYTES`; clicks, risk rows, times and counts are held to the
plausibility limits of :mod:`meta_bm.errors`.

Every problem raises :class:`meta_bm.errors.InputError` naming the file, the row and the problem.

Example
-------
>>> clicks = parse_clicks("time;surv\\n0;100\\n2,5;80\\n5;61,5\\n", source="arm_a.csv")
>>> clicks.y_scale, clicks.survival.tolist()
('percent', [1.0, 0.8, 0.615])
"""

from __future__ import annotations

import codecs
import math
import numbers
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from meta_bm.errors import MAX_CLICKS, MAX_INPUT_BYTES, MAX_N, MAX_RISK_ROWS, MAX_TIME, InputError

YScale = Literal["auto", "probability", "percent"]

# A survival value up to this far outside [0, 1] is a digitizing excursion (clamped by cleaning);
# beyond it the input is wrong.
SURVIVAL_EXCURSION = 0.05
# Negative times down to this fraction of the time range are digitizing excursions.
TIME_EXCURSION = 0.02

_RISK_TIME_NAMES = {"time", "t", "trisk", "t_risk", "times"}
_RISK_N_NAMES = {"n_risk", "nrisk", "n.risk", "n", "at_risk", "number_at_risk", "n_at_risk"}


@dataclass(frozen=True)
class Clicks:
    """Digitized points of one Kaplan–Meier curve, as read (not yet cleaned).

    Attributes
    ----------
    time, survival:
        Float arrays in file order; survival on the probability scale.
    rows:
        1-based line number of each point in its file, so cleaning can report by row.
    source:
        File name (or label) the points came from.
    y_scale:
        ``"probability"`` or ``"percent"``: how the file expressed survival.
    """

    time: np.ndarray
    survival: np.ndarray
    rows: np.ndarray
    source: str
    y_scale: str

    def __len__(self) -> int:
        return int(self.time.size)


@dataclass(frozen=True)
class CensorMarks:
    """The times of the censoring marks of one curve, as read (any order, duplicates kept: two marks
    drawn on one spot are two censored times).

    ``rows``: each mark's 1-based line in its file; ``source``: the file (or label).
    """

    time: np.ndarray
    rows: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.time.size)


@dataclass(frozen=True)
class RiskTable:
    """A published numbers-at-risk table: strictly increasing times, non-increasing counts."""

    time: np.ndarray
    n_risk: np.ndarray
    rows: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.time.size)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words (for messages about files that are not regular files)."""
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return kind
    return "a special file"


def os_reason(exc: BaseException) -> str:
    """The reason of a failed file operation, in words (``strerror`` without the path)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def read_input_bytes(path: str | Path, source: str | None = None, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; :class:`InputError` otherwise.

    Never blocks on or reads a special file (FIFO, socket, device): the file is opened
    non-blocking and checked to be a regular file on the open descriptor, so a file swapped for
    a FIFO in between is refused too.
    """
    name = source if source is not None else str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError("file not found", name) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read ({os_reason(exc)})", name) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"not a regular file: it is {file_kind(st.st_mode)}", name)
    if st.st_size > limit:
        raise InputError(f"file is {st.st_size:,} bytes, above the limit of {limit:,}", name)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read ({os_reason(exc)})", name) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"not a regular file: it is {file_kind(st.st_mode)}", name)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read ({os_reason(exc)})", name) from None
    finally:
        os.close(fd)
    if size > limit:
        raise InputError(f"file is more than {limit:,} bytes, the limit", name)
    return b"".join(chunks)


def _utf16_without_bom(raw: bytes) -> str | None:
    """``"utf-16-le"`` / ``"utf-16-be"`` when NUL bytes sit where UTF-16 puts them in ASCII text."""
    sample = raw[:4096]
    half = len(sample) // 2
    if half == 0:
        return None
    even_nul = sample[0::2].count(0) / half
    odd_nul = sample[1::2].count(0) / half
    if odd_nul >= 0.5 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul >= 0.5 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def decode_text(raw: bytes, source: str, latin1_fallback: bool = True) -> str:
    """Text of a file's bytes: UTF-8 (BOM or not), UTF-16 (BOM, or detected), else Latin-1.

    ``latin1_fallback=False`` refuses text that is not UTF-8 or UTF-16 instead. Raises
    :class:`InputError` naming the encoding for UTF-32, for UTF-16 that does not decode, and for
    NUL bytes in anything else (a binary file, or an encoding this does not read).
    """
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError("the file is UTF-32 text; save it as UTF-8", source)
    encoding = None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in raw:
        encoding = _utf16_without_bom(raw)
        if encoding is None:
            raise InputError(
                "a NUL byte: the file is not text, or not in an encoding read here (save it as UTF-8)",
                source,
                raw[: raw.index(b"\x00")].count(b"\n") + 1,
            )
    if encoding is not None:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"the file looks like UTF-16 text but does not decode as {encoding.upper()} "
                f"({exc.reason} at byte {exc.start}); save it as UTF-8",
                source,
            ) from None
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            if not latin1_fallback:
                raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source) from None
            text = raw.decode("latin-1")
    if "\x00" in text:
        row = text[: text.index("\x00")].count("\n") + 1
        raise InputError("a NUL character: the file is not a text table", source, row)
    return text


def _read_text(path: str | Path) -> tuple[str, str]:
    name = str(path)
    return decode_text(read_input_bytes(path, name), name), name


def check_count(value, what: str, source: str | None, minimum: int = 0, maximum: int = MAX_N) -> int:
    """``value`` as an int when it is a whole number in ``minimum..maximum``; :class:`InputError` otherwise.

    Integers (Python or numpy) and whole floats are accepted; booleans, strings, fractions and
    non-finite numbers are not.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a whole number, not {type(value).__name__} {value!r}", source)
    if isinstance(value, numbers.Integral):
        v = int(value)
    else:
        f = float(value)
        if not (math.isfinite(f) and f.is_integer()):
            raise InputError(f"{what} {value!r} is not a whole number", source)
        v = int(f)
    if v < minimum:
        raise InputError(f"{what} {v} is below {minimum}", source)
    if v > maximum:
        raise InputError(f"{what} {v:,} is above the limit of {maximum:,} (patients per curve)", source)
    return v


def _data_lines(text: str) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines with their 1-based line numbers."""
    out = []
    for i, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        s = line.strip()
        if s and not s.startswith("#"):
            out.append((i, s))
    return out


def _detect_separator(lines: list[tuple[int, str]]) -> str | None:
    """The field separator: tab, semicolon, comma, or None for runs of whitespace."""
    sample = [s for _, s in lines[:50]]
    for sep in ("\t", ";"):
        if sum(sep in s for s in sample) >= max(1, len(sample) // 2):
            return sep
    # "2,5 0,8": whitespace-separated fields with decimal commas (not "2.5, 0.8")
    two_fields = [s.split() for s in sample]
    if (
        sum(len(f) == 2 and not any(x.endswith(",") or x.startswith(",") for x in f) for f in two_fields)
        > len(sample) // 2
    ):
        return None
    if sum("," in s for s in sample) >= max(1, len(sample) // 2):
        return ","
    return None


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _to_float(cell: str, decimal_comma: bool) -> float | None:
    c = cell.strip().strip('"').strip("'").strip()
    if decimal_comma:
        c = c.replace(",", ".")
    if not _NUMBER.match(c):
        return None
    v = float(c)
    return v if math.isfinite(v) else None


def _split(line: str, sep: str | None) -> list[str]:
    cells = line.split(sep) if sep is not None else line.split()
    # WebPlotDigitizer and spreadsheets leave trailing empty columns.
    while len(cells) > 1 and cells[-1].strip() == "":
        cells.pop()
    return [c.strip() for c in cells]


def _parse_table(
    text: str, source: str, what: str, max_rows: int
) -> tuple[tuple[list[str], int] | None, np.ndarray, np.ndarray, np.ndarray]:
    """Parse a 2-column numeric table; returns (header cells or None, col0, col1, rows)."""
    lines = _data_lines(text)
    if not lines:
        raise InputError(f"the {what} file is empty (no data rows)", source)
    if len(lines) > max_rows + 2:  # (+ up to two header lines)
        first_over = lines[max_rows + 2][0]
        raise InputError(
            f"the {what} file has {len(lines):,} data rows, above the limit of {max_rows:,}", source, first_over
        )
    sep = _detect_separator(lines)
    decimal_comma = sep != ","
    header: list[str] | None = None
    header_row: int | None = None
    xs: list[float] = []
    ys: list[float] = []
    rows: list[int] = []
    for idx, (lineno, line) in enumerate(lines):
        cells = _split(line, sep)
        values = [_to_float(c, decimal_comma) for c in cells]
        if not xs and all(v is None for v in values) and idx < 2:
            # Header line(s): at most two before the first data row (WebPlotDigitizer writes two).
            header = [c.strip().strip('"').lower() for c in cells]
            header_row = lineno
            continue
        if len(cells) != 2:
            hint = ""
            if sep == "," and len(cells) == 4:
                hint = " (decimal commas need a ';' or tab separator)"
            raise InputError(f"expected 2 columns ({what}), found {len(cells)}{hint}: {line!r}", source, lineno)
        for col, (cell, v) in enumerate(zip(cells, values, strict=True), start=1):
            if v is None:
                raise InputError(f"non-numeric cell {cell!r} in column {col}", source, lineno)
        xs.append(values[0])  # type: ignore[arg-type]
        ys.append(values[1])  # type: ignore[arg-type]
        rows.append(lineno)
    if not xs:
        raise InputError(f"the {what} file has a header but no data rows", source)
    head = (header, header_row) if header is not None and header_row is not None else None
    return head, np.asarray(xs, float), np.asarray(ys, float), np.asarray(rows, np.int64)


def parse_clicks(text: str, source: str = "<string>", y_scale: YScale = "auto") -> Clicks:
    """Parse the text of a digitizer export into :class:`Clicks`.

    Parameters
    ----------
    text:
        File contents.
    source:
        Name used in error messages.
    y_scale:
        ``"auto"`` (percent when two or more survival values exceed 1.5, so one mistyped value
        in a probability file is reported as out of range instead of flipping the scale),
        ``"probability"`` or ``"percent"``.
    """
    if y_scale not in ("auto", "probability", "percent"):
        raise InputError(f"unknown y scale {y_scale!r}; use auto, probability or percent", source)
    _, t, s, rows = _parse_table(text, source, "clicks", MAX_CLICKS)
    return _validate_clicks(t, s, rows, source, y_scale)


def clicks_from_arrays(time, survival, source: str = "<arrays>", y_scale: YScale = "auto") -> Clicks:
    """Validated :class:`Clicks` from two sequences (Python API; rows are 1-based positions)."""
    t = np.asarray(time, float)
    s = np.asarray(survival, float)
    if t.shape != s.shape or t.ndim != 1:
        raise InputError("time and survival must be 1-D sequences of equal length", source)
    if t.size > MAX_CLICKS:
        raise InputError(f"{t.size:,} clicks, above the limit of {MAX_CLICKS:,} per curve", source)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(s))):
        i = int(np.flatnonzero(~(np.isfinite(t) & np.isfinite(s)))[0])
        raise InputError("non-finite value", source, i + 1)
    if y_scale not in ("auto", "probability", "percent"):
        raise InputError(f"unknown y scale {y_scale!r}; use auto, probability or percent", source)
    return _validate_clicks(t, s, np.arange(1, t.size + 1), source, y_scale)


def _validate_clicks(t: np.ndarray, s: np.ndarray, rows: np.ndarray, source: str, y_scale: YScale) -> Clicks:
    if t.size < 3:
        raise InputError(f"only {t.size} click(s); a curve needs at least 3", source)
    if t.size > MAX_CLICKS:
        raise InputError(f"{t.size:,} clicks, above the limit of {MAX_CLICKS:,} per curve", source)
    bad = np.flatnonzero(np.abs(t) > MAX_TIME)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"time {t[i]:g} is beyond the limit of {MAX_TIME:g} (in the curve's unit: a wrong column or unit?)",
            source,
            int(rows[i]),
        )
    t_max = float(t.max())
    if float(np.ptp(t)) == 0.0:
        raise InputError("all clicks have the same time (is the time column constant?)", source)
    if t_max <= 0:
        raise InputError("no click has a positive time", source)
    s_max = float(s.max())
    # Percent: two or more values above 1.5; a single one is a typo in a probability file.
    looks_percent = int(np.sum(s > 1.5)) >= 2
    if y_scale == "auto":
        scale = "percent" if looks_percent else "probability"
    else:
        scale = y_scale
        if scale == "probability" and looks_percent:
            i = int(np.argmax(s))
            raise InputError(
                f"survival {s[i]:g} is not a probability; the values look like percent "
                "(use y scale 'percent' or 'auto')",
                source,
                int(rows[i]),
            )
        if scale == "percent" and s_max <= 1.5:
            raise InputError(
                f"y scale 'percent' was given but no survival value exceeds {s_max:g}; "
                "the values look like probabilities (use 'probability' or 'auto')",
                source,
            )
    if scale == "percent":
        s = s / 100.0
    bad = np.flatnonzero((s < -SURVIVAL_EXCURSION) | (s > 1 + SURVIVAL_EXCURSION))
    if bad.size:
        i = int(bad[0])
        shown = s[i] * (100 if scale == "percent" else 1)
        raise InputError(
            f"survival {shown:g} is outside the {scale} range "
            f"(more than {SURVIVAL_EXCURSION:g} beyond [0, 1] after scaling)",
            source,
            int(rows[i]),
        )
    bad = np.flatnonzero(t < -TIME_EXCURSION * t_max)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"negative time {t[i]:g} (beyond a digitizing excursion)", source, int(rows[i]))
    return Clicks(time=t, survival=s, rows=rows, source=source, y_scale=scale)


def read_clicks(path: str | Path, y_scale: YScale = "auto") -> Clicks:
    """Read a digitizer export file; see :func:`parse_clicks`."""
    text, name = _read_text(path)
    return parse_clicks(text, name, y_scale)


def parse_risk_table(text: str, source: str = "<string>") -> RiskTable:
    """Parse a numbers-at-risk table (``time,n_risk``) and check it is a valid risk table.

    Raises :class:`InputError` for negative or non-integer counts, counts that increase over time,
    and times that are negative, unsorted or duplicated.
    """
    head, t, n, rows = _parse_table(text, source, "risk table", MAX_RISK_ROWS)
    if head is not None:
        header, header_row = head
        cols = [h for h in header if h]
        if len(cols) != 2 or cols[0] not in _RISK_TIME_NAMES or cols[1] not in _RISK_N_NAMES:
            raise InputError(f"risk table header must be 'time,n_risk', found {','.join(header)!r}", source, header_row)
    return _validate_risk_table(t, n, rows, source)


def _validate_risk_table(t: np.ndarray, n: np.ndarray, rows: np.ndarray, source: str) -> RiskTable:
    if t.size > MAX_RISK_ROWS:
        raise InputError(f"{t.size:,} risk table rows, above the limit of {MAX_RISK_ROWS:,}", source)
    for i in range(t.size):
        row = int(rows[i])
        if t[i] < 0:
            raise InputError(f"negative risk time {t[i]:g}", source, row)
        if t[i] > MAX_TIME:
            raise InputError(
                f"risk time {t[i]:g} is beyond the limit of {MAX_TIME:g} (wrong column or unit?)", source, row
            )
        if n[i] < 0:
            raise InputError(f"negative n_risk {n[i]:g}", source, row)
        if n[i] != math.floor(n[i]):
            raise InputError(f"n_risk {n[i]:g} is not a whole number", source, row)
        if n[i] > MAX_N:
            raise InputError(f"n_risk {n[i]:g} is above the limit of {MAX_N:,} patients per curve", source, row)
        if i > 0:
            if t[i] == t[i - 1]:
                raise InputError(f"duplicated risk time {t[i]:g}", source, row)
            if t[i] < t[i - 1]:
                raise InputError(f"risk times are not sorted: {t[i]:g} comes after {t[i - 1]:g}", source, row)
            if n[i] > n[i - 1]:
                raise InputError(
                    f"n_risk increases over time ({n[i - 1]:g} at {t[i - 1]:g} to {n[i]:g} at {t[i]:g})",
                    source,
                    row,
                )
    return RiskTable(time=t, n_risk=n.astype(np.int64), rows=rows, source=source)


def read_risk_table(path: str | Path) -> RiskTable:
    """Read a numbers-at-risk CSV file; see :func:`parse_risk_table`."""
    text, name = _read_text(path)
    return parse_risk_table(text, name)


def parse_censor_marks(text: str, source: str = "<string>") -> CensorMarks:
    """Parse a censoring marks file (module docstring) into :class:`CensorMarks`.

    A header with no data rows is a curve without marks (no censoring); an empty file is refused.
    Each time must be a number in ``0..MAX_TIME``; at most :data:`~meta_bm.errors.MAX_CLICKS` rows.

    >>> parse_censor_marks("time\\n3,5\\n1\\n", "a_censor.csv").time.tolist()
    [3.5, 1.0]
    """
    lines = _data_lines(text)
    if not lines:
        raise InputError("the censoring marks file is empty (give at least a 'time' header)", source)
    if len(lines) > MAX_CLICKS + 1:  # (+ a header line)
        raise InputError(
            f"the censoring marks file has {len(lines):,} rows, above the limit of {MAX_CLICKS:,}",
            source,
            lines[MAX_CLICKS + 1][0],
        )
    sep = _detect_separator(lines)
    first = _split(lines[0][1], sep)
    col, header_names = 0, None
    if all(_to_float(c, True) is None for c in first):
        header_names = [c.strip('"').strip("'").strip().lower() for c in first]
        named = [i for i, h in enumerate(header_names) if h in _RISK_TIME_NAMES]
        if not named:
            raise InputError(
                f"the censoring marks header must name a 'time' column, found {','.join(header_names)!r}",
                source,
                lines[0][0],
            )
        col = named[0]
        lines = lines[1:]
    if sep == "," and (
        (header_names is not None and len(header_names) == 1)
        or (header_names is None and not any("." in line for _, line in lines))
    ):
        sep = None  # one column with decimal commas
    decimal_comma = sep != ","
    width = len(header_names) if header_names is not None else None
    times = np.empty(len(lines))
    rows = np.empty(len(lines), np.int64)
    for i, (lineno, line) in enumerate(lines):
        cells = _split(line, sep)
        if (width is not None and len(cells) != width) or (width is None and len(cells) > 2):
            expected = f"{width}" if width is not None else "1 or 2 (time first)"
            raise InputError(f"expected {expected} column(s), found {len(cells)}: {line!r}", source, lineno)
        v = _to_float(cells[col], decimal_comma)
        if v is None:
            raise InputError(f"non-numeric censoring mark time {cells[col]!r}", source, lineno)
        if v < 0:
            raise InputError(f"censoring mark at a negative time {v:g}", source, lineno)
        if v > MAX_TIME:
            raise InputError(
                f"censoring mark time {v:g} is beyond the limit of {MAX_TIME:g} (wrong column or unit?)", source, lineno
            )
        times[i], rows[i] = v, lineno
    return CensorMarks(time=times, rows=rows, source=source)


def read_censor_marks(path: str | Path) -> CensorMarks:
    """Read a censoring marks file (``<k>_censor.csv``); see :func:`parse_censor_marks`."""
    text, name = _read_text(path)
    return parse_censor_marks(text, name)


def risk_table_from_arrays(time, n_risk, source: str = "<arrays>") -> RiskTable:
    """Build a validated :class:`RiskTable` from two sequences (for the Python API)."""
    t = np.asarray(time, float)
    n = np.asarray(n_risk, float)
    if t.shape != n.shape or t.ndim != 1 or t.size == 0:
        raise InputError("risk table needs two equal-length, non-empty 1-D sequences", source)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(n))):
        raise InputError("risk table has a non-finite value", source)
    return _validate_risk_table(t, n, np.arange(1, t.size + 1), source)
