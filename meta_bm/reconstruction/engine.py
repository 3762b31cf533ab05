"""Reconstruct individual patient data from a digitized Kaplan–Meier curve (after Guyot et al. 2012).

This module is the recipe; each step lives in a module of its own:

1. :mod:`~meta_bm.reconstruction.cleaning`: the clicks made a non-increasing step curve;
2. :mod:`~meta_bm.reconstruction.risk_intervals`: the risk table started at time 0, clicks just
   before a risk time snapped onto it, and per interval the censoring that meets the next
   published number at risk in closed form (Guyot's search, exact); the expected events per click
   follow, and are made whole (:func:`~meta_bm.reconstruction.risk_intervals.allocate`);
3. :mod:`~meta_bm.reconstruction.last_interval`: after the last risk time (or over the whole curve
   without a table) the censoring is fitted from the step heights
   (:mod:`~meta_bm.reconstruction.censoring`) and its censorings put at the model's quantiles;
4. :mod:`~meta_bm.reconstruction.censoring_placement` and
   :mod:`~meta_bm.reconstruction.event_tracking`: the censorings inside each risk interval placed
   from the step heights, the events per click tracked from the actual risk set so the KM stays on
   the clicks (Guyot's step), alternated, for each weight of the placement's prior; the candidate
   nearest the clicks is kept. When the curve falls further than the table allows, events are
   capped at the table's decrease and a warning says so;
   With the censoring marks' times (``censor_times``), :mod:`~meta_bm.reconstruction.censor_marks`
   puts the censorings at the marks instead, the number at each still read from the step heights;
   with exact corners and marks (``exact_marks``), :mod:`~meta_bm.reconstruction.exact_path` reads
   the IPD off exactly instead of steps 2-5 (they run only when no IPD fits exactly);
5. :mod:`~meta_bm.reconstruction.total_events`: a published total of events is met exactly, with
   and without calibrating it in before tracking; the way nearer the clicks (fidelity RMSE) is kept;
6. :mod:`~meta_bm.reconstruction.result`: the IPD with its fidelity figures.

The sequential loops are numba kernels (:mod:`~meta_bm.reconstruction.jit`); everything else is
numpy. ``NUMBA_DISABLE_JIT=1`` runs the same code as plain Python and gives the same outputs, bit
for bit (the golden snapshot test checks both).

Example
-------
>>> import numpy as np
>>> from meta_bm.reconstruction import reconstruct_arrays
>>> r = reconstruct_arrays([0, 2, 2, 5, 5, 8], [1, 1, .9, .9, .75, .75],
...                        risk_time=[0, 4], n_risk=[20, 16])
>>> int(r.event.sum()), int(r.time.size)
(4, 20)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meta_bm.errors import MAX_CLICKS, MAX_N, MAX_RISK_ROWS, InputError
from meta_bm.reconstruction.censor_marks import (
    best_mark_placement,
    check_censor_marks,
    place_at_marks,
    snap_to_drops,
    survivors_at_marks,
)
from meta_bm.reconstruction.censoring import CensoringModel
from meta_bm.reconstruction.cleaning import CleanCurve, clean_clicks
from meta_bm.reconstruction.event_tracking import PLACEMENT_PASSES, PRIOR_WEIGHTS, best_placement
from meta_bm.reconstruction.exact_path import NotExact, exact_ipd
from meta_bm.reconstruction.last_interval import LastInterval, fit_last_interval
from meta_bm.reconstruction.parsing import (
    CensorMarks,
    Clicks,
    RiskTable,
    check_count,
    clicks_from_arrays,
    risk_table_from_arrays,
)
from meta_bm.reconstruction.result import (
    RECONSTRUCTION_VERSION,
    Fidelity,
    Reconstruction,
    count_per_interval,
    fidelity,
    ipd_arrays,
)
from meta_bm.reconstruction.risk_intervals import (
    ZERO_SURVIVAL,
    CurveGeometry,
    IntervalFit,
    allocate,
    fit_intervals,
    snap_to_risk_times,
    table_from_zero,
)
from meta_bm.reconstruction.total_events import calibrate_intervals, flip_to_total, through_last_interval

# The censoring model of an exact reconstruction: every censoring sits at a mark, none is modelled.
EXACT_CENSORING = CensoringModel(1.0, np.inf, "none: censorings at the exact censoring marks")

__all__ = ["RECONSTRUCTION_VERSION", "Fidelity", "Reconstruction", "fidelity", "reconstruct", "reconstruct_arrays"]


@dataclass(frozen=True)
class _Problem:
    """One curve's inputs, checked and prepared: the cleaned clicks (``t`` snapped to risk times,
    ``s`` with tiny survival taken as 0), the risk table from time 0 (``tau``, ``nr``) and what
    was published; ``marks``: the censoring marks' times (sorted), when known, and whether they are
    exact (read from a vector drawing)."""

    curve: CleanCurve
    risk_table: RiskTable | None
    total_n: int | None
    total_events: int | None
    t: np.ndarray
    s: np.ndarray
    tau: np.ndarray
    nr: np.ndarray
    marks: np.ndarray | None = None
    exact_marks: bool = False


def _check_entry(
    curve: CleanCurve | Clicks, risk_table: RiskTable | None, total_n: object, total_events: object
) -> None:
    """Entry-point checks of :func:`reconstruct`: types and plausibility limits (:mod:`meta_bm.errors`).

    Only refuses input; it never changes what valid input gives.
    """
    if not isinstance(curve, (Clicks, CleanCurve)):
        raise InputError(f"the curve must be Clicks or a CleanCurve, not {type(curve).__name__}")
    src = curve.source
    # (a cleaned curve may have gained the origin)
    if len(curve) > MAX_CLICKS + (1 if isinstance(curve, CleanCurve) else 0):
        raise InputError(f"{len(curve):,} clicks, above the limit of {MAX_CLICKS:,} per curve", src)
    if total_n is not None:
        check_count(total_n, "total N", src, minimum=1)
    if total_events is not None:
        check_count(total_events, "total events", src)
    if risk_table is not None:
        if not isinstance(risk_table, RiskTable):
            raise InputError(f"the risk table must be a RiskTable, not {type(risk_table).__name__}", src)
        rsrc = risk_table.source
        if len(risk_table) > MAX_RISK_ROWS:
            raise InputError(f"{len(risk_table):,} risk table rows, above the limit of {MAX_RISK_ROWS:,}", rsrc)
        if len(risk_table) and int(np.max(risk_table.n_risk)) > MAX_N:
            raise InputError(f"a number at risk is above the limit of {MAX_N:,} patients per curve", rsrc)


def reconstruct(
    curve: CleanCurve | Clicks,
    risk_table: RiskTable | None = None,
    total_n: int | None = None,
    total_events: int | None = None,
    censor_times: CensorMarks | np.ndarray | list[float] | None = None,
    exact_marks: bool = False,
) -> Reconstruction:
    """Reconstruct IPD from a digitized KM curve.

    Parameters
    ----------
    curve:
        Parsed :class:`Clicks` (cleaned here) or an already cleaned :class:`CleanCurve`.
    risk_table:
        Published numbers at risk, optional.
    total_n:
        Number of patients; required without a risk table, and when the risk table starts after 0.
    total_events:
        Published total events, optional; when given the IPD has exactly this many events.
    censor_times:
        The times of the censoring marks drawn on the curve (:class:`CensorMarks` or a sequence;
        any order, a time twice for two marks on one spot), optional. Each mark is a censored
        time: the censorings are put at the marks (at least one each when the numbers allow), the
        number at each read from the step heights (:mod:`~meta_bm.reconstruction.censor_marks`).
    exact_marks:
        The curve's corners and the marks' times are exact (read from a vector PDF), not read with
        pixel error: the IPD is then read off exactly (:mod:`~meta_bm.reconstruction.exact_path`:
        whole events and numbers at risk reproducing every step height, one censoring at least per
        mark, every number at risk met); when no IPD does, a warning says why and the general path
        runs, where a mark just before a drop stays before it instead of being taken as censored
        at the drop's time (:data:`~meta_bm.reconstruction.censor_marks.MARK_SNAP`).

    Returns
    -------
    Reconstruction

    Raises
    ------
    InputError
        On input outside the plausibility limits of :mod:`meta_bm.errors` (N, counts, clicks), a
        curve with no patients at time 0, or a risk table starting after 0 that cannot imply a
        plausible N (give ``total_n`` then); censoring marks at negative times or after the
        curve's end.
    """
    _check_entry(curve, risk_table, total_n, total_events)
    if isinstance(curve, Clicks):
        curve = clean_clicks(curve)
    src = curve.source
    marks = None if censor_times is None else check_censor_marks(censor_times, float(curve.time[-1]), src)
    warnings: list[str] = []
    s = curve.survival
    if s.size and s.min() < ZERO_SURVIVAL:
        s = np.where(s < ZERO_SURVIVAL, 0.0, s)
    tau, nr = table_from_zero(curve.time, s, risk_table, total_n, src, warnings)
    if nr[0] < 1 and total_n is None:
        raise InputError(
            f"the risk table gives no patients at time 0 (N = {nr[0]}); a curve needs at least one",
            risk_table.source if risk_table is not None else src,
            int(risk_table.rows[0]) if risk_table is not None and len(risk_table) else None,
        )
    if total_events is not None and not (0 <= total_events <= nr[0]):
        raise InputError(f"total events {total_events} is outside 0..{nr[0]} (the number of patients)", src)
    if exact_marks and marks is not None:
        read_off = _exact_reconstruction(curve, risk_table, total_n, total_events, s, marks, tau, nr, warnings)
        if read_off is not None:
            return read_off
    t = snap_to_risk_times(curve.time, s, tau, nr, warnings)
    if marks is not None and not exact_marks:
        marks = snap_to_drops(marks, t, s)
    exact = exact_marks and marks is not None
    problem = _Problem(curve, risk_table, total_n, total_events, t, s, tau, nr, marks, exact)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if total_events is None:
            return _reconstruct(problem, warnings, calibrate=False)[0]
        # The total can be met two ways: calibrated in before the events are tracked, or only after
        # (through the free last interval, then flags flipped). Both meet every published figure;
        # the one that stays nearer the clicks is kept.
        results = _reconstruct(problem, list(warnings), calibrate=True)
        if tau.size == 1:
            # (without a risk table the calibrated way fitted the censoring to the total: the other
            # way needs a fit of its own; with one, _reconstruct already ran both when they differ)
            results += _reconstruct(problem, warnings, calibrate=False)
        return min(results, key=lambda r: r.fidelity.rmse)


def _exact_reconstruction(
    curve: CleanCurve,
    risk_table: RiskTable | None,
    total_n: int | None,
    total_events: int | None,
    s: np.ndarray,
    marks: np.ndarray,
    tau: np.ndarray,
    nr: np.ndarray,
    warnings: list[str],
) -> Reconstruction | None:
    """The IPD read exactly off an exact curve with exact marks (:mod:`~meta_bm.reconstruction.exact_path`),
    or None, with a warning saying why, when no IPD reproduces them exactly (the general path then runs)."""
    end_time = max(float(curve.time[-1]), float(tau[-1]))
    try:
        found = exact_ipd(curve.time, s, marks, tau, nr, end_time, total_events)
    except NotExact as exc:
        warnings.append(
            f"the curve and its censoring marks, read as exact, admit no exact IPD ({exc}; the plotting program "
            "may have simplified the curve); reconstructed by the general method"
        )
        return None
    times, event = found.time, found.event
    warnings = warnings + found.notes(end_time)
    events_per, censored_per = count_per_interval(times, event, tau)
    intervals = {
        "start": tau,
        "end": np.append(tau[1:], end_time),
        "n_risk_start": nr.astype(np.int64),
        "n_risk_end_published": np.append(nr[1:], 0).astype(np.int64),
        "events": events_per,
        "censored": censored_per,
        "capped": np.zeros(tau.size, np.bool_),
    }
    return Reconstruction(
        time=times,
        event=event,
        curve=curve,
        interval_data=intervals,
        censoring=EXACT_CENSORING,
        warnings=warnings,
        fidelity=fidelity(times, event, curve, risk_table, total_events),
        inputs={"total_n": total_n, "total_events": total_events, "n_clicks": len(curve)}
        | {"n_censor_marks": int(marks.size), "exact_path": True},
    )


def _reconstruct(p: _Problem, warnings: list[str], calibrate: bool) -> list[Reconstruction]:
    """The reconstruction, or with ``calibrate`` the ways of meeting the published total that share
    the last interval's fit: calibrated into the risk intervals (without a risk table: into the
    censoring fitted over the whole curve), and, when that moved anything, met only after the
    events are tracked."""
    g, fit = fit_intervals(p.t, p.s, p.tau, p.nr)
    last_j = g.last_j
    # Calibrating the last interval after a risk table to the interval counts' expectation moved
    # the curve more than it helped: the total is used there only without a risk table.
    target = float(p.total_events) if calibrate and last_j == 0 else None
    last = fit_last_interval(p.curve, g, fit, target)
    drop = np.zeros(p.nr.size, np.int64)
    drop[:last_j] = p.nr[:-1] - p.nr[1:]
    censored = fit.censored.tolist()
    if p.exact_marks:
        # Each exact mark is at least one censoring: the closed form assumed censoring spread evenly
        # and can count fewer in an interval than it has marks (the curve itself is exact there).
        assert p.marks is not None
        per_interval = np.bincount(np.searchsorted(p.tau, p.marks, side="right") - 1, minlength=p.tau.size)
        censored = [min(max(c, int(per_interval[j])), int(drop[j])) for j, c in enumerate(censored)]
    events = [int(drop[j]) - censored[j] for j in range(last_j)] + [last.events]
    for j in np.flatnonzero(fit.capped).tolist():
        warnings.append(
            f"interval {p.tau[j]:g}-{p.tau[j + 1]:g}: the curve falls by about "
            f"{float(fit.expected_events[g.j_of == j].sum()):.1f} events but the risk table drops only from "
            f"{p.nr[j]} to {p.nr[j + 1]}; events were capped at {drop[j]} (clicks and risk table disagree)"
        )
    calibrated = calibrate_intervals(events, censored, p.total_events) if calibrate else None
    if calibrated is None:
        return [_finish(p, g, fit, last, drop, events, censored, warnings)]
    return [
        _finish(p, g, fit, last, drop, *calibrated, list(warnings)),
        _finish(p, g, fit, last, drop, events, censored, warnings),
    ]


def _finish(
    p: _Problem,
    g: CurveGeometry,
    fit: IntervalFit,
    last: LastInterval,
    drop: np.ndarray,
    events: list[int],
    censored: list[int],
    warnings: list[str],
) -> Reconstruction:
    """The IPD from the events and censorings per interval: whole events per click, censorings
    placed and events tracked, the published total met, and the fidelity figures."""
    last_j = g.last_j
    d_int = allocate(fit.expected_events, g.j_of, np.array(events, float))
    # How far the placement trusts the step heights over its prior is chosen per curve (only the
    # risk intervals have a prior): the candidate nearest the clicks is kept.
    weights = np.array(PRIOR_WEIGHTS if last_j > 0 else PRIOR_WEIGHTS[:1])
    marked = None
    if p.marks is None:
        d_int, cens, cens_last, placed = best_placement(
            g,
            d_int,
            np.array(censored, np.int64),
            drop,
            last.censor_times,
            weights,
            PLACEMENT_PASSES,
            p.curve.time,
            p.curve.survival,
        )
    else:
        d_int, marked = best_mark_placement(
            g,
            d_int,
            np.array(censored, np.int64),
            drop,
            p.marks,
            tuple(weights.tolist()),
            PLACEMENT_PASSES,
            p.curve.time,
            p.curve.survival,
        )
        cens, cens_last, placed = marked.cens, marked.cens_last, marked.cens
    s_b_last = float(fit.s_b[last_j])
    if p.total_events is not None and last.length > 0 and s_b_last > 0:
        tail_share = 1.0 - float(p.s[-1]) / s_b_last
        d_int, cens, cens_last = through_last_interval(
            g, d_int, placed, cens, cens_last, p.total_events, last.start, last.length, last.n_at_start, tail_share
        )
        if marked is not None:
            # the censorings it added or took away were spread evenly: back onto the marks, for the
            # events it tracked (the risk intervals' are unchanged)
            counts = np.array(censored, np.int64)  # (only the last interval's, which reads d_int, is used)
            cens_last = place_at_marks(g, d_int, counts, p.marks, marked.prior_weight)[1]
    end_time = max(float(p.t[-1]), float(p.tau[-1]))
    survivors = int(last.n_at_start - d_int[last.first :].sum() - cens_last.size)
    if marked is not None:
        cens_last, survivors = _survivors_at_marks(p, g, last, d_int, cens_last, survivors, end_time, warnings)
        warnings += marked.warnings(g.tau, end_time)
    times, event = ipd_arrays(p.t, d_int, cens, cens_last, max(survivors, 0), end_time)
    flipped = 0
    if p.total_events is not None:
        before = int(d_int.sum())
        event = flip_to_total(times, event, p.total_events, end_time)
        flipped = abs(int(event.sum()) - before)
        if flipped:
            warnings.append(
                f"to meet the published total of {p.total_events} events, {flipped} patient(s) were recorded as "
                f"{'events instead of censored' if p.total_events > before else 'censored instead of events'} "
                "at unchanged times (every number at risk unchanged)"
            )
    # by time, events before censorings at the same time: with the events still first in the array
    # (nothing flipped) a stable sort on time alone gives that order
    order = np.lexsort((1 - event, times)) if flipped else np.argsort(times, kind="stable")
    times, event = times[order], event[order]

    events_per, censored_per = count_per_interval(times, event, g.tau)
    intervals = {
        "start": g.tau,
        "end": np.append(g.tau[1:], end_time),
        "n_risk_start": g.nr.astype(np.int64),
        "n_risk_end_published": np.append(g.nr[1:], 0).astype(np.int64),
        "events": events_per,
        "censored": censored_per,
        "capped": fit.capped,
    }
    n_events = int(events_per.sum())
    if p.total_events is not None and n_events != p.total_events:
        warnings.append(f"reconstructed {n_events} events, published {p.total_events}")
    return Reconstruction(
        time=times,
        event=event,
        curve=p.curve,
        interval_data=intervals,
        censoring=last.model,
        warnings=warnings,
        fidelity=fidelity(times, event, p.curve, p.risk_table, p.total_events),
        inputs={"total_n": p.total_n, "total_events": p.total_events, "n_clicks": len(p.curve)}
        | ({} if p.marks is None else {"n_censor_marks": int(p.marks.size)}),
    )


def _survivors_at_marks(
    p: _Problem,
    g: CurveGeometry,
    last: LastInterval,
    d: np.ndarray,
    cens_last: np.ndarray,
    survivors: int,
    end_time: float,
    warnings: list[str],
) -> tuple[np.ndarray, int]:
    """The patients alive after the last drop censored at the marks after it (rather than all at
    the curve's end); those left without a mark stay at the end, with a warning."""
    assert p.marks is not None
    dropped = np.flatnonzero(d[last.first :] > 0)
    after = float(g.t[last.first + dropped[-1]]) if dropped.size else last.start
    cens_last, left = survivors_at_marks(cens_last, p.marks, after, survivors)
    if left > 0:
        warnings.append(
            f"{left} patient(s) still at risk after the last drop at {after:g} were censored at the curve's end "
            f"({end_time:g}): no censoring mark follows the last drop"
        )
    return cens_last, left


def reconstruct_arrays(
    time,
    survival,
    risk_time=None,
    n_risk=None,
    total_n: int | None = None,
    total_events: int | None = None,
    y_scale: str = "auto",
    source: str = "<arrays>",
    censor_times=None,
    exact_marks: bool = False,
) -> Reconstruction:
    """Python API: reconstruct from sequences (clicks, optional risk table, optional censoring
    marks' times) without files."""
    clicks = clicks_from_arrays(time, survival, source, y_scale)  # type: ignore[arg-type]
    table = None
    if risk_time is not None or n_risk is not None:
        if risk_time is None or n_risk is None:
            raise InputError("give both risk_time and n_risk", source)
        table = risk_table_from_arrays(risk_time, n_risk, source)
    return reconstruct(
        clicks, table, total_n=total_n, total_events=total_events, censor_times=censor_times, exact_marks=exact_marks
    )
