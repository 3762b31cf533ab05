"""One KM curve traced through a raster figure: the best monotone path through its pixels, read as a step function.

A survival curve never rises, so in image rows (downwards) it never goes up. The curve is the path, one row per
column, that never goes up and crosses the most of the curve's own pixels (dynamic programming over the columns;
other curves' pixels count a little, so a stretch hidden under another curve is bridged along it). Legend
samples, text and marks off the curve cannot be reached without going up, or cost more of the curve than they
give. Along the path, each column's run of ink gives the line's centre where the run is as thin as the line;
longer runs are the vertical drops (their columns' centre is the step time) or censoring marks (runs reaching
above the current level). The centres are fitted by a non-increasing step function (isotonic regression), whose
levels and step times are the corners output.

Example
-------
>>> w = np.zeros((20, 30))
>>> w[4:6, 0:12] = 1.0      # level at rows 4-5 (centre 4.5) ...
>>> w[4:14, 12:14] = 1.0    # ... a drop drawn at columns 12-13 ...
>>> w[12:14, 12:30] = 1.0   # ... to rows 12-13 (centre 12.5)
>>> t = trace_curve(w, np.zeros_like(w))
>>> [(round(float(a), 2), round(float(b), 2), round(float(c), 2)) for a, b, c in t.blocks]
[(0.0, 12.5, 4.5), (12.5, 29.0, 12.5)]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

# Score of a column whose path pixel belongs to another curve (bridges a stretch hidden under it): below the ink
# share of a dotted line (~0.38 of its columns), so a curve is never traded for a neighbour.
OTHER_INK_SCORE = 0.15
# Score cap of a pixel in a long run (line widths): a drop counts more than a line, but not like a wall of ink.
RUN_SCORE_CAP = 4.0
# A level shorter than this many line widths between two drops is the corner of one drop, not a step of its own.
MIN_LEVEL_WIDTHS = 0.75
# Adjacent levels closer than this many pixels are one level (noise of the line centre, JPEG).
MERGE_LEVEL_PIXELS = 0.5
# ... or than this share of the line width (thick lines at high resolution: the centre wanders with the edges).
MERGE_LEVEL_WIDTHS = 0.2
# A column's ink run is "the line" when no longer than the line width plus this many pixels (or half a width).
THIN_SLACK_PIXELS = 1.5
# A vertical run reaching this many pixels (plus half the line width) above the current level is a censoring mark.
MARK_RISE_PIXELS = 1.5
# Unseen stretches up to this many line widths (+2 px) are the holes of a dash pattern, not gaps.
PATTERN_HOLE_WIDTHS = 2.5
# A last piece of the path shorter than this share of the frame, after a hole longer than HOLE_SHARE, flat, is a
# legend sample or a label, not the curve's end.
TAIL_PIECE_SHARE = 0.08
HOLE_SHARE = 0.03
# ... unless the hole is this share covered by another curve's ink: the curve ran on hidden under that curve.
HIDDEN_HOLE_SHARE = 0.8
# A column's own run thinner than the line width by this many pixels, with another curve's ink touching it, is a
# line partly hidden under that curve: only its edges away from the other ink are its own.
PARTIAL_SLACK_PIXELS = 0.5


@dataclass(frozen=True)
class Trace:
    """A traced curve in frame index coordinates.

    ``blocks``: rows ``(x_start, x_end, y_level)`` of the step function (x_start of the first block is where the
    curve starts, x_end of the last where it ends); ``marks``: x of censoring marks; fractions relative to the
    curve's span; ``coverage``: share of the frame's columns where the curve's own pixels were seen; ``path``:
    the traced row in each column where it lies on the curve's own pixels, else -1.
    """

    blocks: list[tuple[float, float, float]]
    marks: np.ndarray
    gaps: int
    gap_fraction: float
    overlap_fraction: float
    coverage: float
    width: float
    path: np.ndarray


def best_path(score: np.ndarray) -> np.ndarray:
    """Row per column of the path with non-decreasing rows maximising the summed ``score`` (H x W).

    >>> s = np.zeros((5, 4)); s[1, 0] = s[3, 1] = s[0, 2] = s[3, 3] = 1.0
    >>> best_path(s).tolist()  # (0, 2) would need going up
    [1, 3, 3, 3]
    """
    h, w = score.shape
    rows = np.arange(h)
    back = np.empty((w, h), np.int32)
    acc = score[:, 0].copy()
    back[0] = rows
    for x in range(1, w):
        cm = np.maximum.accumulate(acc)
        # the first row reaching the running maximum: on ties the path stays as high as it can (a curve stays
        # at its level until it visibly drops; a mark's arm below it is not a reason to leave it)
        new_max = acc > np.r_[-np.inf, cm[:-1]]
        back[x] = np.maximum.accumulate(np.where(new_max, rows, 0))
        acc = cm + score[:, x]
    path = np.empty(w, np.int64)
    y = int(np.argmax(acc))
    for x in range(w - 1, -1, -1):
        path[x] = y
        y = int(back[x, y])
    return path


@dataclass(frozen=True)
class ColumnRuns:
    """The vertical runs of a mask, column by column: ``col``, first row ``r0`` and last row ``r1`` of each,
    sorted by column then row (a sparse view: curve pixels are a few percent of the frame)."""

    col: np.ndarray
    r0: np.ndarray
    r1: np.ndarray
    height: int

    @classmethod
    def of(cls, mask: np.ndarray) -> ColumnRuns:
        """
        >>> r = ColumnRuns.of(np.array([[1, 0], [1, 1], [0, 1], [1, 0]], bool))
        >>> r.col.tolist(), r.r0.tolist(), r.r1.tolist()
        ([0, 0, 1], [0, 3, 1], [1, 3, 2])
        """
        h, w = mask.shape
        padded = np.zeros((w, h + 2), np.int8)
        padded[:, 1:-1] = mask.T
        d = np.diff(padded, axis=1)
        col, r0 = np.nonzero(d == 1)
        _, r_end = np.nonzero(d == -1)  # the same order: column by column, top to bottom
        return cls(col, r0, r_end - 1, h)

    def lengths_image(self, shape: tuple[int, int]) -> np.ndarray:
        """Per pixel of the mask the length of the run it belongs to (0 off the mask)."""
        n = self.r1 - self.r0 + 1
        out = np.zeros(shape, np.int32)
        if n.size:
            offsets = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            out[np.repeat(self.r0, n) + offsets, np.repeat(self.col, n)] = np.repeat(n, n)
        return out

    def containing(self, path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and last row of the run holding ``path[x]`` in each column x; ``(-1, -2)`` off the mask."""
        cols = np.arange(path.size)
        key = self.col.astype(np.int64) * (self.height + 1) + self.r0
        i = np.searchsorted(key, cols * (self.height + 1) + path, side="right") - 1
        ic = np.clip(i, 0, None)
        ok = (i >= 0) & (self.col[ic] == cols) & (self.r1[ic] >= path) if key.size else np.zeros(path.size, bool)
        if not key.size:
            return np.full(path.size, -1), np.full(path.size, -2)
        return np.where(ok, self.r0[ic], -1), np.where(ok, self.r1[ic], -2)

    def median_length(self) -> float:
        """The typical thickness of horizontal lines: the median run length (1 when empty)."""
        return float(np.median(self.r1 - self.r0 + 1)) if self.r0.size else 1.0


def _pieces(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) inclusive of each run of True."""
    d = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0] - 1, strict=True))


def _drop_slivers(blocks: list[tuple[float, float, float]], min_len: float) -> list[tuple[float, float, float]]:
    """A lone interior level shorter than ``min_len`` pixels between two longer ones removed: the corner of a
    thick line's drop (round joins) is one drop, at the sliver's middle.

    >>> _drop_slivers([(0, 10, 5.0), (10, 11, 6.0), (11, 20, 9.0)], 2.0)
    [(0, 10.5, 5.0), (10.5, 20, 9.0)]
    """
    out = list(blocks)
    i = 1
    while i < len(out) - 1:
        xa, xb, _ = out[i]
        long_before = out[i - 1][1] - out[i - 1][0] >= min_len
        long_after = out[i + 1][1] - out[i + 1][0] >= min_len
        # only a lone sliver between two real levels: a run of slivers is a steep staircase, kept as drawn
        if xb - xa < min_len and long_before and long_after:
            mid = 0.5 * (xa + xb)
            out[i - 1] = (out[i - 1][0], mid, out[i - 1][2])
            out[i + 1] = (mid, out[i + 1][1], out[i + 1][2])
            del out[i]
        else:
            i += 1
    return out


def trace_curve(
    own: np.ndarray,
    other: np.ndarray,
    min_coverage: float = 0.0,
    own_score: np.ndarray | None = None,
    run_score_cap: float = RUN_SCORE_CAP,
) -> Trace | None:
    """Trace one curve from its pixel coverage ``own`` (H x W, 0..1) given the other curves' ``other``.

    ``own_score`` (H x W, 0..1, default 1) lowers the path score of own pixels that may belong to another curve
    (black-and-white figures: ink whose line style could not be told). Returns ``None`` when the path sees the
    curve's own pixels in less than ``min_coverage`` of the columns.
    """
    h, w = own.shape
    own_m = own > 0
    other_m = (other > 0) & ~own_m
    # a pixel scores by the length of its column's run (in line widths, capped): a stretch of steps closer than
    # the line width is one thick run and outscores the thin arm of a '+' mark or a legend sample beside it
    own_runs = ColumnRuns.of(own_m)
    lw = max(1.0, own_runs.median_length())
    score = np.clip(own_runs.lengths_image((h, w)) / lw, 1.0, run_score_cap) * own_m
    if own_score is not None:
        score *= own_score
    path = best_path(score + OTHER_INK_SCORE * other_m)
    cols = np.arange(w)
    on_own = own_m[path, cols]
    on_other = other_m[path, cols]
    pieces = _pieces(on_own)
    if not pieces:
        return None
    # a short flat last piece after a long hole is a legend sample or label reached along the path
    if len(pieces) > 1:
        (_, a1), (b0, b1) = pieces[-2], pieces[-1]
        hidden = on_other[a1 + 1 : b0].mean() >= HIDDEN_HOLE_SHARE
        if b1 - b0 + 1 < TAIL_PIECE_SHARE * w and b0 - a1 > HOLE_SHARE * w and path[b1] - path[b0] <= 2 and not hidden:
            on_own[b0 : b1 + 1] = False
            pieces = pieces[:-1]
    x_first, x_last = int(pieces[0][0]), int(pieces[-1][1])
    # a curve starts at the frame's left edge: when its start is hidden under another curve, the path runs
    # along that curve's ink from the edge, and that stretch is read as the curve's (an overlap)
    hole_max = PATTERN_HOLE_WIDTHS * lw + 2
    lead, k = x_first, x_first - 1
    while k >= 0 and x_first - k <= w:
        if on_other[k]:
            lead = k
        elif lead - k > hole_max:
            break
        k -= 1
    if lead <= hole_max:
        x_first = lead
    coverage = on_own.sum() / w
    if coverage < min_coverage:
        return None
    span = np.arange(x_first, x_last + 1)
    seen = (on_own | on_other)[span]
    # the run of ink through the path in each column: the curve's own pixels where they are seen (another curve
    # touching it would widen the run), the other curve's where it is hidden under one
    r0o, r1o = own_runs.containing(path)
    r0x, r1x = ColumnRuns.of(other_m).containing(path)
    r0 = np.where(on_own, r0o, r0x)
    r1 = np.where(on_own, r1o, r1x)
    weight = np.where(own_m, own, other)
    xs_all = span[seen]
    # sub-pixel edges: the end pixels of the run are covered from the inside by their coverage
    top = r0[xs_all] + 0.5 - weight[r0[xs_all], xs_all]
    bot = r1[xs_all] - 0.5 + weight[r1[xs_all], xs_all]
    if xs_all.size == 0:
        return None
    thick = bot - top
    width = float(np.quantile(thick, 0.25))
    # censoring marks reach above the lowest top edge seen so far (a curve never rises): runs of such columns
    rise = MARK_RISE_PIXELS + 0.25 * width
    own_seen = on_own[xs_all]
    prior = np.maximum.accumulate(np.where(own_seen, top, -np.inf))
    prior = np.r_[-np.inf, prior[:-1]]
    is_mark = own_seen & (top < prior - rise)
    mark_cols = xs_all[is_mark]
    marks = (
        np.array([float(np.mean(g)) for g in np.split(mark_cols, np.nonzero(np.diff(mark_cols) > 2)[0] + 1)])
        if mark_cols.size
        else np.zeros(0)
    )
    # a '+' mark's arms reach as far as its bar rises: left of the bar the arm lies at or below the curve (only
    # the run's top edge is the curve's), right of it at or above (only the bottom edge is)
    keep = ~is_mark
    top_only = np.zeros(xs_all.size, bool)
    bottom_only = np.zeros(xs_all.size, bool)
    for g in np.split(np.nonzero(is_mark)[0], np.nonzero(np.diff(np.nonzero(is_mark)[0]) > 2)[0] + 1):
        if g.size:
            half = float(np.max(prior[g] - top[g])) + 0.5 * width
            lo_x, hi_x = float(xs_all[g].min()), float(xs_all[g].max())
            top_only |= (xs_all < lo_x) & (xs_all >= lo_x - half)
            bottom_only |= (xs_all > hi_x) & (xs_all <= hi_x + half)
    both = top_only & bottom_only
    top_only &= ~both
    bottom_only &= ~both
    # a line partly hidden under another curve (its run thinner than the line, the other's ink touching it): the
    # edge against the other ink is that curve's, not this one's; hidden on both sides, the column tells nothing
    r0u, r1u = ColumnRuns.of(own_m | other_m).containing(path)
    partial = own_seen & (thick < width - PARTIAL_SLACK_PIXELS)
    top_hidden = partial & (r0u[xs_all] < r0[xs_all])
    bottom_hidden = partial & (r1u[xs_all] > r1[xs_all])
    keep &= ~(top_hidden & bottom_hidden)
    top_only |= bottom_hidden & ~top_hidden
    bottom_only |= top_hidden & ~bottom_hidden
    x_k, top_k, bot_k = xs_all[keep], top[keep], bot[keep]
    t_only, b_only = top_only[keep], bottom_only[keep]
    thin = ((bot_k - top_k) <= width + max(THIN_SLACK_PIXELS, 0.5 * width)) & ~t_only & ~b_only
    # observations of the curve's centre line y(position): a thin column gives its centroid at its own x; a
    # thicker one (a drop, or steps closer than the line width) gives y(x - w/2) = top + w/2 and
    # y(x + w/2) = bottom - w/2
    xt = x_k[thin]
    r0t, r1t = r0[xt], r1[xt]
    # thin runs are a few pixels: their weighted centroids summed offset by offset
    tot = np.zeros(xt.size)
    mom = np.zeros(xt.size)
    for k in range(int((r1t - r0t).max(initial=-1)) + 1):
        rows = r0t + k
        wk = np.where(rows <= r1t, weight[np.minimum(rows, h - 1), xt], 0.0)
        tot += wk
        mom += wk * rows
    centre = mom / np.maximum(tot, 1e-12)
    use_top = ~thin & ~b_only
    use_bot = ~thin & ~t_only
    pos = np.concatenate([xt, x_k[use_top] - 0.5 * width, x_k[use_bot] + 0.5 * width])
    val = np.concatenate([centre, top_k[use_top] + 0.5 * width, bot_k[use_bot] - 0.5 * width])
    wts = np.concatenate([np.full(xt.size, 2.0), np.ones(int(use_top.sum()) + int(use_bot.sum()))])
    order = np.argsort(pos, kind="stable")
    pos, val, wts = pos[order], val[order], wts[order]
    fit = isotonic_regression(val, weights=wts, increasing=True).x
    # merge levels closer than noise (keeps the fit monotone: a merged level lies between its parts)
    starts = [0]
    for i in range(1, fit.size):
        if fit[i] - fit[starts[-1]] > max(MERGE_LEVEL_PIXELS, MERGE_LEVEL_WIDTHS * width):
            starts.append(i)
    starts.append(fit.size)
    levels = [float(np.average(val[a:b], weights=wts[a:b])) for a, b in itertools.pairwise(starts)]
    levels = list(np.maximum.accumulate(levels))
    blocks: list[tuple[float, float, float]] = []
    x_start = float(x_first)
    seen_cols = np.zeros(w, bool)
    seen_cols[xs_all] = True
    for k in range(len(levels) - 1):
        pa, pb = pos[starts[k + 1] - 1], pos[starts[k + 1]]
        a_col, b_col = int(np.ceil(pa)), int(np.floor(pb))
        if b_col - a_col > 1 and not seen_cols[a_col + 1 : b_col].all():
            x_step = float(pb)  # unseen: hold the previous level until the curve shows again
        else:
            x_step = 0.5 * (pa + pb)
        x_step = max(x_step, x_start)
        blocks.append((x_start, x_step, levels[k]))
        x_start = x_step
    blocks.append((x_start, max(float(x_last), x_start), levels[-1]))
    blocks = _drop_slivers(blocks, MIN_LEVEL_WIDTHS * width)
    # gaps: unseen stretches longer than a dash pattern's holes
    unseen = ~seen
    hole = PATTERN_HOLE_WIDTHS * width + 2
    gap_runs = [(a, b) for a, b in _pieces(unseen) if b - a + 1 > hole]
    n_span = max(1, span.size)
    return Trace(
        blocks=blocks,
        marks=marks,
        gaps=len(gap_runs),
        gap_fraction=sum(b - a + 1 for a, b in gap_runs) / n_span,
        overlap_fraction=float(on_other[span].sum()) / n_span,
        coverage=float(coverage),
        width=width,
        path=np.where(on_own, path, -1),
    )
