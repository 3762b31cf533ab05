"""Black-and-white KM curves told apart by line style, traced one after the other and peeled off the ink.

All curves are black; only the dash pattern tells them apart, and it is unreliable where it matters: in a steep
stretch the dashes of one curve touch and form one long piece, and where two curves meet their pieces merge. So
the styles are not separated once, up front. The curves are traced in order of how reliable their evidence is
(solid, then dashed, then dotted): each is the best non-rising path through the ink of its style, with the
long pieces whose style could not be told (merged dashes) at a lower score and the other styles' ink at the
lowest (bridging a stretch hidden under another curve). Once a curve is traced, its own ink (the run through
its path in each column, drops and marks included) is peeled off, which splits the pieces it was merged with;
the next curve's pieces are then told again from what remains, so a dashed curve's steep stretch that had
merged with the solid curve becomes its own again.

Example
-------
>>> region = np.ones((60, 200, 3), np.float32)
>>> region[10:12, 0:120] = 0.0; region[10:40, 118:120] = 0.0; region[38:40, 118:200] = 0.0   # solid
>>> for x0 in range(0, 200, 10):                                                        # dashed at rows 48-49
...     region[48:50, x0 : x0 + 6] = 0.0
>>> traced = trace_dark_curves(region, np.ones(3, np.float32), 0.08)
>>> [(c.dash, [(round(float(a)), round(float(b)), round(float(y), 1)) for a, b, y in t.blocks]) for c, t in traced]
[('solid', [(0, 118, 10.5), (118, 199, 38.5)]), ('dashed', [(0, 195, 48.5)])]
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from meta_bm.digitizing.raster_ink import (
    DASH_LENGTH,
    DOT_LENGTH,
    MIN_CHROMA,
    MIN_DARKNESS,
    MIN_LINE_PIXELS_PER_100_COLUMNS,
    MIN_PATTERN_PIECES,
    InkClass,
    srgb_to_lab,
)
from meta_bm.digitizing.raster_trace import ColumnRuns, Trace, trace_curve

# Path score of a long piece (a solid line's size) when tracing a dashed or dotted curve after the solid one was
# peeled off: most such pieces are steep stretches of a patterned curve whose dashes touch, but they may belong
# to either of the patterned curves, so they count less than the curve's own style and more than the other's.
MERGED_PIECE_SCORE = 0.6
# Path score cap of a pixel in a long column run (line widths), black-and-white: 1, no bonus. With one ink colour
# for every curve, the tall bars of '+' marks crowding a patterned curve would outscore the solid curve's line and
# pull its path onto the other curve (measured on unseen seeds: RMSE of lifelines_bw 0.0096 -> 0.0066, of
# mpl_bw_dashes 0.023 -> 0.020 with 1 instead of the colour figures' 4).
BW_RUN_SCORE_CAP = 1.0
# Pixels peeled off around a traced curve beyond its own run: anti-aliased fringe of the line (pixels).
PEEL_FRINGE = 1
# Remnants of a peeled curve up to a dot's size (DOT_LENGTH line widths long) are peeled with it: the arms of
# its '+' marks beside its path would otherwise pass for the dots of a dotted curve (measured: mpl_bw_dashes mean
# RMSE 0.0106 -> 0.0096 on unseen seeds 50-52, 0.0150 -> 0.0137 on seeds 0-7; larger remnants, dash-sized, hurt:
# a dashed curve's dashes touching the peeled one go too).
REMNANT_LENGTH = DOT_LENGTH
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def dark_ink(region: np.ndarray, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask, darkness) of the black ink of a region: darker than the background by ``MIN_DARKNESS`` of its
    luminance and achromatic (coloured curves and their JPEG fringes are not black ink)."""
    lum_bg = float(np.asarray(bg, np.float32) @ _LUMA)
    darkness = np.clip((lum_bg - region @ _LUMA) / max(lum_bg, 1e-6), 0, 1)
    mask = darkness > MIN_DARKNESS
    lab = srgb_to_lab(region[mask])
    mask[mask] = np.hypot(lab[:, 1], lab[:, 2]) < MIN_CHROMA
    return mask, np.where(mask, darkness, 0.0)


def _piece_kinds(mask: np.ndarray, lw: float) -> np.ndarray:
    """Per pixel the style of its connected piece: 0 dot, 1 dash, 2 long (solid), -1 off the mask."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.full(mask.shape, -1, np.int8)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    length = sizes / lw  # path length of a piece drawn lw thick
    kind = np.where(length <= DOT_LENGTH * lw, 0, np.where(length <= DASH_LENGTH * lw, 1, 2)).astype(np.int8)
    return np.concatenate(([np.int8(-1)], kind))[labels]


def _peel(remaining: np.ndarray, trace: Trace, lw: float) -> None:
    """Remove a traced curve's ink from ``remaining`` in place: in each column the run through its path, then
    the small remnants that touched it (arms of its '+' marks beside the path, ends of its drops): left alone
    they would look like dots or dashes of the next curve and pull its path onto this one."""
    runs = ColumnRuns.of(remaining)
    path = trace.path
    cols = np.nonzero(path >= 0)[0]
    if cols.size == 0:
        return
    r0, r1 = runs.containing(np.where(path >= 0, path, 0))
    h = remaining.shape[0]
    before = remaining.copy()
    for c in cols:
        if r0[c] >= 0:
            remaining[max(0, r0[c] - PEEL_FRINGE) : min(h, r1[c] + 1 + PEEL_FRINGE), c] = False
    peeled = before & ~remaining
    labels, n = ndimage.label(remaining, structure=np.ones((3, 3), bool))
    if n == 0:
        return
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    touching = np.zeros(n + 1, bool)
    touching[np.unique(labels[ndimage.binary_dilation(peeled, np.ones((3, 3), bool))])] = True
    drop = touching & (sizes <= REMNANT_LENGTH * lw * lw)  # a piece lw thick, REMNANT_LENGTH lw long
    drop[0] = False  # the background label
    remaining[drop[labels]] = False


def trace_dark_curves(
    region: np.ndarray, bg: np.ndarray, min_coverage: float, n_curves: int | None = None
) -> list[tuple[InkClass, Trace]]:
    """Each black curve of a frame's region told by its line style and traced: ``(class, trace)`` pairs, solid
    first. ``n_curves`` (when known) stops after that many curves."""
    mask, darkness = dark_ink(region, bg)
    min_px = MIN_LINE_PIXELS_PER_100_COLUMNS * region.shape[1] / 100.0
    if mask.sum() < min_px:
        return []
    lw = max(1.0, ColumnRuns.of(mask).median_length())
    kinds0 = _piece_kinds(mask, lw)
    present = []
    for k, dash in ((2, "solid"), (1, "dashed"), (0, "dotted")):
        n_pieces = int(ndimage.label(kinds0 == k, structure=np.ones((3, 3), bool))[1]) if k < 2 else 1
        need = min_px * (0.3 if k < 2 else 1.0)
        if (kinds0 == k).sum() >= need and (k == 2 or n_pieces >= MIN_PATTERN_PIECES):
            present.append((k, dash))
    remaining = mask.copy()
    out: list[tuple[InkClass, Trace]] = []
    for k, dash in present:
        kinds = _piece_kinds(remaining, lw)
        own = remaining & ((kinds == k) | (kinds == 2))
        score = np.where(kinds == k, 1.0, MERGED_PIECE_SCORE)
        if k == 2:
            own = remaining & (kinds == 2)
            score = np.ones(mask.shape)
        weight = np.where(own, darkness, 0.0)
        # ink of every other kind (and of curves already peeled) bridges stretches hidden under them
        other = np.where(mask & ~own, darkness, 0.0)
        trace = trace_curve(weight, other, min_coverage, own_score=score, run_score_cap=BW_RUN_SCORE_CAP)
        if trace is None:
            continue
        out.append((InkClass(weight, "#000000", dash, "raster line style"), trace))
        _peel(remaining, trace, lw)
        if n_curves is not None and len(out) >= n_curves:
            break
    return out
