"""Clean digitized clicks without deleting real ones, and log every change with its reason.

Steps, in order:

1. sort by time (ties: higher survival first, so a vertical drop reads top then bottom);
2. clamp small excursions: time slightly below 0 to 0, survival slightly outside [0, 1] into it;
3. make survival non-increasing by isotonic regression under absolute loss (isotonic *median*
   regression, fitted with pool-adjacent-violators). Unlike a running minimum, one stray low click
   cannot drag the rest of the curve down, and unlike least squares it does not pull its
   neighbours towards it either: it is raised to the level of the clicks around it;
4. collapse exact duplicate points;
5. add the origin (0, 1) only when it is missing; a first click within half a percent of the time
   range and one percentage point of survival of the origin is taken as the origin.

Example
-------
>>> from meta_bm.reconstruction.parsing import parse_clicks
>>> c = clean_clicks(parse_clicks("0,1\\n1,0.9\\n2,0.5\\n3,0.88\\n4,0.87\\n5,0.6\\n"))
>>> c.survival.round(3).tolist()
[1.0, 0.9, 0.87, 0.87, 0.87, 0.6]
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from meta_bm.reconstruction.parsing import Clicks

ORIGIN_TIME_TOLERANCE = 0.005  # fraction of the time range
# Clicks closer in time than this fraction of the time range, with survival out of order, are the
# two corners of one vertical drop whose x-noise swapped them.
VERTICAL_TOLERANCE = 0.005
ORIGIN_SURVIVAL_TOLERANCE = 0.01


@dataclass(frozen=True)
class CleaningChange:
    """One change made to the clicks: which input row, what it was, what it became, and why."""

    row: int | None
    action: str
    before: tuple[float, float] | None
    after: tuple[float, float] | None
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "new point"

        def fmt(p: tuple[float, float] | None) -> str:
            return "-" if p is None else f"({p[0]:.6g}, {p[1]:.6g})"

        return f"{where}: {self.action} {fmt(self.before)} -> {fmt(self.after)}: {self.reason}"


@dataclass(frozen=True)
class _AdjustedBatch:
    """The isotonic fit's changes, kept as arrays until the log is read (a noisy curve has dozens)."""

    rows: list[int]
    time: list[float]
    before: list[float]
    after: list[float]

    def changes(self) -> list[CleaningChange]:
        return [
            _change(r, "adjusted", (t, b), (t, a), _ADJUSTED_REASON)
            for r, t, b, a in zip(self.rows, self.time, self.before, self.after, strict=True)
        ]


@dataclass(frozen=True)
class CleanCurve:
    """Cleaned clicks: sorted, in range, non-increasing, starting at (0, 1).

    ``rows`` holds each point's input line (``-1`` for the added origin); ``log`` lists every change.
    """

    time: np.ndarray
    survival: np.ndarray
    rows: np.ndarray
    source: str
    # the changes in order; batches of isotonic adjustments become CleaningChange entries on reading
    log_items: tuple[CleaningChange | _AdjustedBatch, ...] = ()

    def __len__(self) -> int:
        return int(self.time.size)

    @cached_property
    def log(self) -> list[CleaningChange]:
        """Every change made to the clicks, in the order the steps made them."""
        out: list[CleaningChange] = []
        for item in self.log_items:
            if isinstance(item, _AdjustedBatch):
                out += item.changes()
            else:
                out.append(item)
        return out


def _change(
    row: int | None,
    action: str,
    before: tuple[float, float] | None,
    after: tuple[float, float] | None,
    reason: str,
) -> CleaningChange:
    """``CleaningChange(row, action, before, after, reason)``, built without the frozen ``__init__``.

    A noisy curve logs dozens of changes; the frozen dataclass ``__init__`` sets each field through
    ``object.__setattr__``, several times slower than filling the instance dict directly. The result
    is the same (equal, hashable, immutable) object.
    """
    change = object.__new__(CleaningChange)
    d = change.__dict__
    d["row"] = row
    d["action"] = action
    d["before"] = before
    d["after"] = after
    d["reason"] = reason
    return change


def isotonic_decreasing_l1(y: np.ndarray) -> np.ndarray:
    """Non-increasing fit minimizing the sum of absolute deviations (pool adjacent violators).

    Each pooled block takes the median of its points (the mean of the two middle ones for an even
    count). Runs in O(n log n) at worst; the common case of few violations is close to O(n).
    """
    return _pav_median(np.asarray(y, float).tolist())


def _pav_median(vals: list[float]) -> np.ndarray:
    """:func:`isotonic_decreasing_l1` of a list."""
    n = len(vals)
    if n == 0:
        return np.zeros(0)
    # where the points rise: only there can a point break the order of the blocks before it
    arr = np.array(vals, float)
    rises = ((arr[1:] > arr[:-1]).nonzero()[0] + 1).tolist()
    rises.append(n)
    # Blocks as (start, fit); a new point merges backwards while it breaks the non-increasing order.
    starts: list[int] = []
    fits: list[float] = []
    i = 0
    while i < n:
        fit = vals[i]
        if fits and fits[-1] < fit:
            lo = i
            while fits and fits[-1] < fit:
                fits.pop()
                lo = starts.pop()
                block = sorted(vals[lo : i + 1])
                m = len(block)
                fit = block[m // 2] if m % 2 else 0.5 * (block[m // 2 - 1] + block[m // 2])
            starts.append(lo)
            fits.append(fit)
            i += 1
        else:
            # up to the next rise the points keep the order: each is its own block
            j = rises[bisect_right(rises, i)]
            starts += range(i, j)
            fits += vals[i:j]
            i = j
    ends = np.array([*starts, n])
    return np.array(fits, float).repeat(ends[1:] - ends[:-1])


_ADJUSTED_REASON = "survival rose between clicks; isotonic (median) fit to a non-increasing curve"
_MOVED_REASON = "corners of one vertical drop clicked out of order; put on one time"


def _merge_swapped_corners(
    t: np.ndarray, s: np.ndarray, tl: list[float], sl: list[float], rl: list[int], log: list[CleaningChange]
) -> bool:
    """Put near-simultaneous clicks whose survival rises back on one vertical line.

    The top and bottom corners of a drop share one true time; pixel noise in x can put the bottom
    first, which would split the drop across two steps. Such a cluster (span below
    ``VERTICAL_TOLERANCE`` of the time range) gets its mean time, ordered top to bottom.
    Takes the clicks sorted by time, as arrays and as lists; edits the lists, and says whether it did.
    """
    n = len(tl)
    if n < 2:
        return False
    tol = VERTICAL_TOLERANCE * (tl[-1] - min(tl[0], 0.0))  # sorted by time: tl[-1] is the largest
    rising = ((s[1:] > s[:-1]) & (t[1:] - t[:-1] < tol)).nonzero()[0].tolist()
    if not rising:
        return False
    # Clusters only reach back to clicks after the previous cluster, so edits never feed back.
    done = -1
    for i in rising:
        if i <= done:
            continue
        lo = i
        while lo - 1 > done and tl[i] - tl[lo - 1] < tol:
            lo -= 1
        hi = i + 1
        while hi + 1 < n and tl[hi + 1] - tl[lo] < tol:
            hi += 1
        done = hi
        if hi == lo + 1:  # the usual pair, bottom corner first: swap
            t_lo, t_hi, s_lo, s_hi = tl[lo], tl[hi], sl[lo], sl[hi]
            new_t = sum((t_lo, t_hi)) / 2
            if t_hi != new_t:
                log.append(_change(rl[hi], "moved", (t_hi, s_hi), (new_t, s_hi), _MOVED_REASON))
            if t_lo != new_t:
                log.append(_change(rl[lo], "moved", (t_lo, s_lo), (new_t, s_lo), _MOVED_REASON))
            tl[lo] = tl[hi] = new_t
            sl[lo], sl[hi] = s_hi, s_lo
            rl[lo], rl[hi] = rl[hi], rl[lo]
            continue
        new_t = sum(tl[lo : hi + 1]) / (hi + 1 - lo)
        members = sorted(range(lo, hi + 1), key=sl.__getitem__, reverse=True)  # stable: ties keep order
        for k in members:
            if tl[k] != new_t:
                log.append(_change(rl[k], "moved", (tl[k], sl[k]), (new_t, sl[k]), _MOVED_REASON))
        sl[lo : hi + 1] = [sl[k] for k in members]
        rl[lo : hi + 1] = [rl[k] for k in members]
        tl[lo : hi + 1] = [new_t] * (hi + 1 - lo)
    return True


def _by_time_then_survival(t: np.ndarray, s: np.ndarray) -> np.ndarray | None:
    """Stable order by time, then survival descending (a vertical drop reads top then bottom);
    ``None`` when the points are in that order already."""
    order = np.lexsort((-s, t))
    return order if np.count_nonzero(order != np.arange(t.size)) else None


def clean_clicks(clicks: Clicks) -> CleanCurve:
    """Clean :class:`Clicks` into a :class:`CleanCurve`; see the module docstring for the steps."""
    t = clicks.time.astype(float)
    s = clicks.survival.astype(float)
    rows = clicks.rows.astype(np.int64)
    log: list[CleaningChange | _AdjustedBatch] = []

    order = _by_time_then_survival(t, s)
    if order is not None:
        moved = int(np.count_nonzero(order != np.arange(t.size)))
        log.append(_change(None, "sorted", None, None, f"{moved} click(s) reordered by time"))
        t, s, rows = t[order], s[order], rows[order]
    # Arrays for whole-curve steps, lists (kept in step) for the clicks one by one.
    tl, sl, rl = t.tolist(), s.tolist(), rows.tolist()
    if _merge_swapped_corners(t, s, tl, sl, rl, log):
        t, s, rows = np.array(tl, float), np.array(sl, float), np.array(rl, np.int64)
    # clamp small excursions (each kind's clicks found first, as with masks)
    clamps = (
        ((t < 0).nonzero()[0].tolist() if t.min() < 0 else [], tl, 0.0, "time below 0 clamped to 0"),
        ((s > 1).nonzero()[0].tolist() if s.max() > 1 else [], sl, 1.0, "survival above 1 clamped to 1"),
        ((s < 0).nonzero()[0].tolist() if s.min() < 0 else [], sl, 0.0, "survival below 0 clamped to 0"),
    )
    for idx, column, value, reason in clamps:
        for i in idx:
            before = (tl[i], sl[i])
            column[i] = value
            log.append(_change(rl[i], "clamped", before, (tl[i], sl[i]), reason))
    if clamps[0][0] or clamps[1][0] or clamps[2][0]:
        t, s = np.array(tl, float), np.array(sl, float)
    if 0.0 in tl:
        # Clamping may have put clicks at t = 0 out of survival order.
        order = _by_time_then_survival(t, s)
        if order is not None:
            t, s, rows = t[order], s[order], rows[order]
            tl, sl, rl = t.tolist(), s.tolist(), rows.tolist()

    fitted = _pav_median(sl)
    changed = (np.abs(fitted - s) > 1e-12).nonzero()[0]
    if changed.size:
        log.append(
            _AdjustedBatch(rows[changed].tolist(), t[changed].tolist(), s[changed].tolist(), fitted[changed].tolist())
        )  # type: ignore[arg-type]
    s = fitted

    if t.size > 1:
        dup = (t[1:] == t[:-1]) & (s[1:] == s[:-1])
        if dup.any():
            for i in (dup.nonzero()[0] + 1).tolist():
                before = (tl[i], float(s[i]))
                log.append(_change(rl[i], "removed", before, None, "exact duplicate of the previous click"))
            keep = np.concatenate(([True], ~dup))
            t, s, rows = t[keep], s[keep], rows[keep]

    t_range = float(t.max()) if t.size else 0.0
    if t[0] == 0.0 and s[0] == 1.0:
        pass
    elif t[0] <= ORIGIN_TIME_TOLERANCE * t_range and s[0] >= 1.0 - ORIGIN_SURVIVAL_TOLERANCE:
        log.append(
            _change(int(rows[0]), "snapped", (float(t[0]), float(s[0])), (0.0, 1.0), "first click taken as the origin")
        )
        t[0], s[0] = 0.0, 1.0
        # The snap can only raise survival, so later clicks stay non-increasing.
    else:
        log.append(_change(None, "added", None, (0.0, 1.0), "origin (0, 1) was missing"))
        t = np.concatenate(([0.0], t))
        s = np.concatenate(([1.0], s))
        rows = np.concatenate(([-1], rows))
    return CleanCurve(time=t, survival=s, rows=rows, source=clicks.source, log_items=tuple(log))
