"""The exact path: IPD read off an exact Kaplan–Meier curve with exact censoring marks.

A vector figure gives the step corners and the censoring marks' times exactly (to the file's
coordinate precision). The IPD is then an integer problem, not an estimation: at each drop the
``d`` events and the ``n`` at risk satisfy ``S_after / S_before = 1 - d / n`` exactly, the number at
risk falls by ``d`` at the drop, and between two drops only at the marks, by at least one patient
per mark (a mark is a distinct censored time; a patient censored at an event time is drawn at the
drop and is at risk there). The published numbers at risk (``n(tau)``: patients with time ``>=
tau``) pin ``n`` at their times; without a table the total N starts the chain.

The search walks the *nodes* (every drop and every risk time, in time order) carrying each number at
risk still possible there: a risk time keeps only its published count; a drop keeps the ``n`` whose
nearest whole ``d = round(n q)`` reproduces its step height (:func:`drop_candidates`); between two
nodes ``n`` falls by exactly ``d`` when no mark lies between them, and by ``d`` plus at least one
per mark otherwise. Each surviving path is scored by its step heights' squared misfit (in units
of :data:`SURVIVAL_TOL`) plus :data:`EVENT_COST` per event, and the best one kept (a Viterbi pass,
each node's possible ``n`` a short array). When every node has one possible
``n`` the data identify the IPD and this is it; otherwise the notes say where they did not. When
no path exists (the plotting program simplified the curve, a mark is missing, the table counts
differently) :class:`NotExact` says where, and the engine falls back to the general path.

Example
-------
Ten patients: 1 dies at 1 (S .9), two censored at 2 (one mark), 1 of 7 dies at 3 (S .9 * 6/7), the
six left censored at 4:

>>> fit = exact_ipd(np.array([0, 1, 1, 3, 3, 4.0]), np.array([1, 1, .9, .9, .9 * 6 / 7, .9 * 6 / 7]),
...                 np.array([2.0, 4.0]), np.array([0.0]), np.array([10]), 4.0)
>>> fit.time.tolist(), fit.event.tolist()
([1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0], [1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
>>> fit.notes(4.0)
[]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from meta_bm.reconstruction.risk_intervals import WHOLE_NUDGE

# Absolute survival precision of the corners: vector PDFs give them to about 1e-6 (matplotlib's
# files: 2e-9). A drop's two corners each carry it, so a step height is trusted to twice this.
SURVIVAL_TOL = 1e-6
# Fraction of the time range within which a mark is at a drop or a risk time (censored at an event
# time is at risk there): far above a vector file's time error (2e-9 of the range in matplotlib's),
# far below the 1e-6 month resolution of simulated times over a 24-month axis (4e-8 of it).
TIME_TOL = 1e-8
# Score of one event, against a step height's squared misfit in units of SURVIVAL_TOL: it decides only
# between paths the figures cannot tell apart (1 of 4 or 2 of 8 at a drop, more censorings before it
# or after). N being fixed, every patient is an event, one censoring per mark, or one beyond that (a tie
# at a mark, or a survivor without one), so each extra event is one tie fewer among the censorings and
# one more among the events: tied events scored a little dearer than tied censorings leaves this, the
# fewest events. (Scoring them alike would take the most: on whole-month times, seeds 0-49 with a risk
# table, 7 of 100 arms got wrong events that way, 5 this way; 0 of 100 either way on continuous times.)
EVENT_COST = 0.1

# Numbers at risk tried at one drop: the candidates are the whole fractions d / n near its relative
# height up to the largest possible n; a very low curve with a huge N could make millions.
MAX_CANDIDATES = 200_000


class NotExact(ValueError):
    """No IPD reproduces the curve, its marks and the numbers at risk exactly; the message says where."""


@dataclass(frozen=True)
class ExactIPD:
    """The IPD the exact path found, and what the data did not decide.

    ``time``, ``event``: the patients, sorted by time, events before censorings at one time.
    ``ambiguous_drops``: drops where more than one number at risk fits every figure (the first at
    ``first_ambiguous``); ``shared_extras``: censorings beyond one per mark in gaps between drops
    with several marks (shared evenly between them: which mark holds them the curve does not say);
    ``extras_at_last_mark``: patients beyond one per mark after the last node, put at the last mark
    (the end of follow-up); ``survivors_at_end``: patients still at risk after the last mark,
    censored at the curve's end without one.
    """

    time: np.ndarray
    event: np.ndarray
    ambiguous_drops: int
    first_ambiguous: float
    shared_extras: int
    extras_at_last_mark: int
    survivors_at_end: int

    def notes(self, end: float) -> list[str]:
        """What the data did not decide, in words (empty when they identify the IPD)."""
        out = []
        if self.ambiguous_drops:
            out.append(
                f"exact curve: at {self.ambiguous_drops} drop(s) (the first at {self.first_ambiguous:g}) the step "
                "heights, marks and numbers at risk allow more than one number at risk; the one nearest the step "
                "heights with the fewest events was used"
            )
        if self.shared_extras:
            out.append(
                f"exact curve: {self.shared_extras} censoring(s) beyond one per mark fall between drops with several "
                "marks; shared evenly between those marks (the curve does not say which mark holds them)"
            )
        if self.extras_at_last_mark:
            out.append(
                f"exact curve: {self.extras_at_last_mark} patient(s) beyond one per mark after the last drop were "
                "censored at the last mark (the curve does not say which mark holds them)"
            )
        if self.survivors_at_end:
            out.append(
                f"exact curve: {self.survivors_at_end} patient(s) still at risk after the last censoring mark were "
                f"censored at the curve's end ({end:g}) without a mark"
            )
        return out


@dataclass(frozen=True)
class _Nodes:
    """The drops and risk times in time order: ``time``; ``risk`` the published number at risk
    there (-1: none); ``s_before``, ``s_after`` the levels around the drop there (equal: none);
    ``marks_after[i]`` the marks from node ``i`` up to node ``i + 1`` (the last: to the end)."""

    time: np.ndarray
    risk: np.ndarray
    s_before: np.ndarray
    s_after: np.ndarray
    marks_after: list[np.ndarray]


def curve_drops(
    t: np.ndarray, s: np.ndarray, t_tol: float, s_tol: float = SURVIVAL_TOL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The drops of the step curve ``(t, s)`` (sorted, non-increasing): their times and the levels
    before and after. Clicks within ``t_tol`` of a drop's first click are that drop (a vertical run
    may have several clicks); a fall of up to ``2 s_tol`` is coordinate noise.

    >>> curve_drops(np.array([0, 2, 2, 5, 5, 8.0]), np.array([1, 1, .9, .9, .75, .75]), 1e-9)
    (array([2., 5.]), array([1. , 0.9]), array([0.9 , 0.75]))
    """
    times, before, after = [], [], []
    level = 1.0
    i = 0
    while i < t.size:
        k = i
        while k + 1 < t.size and t[k + 1] - t[i] <= t_tol:
            k += 1
        bottom = float(s[k])
        if level - bottom > 2 * s_tol:
            times.append(float(t[i]))
            before.append(level)
            after.append(bottom)
        level = bottom
        i = k + 1
    return np.array(times, float), np.array(before, float), np.array(after, float)


def drop_candidates(
    s_before: float, s_after: float, hi: int, s_tol: float = SURVIVAL_TOL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numbers at risk ``n`` in ``1..hi`` for which a whole ``d`` reproduces the drop from
    ``s_before`` to ``s_after`` within ``2 s_tol`` (each corner carries ``s_tol``): ``(n, d,
    misfit)``, the misfit in units of ``s_tol`` (``d = round(n q)``, the nearest, with ``q`` the
    relative height).

    >>> n, d, err = drop_candidates(0.9, 0.9 * 6 / 7, 20)
    >>> n.tolist(), d.tolist()
    ([7, 14], [1, 2])
    """
    if hi < 1 or s_before <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    q = 1.0 - s_after / s_before
    tq = 2 * s_tol / s_before
    d_max = min(hi, math.floor(hi * (q + tq)))
    if d_max < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    d = np.arange(1, d_max + 1, dtype=np.int64)
    n_lo = np.maximum(np.ceil(d / (q + tq)).astype(np.int64), d)
    n_hi = np.floor(d / (q - tq)).astype(np.int64) if q - tq > 0 else np.full(d.size, hi, np.int64)
    n_hi = np.minimum(n_hi, hi)
    counts = np.maximum(n_hi - n_lo + 1, 0)
    total = int(counts.sum())
    if total > MAX_CANDIDATES:
        raise NotExact(
            f"the drop from {s_before:.6g} to {s_after:.6g} fits more than {MAX_CANDIDATES:,} numbers at risk "
            "(too low a curve for its N to be read exactly)"
        )
    starts = np.repeat(n_lo, counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    n = np.unique(starts + offset)
    d = np.rint(n * q).astype(np.int64)
    misfit = np.abs(s_before * (1.0 - d / n) - s_after) / s_tol
    ok = (d >= 1) & (d <= n) & (misfit <= 2.0)
    return n[ok], d[ok], misfit[ok]


def _nodes(
    t: np.ndarray, s: np.ndarray, marks: np.ndarray, tau: np.ndarray, nr: np.ndarray, t_tol: float, s_tol: float
) -> _Nodes:
    """The drops and risk times merged into nodes (a drop within ``t_tol`` of a risk time is at it),
    with the marks between them."""
    dt, sb, sa = curve_drops(t, s, t_tol, s_tol)
    # a drop within t_tol of a risk time is at it (either side): its events are among those at risk there
    near = np.clip(np.searchsorted(tau, dt), 1, max(tau.size - 1, 1))
    for cand in (near - 1, np.minimum(near, tau.size - 1)):
        dt = np.where(np.abs(tau[cand] - dt) <= t_tol, tau[cand], dt)
    time = np.concatenate((tau.astype(float), dt))
    risk = np.concatenate((nr.astype(np.int64), np.full(dt.size, -1, np.int64)))
    before = np.concatenate((np.ones(tau.size), sb))
    after = np.concatenate((np.ones(tau.size), sa))
    order = np.argsort(time, kind="stable")  # (a risk time before a drop at its time)
    time, risk, before, after = time[order], risk[order], before[order], after[order]
    keep = np.concatenate(([True], time[1:] != time[:-1]))
    for i in np.flatnonzero(~keep).tolist():  # a drop at a risk time: one node
        before[i - 1], after[i - 1] = before[i], after[i]
    time, risk, before, after = time[keep], risk[keep], before[keep], after[keep]
    # a mark at a node (within t_tol) is censored there: at risk at it, gone after
    seg = np.searchsorted(time, marks + t_tol, side="right") - 1
    cut = np.searchsorted(seg, np.arange(time.size + 1))
    return _Nodes(time, risk, before, after, [marks[cut[i] : cut[i + 1]] for i in range(time.size)])


def _arrive(prev_a: np.ndarray, prev_cost: np.ndarray, m: int, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best way to each candidate ``n`` from the previous node's numbers left after its drop
    (``prev_a``, scored ``prev_cost``) across ``m`` marks: ``(cost, index into prev_a)``, cost
    ``inf`` where none leads. No mark: ``n = a``; marks: ``n <= a - m``."""
    cost = np.full(cand.size, np.inf)
    back = np.zeros(cand.size, np.int64)
    if m == 0:
        order = np.lexsort((prev_cost, prev_a))  # by a, then the cheapest first
        a_sorted = prev_a[order]
        first = np.concatenate(([True], a_sorted[1:] != a_sorted[:-1]))
        a_u, idx_u = a_sorted[first], order[first]
        pos = np.minimum(np.searchsorted(a_u, cand), a_u.size - 1)
        hit = a_u[pos] == cand
        cost[hit] = prev_cost[idx_u[pos[hit]]]
        back[hit] = idx_u[pos[hit]]
        return cost, back
    room = prev_a - m
    order = np.argsort(room, kind="stable")
    r_sorted, k_sorted = room[order], prev_cost[order]
    # suffix minimum of the key over room >= n, and where it is (the nearest of equals)
    rev = k_sorted[::-1]
    run = np.minimum.accumulate(rev)
    where = np.maximum.accumulate(np.where(rev <= run, np.arange(rev.size), 0))
    best = run[::-1]
    arg = order[(rev.size - 1 - where)[::-1]]
    pos = np.searchsorted(r_sorted, cand, side="left")
    ok = pos < r_sorted.size
    cost[ok] = best[pos[ok]]
    back[ok] = arg[pos[ok]]
    return cost, back


def exact_ipd(
    t: np.ndarray,
    s: np.ndarray,
    marks: np.ndarray,
    tau: np.ndarray,
    nr: np.ndarray,
    end_time: float,
    total_events: int | None = None,
    s_tol: float = SURVIVAL_TOL,
    time_tol: float = TIME_TOL,
) -> ExactIPD:
    """The IPD of the exact curve ``(t, s)`` with the censoring marks at ``marks`` (sorted, one per
    distinct censored time) and the numbers at risk ``nr`` at ``tau`` (from time 0; without a table
    ``[0]``, ``[N]``); patients left after the last mark are censored at ``end_time`` (module
    docstring). With ``total_events`` the IPD must have exactly that many. ``s_tol``: the corners'
    survival precision; ``time_tol``: the times' precision as a fraction of the time range (a file
    that writes coordinates more coarsely than the defaults assume needs them larger).

    Raises
    ------
    NotExact
        When no IPD reproduces every step height, mark and number at risk (the message says where).
    """
    span = max(float(t[-1]) if t.size else 0.0, float(tau[-1]), float(marks[-1]) if marks.size else 0.0)
    t_tol = time_tol * span if span > 0 else 0.0
    nodes = _nodes(t, s, marks, tau, nr, t_tol, s_tol)
    n_nodes = nodes.time.size
    # per node: the possible numbers at risk, the events of each, the way back, the score
    n_at: list[np.ndarray] = []
    d_at: list[np.ndarray] = []
    back_at: list[np.ndarray] = []
    cost = np.zeros(0)
    for i in range(n_nodes):
        has_drop = nodes.s_after[i] < nodes.s_before[i]
        risk = int(nodes.risk[i])
        m = nodes.marks_after[i - 1].size if i > 0 else 0
        hi = int(n_at[-1].max() - d_at[-1].min() - m) if i > 0 else risk
        if has_drop:
            cand, d, misfit = drop_candidates(float(nodes.s_before[i]), float(nodes.s_after[i]), hi, s_tol)
            if risk >= 0:
                keep = cand == risk
                cand, d, misfit = cand[keep], d[keep], misfit[keep]
        else:
            cand = np.array([risk] if 0 <= risk <= hi else [], np.int64)
            d, misfit = np.zeros(cand.size, np.int64), np.zeros(cand.size)
        if i == 0:
            arrive, back = np.zeros(cand.size), np.zeros(cand.size, np.int64)
        else:
            arrive, back = _arrive(n_at[-1] - d_at[-1], cost, m, cand)
        ok = np.isfinite(arrive)
        if not ok.any():
            what = f"the drop at {nodes.time[i]:g}" if has_drop else f"the risk time {nodes.time[i]:g}"
            published = f" ({risk} at risk published)" if risk >= 0 else ""
            raise NotExact(f"no number at risk at {what}{published} fits the step heights and marks before it")
        n_at.append(cand[ok])
        d_at.append(d[ok])
        back_at.append(back[ok])
        cost = arrive[ok] + misfit[ok] ** 2 + EVENT_COST * d[ok]
    # after the last node: everyone left is censored, one at least per mark there
    left = n_at[-1] - d_at[-1]
    m_last = nodes.marks_after[-1].size
    final = np.where(left >= m_last, cost, np.inf)
    if not np.isfinite(final).any():
        raise NotExact(f"fewer patients than marks ({m_last}) after {nodes.time[-1]:g}")
    # the best path, back from its end; and how many numbers at risk lie on some path at each node
    path = np.empty(n_nodes, np.int64)
    path[-1] = int(np.argmin(final))
    for i in range(n_nodes - 1, 0, -1):
        path[i - 1] = back_at[i][path[i]]
    alive = np.isfinite(final)
    ambiguous, first_ambiguous = 0, math.nan
    for i in range(n_nodes - 1, -1, -1):
        if alive.sum() > 1:
            ambiguous += 1
            first_ambiguous = float(nodes.time[i])
        if i == 0:
            break
        a_prev = n_at[i - 1] - d_at[i - 1]
        reach = n_at[i][alive]
        m = nodes.marks_after[i - 1].size
        alive = np.isin(a_prev, reach) if m == 0 else a_prev - m >= reach.min()
    n = np.array([n_at[i][path[i]] for i in range(n_nodes)], np.int64)
    d = np.array([d_at[i][path[i]] for i in range(n_nodes)], np.int64)
    censored = np.append(n[:-1] - d[:-1] - n[1:], n[-1] - d[-1])
    if total_events is not None and int(d.sum()) != total_events:
        raise NotExact(f"the curve holds {int(d.sum())} events, the published total is {total_events}")
    return _assemble(nodes, d, censored, end_time, t_tol, ambiguous, first_ambiguous)


def _assemble(
    nodes: _Nodes,
    d: np.ndarray,
    censored: np.ndarray,
    end_time: float,
    t_tol: float,
    ambiguous: int,
    first_ambiguous: float,
) -> ExactIPD:
    """The patients from the events per node and the censorings after each: one per mark and the
    rest shared evenly between the marks (after the last node: at the last mark when the curve ends
    there, else at ``end_time``)."""
    times = [np.repeat(nodes.time, d)]
    shared = at_last = survivors = 0
    last = nodes.time.size - 1
    for i, (mk, c) in enumerate(zip(nodes.marks_after, censored.tolist(), strict=True)):
        if c == 0:
            continue
        if mk.size == 0:  # (only after the last node: a gap without marks has no censorings)
            times.append(np.full(c, end_time))
            survivors += c
            continue
        extra = c - mk.size
        if i == last and extra and mk[-1] < end_time - t_tol:
            times += [mk, np.full(extra, end_time)]
            survivors += extra
        elif i == last:
            times += [mk, np.full(extra, mk[-1])]
            at_last += extra if mk.size > 1 else 0
        else:
            cum = np.rint(np.arange(1, mk.size + 1) * extra / mk.size + WHOLE_NUDGE).astype(np.int64)
            times.append(np.repeat(mk, 1 + np.diff(cum, prepend=0)))
            shared += extra if mk.size > 1 else 0
    n_ev = int(d.sum())
    time = np.concatenate(times)
    event = np.zeros(time.size, np.int8)
    event[:n_ev] = 1
    order = np.lexsort((1 - event, time))
    return ExactIPD(time[order], event[order], ambiguous, first_ambiguous, shared, at_last, survivors)
