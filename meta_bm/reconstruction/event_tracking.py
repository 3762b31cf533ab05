"""Whole events per click from the reconstructed risk set (Guyot's event step), and the search
over censoring placements that keeps the reconstructed KM nearest the clicks.

At each click ``d = round(n * (1 - S_click / KM))`` with ``n`` the reconstructed number at risk and
``KM`` the reconstructed curve so far, so the reconstruction follows the clicks; each risk
interval's censorings are then topped up or trimmed so every published number at risk holds.
Placement (:mod:`meta_bm.reconstruction.censoring_placement`) and tracking are alternated until
nothing changes, once per weight of the placement's prior, and the candidate whose KM stays
nearest the clicks is kept. All loops here are kernels (:mod:`meta_bm.reconstruction.jit`).
"""

from __future__ import annotations

import numpy as np

from meta_bm.reconstruction.censoring_placement import place_censoring, spread_into
from meta_bm.reconstruction.jit import kernel
from meta_bm.reconstruction.result import click_errors, product_limit_kernel
from meta_bm.reconstruction.risk_intervals import CurveGeometry

# Rounds of censoring placement and event tracking after the first: each reads the step heights
# with the events the previous round tracked, stopping early once nothing changes (4 rounds: area
# 0.00301 -> 0.00298 careful, --pairs 60; 8 change little more).
PLACEMENT_PASSES = 4
# Weights of the placement's prior (relative to its default) tried on every curve with a risk table;
# the reconstruction nearest the clicks is kept (careful area 0.00275 -> 0.00254, sloppy 0.00501 ->
# 0.00477, --pairs 60; five weights gained 0.00004 more, at 0.03 ms a weight).
PRIOR_WEIGHTS = (1.0, 0.2, 5.0)


@kernel
def ascending(a: np.ndarray) -> np.ndarray:
    """``a`` if it is sorted ascending, else a sorted copy."""
    for i in range(1, a.size):
        if a[i] < a[i - 1]:
            return np.sort(a)
    return a


@kernel
def track_events(
    g: CurveGeometry, cens: np.ndarray, cens_last: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole events per click from the actual risk set and KM, then censorings adjusted so every
    published number at risk still holds.

    ``d = round(n (1 - S_click / KM))`` (half to even), capped so the next published number at
    risk stays reachable. Each interval's censorings are then ``n_j - n_{j+1} - events``: missing
    ones are spread evenly after the interval's last click, surplus ones removed from its end.
    ``cens``, ``cens_last``: the risk intervals' and the last interval's censoring times. Returns
    events per click, the risk intervals' censoring times, the last one's.
    """
    t, s, first, tau, nr, last_j = g.t, g.s, g.first, g.tau, g.nr, g.last_j
    # (the placements come sorted, the risk intervals' before the last one's: sorted only if not)
    cens = ascending(cens)
    cens_last = ascending(cens_last)
    all_c = np.concatenate((cens, cens_last))
    if cens.size and cens_last.size and cens[-1] > cens_last[0]:
        all_c = np.sort(all_c)
    c_before = np.searchsorted(all_c, t)  # censored strictly before each click
    c_tau = np.searchsorted(all_c, tau)
    n_int = nr.size
    d = np.zeros(t.size, np.int64)
    ev_per = np.zeros(n_int, np.int64)
    km = 1.0
    for j in range(n_int):
        if km <= 0.0:  # the KM only falls: no events from here on
            break
        floor_ = nr[j + 1] if j < last_j else 0
        # at risk before click k: base - c_before[k], base = start of the interval + the
        # censorings before it (counted in c_before) - the interval's events so far
        base = nr[j] + c_tau[j]
        for k in range(max(first[j], 1), first[j + 1]):
            n_k = base - c_before[k]
            if n_k <= 0:
                continue
            dk = int(np.rint(n_k * (1.0 - s[k] / km)))
            if dk > n_k - floor_:
                dk = n_k - floor_
            if dk > 0:
                d[k] = dk
                ev_per[j] += dk
                base -= dk
                km *= 1.0 - dk / n_k
                if km <= 0.0:
                    break
    # each risk interval's censorings (sorted, so an interval's are one slice)
    cut = np.searchsorted(cens, tau)
    need = np.zeros(n_int, np.int64)
    for j in range(last_j):
        need[j] = max(nr[j] - nr[j + 1] - ev_per[j], 0)
    new_cens = np.empty(need.sum())
    at = np.int64(0)  # (a plain int64, not the literal 0: spread_into compiles once)
    for j in range(last_j):
        have = min(cut[j + 1] - cut[j], need[j])
        new_cens[at : at + have] = cens[cut[j] : cut[j] + have]
        at += have
        if need[j] > have:
            start = t[first[j + 1] - 1] if first[j + 1] > first[j] else tau[j]  # after its last click
            at = spread_into(new_cens, at, start, tau[j + 1] - start, need[j] - have)
    room = max(nr[last_j] - ev_per[last_j], 0)
    return d, new_cens, cens_last[:room]


@kernel
def censored_given_events(g: CurveGeometry, d: np.ndarray, drop: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each risk interval's censorings once its events are ``d`` (per click): the table's decrease
    ``drop`` minus them, at least 0; the last interval's entry of ``counts`` is kept."""
    ev_j = np.zeros(g.nr.size, np.int64)
    for k in range(g.t.size):
        ev_j[g.j_of[k]] += d[k]
    out = counts.copy()
    for j in range(g.last_j):
        out[j] = max(drop[j] - ev_j[j], 0)
    return out


@kernel
def place_and_track(
    g: CurveGeometry,
    d_int: np.ndarray,
    c_int: np.ndarray,
    drop: np.ndarray,
    c_last: np.ndarray,
    prior_weight: float,
    passes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Censorings placed in the risk intervals, then the events that keep the reconstructed KM on
    the clicks given them; placed again with the tracked events and the censoring counts they
    leave, up to ``passes`` more times, until nothing changes.

    ``d_int``, ``c_int``: the expected events per click and censorings per interval to start
    from; ``drop``: each interval's decrease in the number at risk. Returns events per click, the
    risk intervals' and the last interval's censoring times, and the placement used.
    """
    placed = place_censoring(g, d_int, c_int, prior_weight)
    d, c_times, c_now_last = track_events(g, placed, c_last)
    d_prev, c_prev = d_int, c_int
    for _ in range(passes):
        c_now = censored_given_events(g, d, drop, c_int)
        if np.array_equal(c_now, c_prev) and np.array_equal(d, d_prev):
            break
        d_prev, c_prev = d, c_now
        placed = place_censoring(g, d, c_now, prior_weight)
        d, c_times, c_now_last = track_events(g, placed, c_last)
    return d, c_times, c_now_last, placed


@kernel
def best_placement(
    g: CurveGeometry,
    d_int: np.ndarray,
    c_int: np.ndarray,
    drop: np.ndarray,
    c_last: np.ndarray,
    weights: np.ndarray,
    passes: int,
    ct: np.ndarray,
    cs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`place_and_track` with each prior weight in ``weights``; with more than one, the
    result whose KM stays nearest the clicks ``(ct, cs)`` (:func:`mean_click_error`; the first of
    equals) is kept."""
    best = place_and_track(g, d_int, c_int, drop, c_last, weights[0], passes)
    if weights.size == 1:
        return best
    n0 = g.nr[0]
    best_err = mean_click_error(g.t, best[0], best[1], best[2], n0, ct, cs)
    for w in weights[1:]:
        cand = place_and_track(g, d_int, c_int, drop, c_last, w, passes)
        err = mean_click_error(g.t, cand[0], cand[1], cand[2], n0, ct, cs)
        if err < best_err:
            best, best_err = cand, err
    return best


@kernel
def km_of_tracked(t: np.ndarray, d: np.ndarray, cens: np.ndarray, n0: int) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier steps (event times, survival after each) of ``n0`` patients with ``d[k]`` events
    at click time ``t[k]`` (sorted) and censorings at the sorted times ``cens`` (the rest censored
    later), without building the IPD. Censorings at an event time count as at risk there."""
    km_t = np.empty(t.size)
    n_at = np.empty(t.size, np.int64)
    d_at = np.empty(t.size, np.int64)
    m, dead, k = 0, 0, 0
    while k < t.size:
        j, dk = k, 0
        while j < t.size and t[j] == t[k]:
            dk += d[j]
            j += 1
        if dk > 0:
            km_t[m], n_at[m], d_at[m] = t[k], n0 - dead - np.searchsorted(cens, t[k]), dk
            m += 1
            dead += dk
        k = j
    return km_t[:m], product_limit_kernel(n_at[:m], d_at[:m])


@kernel
def mean_click_error(
    t: np.ndarray, d: np.ndarray, c_times: np.ndarray, c_last: np.ndarray, n0: int, ct: np.ndarray, cs: np.ndarray
) -> float:
    """Mean over the clicks ``(ct, cs)`` of :func:`~meta_bm.reconstruction.result.click_errors` for
    the KM of tracked events ``d`` at the click times ``t`` and the censoring times ``c_times``,
    ``c_last`` (summed in click order, so compiled and pure Python agree to the bit)."""
    if ct.size == 0:
        return 0.0
    km_t, km_s = km_of_tracked(t, d, ascending(np.concatenate((c_times, c_last))), n0)
    err = click_errors(km_t, km_s, ct, cs)
    total = 0.0
    for e in err:
        total += e
    return total / err.size
