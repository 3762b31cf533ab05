"""Clean digitized clicks without deleting real ones, and log every change with its reason.

Steps, in order:

1. sort by time (ties: higher survival first, so a vertical drop reads top then bottom);
2. collapse exact duplicate points;
3. put the two corners of a drop that x-noise swapped (bottom clicked left of top) on one time;
4. clamp small excursions: time slightly below 0 to 0, survival slightly outside [0, 1] into it;
5. make survival non-increasing by isotonic regression under absolute loss (isotonic *median*
   regression, fitted with pool-adjacent-violators). Unlike a running minimum, one stray low click
   cannot drag the rest of the curve down, and unlike least squares it does not pull its
   neighbours towards it either: it is raised to the level of the clicks around it;
6. collapse exact duplicates the fit made;
7. add the origin (0, 1) only when it is missing; a first click within half a percent of the time
   range and one percentage point of survival of the origin is taken as the origin.

Steps 3-7 also run a second time with step 3 grouping whole clusters of nearby clicks, for the
censoring fit (:attr:`CleanCurve.coarse`; not logged). All steps run compiled (numba) in one call
that records the changes as arrays; :func:`clean_clicks` turns them into the log.

Example
-------
>>> from meta_bm.reconstruction.parsing import parse_clicks
>>> c = clean_clicks(parse_clicks("0,1\\n1,0.9\\n2,0.5\\n3,0.88\\n4,0.87\\n5,0.6\\n"))
>>> c.survival.round(3).tolist()
[1.0, 0.9, 0.87, 0.87, 0.87, 0.6]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

import numpy as np

from meta_bm.reconstruction.jit import kernel
from meta_bm.reconstruction.parsing import Clicks

ORIGIN_TIME_TOLERANCE = 0.005  # fraction of the time range
# Clicks closer in time than this fraction of the time range, with survival out of order, are the
# two corners of one vertical drop whose x-noise swapped them; so are clicks up to twice as far apart
# whose survival rises by at least SWAPPED_RISE (4 pixels on a 400-pixel axis: more than the noise
# of two clicks, so a drop, not a level clicked twice). Pooling such a pair to its median instead
# would draw a level halfway down the drop (sloppy risk-table area 0.00477 -> 0.00441, --pairs 60).
VERTICAL_TOLERANCE = 0.005
SWAPPED_RISE = 0.01
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
class _ChangeBatch:
    """Changes of one kind kept as arrays until the log is read (a noisy curve has dozens).

    Point i went from ``(time_before[i], survival_before[i])`` to ``(time_after[i], survival_after[i])``.
    """

    action: str
    reason: str
    rows: np.ndarray
    time_before: np.ndarray
    survival_before: np.ndarray
    time_after: np.ndarray
    survival_after: np.ndarray

    def changes(self) -> list[CleaningChange]:
        columns = (self.rows, self.time_before, self.survival_before, self.time_after, self.survival_after)
        return [
            _change(r, self.action, (tb, sb), (ta, sa), self.reason)
            for r, tb, sb, ta, sa in zip(*(c.tolist() for c in columns), strict=True)
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
    # The clicks cleaned with whole clusters of swapped corners on one vertical line (see
    # _merge_swapped_corners), as (time, survival): the step heights the censoring fit reads.
    # None for a curve built by hand (the fit then reads time and survival).
    coarse: tuple[np.ndarray, np.ndarray] | None = None
    # the changes in order; batches of isotonic adjustments become CleaningChange entries on reading
    log_items: tuple[CleaningChange | _ChangeBatch, ...] = ()

    def __len__(self) -> int:
        return int(self.time.size)

    @cached_property
    def log(self) -> list[CleaningChange]:
        """Every change made to the clicks, in the order the steps made them."""
        out: list[CleaningChange] = []
        for item in self.log_items:
            if isinstance(item, _ChangeBatch):
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
    count): the L1 variant of pool-adjacent-violators.
    """
    return _pav_median(np.ascontiguousarray(y, float))


@kernel
def _pav_median(y: np.ndarray) -> np.ndarray:
    """:func:`isotonic_decreasing_l1` (compiled with numba): a new point merges backwards with the
    blocks before it while their fits rise; a merged block's fit is the median of its points.
    Each block keeps its points sorted in place (``buf`` over the block's index range), so a merge
    is a merge of two sorted runs rather than a new sort."""
    n = y.size
    starts = np.empty(n, np.int64)
    fits = np.empty(n)
    buf = y.copy()
    tmp = np.empty(n)
    top = 0
    for i in range(n):
        fit, lo = y[i], i
        while top > 0 and fits[top - 1] < fit:
            top -= 1
            prev = starts[top]
            # merge the sorted runs buf[prev:lo] and buf[lo:i + 1]
            a, b, m = prev, lo, 0
            while a < lo and b <= i:
                if buf[b] < buf[a]:
                    tmp[m] = buf[b]
                    b += 1
                else:
                    tmp[m] = buf[a]
                    a += 1
                m += 1
            while a < lo:
                tmp[m] = buf[a]
                a += 1
                m += 1
            while b <= i:
                tmp[m] = buf[b]
                b += 1
                m += 1
            buf[prev : i + 1] = tmp[:m]
            lo = prev
            fit = buf[lo + m // 2] if m % 2 else 0.5 * (buf[lo + m // 2 - 1] + buf[lo + m // 2])
        starts[top], fits[top] = lo, fit
        top += 1
    out = np.empty(n)
    for b in range(top):
        end = starts[b + 1] if b + 1 < top else n
        out[starts[b] : end] = fits[b]
    return out


_ADJUSTED_REASON = "survival rose between clicks; isotonic (median) fit to a non-increasing curve"
_MOVED_REASON = "corners of one vertical drop clicked out of order; put on one time"
_DUPLICATE_REASON = "exact duplicate of the previous click"
_ORIGIN_SNAP_REASON = "first click taken as the origin"


@kernel
def _merge_swapped_corners(
    t: np.ndarray, s: np.ndarray, rows: np.ndarray, whole_clusters: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Put near-simultaneous clicks whose survival rises back on one vertical line (compiled with numba).

    The top and bottom corners of a drop share one true time; pixel noise in x can put the bottom
    first, which would split the drop across two steps. Such a pair (closer than
    ``VERTICAL_TOLERANCE`` of the time range, or twice that when survival rises by at least
    ``SWAPPED_RISE``) gets its mean time, ordered top to bottom. With
    ``whole_clusters`` the group reaches out to every click within that span of it: neighbouring
    steps a few pixels apart become one drop (coarser, but their summed heights are less noisy).
    Groups only reach back to clicks after the previous group, so edits never feed back. Takes the
    clicks sorted by time; returns the new time, survival and rows, and for each click that moved
    (in the order of the moves) its index in the result and its old time.
    """
    n = t.size
    t, s, rows = t.copy(), s.copy(), rows.copy()
    moved_at = np.empty(n, np.int64)
    moved_from = np.empty(n)
    n_moved = 0
    if n < 2:
        return t, s, rows, moved_at[:0], moved_from[:0]
    tol = VERTICAL_TOLERANCE * (t[-1] - min(t[0], 0.0))  # sorted by time: t[-1] is the largest
    done = -1
    for i in range(n - 1):
        gap = t[i + 1] - t[i]
        rise = s[i + 1] - s[i]
        if i <= done or not (rise > 0 and (gap < tol or (rise >= SWAPPED_RISE and gap < 2.0 * tol))):
            continue
        lo, hi = i, i + 1
        if whole_clusters:
            while lo - 1 > done and t[i] - t[lo - 1] < tol:
                lo -= 1
            while hi + 1 < n and t[hi + 1] - t[lo] < tol:
                hi += 1
        done = hi
        total = 0.0
        for k in range(lo, hi + 1):
            total += t[k]
        new_t = total / (hi + 1 - lo)
        # top to bottom, stable; the usual pair (bottom corner first) lists its top corner first
        members = lo + np.argsort(-s[lo : hi + 1], kind="mergesort")
        old_t, old_s, old_r = t[members], s[members], rows[members]
        for m in range(members.size):
            k = lo + m
            if old_t[m] != new_t:
                moved_at[n_moved], moved_from[n_moved] = k, old_t[m]
                n_moved += 1
            t[k], s[k], rows[k] = new_t, old_s[m], old_r[m]
    return t, s, rows, moved_at[:n_moved], moved_from[:n_moved]


# Kinds of the log entries the compiled cleaning records, one row each: (kind, input row, time and
# survival before, time and survival after).
_REMOVED, _MOVED, _CLAMPED_TIME, _CLAMPED_HIGH, _CLAMPED_LOW, _ADJUSTED, _SNAPPED, _ADDED = range(8)
_CLAMP_REASONS = {
    _CLAMPED_TIME: "time below 0 clamped to 0",
    _CLAMPED_HIGH: "survival above 1 clamped to 1",
    _CLAMPED_LOW: "survival below 0 clamped to 0",
}


@kernel(inline=True)
def _record(log: tuple, at: int, kind: int, row: int, tb: float, sb: float, ta: float, sa: float) -> int:
    """Write one log entry at position ``at`` of ``log = (kinds, rows, values)``; returns the next."""
    kinds, rows, values = log
    kinds[at], rows[at] = kind, row
    values[at, 0], values[at, 1], values[at, 2], values[at, 3] = tb, sb, ta, sa
    return at + 1


@kernel
def _order_by_time_then_survival(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Stable order by time, then survival descending (a vertical drop reads top then bottom): two
    stable sorts, the same order as ``np.lexsort((-s, t))``."""
    by_s = np.argsort(-s, kind="mergesort")
    return by_s[np.argsort(t[by_s], kind="mergesort")]


@kernel
def _drop_duplicates(
    t: np.ndarray, s: np.ndarray, rows: np.ndarray, log: tuple, at: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Sorted clicks without exact repeats of the previous click, each removal logged."""
    keep = np.ones(t.size, np.bool_)
    for i in range(1, t.size):
        if t[i] == t[i - 1] and s[i] == s[i - 1]:
            keep[i] = False
            at = _record(log, at, _REMOVED, rows[i], t[i], s[i], np.nan, np.nan)
    if keep.all():
        return t, s, rows, at
    return t[keep], s[keep], rows[keep], at


@kernel
def _clean_sorted(
    t: np.ndarray, s: np.ndarray, rows: np.ndarray, whole_clusters: bool, log: tuple, at: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Steps 3-7 of the module docstring on sorted clicks without duplicates, each change logged
    from position ``at`` of ``log`` (see :func:`_clean_all`); returns the clicks and the next
    free log position. ``whole_clusters`` selects the corner grouping of
    :func:`_merge_swapped_corners`."""
    t, s, rows, moved_at, moved_from = _merge_swapped_corners(t, s, rows, whole_clusters)
    for m in range(moved_at.size):
        k = moved_at[m]
        at = _record(log, at, _MOVED, rows[k], moved_from[m], s[k], t[k], s[k])
    # clamp small excursions: every time below 0, then every survival above 1, then below 0
    time_low = t[0] < 0  # (sorted)
    high = s > 1.0
    low = s < 0.0
    if time_low:
        for i in range(t.size):
            if t[i] < 0:
                at = _record(log, at, _CLAMPED_TIME, rows[i], t[i], s[i], 0.0, s[i])
                t[i] = 0.0
    for kind, mask, value in ((_CLAMPED_HIGH, high, 1.0), (_CLAMPED_LOW, low, 0.0)):
        for i in range(t.size):
            if mask[i]:
                at = _record(log, at, kind, rows[i], t[i], s[i], t[i], value)
                s[i] = value
    if time_low:
        # Clamping put clicks at t = 0, maybe out of survival order.
        order = _order_by_time_then_survival(t, s)
        t, s, rows = t[order], s[order], rows[order]

    fitted = _pav_median(s)
    for i in range(s.size):
        if abs(fitted[i] - s[i]) > 1e-12:
            at = _record(log, at, _ADJUSTED, rows[i], t[i], s[i], t[i], fitted[i])
    # (the fit can make neighbours on one time equal)
    t, s, rows, at = _drop_duplicates(t, fitted, rows, log, at)

    t_range = t.max()
    if t[0] == 0.0 and s[0] == 1.0:
        pass
    elif t[0] <= ORIGIN_TIME_TOLERANCE * t_range and s[0] >= 1.0 - ORIGIN_SURVIVAL_TOLERANCE:
        at = _record(log, at, _SNAPPED, rows[0], t[0], s[0], 0.0, 1.0)
        t, s = t.copy(), s.copy()
        t[0], s[0] = 0.0, 1.0
        # The snap can only raise survival, so later clicks stay non-increasing.
    else:
        at = _record(log, at, _ADDED, -1, np.nan, np.nan, 0.0, 1.0)
        t = np.concatenate((np.zeros(1), t))
        s = np.concatenate((np.ones(1), s))
        rows = np.concatenate((np.full(1, -1, np.int64), rows))
    return t, s, rows, at


@kernel
def _clean_all(t: np.ndarray, s: np.ndarray, rows: np.ndarray) -> tuple:
    """Every cleaning step (compiled with numba): ``(time, survival, rows, coarse time, coarse
    survival, clicks reordered, log kinds, log rows, log values)``, the log one entry per row in
    the order the steps made them (the coarse view is not logged)."""
    n = t.size
    cap = 7 * n + 2  # (each click removed, moved, clamped thrice, adjusted, removed; the origin)
    log = (np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty((cap, 4)))
    scratch = (np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty((cap, 4)))
    order = _order_by_time_then_survival(t, s)
    reordered = 0
    for i in range(n):
        reordered += order[i] != i
    if reordered:
        t, s, rows = t[order], s[order], rows[order]
    # (before the corner pairs: a duplicated corner would pair with the copy instead of its partner)
    # (np.int64(0), np.bool_(...): plain values, not literals, so each callee compiles once, not
    # once per constant it is called with)
    t, s, rows, at = _drop_duplicates(t, s, rows, log, np.int64(0))
    coarse_t, coarse_s, _, _ = _clean_sorted(t.copy(), s.copy(), rows.copy(), np.bool_(True), scratch, np.int64(0))
    t, s, rows, at = _clean_sorted(t, s, rows, np.bool_(False), log, at)
    return t, s, rows, coarse_t, coarse_s, reordered, log[0][:at], log[1][:at], log[2][:at]


def _log_items(kinds: np.ndarray, rows: np.ndarray, values: np.ndarray) -> list[CleaningChange | _ChangeBatch]:
    """The compiled cleaning's log rows as changes; each run of moves or isotonic adjustments stays
    one batch (arrays until the log is read)."""
    out: list[CleaningChange | _ChangeBatch] = []
    bounds = [0, *(np.flatnonzero(kinds[1:] != kinds[:-1]) + 1).tolist(), kinds.size]
    for a, b in pairwise(bounds):
        kind = int(kinds[a])
        if kind in (_MOVED, _ADJUSTED):
            action, reason = ("moved", _MOVED_REASON) if kind == _MOVED else ("adjusted", _ADJUSTED_REASON)
            v = values[a:b]
            out.append(_ChangeBatch(action, reason, rows[a:b], v[:, 0], v[:, 1], v[:, 2], v[:, 3]))
            continue
        for row, (tb, sb, ta, sa) in zip(rows[a:b].tolist(), values[a:b].tolist(), strict=True):
            if kind == _REMOVED:
                out.append(_change(row, "removed", (tb, sb), None, _DUPLICATE_REASON))
            elif kind == _SNAPPED:
                out.append(_change(row, "snapped", (tb, sb), (0.0, 1.0), _ORIGIN_SNAP_REASON))
            elif kind == _ADDED:
                out.append(_change(None, "added", None, (0.0, 1.0), "origin (0, 1) was missing"))
            else:
                out.append(_change(row, "clamped", (tb, sb), (ta, sa), _CLAMP_REASONS[kind]))
    return out


def clean_clicks(clicks: Clicks) -> CleanCurve:
    """Clean :class:`Clicks` into a :class:`CleanCurve`; see the module docstring for the steps."""
    t, s, rows, coarse_t, coarse_s, reordered, kinds, log_rows, values = _clean_all(
        clicks.time.astype(float), clicks.survival.astype(float), clicks.rows.astype(np.int64)
    )
    log: list[CleaningChange | _ChangeBatch] = []
    if reordered:
        log.append(_change(None, "sorted", None, None, f"{reordered} click(s) reordered by time"))
    if kinds.size:
        log += _log_items(kinds, log_rows, values)
    return CleanCurve(
        time=t, survival=s, rows=rows, source=clicks.source, log_items=tuple(log), coarse=(coarse_t, coarse_s)
    )
