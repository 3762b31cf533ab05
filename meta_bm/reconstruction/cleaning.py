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

from dataclasses import dataclass, field

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
class CleanCurve:
    """Cleaned clicks: sorted, in range, non-increasing, starting at (0, 1).

    ``rows`` holds each point's input line (``-1`` for the added origin); ``log`` lists every change.
    """

    time: np.ndarray
    survival: np.ndarray
    rows: np.ndarray
    source: str
    log: list[CleaningChange] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.time.size)


def isotonic_decreasing_l1(y: np.ndarray) -> np.ndarray:
    """Non-increasing fit minimizing the sum of absolute deviations (pool adjacent violators).

    Each pooled block takes the median of its points (the mean of the two middle ones for an even
    count). Runs in O(n log n) at worst; the common case of few violations is close to O(n).
    """
    y = np.asarray(y, float)
    n = y.size
    if n == 0 or bool(np.all(np.diff(y) <= 0)):
        return y.copy()
    vals = y.tolist()
    # Blocks as [start, end, value]; merge while the non-increasing order is violated.
    starts: list[int] = []
    ends: list[int] = []
    fits: list[float] = []
    for i, v in enumerate(vals):
        starts.append(i)
        ends.append(i + 1)
        fits.append(v)
        while len(fits) > 1 and fits[-2] < fits[-1]:
            e = ends.pop()
            fits.pop()
            starts.pop()
            ends[-1] = e
            block = sorted(vals[starts[-1] : e])
            m = len(block)
            fits[-1] = block[m // 2] if m % 2 else 0.5 * (block[m // 2 - 1] + block[m // 2])
    out = np.empty(n)
    for a, b, v in zip(starts, ends, fits, strict=True):
        out[a:b] = v
    return out


def _merge_swapped_corners(
    t: np.ndarray, s: np.ndarray, rows: np.ndarray, log: list[CleaningChange]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Put near-simultaneous clicks whose survival rises back on one vertical line.

    The top and bottom corners of a drop share one true time; pixel noise in x can put the bottom
    first, which would split the drop across two steps. Such a cluster (span below
    ``VERTICAL_TOLERANCE`` of the time range) gets its mean time, ordered top to bottom.
    """
    if t.size < 2:
        return t, s, rows
    tol = VERTICAL_TOLERANCE * float(t.max() - min(t.min(), 0.0))
    rising = np.flatnonzero((np.diff(t) < tol) & (np.diff(s) > 0))
    if rising.size == 0:
        return t, s, rows
    t, s, rows = t.copy(), s.copy(), rows.copy()
    tl, sl_, rl = t.tolist(), s.tolist(), rows.tolist()
    done = -1
    for i in rising.tolist():
        if i <= done:
            continue
        lo = i
        while lo - 1 > done and tl[i] - tl[lo - 1] < tol:
            lo -= 1
        hi = i + 1
        while hi + 1 < len(tl) and tl[hi + 1] - tl[lo] < tol:
            hi += 1
        new_t = sum(tl[lo : hi + 1]) / (hi + 1 - lo)
        members = sorted(range(lo, hi + 1), key=lambda k: -sl_[k])
        for k in members:
            if tl[k] != new_t:
                log.append(
                    CleaningChange(
                        int(rl[k]),
                        "moved",
                        (tl[k], sl_[k]),
                        (new_t, sl_[k]),
                        "corners of one vertical drop clicked out of order; put on one time",
                    )
                )
        t[lo : hi + 1] = new_t
        s[lo : hi + 1] = [sl_[k] for k in members]
        rows[lo : hi + 1] = [rl[k] for k in members]
        done = hi
    return t, s, rows


def clean_clicks(clicks: Clicks) -> CleanCurve:
    """Clean :class:`Clicks` into a :class:`CleanCurve`; see the module docstring for the steps."""
    t = clicks.time.astype(float).copy()
    s = clicks.survival.astype(float).copy()
    rows = clicks.rows.astype(np.int64).copy()
    log: list[CleaningChange] = []

    order = np.lexsort((-s, t))  # by time, then survival descending
    if not np.array_equal(order, np.arange(t.size)):
        moved = int(np.sum(order != np.arange(t.size)))
        log.append(CleaningChange(None, "sorted", None, None, f"{moved} click(s) reordered by time"))
        t, s, rows = t[order], s[order], rows[order]

    t, s, rows = _merge_swapped_corners(t, s, rows, log)

    for mask, new_t, new_s, reason in (
        (t < 0, True, False, "time below 0 clamped to 0"),
        (s > 1, False, True, "survival above 1 clamped to 1"),
        (s < 0, False, True, "survival below 0 clamped to 0"),
    ):
        for i in np.flatnonzero(mask):
            before = (float(t[i]), float(s[i]))
            if new_t:
                t[i] = 0.0
            if new_s:
                s[i] = min(max(s[i], 0.0), 1.0)
            log.append(CleaningChange(int(rows[i]), "clamped", before, (float(t[i]), float(s[i])), reason))
    if np.any(t == 0):
        # Clamping may have put clicks at t = 0 out of survival order.
        order = np.lexsort((-s, t))
        t, s, rows = t[order], s[order], rows[order]

    fitted = isotonic_decreasing_l1(s)
    for i in np.flatnonzero(np.abs(fitted - s) > 1e-12):
        log.append(
            CleaningChange(
                int(rows[i]),
                "adjusted",
                (float(t[i]), float(s[i])),
                (float(t[i]), float(fitted[i])),
                "survival rose between clicks; isotonic (median) fit to a non-increasing curve",
            )
        )
    s = fitted

    if t.size > 1:
        dup = np.zeros(t.size, bool)
        dup[1:] = (t[1:] == t[:-1]) & (s[1:] == s[:-1])
        for i in np.flatnonzero(dup):
            log.append(
                CleaningChange(
                    int(rows[i]), "removed", (float(t[i]), float(s[i])), None, "exact duplicate of the previous click"
                )
            )
        keep = ~dup
        t, s, rows = t[keep], s[keep], rows[keep]

    t_range = float(t.max()) if t.size else 0.0
    if t[0] == 0.0 and s[0] == 1.0:
        pass
    elif t[0] <= ORIGIN_TIME_TOLERANCE * t_range and s[0] >= 1.0 - ORIGIN_SURVIVAL_TOLERANCE:
        log.append(
            CleaningChange(
                int(rows[0]), "snapped", (float(t[0]), float(s[0])), (0.0, 1.0), "first click taken as the origin"
            )
        )
        t[0], s[0] = 0.0, 1.0
        # The snap can only raise survival, so later clicks stay non-increasing.
    else:
        log.append(CleaningChange(None, "added", None, (0.0, 1.0), "origin (0, 1) was missing"))
        t = np.concatenate(([0.0], t))
        s = np.concatenate(([1.0], s))
        rows = np.concatenate(([-1], rows))
    return CleanCurve(time=t, survival=s, rows=rows, source=clicks.source, log=log)
