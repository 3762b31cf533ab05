"""Censorings put at the censoring marks drawn on the curve ('+' or '|'), when their times are known.

A mark sits at a censored time (one mark per distinct censored time; several patients may be
censored at one mark). So the marks say *where* the censorings are; how many fall at each mark is
read as elsewhere from the step heights (:mod:`~meta_bm.reconstruction.censoring_placement`): a
drop of ``d`` events lowering S by ``delta`` measures the risk set ``n = d * S(t-) / delta``, so the
number censored before each drop. Per interval the event drops cut the time into *gaps*; the
censorings of a gap go to its marks. The counts before each drop are fitted (isotonic, as in
:func:`~meta_bm.reconstruction.censoring_placement.place_censoring`) under the marks' constraints:

* every mark gets at least one censoring when the interval's count allows (shifting the counts by
  the marks before each drop turns that into a plain non-decreasing fit);
* a gap without a mark gets none (the drops on either side share one count), unless the interval
  has censorings to place and no mark at all (then they are spread as without marks, and a warning
  says so);
* more marks than censorings (a warning says so): the step heights decide which gaps get them.

Within a gap the count is shared evenly between its marks (cumulative rounding). In a risk interval
the published numbers at risk fix the count; in the last interval (after the last risk time, or
the whole curve without a table) every patient not dead is censored, before the last drop as the
step heights say and after it at the marks there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meta_bm.errors import MAX_CLICKS, InputError
from meta_bm.reconstruction.censoring_placement import MIN_RISK_SET_SD, STEP_NOISE, event_drops, spread_into
from meta_bm.reconstruction.event_tracking import censored_given_events, mean_click_error, track_events
from meta_bm.reconstruction.isotonic import pav_increasing
from meta_bm.reconstruction.jit import kernel
from meta_bm.reconstruction.parsing import CensorMarks
from meta_bm.reconstruction.risk_intervals import CurveGeometry

# A mark up to this fraction of the time range after the curve's last click is the end of the curve
# read with pixel error (a 600 px plot's pixel is 0.0017 of it); it is moved onto the last click.
MARK_END_TOLERANCE = 0.01
# A mark this little (fraction of the time range, about two pixels of a 600 px plot) before a drop
# is at the drop's time: patients censored at an event time are drawn there, and the click and the
# mark each carry a pixel of error. Left before it, the mark would take its censorings out of the
# drop's risk set (rossi: 149 patients censored at week 52, with its last events).
MARK_SNAP = 0.003
# Weight of the last interval's prior (one censoring per mark) against a drop's implied count, whose
# weight is at most 4 (sd half a patient): without a table the step heights alone read the count
# poorly, but they must still be able to put two patients at one mark. Without a risk table, careful
# (censor_marks_accuracy.py --pairs 20), none -> exact marks: weight 1/(m/2)^2 as in the risk
# intervals: censoring-time error no better than without marks; 2: area 0.00272 -> 0.00215,
# |event error|/N 0.030 -> 0.013, censoring-time error 0.136 -> 0.034; 4 and 16: no better, and
# merged marks (several patients each) worse.
LAST_PRIOR_WEIGHT = 2.0


@dataclass(frozen=True)
class MarkPlacement:
    """Censorings placed at the marks, and what the marks could not say.

    ``cens``: the risk intervals' censoring times (sorted); ``cens_last``: the last interval's
    (sorted; its survivors are placed later, :func:`survivors_at_marks`); per interval
    ``excess_marks``: marks beyond its number of censorings (some got none); ``unmarked``:
    censorings placed where the interval had no mark; ``prior_weight``: the weight of the
    placement's prior that was kept.
    """

    cens: np.ndarray
    cens_last: np.ndarray
    excess_marks: np.ndarray
    unmarked: np.ndarray
    prior_weight: float

    def warnings(self, tau: np.ndarray, end: float) -> list[str]:
        """What the marks could not say, per interval, in words."""
        out = []
        for j in np.flatnonzero(self.excess_marks).tolist():
            upto = f"{tau[j + 1]:g}" if j + 1 < tau.size else f"{end:g}"
            out.append(
                f"interval {tau[j]:g}-{upto}: {int(self.excess_marks[j])} censoring mark(s) more than the "
                "censorings the numbers at risk and the curve allow; the marks the step heights point to were used"
            )
        for j in np.flatnonzero(self.unmarked).tolist():
            out.append(
                f"interval {tau[j]:g}-{tau[j + 1]:g}: {int(self.unmarked[j])} censoring(s) placed without a "
                "censoring mark (the numbers at risk need them and the interval has no mark)"
            )
        return out


def check_censor_marks(censor_times: object, t_end: float, source: str | None) -> np.ndarray:
    """The mark times as a sorted float array, checked against the curve ending at ``t_end``.

    ``censor_times`` is a :class:`CensorMarks` (problems located by file and row) or a sequence of
    times. Refused: more than :data:`~meta_bm.errors.MAX_CLICKS` marks, non-finite or negative
    times, and times after the curve's end by more than :data:`MARK_END_TOLERANCE` of it (those
    within it are moved onto the end).

    >>> check_censor_marks([3.0, 1.0, 10.05], 10.0, "a.csv").tolist()
    [1.0, 3.0, 10.0]
    """
    if isinstance(censor_times, CensorMarks):
        src, rows = censor_times.source, censor_times.rows
        raw = censor_times.time
    else:
        src, rows = source, None
        try:
            raw = np.asarray(censor_times, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"censor times must be a sequence of numbers ({exc})", src) from None
    if raw.ndim != 1:
        raise InputError(f"censor times must be a 1-D sequence, not of shape {raw.shape}", src)
    if raw.size > MAX_CLICKS:
        raise InputError(f"{raw.size:,} censoring marks, above the limit of {MAX_CLICKS:,} per curve", src)

    def row(i: int) -> int:
        return int(rows[i]) if rows is not None else i + 1

    bad = np.flatnonzero(~np.isfinite(raw))
    if bad.size:
        raise InputError("non-finite censoring mark time", src, row(int(bad[0])))
    bad = np.flatnonzero(raw < 0)
    if bad.size:
        raise InputError(f"censoring mark at a negative time {raw[bad[0]]:g}", src, row(int(bad[0])))
    limit = t_end * (1.0 + MARK_END_TOLERANCE)
    bad = np.flatnonzero(raw > limit)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"censoring mark at {raw[i]:g} is after the curve's end at {t_end:g} (marks sit on the curve; "
            "a wrong curve or unit?)",
            src,
            row(i),
        )
    return np.sort(np.minimum(raw, t_end))


def snap_to_drops(marks: np.ndarray, t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``marks`` (sorted) with those up to :data:`MARK_SNAP` of the time range before a drop of the
    curve ``(t, s)`` moved onto it (a censoring at an event time is at risk there).

    >>> snap_to_drops(np.array([1.0, 4.99]), np.array([0.0, 5.0, 5.0, 9.0]), np.array([1.0, 1.0, 0.8, 0.8])).tolist()
    [1.0, 5.0]
    """
    level_before = np.concatenate(([1.0], s[:-1]))
    drops = np.unique(t[s < level_before])
    if drops.size == 0 or marks.size == 0:
        return marks
    nxt = np.searchsorted(drops, marks, side="left")
    has = nxt < drops.size
    target = drops[np.minimum(nxt, drops.size - 1)]
    near = has & (target - marks <= MARK_SNAP * float(t[-1]))
    return np.where(near, target, marks)


@kernel
def at_marks(out: np.ndarray, at: int, marks: np.ndarray, count: int) -> int:
    """Write ``count`` censoring times shared evenly between ``marks`` (cumulative rounding: each
    gets ``count / marks.size`` up to one; with fewer censorings than marks they are spread across
    them) into ``out`` from ``at``; returns the next free position.

    >>> out = np.zeros(5)
    >>> at_marks(out, 0, np.array([1.0, 2.0]), 5), out.tolist()
    (5, [1.0, 1.0, 1.0, 2.0, 2.0])
    """
    k = marks.size
    before = 0
    for i in range(k):
        now = int(np.rint((i + 1) * count / k + 1e-9))
        for _ in range(now - before):
            out[at] = marks[i]
            at += 1
        before = now
    return at


@kernel
def gap_counts(y: np.ndarray, w: np.ndarray, gap_marks: np.ndarray, c: int, pinned_end: bool) -> tuple:
    """Whole censorings per gap of one interval: ``y``, ``w`` the (pooled) estimate of the number
    censored before each of its ``m`` drops and its weight; ``gap_marks[g]`` the marks in gap ``g``
    (gap ``g`` lies before drop ``g``, gap ``m`` after the last); ``c`` the censorings to place
    (``pinned_end``: exactly, a risk interval) or the patients left to censor (the last interval:
    gap ``m`` then gets one per mark, the rest are its survivors).

    Returns ``(x, excess, unmarked)``: counts per gap, marks beyond ``c`` (some get none), and
    censorings put in gaps without marks (only when the interval has none at all).

    >>> gap_counts(np.array([0.2, 2.9]), np.ones(2), np.array([1, 1, 0]), 3, True)[0].tolist()
    [1, 2, 0]
    """
    m = y.size
    x = np.zeros(m + 1, np.int64)
    k_total = 0
    for g in range(m + 1):
        k_total += gap_marks[g]
    if c <= 0:
        return x, k_total, 0
    allowed = gap_marks > 0
    unmarked = 0
    if k_total == 0:
        if not pinned_end:
            return x, 0, 0  # the last interval without marks: every patient left is a survivor
        allowed[:] = True  # the counts force censorings, and no mark says where
        unmarked = c
    lb = 1 if k_total <= c else 0  # at least one censoring per mark, when there are enough
    excess = k_total - c if lb == 0 else 0
    upper = c - lb * k_total  # bound on the shifted counts (what is left beyond one per mark)
    if m == 0:
        x[0] = c if pinned_end else min(gap_marks[0], c)
        return x, excess, unmarked
    # pools: drops with no mark between them share one count; shifted by one per mark before
    pool_of = np.empty(m, np.int64)
    k_before = np.empty(m, np.int64)  # marks in gaps 0..i (those before drop i)
    p, k_cum = 0, gap_marks[0]
    for i in range(m):
        if i > 0:
            k_cum += gap_marks[i]
            if allowed[i]:
                p += 1
        pool_of[i] = p
        k_before[i] = k_cum
    n_pool = p + 1
    py = np.zeros(n_pool)
    pw = np.zeros(n_pool)
    for i in range(m):
        q = pool_of[i]
        py[q] += w[i] * (y[i] - lb * k_before[i])
        pw[q] += w[i]
    for q in range(n_pool):
        py[q] = py[q] / pw[q] if pw[q] > 0 else 0.0
    lo_q, hi_q = 0, n_pool  # the free pools; a pool before the first mark is at 0, after the last at c
    fixed = np.zeros(n_pool)
    if not allowed[0]:
        fixed[0] = 0.0
        lo_q = 1
    if pinned_end and not allowed[m]:
        fixed[n_pool - 1] = float(upper)
        hi_q = n_pool - 1
    shifted = fixed.copy()
    if hi_q > lo_q:
        fit = pav_increasing(py[lo_q:hi_q], pw[lo_q:hi_q])
        for q in range(lo_q, hi_q):
            v = fit[q - lo_q]
            shifted[q] = min(max(v, 0.0), float(upper)) if v == v else 0.0
    prev = 0
    for i in range(m):
        now = int(np.rint(shifted[pool_of[i]])) + lb * k_before[i]
        x[i] = now - prev
        prev = now
    x[m] = c - prev if pinned_end else min(gap_marks[m], c - prev)
    return x, excess, unmarked


@kernel
def place_at_marks(
    g: CurveGeometry, d: np.ndarray, counts: np.ndarray, marks: np.ndarray, prior_weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Censoring times at the marks (sorted), interval by interval (module docstring).

    ``d``: events per click; ``counts[j]``: risk interval ``j``'s censorings (the last interval
    censors every patient not dead). Each drop's implied number censored before it (precision as in
    :func:`~meta_bm.reconstruction.censoring_placement.place_censoring`) is pooled with a prior:
    in a risk interval its censorings shared evenly between its marks, in the last interval one
    per mark (distinct censored times are mostly one patient each; it read the censoring-time
    error 0.0646 -> 0.0608 without a risk table, careful, ``censor_marks_accuracy.py --pairs 10``,
    where the larger of that and the censoring model's count did worse). Returns the risk
    intervals' censoring times, the last interval's (its survivors not yet placed), and per
    interval the marks beyond its censorings and the censorings placed without a mark.
    """
    t, tau, nr = g.t, g.tau, g.nr
    n_int = nr.size
    last_j = n_int - 1
    tk, je, dd, dl, lv = event_drops(g, d, n_int)  # (every interval's drops, the last one's too)
    cut = np.searchsorted(je, np.arange(n_int + 1))
    mark_cut = np.searchsorted(marks, tau, side="left")  # marks at a risk time belong to the interval it starts
    d_last = 0
    for k in range(g.first[last_j], t.size):
        d_last += d[k]
    room = max(int(nr[last_j]) - d_last, 0)
    out = np.empty(max(counts[:last_j].sum(), 0))
    out_last = np.empty(room)
    excess = np.zeros(n_int, np.int64)
    unmarked = np.zeros(n_int, np.int64)
    at, at_last = np.int64(0), np.int64(0)  # (plain int64, not literals: the helpers compile once)
    for j in range(n_int):
        pinned = j < last_j
        c = int(counts[j]) if pinned else room
        lo, hi = cut[j], cut[j + 1]
        m = hi - lo
        mk = marks[mark_cut[j] : mark_cut[j + 1]] if pinned else marks[mark_cut[j] :]
        gap_of = np.searchsorted(tk[lo:hi], mk, side="right")  # a mark at a drop is after it (at risk there)
        gap_marks = np.zeros(m + 1, np.int64)
        for q in range(mk.size):
            gap_marks[gap_of[q]] += 1
        y, wy = np.empty(m), np.empty(m)
        w0 = prior_weight / max(1.0, 0.5 * c) ** 2 if pinned else prior_weight * LAST_PRIOR_WEIGHT
        d_before, k_before = 0, gap_marks[0]
        for q in range(m):
            i = lo + q
            if q > 0:
                k_before += gap_marks[q]
            n_hat = dd[i] * lv[i] / dl[i]
            sd = max(n_hat * STEP_NOISE / dl[i], MIN_RISK_SET_SD)
            w = 1.0 / sd**2
            if pinned:
                prior = c * (k_before / mk.size if mk.size > 0 else (tk[i] - tau[j]) / g.length[j])
            else:
                prior = float(k_before)
            y[q] = (w * ((nr[j] - d_before) - n_hat) + w0 * prior) / (w + w0)
            wy[q] = w + w0
            d_before += dd[i]
        x, excess[j], unmarked[j] = gap_counts(y, wy, gap_marks, c, pinned)
        # each gap's censorings at its marks (or spread over it when the interval has none)
        end = tau[j + 1] if pinned else tau[j] + g.length[j]
        q0 = 0
        for gap in range(m + 1):
            q1 = q0 + gap_marks[gap]
            if x[gap] > 0:
                if q1 > q0:
                    if pinned:
                        at = at_marks(out, at, mk[q0:q1], x[gap])
                    else:
                        at_last = at_marks(out_last, at_last, mk[q0:q1], x[gap])
                else:
                    edge = tk[lo + gap - 1] if gap > 0 else tau[j]
                    nxt = tk[lo + gap] if gap < m else end
                    at = spread_into(out, at, edge, nxt - edge, x[gap])
            q0 = q1
    return out[:at], out_last[:at_last], excess, unmarked


@kernel
def marks_and_track(
    g: CurveGeometry,
    d_int: np.ndarray,
    c_int: np.ndarray,
    drop: np.ndarray,
    marks: np.ndarray,
    prior_weight: float,
    passes: int,
) -> tuple:
    """Censorings placed at the marks, events tracked given them, placed again with the tracked
    events and the censoring counts they leave (up to ``passes`` more times, until nothing
    changes); the placement is redone for the final events, so every censoring is at a mark and
    every published number at risk holds. Returns events per click and :func:`place_at_marks`'
    four arrays."""
    d, counts = d_int, c_int
    placed = place_at_marks(g, d, counts, marks, prior_weight)
    for _ in range(passes + 1):
        d_new = track_events(g, placed[0], placed[1])[0]
        c_new = censored_given_events(g, d_new, drop, counts)
        same = np.array_equal(d_new, d) and np.array_equal(c_new, counts)
        d, counts = d_new, c_new
        if same:
            break
        placed = place_at_marks(g, d, counts, marks, prior_weight)
    return d, placed[0], placed[1], placed[2], placed[3]


def best_mark_placement(
    g: CurveGeometry,
    d_int: np.ndarray,
    c_int: np.ndarray,
    drop: np.ndarray,
    marks: np.ndarray,
    weights: tuple[float, ...],
    passes: int,
    ct: np.ndarray,
    cs: np.ndarray,
) -> tuple[np.ndarray, MarkPlacement]:
    """:func:`marks_and_track` for each prior weight; the result whose KM stays nearest the clicks
    ``(ct, cs)`` is kept (the first of equals), as in
    :func:`~meta_bm.reconstruction.event_tracking.best_placement`. Returns events per click and
    the placement."""
    best, best_err, best_w = None, np.inf, weights[0]
    for w in weights:
        cand = marks_and_track(g, d_int, c_int, drop, marks, float(w), passes)
        err = mean_click_error(g.t, cand[0], cand[1], cand[2], g.nr[0], ct, cs) if len(weights) > 1 else 0.0
        if best is None or err < best_err:
            best, best_err, best_w = cand, err, w
    assert best is not None
    return best[0], MarkPlacement(*best[1:], prior_weight=float(best_w))


def survivors_at_marks(
    cens_last: np.ndarray, marks: np.ndarray, after: float, survivors: int
) -> tuple[np.ndarray, int]:
    """The last interval's censorings with its ``survivors`` (patients neither dead nor censored
    before the end) put at the marks from ``after`` (its last drop) on, shared evenly with the
    censorings already there. Returns the censoring times and the survivors left without a mark
    (all of them when no mark follows the last drop: they stay at the curve's end).

    >>> survivors_at_marks(np.array([1.0, 5.0]), np.array([1.0, 5.0, 7.0]), 4.0, 2)[0].tolist()
    [1.0, 5.0, 5.0, 7.0]
    """
    tail = marks[np.searchsorted(marks, after, side="left") :]
    if survivors <= 0 or tail.size == 0:
        return cens_last, max(survivors, 0)
    keep = cens_last[cens_last < after]
    n_tail = cens_last.size - keep.size + survivors
    out = np.empty(keep.size + n_tail)
    out[: keep.size] = keep
    at_marks(out, np.int64(keep.size), tail, np.int64(n_tail))
    return out, 0
