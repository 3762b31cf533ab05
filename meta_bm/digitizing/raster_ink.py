"""Which pixels inside a raster KM figure's frame belong to which curve.

Colour figures: the curve colours are found by clustering strongly coloured pixels in CIELAB; every pixel is
then scored against each curve colour by *unmixing* it with the background in sRGB (anti-aliasing and
translucent fills are linear blends of the two in the stored sRGB values): ``p = bg + a (c - bg) + r``. A pixel
belongs to curve ``c`` when the residual ``r`` is small and the coverage ``a`` is high, so anti-aliased edges
join their curve instead of forming colours of their own, and confidence bands (the same hue at ``a`` ~ 0.2-0.3)
drop out. A colour whose pixels form filled areas rather than thin lines is a band, not a curve.

Black-and-white figures: dark pixels split by the line style of their connected pieces: long pieces are solid
lines, pieces a few line widths long are dashes, pieces about one line width across are dots.

Example
-------
>>> lab = srgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))
>>> (np.round(lab, 1) + 0.0).tolist()
[[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# ---- colour -------------------------------------------------------------------------------------------------
# D65 white of sRGB (CIE 1931 2°), the reference of the L*a*b* conversion.
_WHITE_XYZ = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
# A pixel is ink when it differs from the background by at least this CIE76 distance (JPEG noise stays < ~8).
INK_DELTA_E = 20.0
# Pixels differing from the background by less than this (any sRGB channel, 0..1) are not ink (CIELAB is
# computed only for the others: ~2x below INK_DELTA_E).
PRESELECT_DIFFERENCE = 0.08
# ... and chromatic ink (a coloured curve) when its chroma exceeds this (JPEG fringes around black text < ~15).
MIN_CHROMA = 18.0
# Lab histogram bin for finding the curve colours (a few JND; anti-aliased edges fall in other bins).
LAB_BIN = 6.0
# Pixels within this Lab distance of the most common colour define a colour candidate's core.
CORE_DELTA_E = 12.0
# A pixel is on the blend line background -> curve colour when its residual is below this (0..1 sRGB, Euclidean;
# JPEG's chroma subsampling moves thin coloured lines by up to ~0.15).
BLEND_TOLERANCE = 0.2
# While colours are searched, a pixel of a line's body (coverage above MIN_COVERAGE) is taken as the colour found
# only within this residual (edges and bands: within BLEND_TOLERANCE). Measured: SAS's 1 px blue and teal curves
# at JPEG q75 were one candidate at 0.2 (held-out mean RMSE 0.0069 -> 0.0042 over seven looks, seeds 50-52);
# 0.16 leaves the matplotlib/lifelines benchmark unchanged (0.12 splits translucent bands off their curves).
STRONG_MEMBER_TOLERANCE = 0.16
# Coverage above which a pixel belongs to a curve line: anti-aliased edges (< 0.5) and translucent bands (0.2-0.3
# in matplotlib and lifelines) do not.
MIN_COVERAGE = 0.5
# A curve colour needs at least this many line pixels per 100 columns of the frame (a curve spanning 10 % of it).
MIN_LINE_PIXELS_PER_100_COLUMNS = 10.0
# A colour between two curve colours (a share of each at least BLEND_MIN_SHARE, off their line by less than
# CROSSING_BLEND_TOLERANCE in sRGB; JPEG moves it ~0.13) is their mixture where they cross (tab10 green: 0.42 off).
BLEND_MIN_SHARE = 0.15
CROSSING_BLEND_TOLERANCE = 0.15
# Most colours a figure is searched for (curves, bands, legend marks): KM figures show 1-6 arms.
MAX_COLOURS = 10
# A colour whose line pixels survive an erosion by a square this share of the frame height on this share of its
# pixels is a filled area (band, legend patch), not a curve line (measured: bands 0.43-0.60; curves up to 0.26,
# in low-quality JPEG where steep stretches crowded with marks are solid ink).
AREA_EROSION_SHARE = 0.012
MAX_AREA_SHARE = 0.35
# JPEG's chroma subsampling splits a thin coloured line in two colours: a dark, greyed core (the line's luma) and a
# light halo (its chroma, spread over 2 x 2 blocks). Two colours of hues within this many degrees (CIELAB) whose
# pixels lie within HALO_PIXELS of each other on at least HALO_SHARE of the smaller one are one curve. (Curve
# palettes differ by > 25 degrees: tab10 red/orange ~25, the closest pair of the styles measured.)
HALO_HUE_DEGREES = 15.0
HALO_PIXELS = 2
HALO_SHARE = 0.7
# Black-and-white ink: darkness (1 - luminance relative to the background) above this.
MIN_DARKNESS = 0.4
# A dark piece up to DOT_LENGTH line widths long is a dot, up to DASH_LENGTH a dash, longer a solid line
# (matplotlib: dots 1 lw with 1.65 lw gaps, dashes 3.7 lw with 1.6 lw gaps, both scaled by the line width).
DOT_LENGTH = 2.0
DASH_LENGTH = 9.0
# Fewest pieces of a dash or dot pattern to call it a curve (text in the frame has a few).
MIN_PATTERN_PIECES = 12


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB values in 0..1, any leading shape."""
    c = np.asarray(rgb, float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _RGB_TO_XYZ.T / _WHITE_XYZ
    eps = (6.0 / 29.0) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


@dataclass(frozen=True)
class InkClass:
    """One curve's pixels inside the frame: ``weight`` (frame-shaped, 0..1 coverage) and how it is drawn."""

    weight: np.ndarray
    color: str
    dash: str | None
    method: str


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (round(float(v) * 255) for v in np.clip(rgb, 0, 1))
    return f"#{r:02x}{g:02x}{b:02x}"


def unmix(pixels: np.ndarray, bg: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coverage ``a`` and residual of ``pixels`` as blends ``bg + a (colour - bg)`` (sRGB 0..1).

    >>> a, r = unmix(np.array([[0.6, 0.6, 1.0]]), np.ones(3), np.array([0.2, 0.2, 1.0]))
    >>> round(float(a[0]), 6), round(float(r[0]), 6)
    (0.5, 0.0)
    """
    d = colour - bg
    rel = pixels - bg
    a = rel @ d / float(d @ d)
    resid = np.linalg.norm(rel - a[..., None] * d, axis=-1)
    return a, resid


def channel_difference(region: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per pixel the largest |difference| of a channel from ``colour`` (a max over a last axis of 3 is slow in
    numpy; three element-wise maxima are not).

    >>> channel_difference(np.array([[[0.5, 0.9, 1.0]]]), np.ones(3)).tolist()
    [[0.5]]
    """
    c = np.asarray(colour, region.dtype)
    return np.maximum(
        np.maximum(np.abs(region[..., 0] - c[0]), np.abs(region[..., 1] - c[1])), np.abs(region[..., 2] - c[2])
    )


def background_colour(region: np.ndarray) -> np.ndarray:
    """The most common colour of a region (the page or the panel), from a coarse histogram."""
    q = np.round(region[::4, ::4].reshape(-1, 3) * 63).astype(np.int32)
    keys = (q[:, 0] << 12) | (q[:, 1] << 6) | q[:, 2]
    vals, counts = np.unique(keys, return_counts=True)
    k = vals[np.argmax(counts)]
    mode = np.array([(k >> 12) & 63, (k >> 6) & 63, k & 63]) / 63.0
    sample = region[::2, ::2]  # a quarter of the pixels: the mean of thousands of background pixels either way
    near = channel_difference(sample, mode) < 2.0 / 63.0
    return sample[near].mean(axis=0) if near.any() else mode


def remove_gridlines(region: np.ndarray, bg: np.ndarray) -> tuple[np.ndarray, int]:
    """The region with gridlines (rows/columns mostly of one light colour other than the background) painted
    over with the background; curves drawn across them keep their pixels. Returns (image, lines removed)."""
    out = region.copy()
    diff = channel_difference(region, bg) > 0.02
    n = 0
    for axis in (0, 1):
        share = diff.mean(axis=1 - axis)
        lines = np.nonzero(share > 0.5)[0]
        for i in lines:
            line = region[i] if axis == 0 else region[:, i]
            colour = np.median(line[diff[i] if axis == 0 else diff[:, i]], axis=0)
            if colour.mean() < 0.45:
                continue  # a dark line across the frame is a spine or a curve, not a gridline
            close = np.abs(line - colour).max(axis=-1) < 0.12
            # a gridline pixel is the line's colour or a blend of it with the background
            a, r = unmix(line, bg, colour) if np.abs(colour - bg).max() > 0.02 else (np.zeros(len(line)), 1)
            close |= (r < 0.06) & (a > -0.2) & (a < 1.3)
            if axis == 0:
                out[i][close] = bg
            else:
                out[:, i][close] = bg
            n += 1
    return out, n


def _colour_candidates(region: np.ndarray, bg: np.ndarray) -> list[np.ndarray]:
    """Curve colour candidates (sRGB): modes of the strongly coloured pixels, each taken at its most saturated
    end of the blend line with the background."""
    # CIELAB only where the pixel differs visibly from the background (speed: most of the frame is empty)
    pre = channel_difference(region, bg) > PRESELECT_DIFFERENCE
    pix = region[pre]
    plab = srgb_to_lab(pix)
    de = np.linalg.norm(plab - srgb_to_lab(bg), axis=-1)
    chroma = np.hypot(plab[:, 1], plab[:, 2])
    cand = (de > INK_DELTA_E) & (chroma > MIN_CHROMA)
    pix = pix[cand]
    plab = plab[cand]
    colours: list[np.ndarray] = []
    min_px = MIN_LINE_PIXELS_PER_100_COLUMNS * region.shape[1] / 100.0
    remaining = np.ones(len(pix), bool)
    for _ in range(MAX_COLOURS):
        if remaining.sum() < min_px:
            break
        q = np.floor(plab[remaining] / LAB_BIN).astype(np.int64)
        keys = (q[:, 0] + 64) * 1_000_000 + (q[:, 1] + 256) * 1000 + (q[:, 2] + 256)
        vals, counts = np.unique(keys, return_counts=True)
        k = vals[np.argmax(counts)]
        centre = (np.array([k // 1_000_000 - 64, (k // 1000) % 1000 - 256, k % 1000 - 256]) + 0.5) * LAB_BIN
        core = remaining & (np.linalg.norm(plab - centre, axis=-1) < CORE_DELTA_E)
        mode_rgb = pix[core].mean(axis=0) if core.any() else pix[remaining][0]
        a, r = unmix(pix, bg, mode_rgb)
        on_line = remaining & (r < BLEND_TOLERANCE)
        # the curve colour is the saturated end of the blend line (the mode may be a translucent band)
        top = np.quantile(a[on_line], 0.95) if on_line.any() else 1.0
        strong = on_line & (a >= 0.85 * top)
        colour = pix[strong].mean(axis=0) if strong.sum() >= 3 else mode_rgb
        a2, r2 = unmix(pix, bg, colour)
        # strong pixels (the line's body) must fit the colour closely, weak ones (edges, bands) loosely: a dark
        # line of another hue, greyed by JPEG, is otherwise taken in with the first colour and never found
        fits = r2 < np.where(a2 > MIN_COVERAGE, STRONG_MEMBER_TOLERANCE, BLEND_TOLERANCE)
        member = remaining & fits & (a2 > 0.05)
        remaining &= ~(member | core)
        if (member & (a2 > MIN_COVERAGE)).sum() >= min_px:
            colours.append(colour)
    return colours


def _is_blend_of_two(colour: np.ndarray, found: list[np.ndarray]) -> bool:
    """Whether ``colour`` lies on the line between two colours found before it (sRGB): where two curves cross or
    touch, anti-aliasing and JPEG mix them into a colour of its own, with fewer pixels than either.

    >>> _is_blend_of_two(np.array([0.6, 0.45, 0.35]), [np.array([1.0, 0.5, 0.05]), np.array([0.12, 0.47, 0.7])])
    True
    >>> _is_blend_of_two(np.array([0.17, 0.63, 0.17]), [np.array([1.0, 0.5, 0.05]), np.array([0.12, 0.47, 0.7])])
    False
    """
    for i, c1 in enumerate(found):
        for c2 in found[i + 1 :]:
            a, r = unmix(colour[None, :], c1, c2)
            if BLEND_MIN_SHARE <= a[0] <= 1.0 - BLEND_MIN_SHARE and r[0] < CROSSING_BLEND_TOLERANCE:
                return True
    return False


def _is_area(mask: np.ndarray, size: int) -> bool:
    """Whether a boolean mask is mostly filled areas (a band) rather than thin lines."""
    if not mask.any():
        return False
    eroded = ndimage.binary_erosion(mask, structure=np.ones((size, size), bool))
    return eroded.sum() > MAX_AREA_SHARE * mask.sum()


def colour_classes(region: np.ndarray, bg: np.ndarray) -> tuple[list[InkClass], list[str]]:
    """Per curve colour: the coverage of each pixel (0 off the curve, edges and bands), and notes."""
    notes: list[str] = []
    colours = _colour_candidates(region, bg)
    kept: list[np.ndarray] = []
    for c in colours:
        if _is_blend_of_two(c, kept):
            notes.append(f"colour {_hex(c)} is a blend of two curve colours (where they cross): not a curve")
        else:
            kept.append(c)
    colours = kept
    if not colours:
        return [], notes
    pre = channel_difference(region, bg) > PRESELECT_DIFFERENCE
    flat = region[pre]
    a_all = np.empty((len(colours), flat.shape[0]))
    r_all = np.empty_like(a_all)
    for i, c in enumerate(colours):
        a_all[i], r_all[i] = unmix(flat, bg, c)
    best = np.argmin(np.where(a_all > 0.05, r_all, np.inf), axis=0)
    size = max(3, round(AREA_EROSION_SHARE * region.shape[0]))
    min_px = MIN_LINE_PIXELS_PER_100_COLUMNS * region.shape[1] / 100.0
    classes = []
    for i, c in enumerate(colours):
        ok = (best == i) & (r_all[i] < BLEND_TOLERANCE) & (a_all[i] > MIN_COVERAGE)
        w = np.zeros(region.shape[:2])
        w[pre] = np.where(ok, np.clip(a_all[i], 0, 1), 0.0)
        line = w > 0
        if line.sum() < min_px:
            continue
        if _is_area(line, size):
            notes.append(f"colour {_hex(c)} fills areas (a confidence band or legend patch): not a curve")
            continue
        classes.append(InkClass(w, _hex(c), "solid", "raster colour"))
    return _merge_halves(classes, notes), notes


def _hue(hex_colour: str) -> float:
    """CIELAB hue angle (degrees) of a ``#rrggbb`` colour."""
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
    lab = srgb_to_lab(rgb)
    return float(np.degrees(np.arctan2(lab[2], lab[1])))


def _merge_halves(classes: list[InkClass], notes: list[str]) -> list[InkClass]:
    """Classes that are the core and the halo of one JPEG-subsampled line merged (the one with more line pixels
    gives the colour); ``notes`` records each merge."""
    out = list(classes)
    merged = True
    while merged:
        merged = False
        for i, j in itertools.combinations(range(len(out)), 2):
            a, b = out[i], out[j]
            dh = abs((_hue(a.color) - _hue(b.color) + 180.0) % 360.0 - 180.0)
            if dh > HALO_HUE_DEGREES:
                continue
            ma, mb = a.weight > 0, b.weight > 0
            small, large = (ma, mb) if ma.sum() < mb.sum() else (mb, ma)
            near = ndimage.binary_dilation(large, structure=np.ones((3, 3), bool), iterations=HALO_PIXELS)
            if (near & small).sum() < HALO_SHARE * small.sum():
                continue
            keep, drop = (a, b) if ma.sum() >= mb.sum() else (b, a)
            notes.append(f"colours {keep.color} and {drop.color} are one line split by JPEG compression: merged")
            out[i] = InkClass(np.maximum(a.weight, b.weight), keep.color, keep.dash, keep.method)
            del out[j]
            merged = True
            break
    return out


def line_width_estimate(mask: np.ndarray) -> float:
    """The typical thickness (pixels) of horizontal lines in a mask: the median length of its vertical runs."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1]), np.int8)
    padded[1:-1] = mask
    d = np.diff(padded, axis=0)
    starts = np.nonzero(d.T == 1)
    ends = np.nonzero(d.T == -1)
    lengths = ends[1] - starts[1]
    return float(np.median(lengths)) if lengths.size else 1.0


def dark_classes(region: np.ndarray, bg: np.ndarray) -> tuple[list[InkClass], list[str]]:
    """Black (dark, achromatic) ink split by line style: solid, dashed, dotted (each only when present)."""
    notes: list[str] = []
    lum_bg = float(bg @ np.array([0.2126, 0.7152, 0.0722]))
    lum = region @ np.array([0.2126, 0.7152, 0.0722])
    darkness = np.clip((lum_bg - lum) / max(lum_bg, 1e-6), 0, 1)
    mask = darkness > MIN_DARKNESS
    lab = srgb_to_lab(region[mask])
    mask[mask] = np.hypot(lab[:, 1], lab[:, 2]) < MIN_CHROMA  # achromatic
    if mask.sum() < MIN_LINE_PIXELS_PER_100_COLUMNS * region.shape[1] / 100.0:
        return [], notes
    lw = max(1.0, line_width_estimate(mask))
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return [], notes
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    length = sizes / lw  # path length of a piece drawn lw thick
    kind = np.where(length <= DOT_LENGTH * lw, 0, np.where(length <= DASH_LENGTH * lw, 1, 2))
    kind_of = np.concatenate(([-1], kind))[labels]
    weight = np.where(mask, darkness, 0.0)
    classes = []
    for k, dash in ((2, "solid"), (1, "dashed"), (0, "dotted")):
        pieces = int((kind == k).sum())
        if k < 2 and pieces < MIN_PATTERN_PIECES:
            continue
        w = np.where(kind_of == k, weight, 0.0)
        if (w > 0).sum() < MIN_LINE_PIXELS_PER_100_COLUMNS * region.shape[1] / 100.0 * (0.3 if k < 2 else 1.0):
            continue
        classes.append(InkClass(w, "#000000", dash, "raster line style"))
    return classes, notes
