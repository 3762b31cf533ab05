"""Meeting a published total number of events exactly, in the order that moves the curve least.

1. :func:`calibrate_intervals`: before the events are tracked, shift the risk intervals' events
   and censorings to the total (every published number at risk kept);
2. :func:`through_last_interval`: after tracking, keep more (or fewer) patients at risk in the
   free last interval, which turns the same drops into more (fewer) events;
3. :func:`flip_to_total`: flip event flags at unchanged times where that moves the KM least.

The engine runs the reconstruction with and without step 1 and keeps the one nearer the clicks.
"""

from __future__ import annotations

import math

import numpy as np

from meta_bm.reconstruction.censoring_placement import spread
from meta_bm.reconstruction.event_tracking import track_events
from meta_bm.reconstruction.result import km_steps
from meta_bm.reconstruction.risk_intervals import CurveGeometry

# Share of the patients kept at risk in the last interval who become events, assumed at least
# this: it is estimated by the curve's fall over the interval, which can be ~0 on a flat tail and
# would ask for unbounded removals.
MIN_TAIL_EVENT_SHARE = 0.05
# Rounds of adjusting the last interval's censorings and re-tracking the events (the share is an
# estimate, so the gap shrinks geometrically); what is left is closed by flip_to_total.
TAIL_ROUNDS = 4


def apportion(capacity: np.ndarray, k: int) -> np.ndarray:
    """Split ``k`` units over items in proportion to ``capacity`` (largest remainder, capped).

    >>> apportion(np.array([3, 1]), 2).tolist()
    [2, 0]
    """
    capacity = capacity.astype(np.int64)
    total = int(capacity.sum())
    if k <= 0 or total == 0:
        return np.zeros_like(capacity)
    exact = capacity * (k / total)
    share = np.floor(exact).astype(np.int64)
    rest = k - int(share.sum())
    if rest > 0:
        order = np.argsort(-(exact - share), kind="stable")
        share[order[:rest]] += 1
    return np.minimum(share, capacity)


def calibrate_intervals(events: list[int], censored: list[int], total: int) -> tuple[list[int], list[int]] | None:
    """Events and censorings per interval moved to meet ``total``, or None when nothing moved.

    The last interval's events are taken as they are; the difference is moved between events and
    censorings inside the risk intervals, in proportion to what each can give (censorings to
    turn into events, or events into censorings), so every published number at risk is kept.
    """
    diff = int(total - sum(events))
    if diff == 0:
        return None
    cap = np.array(censored[:-1] if diff > 0 else events[:-1], np.int64)
    k = min(abs(diff), int(cap.sum()))
    if k <= 0:
        return None
    sign = 1 if diff > 0 else -1
    cal_events, cal_censored = list(events), list(censored)
    for j, share in enumerate(apportion(cap, k).tolist()):
        cal_events[j] += sign * share
        cal_censored[j] -= sign * share
    return cal_events, cal_censored


def through_last_interval(
    g: CurveGeometry,
    d: np.ndarray,
    placed: np.ndarray,
    cens: np.ndarray,
    cens_last: np.ndarray,
    total: int,
    start: float,
    length: float,
    n_at_start: float,
    tail_share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move the tracked events toward ``total`` through the last interval's censorings.

    More (fewer) patients kept at risk there turn the same drops into more (fewer) events: about
    ``tail_share`` (the curve's relative fall over the interval, at least
    :data:`MIN_TAIL_EVENT_SHARE`) of each. Censorings are removed evenly across the interval, or
    added spread over it, and the events re-tracked, for up to :data:`TAIL_ROUNDS` rounds.
    Returns events per click and the risk intervals' and last interval's censoring times.
    """
    share = max(tail_share, MIN_TAIL_EVENT_SHARE)
    first_last = int(g.first[g.last_j])
    for _ in range(TAIL_ROUNDS):
        diff = int(total - d.sum())
        if diff == 0:
            break
        k = math.ceil(abs(diff) / share)
        if diff > 0:
            if cens_last.size == 0:
                break
            keep = np.ones(cens_last.size, bool)
            keep[np.linspace(0, cens_last.size - 1, min(k, cens_last.size)).astype(np.int64)] = False
            cens_last = np.sort(cens_last)[keep]
        else:
            room = int(n_at_start - d[first_last:].sum() - cens_last.size)
            k = min(k, room)
            if k <= 0:
                break
            add = spread(np.array([start]), np.array([length]), np.array([k]))
            cens_last = np.sort(np.concatenate((cens_last, add)))
        d, cens, cens_last = track_events(g, placed, cens_last)
    return d, cens, cens_last


def flip_to_total(times: np.ndarray, events: np.ndarray, total: int, end_time: float) -> np.ndarray:
    """Flip event flags (same times, so every number at risk is unchanged) to meet ``total`` exactly.

    A flip at time t moves the KM after t by about ``S(t) / n(t)``, so it shifts the area under the
    curve by ``int_t^end S(u) du / n(t)``; the flips go where that is smallest, which keeps the
    reconstructed curve nearest the clicks. Patients censored at the end of follow-up (a flip
    there would draw a drop the figure does not show) are used last.
    """
    diff = int(total - events.sum())
    if diff == 0:
        return events
    events = events.copy()
    order = np.argsort(times, kind="stable")
    ts, es = times[order], events[order]
    n = ts.size
    at_risk = n - ts.searchsorted(ts, side="left")
    km_t, km_s = km_steps(ts, es.astype(np.int64))
    # area under the KM from each patient's time to the end of follow-up
    edges = np.concatenate((km_t, [end_time]))
    pieces = np.concatenate(([1.0], km_s))[1:] * np.maximum(np.diff(edges), 0.0)
    tail = np.concatenate((pieces[::-1].cumsum()[::-1], [0.0]))
    k_of = km_t.searchsorted(ts, side="right")  # first KM step after each time
    level = np.concatenate(([1.0], km_s))[k_of]
    area_after = tail[k_of] + level * np.maximum(edges[k_of] - ts, 0.0)
    cost = area_after / np.maximum(at_risk, 1)
    if diff > 0:
        cand = np.flatnonzero(es == 0)
        cost = cost + np.where(ts >= end_time, np.inf, 0.0)  # end-of-follow-up censorings last
    else:
        cand = np.flatnonzero(es == 1)
    k = min(abs(diff), cand.size)
    if k:
        pick = cand[np.argsort(cost[cand], kind="stable")[:k]]
        events[order[pick]] = 1 if diff > 0 else 0
    return events
