"""The plot frame of a raster KM figure and its tick marks: where the axes are and where the labelled values sit.

A matplotlib/lifelines/Stata-like figure has a dark left spine and bottom spine (or a full box); a ggplot2-like
figure has a grey panel without spines. Tick marks are short dark runs just outside (else inside) the frame,
regularly spaced; the outermost ticks are the ones the user gives values for (``--x-range``).

All positions are in *index* coordinates of the image array: pixel ``(row, col)`` has its centre at ``(row, col)``.

Example
-------
>>> img = np.ones((60, 80, 3))
>>> img[50:52, 10:75] = 0.0          # bottom spine
>>> img[5:52, 10:12] = 0.0           # left spine
>>> for x in (11, 31, 51, 71):       # x ticks under the bottom spine
...     img[52:55, x] = 0.0
>>> for y in (50, 30, 10):           # y ticks left of the left spine
...     img[y, 7:10] = 0.0
>>> f = find_frame(img)
>>> (f.left, f.right, f.top, f.bottom)
(12, 74, 5, 49)
>>> find_ticks(img, f, "x").tolist(), find_ticks(img, f, "y").tolist()
([11.0, 31.0, 51.0, 71.0], [10.0, 30.0, 50.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A pixel is "dark" (spine, tick, black ink) below this luminance (0..1): black and the ggplot tick grey (#4d4d4d,
# 0.30) pass, light gridlines (#b0b0b0 and lighter, >= 0.69) do not.
DARK_LUMINANCE = 0.55
# A spine is a dark run at least this share of the image's width (bottom) or height (left): far longer than any
# text, shorter than the plot itself even with a wide risk table or legend beside it.
MIN_SPINE_SHARE = 0.25
# A ggplot panel is a uniform non-white colour covering at least this share of a row or a column of the image.
MIN_PANEL_SHARE = 0.25
# Colour distance (0..1 RGB, max channel) within which a pixel is "the panel colour" (JPEG noise ~0.03).
PANEL_TOLERANCE = 0.04
# The panel must differ from white by at least this much (else it is the page).
MIN_PANEL_CONTRAST = 0.03
# Offset axes (GraphPad Prism, seaborn's despine(offset=...)) leave a gap between the spines of up to this share of
# the image's larger side; the spines still belong to one frame.
MAX_AXIS_OFFSET_SHARE = 0.04
# Tick marks: at most this share of the frame's height (x ticks) or width (y ticks) long; matplotlib's 3.5 pt
# ticks are ~2 % of a 4.8 in figure.
MAX_TICK_SHARE = 0.08
# A tick is at least this many pixels long (one-pixel specks and anti-aliasing are not ticks).
MIN_TICK_PIXELS = 2
# Ticks are looked for in a band at least this many pixels deep (small images).
MIN_BAND_PIXELS = 6
# Tick spacing may differ from the median spacing by this share (rounding to pixels, anti-aliasing).
TICK_SPACING_TOLERANCE = 0.06
# A tick may start this many pixels (plus a share of the band) away from the spine or panel edge.
TICK_START_SLACK = 2
TICK_START_SLACK_SHARE = 0.03
# A tick is at least this share of the longest ticks' length (a curve touching the frame makes short runs).
TICK_LENGTH_SHARE = 0.5
# Darkness (1 - luminance) above which a pixel belongs to a tick mark.
TICK_DARKNESS = 0.3
# Inward tick runs of about one length (within this factor) are one family; curve touches of a pixel or two are
# not taken as that length.
TICK_LIKE = 0.75
MIN_INWARD_TICK = 3
# An inward tick lies this many pixels (plus a share of the spacing) off the regular spacing before it is taken as
# disturbed by a curve running into it and replaced by its place on the spacing.
TICK_FIT_PIXELS = 1.0
TICK_FIT_SHARE = 0.02
# An inward tick hidden at an end of the regular spacing (under the other axis line at the origin, or under a
# curve drawn along it at survival 1) is restored when its place lies within this many pixels of that line.
HIDDEN_TICK_PIXELS = 1.5


@dataclass(frozen=True)
class Frame:
    """The plot area's interior in index coordinates (inclusive), and how it was found.

    ``left``/``bottom`` are the first column / last row inside the spines (or the panel's edges);
    ``spine_x``/``spine_y`` the centres of the left and bottom spines (panel edges for ggplot);
    ``spine_width`` the spines' thickness in pixels (0 for a panel).
    """

    left: int
    right: int
    top: int
    bottom: int
    spine_x: float
    spine_y: float
    spine_width: float
    kind: str  # "spines" | "panel"


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of an RGB float image (0..1)."""
    return img[..., 0] * 0.2126 + img[..., 1] * 0.7152 + img[..., 2] * 0.0722


def longest_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a 2-D boolean array: the length and the start column of its longest run of ``True``.

    >>> longest_runs(np.array([[0, 1, 1, 0, 1], [0, 0, 0, 0, 0]], bool))
    (array([2, 0]), array([1, 0]))
    """
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    rs, cs = np.nonzero(d == 1)
    _, ce = np.nonzero(d == -1)  # the same order as the starts: row by row, left to right
    lengths = ce - cs
    best = np.zeros(h, np.int64)
    start = np.zeros(h, np.int64)
    if lengths.size:
        order = np.lexsort((lengths, rs))  # by row, then length: the last of each row is its longest
        last = np.r_[rs[order][1:] != rs[order][:-1], True]
        best[rs[order][last]] = lengths[order][last]
        start[rs[order][last]] = cs[order][last]
    return best, start


def _groups(idx: np.ndarray) -> list[np.ndarray]:
    """Consecutive integers grouped: [3, 4, 5, 9, 10] -> [[3, 4, 5], [9, 10]]."""
    if idx.size == 0:
        return []
    cut = np.nonzero(np.diff(idx) > 1)[0] + 1
    return np.split(idx, cut)


def _split_dark(darkness: np.ndarray, axis: int) -> np.ndarray:
    """Pixels of a thin line split over two neighbours along ``axis`` (a 0.6 pt axis at 100 dpi, anti-aliased
    into two grey rows neither of which is dark alone): both pixels of each pair whose summed darkness is dark.

    >>> _split_dark(np.array([[0.0], [0.3], [0.3], [0.0]]), 0).ravel().tolist()
    [False, True, True, False]
    """
    d = np.moveaxis(darkness, axis, 0)
    lim = 1.0 - DARK_LUMINANCE
    # neither pixel dark alone (a dark pixel is a line by itself and must not widen it by a neighbour)
    pair = ((d[:-1] + d[1:]) > lim) & (d[:-1] <= lim) & (d[1:] <= lim)
    out = np.zeros(d.shape, bool)
    out[:-1] |= pair
    out[1:] |= pair
    return np.moveaxis(out, 0, axis)


def _spine_frame(img: np.ndarray, split: bool = False) -> Frame | None:
    """Left and bottom spines: the lowest long horizontal dark line meeting the leftmost long vertical one.
    With ``split``, thin lines anti-aliased over two pixel rows (columns) count as dark too."""
    h, w = img.shape[:2]
    lum = luminance(img)
    dark = lum < DARK_LUMINANCE
    dark_h = dark_v = dark
    if split:
        dark_h = dark | _split_dark(1.0 - lum, 0)
        dark_v = dark | _split_dark(1.0 - lum, 1)
    row_len, row_start = longest_runs(dark_h)
    col_len, col_start = longest_runs(dark_v.T)
    rows = np.nonzero(row_len >= MIN_SPINE_SHARE * w)[0]
    cols = np.nonzero(col_len >= MIN_SPINE_SHARE * h)[0]
    if rows.size == 0 or cols.size == 0:
        return None
    for bottom_rows in reversed(_groups(rows)):
        b_top, b_bot = int(bottom_rows[0]), int(bottom_rows[-1])
        b_start = int(row_start[bottom_rows].min())
        b_end = int((row_start[bottom_rows] + row_len[bottom_rows]).max()) - 1
        for left_cols in _groups(cols):
            l0, l1 = int(left_cols[0]), int(left_cols[-1])
            top = int(col_start[left_cols].min())
            end = int((col_start[left_cols] + col_len[left_cols]).max()) - 1
            # the two spines meet at the frame's corner (within a spine's width or two); the tick at the axis'
            # origin may prolong either spine outwards by a tick's length
            slack = 2 + (b_bot - b_top) + (l1 - l0)
            tick = MAX_TICK_SHARE * max(h, w)
            offset = MAX_AXIS_OFFSET_SHARE * max(h, w)
            meets_y = b_top - slack - offset <= end <= b_bot + slack + tick
            meets_x = l0 - slack - tick <= b_start <= l1 + slack + offset
            if meets_y and meets_x and top < b_top and b_end > l1:
                width = 0.5 * ((b_bot - b_top + 1) + (l1 - l0 + 1))
                return Frame(
                    left=l1 + 1,
                    right=b_end,
                    top=top,
                    bottom=b_top - 1,
                    spine_x=0.5 * (l0 + l1),
                    spine_y=0.5 * (b_top + b_bot),
                    spine_width=width,
                    kind="spines",
                )
    return None


def _panel_frame(img: np.ndarray) -> Frame | None:
    """A uniform non-white rectangle (ggplot2's grey panel): its bounding rows and columns."""
    h, w = img.shape[:2]
    q = np.round(img[::2, ::2] * 63).astype(np.int32).reshape(-1, 3)
    keys = (q[:, 0] << 12) | (q[:, 1] << 6) | q[:, 2]
    vals, counts = np.unique(keys, return_counts=True)
    for k in vals[np.argsort(counts)[::-1][:4]]:
        colour = np.array([(k >> 12) & 63, (k >> 6) & 63, k & 63]) / 63.0
        if np.all(colour > 1.0 - MIN_PANEL_CONTRAST) or luminance(colour) < DARK_LUMINANCE:
            continue  # the page, or ink
        mask = np.all(np.abs(img - colour) <= PANEL_TOLERANCE, axis=2)
        rows = np.nonzero(mask.sum(axis=1) >= MIN_PANEL_SHARE * w)[0]
        cols = np.nonzero(mask.sum(axis=0) >= MIN_PANEL_SHARE * h)[0]
        if rows.size == 0 or cols.size == 0:
            continue
        top, bottom, left, right = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
        if bottom - top < 0.2 * h or right - left < 0.2 * w:
            continue
        return Frame(left, right, top, bottom, left - 0.5, bottom + 0.5, 0.0, "panel")
    return None


def find_frame(img: np.ndarray) -> Frame | None:
    """The plot frame: left+bottom spines (or a full box), else a ggplot2-like panel; ``None`` when neither."""
    return _spine_frame(img) or _panel_frame(img) or _spine_frame(img, split=True)


def _regular(centres: np.ndarray) -> np.ndarray:
    """The longest run of consecutive ticks spaced alike (dropping specks of text that touch the axis)."""
    if centres.size < 3:
        return centres
    d = np.diff(centres)
    step = float(np.median(d))
    ok = np.abs(d - step) <= TICK_SPACING_TOLERANCE * step + 1.0
    best: tuple[int, int] = (0, 0)
    i = 0
    while i < ok.size:
        if ok[i]:
            j = i
            while j < ok.size and ok[j]:
                j += 1
            if j - i > best[1] - best[0]:
                best = (i, j)
            i = j
        else:
            i += 1
    if best == (0, 0):
        return centres
    return centres[best[0] : best[1] + 1]


def _tick_length(run: np.ndarray, cand: np.ndarray) -> float:
    """The length most candidate runs share (within a factor ``1 / TICK_LIKE``), counted once per run of
    neighbouring columns, preferring longer ones and lengths of at least ``MIN_INWARD_TICK`` pixels.

    >>> run = np.array([0, 6, 6, 0, 2, 0, 6, 0, 40, 40, 0, 5, 0])
    >>> _tick_length(run, run > 0)
    6.0
    """
    lengths = np.array([run[g].max() for g in _groups(np.nonzero(cand)[0])], float)
    best, score = float(lengths.max()), -1
    for length in np.unique(lengths[lengths >= MIN_INWARD_TICK]):
        n = int(np.sum((lengths >= TICK_LIKE * length) & (lengths <= length / TICK_LIKE)))
        if n >= score:
            best, score = float(length), n
    return best


def _complete_inward(
    found: np.ndarray, band: np.ndarray, other_spine: float, half: float, lo: float, hi: float
) -> np.ndarray:
    """Inward ticks made regular: a tick pulled off the spacing by a curve running into it is put back on it, and
    a tick hidden at either end (the origin tick under the other axis line, the 1.0 tick under a curve's start)
    is restored when the other axis line or ink lies at its place, within ``lo..hi``.

    >>> band = np.zeros((6, 120)); band[:3, [30, 50, 70, 90]] = 1.0; band[:, 110] = 1.0  # a curve at 110
    >>> _complete_inward(np.array([30.0, 50.0, 70.0, 93.0]), band, 10.0, 0.5, 9.0, 111.0).round(1).tolist()
    [10.0, 30.0, 50.0, 70.0, 90.0, 110.0]
    """
    if found.size < 2:
        return found
    idx = np.arange(found.size, dtype=float)
    step = float(np.median(np.diff(found)))
    icept = float(np.median(found - idx * step))
    ok = np.abs(found - (icept + idx * step)) <= TICK_FIT_PIXELS + TICK_FIT_SHARE * step
    if ok.sum() >= 2:
        step, icept = np.polyfit(idx[ok], found[ok], 1)
    out = np.where(ok, found, icept + idx * step).tolist()

    def present(p: float) -> bool:
        if not lo <= p <= hi:
            return False
        if abs(p - other_spine) <= HIDDEN_TICK_PIXELS + half:
            return True
        c = round(p)
        near = band[:MIN_TICK_PIXELS, max(0, c - 1) : c + 2]
        return bool(near.size and near.max() > TICK_DARKNESS)

    if present(out[0] - step):
        out.insert(0, out[0] - step)
    if present(out[-1] + step):
        out.append(out[-1] + step)
    return np.array(out, float)


def find_ticks(img: np.ndarray, frame: Frame, axis: str) -> np.ndarray:
    """Centres (index coordinates: columns for ``"x"``, rows for ``"y"``) of the tick marks of one axis.

    Ticks are looked for outside the frame first (matplotlib's default), then inside. Each tick is a run of
    dark pixels starting at the spine (panel edge) and going away from it; its centre is the darkness-weighted
    centroid across the tick.
    """
    return find_ticks_side(img, frame, axis).centres


@dataclass(frozen=True)
class Ticks:
    """Tick centres of one axis (index coordinates) and whether they were found inside the frame (inward)."""

    centres: np.ndarray
    inward: bool


def find_ticks_side(img: np.ndarray, frame: Frame, axis: str) -> Ticks:
    """:func:`find_ticks` and the side the ticks were found on."""
    darkness = 1.0 - luminance(img)
    half = frame.spine_width / 2.0
    if axis == "x":
        length = max(MIN_BAND_PIXELS, int(MAX_TICK_SHARE * (frame.bottom - frame.top)))
        outside_first = int(np.floor(frame.spine_y + half)) + 1
        bands = [
            darkness[outside_first : outside_first + length, :],
            darkness[max(0, int(np.ceil(frame.spine_y - half)) - length) : int(np.ceil(frame.spine_y - half)), :][::-1],
        ]
        lo, hi = frame.left - int(2 * half) - 3, frame.right + int(2 * half) + 3
        other, ends = frame.spine_x, (frame.spine_x - half - 1.0, frame.right + 1.0)
    else:
        length = max(MIN_BAND_PIXELS, int(MAX_TICK_SHARE * (frame.right - frame.left)))
        outside_last = int(np.ceil(frame.spine_x - half)) - 1
        bands = [
            darkness[:, max(0, outside_last - length + 1) : outside_last + 1][:, ::-1].T,
            darkness[:, int(np.floor(frame.spine_x + half)) + 1 : int(np.floor(frame.spine_x + half)) + 1 + length].T,
        ]
        lo, hi = frame.top - 3, frame.bottom + int(2 * half) + 3
        other, ends = frame.spine_y, (frame.top - 1.0, frame.spine_y + half + 1.0)
    for inward, band in enumerate(bands):
        if band.shape[0] < MIN_TICK_PIXELS:
            continue
        ink = band > TICK_DARKNESS
        # a run going away from the spine, starting within a few pixels of it (anti-aliased edges, ticks drawn
        # from the axis' exact position while the spine or panel edge is snapped to pixels)
        start_slack = min(band.shape[0] - 1, TICK_START_SLACK + int(TICK_START_SLACK_SHARE * band.shape[0]))
        run = np.zeros(band.shape[1], np.int64)
        for k in range(start_slack + 1):
            run = np.maximum(run, np.cumprod(ink[k:], axis=0).sum(axis=0) + k * ink[k])
        idx = np.arange(band.shape[1])
        cand = (run >= MIN_TICK_PIXELS) & (run < band.shape[0])  # a run through the whole band is a line, not a tick
        cand &= (idx >= lo) & (idx <= hi)
        if cand.any():
            # ticks are alike: a curve touching the frame gives runs of a pixel or two, the ticks' are longer;
            # inside the frame a curve may also leave one long run (its start along the 1.0 tick)
            ref = _tick_length(run, cand) if inward else float(np.quantile(run[cand], 0.9))
            cand &= run >= TICK_LENGTH_SHARE * ref
        centres = []
        prof = band[: max(MIN_TICK_PIXELS, int(np.median(run[cand])) if cand.any() else 1)].sum(axis=0)
        for g in _groups(np.nonzero(cand)[0]):
            g = np.arange(max(0, g[0] - 1), min(band.shape[1], g[-1] + 2))
            wts = prof[g]
            centres.append(float((g * wts).sum() / wts.sum()))
        found = _regular(np.array(centres))
        if inward and found.size >= 2:
            found = _complete_inward(found, band, other, half, *ends)
        if found.size >= 2:
            return Ticks(found, bool(inward))
    return Ticks(np.zeros(0), False)
