"""Reconstruct individual patient data from a cleaned Kaplan–Meier curve (after Guyot et al. 2012).

The method, per interval ``[tau_j, tau_{j+1})`` between published risk times:

* Censoring inside an interval is spread uniformly over the whole interval (up to the next risk
  time, not the last click). With ``c`` censorings, the expected number at risk just before time t
  is ``n_j * S(t-)/S(tau_j-) - (c/L) * S(t-) * F(t)``, where ``F(t) = int_{tau_j}^t du / S(u)``, and
  the events at a click that lowers S by ``delta`` are ``n(t-) * delta / S(t-)``. This is linear in
  ``c``, so the censoring that reproduces the next published number at risk is solved in closed
  form (Guyot's fixed-point search, without its iterations or its cap).
* Counts are made whole: ``c`` is rounded, the interval's events are ``n_j - n_{j+1} - c`` (so the
  published number at risk is met exactly), and they are allocated to the clicks by rounding the
  cumulative expected events. This is the starting point only:
* the censoring times inside each interval are placed from the step heights (a drop of ``d``
  events at risk ``n`` measures ``n``), with a prior that follows the shrinking risk set and the
  censoring hazard of the neighbouring intervals (:func:`_place_censoring`);
* the events per click are then tracked from the actual risk set so the reconstructed KM stays on
  the clicks (Guyot's step), each interval's censorings topped up or trimmed to keep every
  published number at risk; placement and tracking are repeated with the tracked events
  (:data:`PLACEMENT_PASSES`). This runs once per weight of the placement's prior
  (:data:`PRIOR_WEIGHTS`), and the reconstruction whose curve stays nearest the clicks (mean
  distance as drawn) is kept.
* When the curve falls further than the risk table allows, events are capped at the table's
  decrease and a warning says so; nothing drifts silently.
* After the last risk time (or over the whole curve without a risk table) the censoring is fitted
  from the step heights (:mod:`meta_bm.reconstruction.censoring`), and patients still at risk at
  the last click are censored there.
* A given total number of events is met exactly: first through the free last interval, then by
  turning censorings into events (or back) at unchanged times, where that moves the curve least,
  which keeps every published number at risk. The total can also be calibrated in before the
  events are tracked (the risk intervals' events and censorings shifted to it; without a risk
  table, the censoring fitted to the step heights); when that changes anything both ways are run
  and the one whose curve stays nearer the clicks (fidelity RMSE) is kept.

Steps over all clicks are vectorized (numpy); the sequential loops (Guyot's event tracking, the
censoring placement) are compiled with numba (``cache=True``: compiled once per machine, then loaded
from ``__pycache__``). The result carries the IPD and its fidelity figures.

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

import math
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numba import njit

from meta_bm.errors import MAX_CLICKS, MAX_N, MAX_RISK_ROWS, MIN_SURVIVAL_FOR_IMPLIED_N, InputError
from meta_bm.reconstruction.censoring import CensoringModel, fit_censoring
from meta_bm.reconstruction.cleaning import CleanCurve, clean_clicks
from meta_bm.reconstruction.isotonic import pav_increasing
from meta_bm.reconstruction.parsing import (
    Clicks,
    RiskTable,
    check_count,
    clicks_from_arrays,
    risk_table_from_arrays,
)
from meta_bm.survival.km import quantile_time

# Bumped whenever the same inputs give different IPD: it is the reconstructed assets' code version,
# so Dagster marks them stale. 1.1: swapped corners paired, not clustered; published totals met the
# way that stays nearer the clicks with a risk table too.
RECONSTRUCTION_VERSION = "1.1.0"


@dataclass(frozen=True)
class Fidelity:
    """How closely the reconstruction reproduces its inputs.

    ``rmse``, ``mean_abs_error`` and ``max_abs_error`` compare each cleaned click with the
    reconstructed KM curve *as drawn*: the distance from the click to the curve's value at that
    time, taking a vertical drop as a segment (so the top corner of a drop is not an error).
    RMSE divides by the number of clicks. ``risk_table`` lists published vs reconstructed numbers
    at risk at each published time.
    """

    n_clicks: int
    rmse: float
    mean_abs_error: float
    max_abs_error: float
    max_error_time: float
    n_patients: int
    events: int
    events_published: int | None
    median: float
    median_digitized: float
    risk_table_data: dict[str, np.ndarray]

    @property
    def risk_table(self) -> pl.DataFrame:
        """Published vs reconstructed numbers at risk (``time, published, reconstructed, difference``)."""
        return pl.DataFrame(
            self.risk_table_data,
            schema={"time": pl.Float64, "published": pl.Int64, "reconstructed": pl.Int64, "difference": pl.Int64},
        )

    def as_dict(self) -> dict[str, float | int | None]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "risk_table_data"}
        diff = self.risk_table_data["difference"]
        d["risk_table_max_abs_diff"] = int(np.abs(diff).max()) if diff.size else None
        return d

    def summary(self) -> str:
        lines = [
            f"patients {self.n_patients}, events {self.events}"
            + (f" (published {self.events_published})" if self.events_published is not None else ""),
            f"clicks {self.n_clicks}: RMSE {self.rmse:.5f}, mean |error| {self.mean_abs_error:.5f}, "
            f"max |error| {self.max_abs_error:.5f} at t={self.max_error_time:.4g}",
            f"median: reconstructed {self.median:.4g}, digitized {self.median_digitized:.4g}",
        ]
        if self.risk_table.height:
            lines.append("numbers at risk (time: published / reconstructed):")
            lines.append(
                "  "
                + ", ".join(
                    f"{t:g}: {p}/{r}"
                    for t, p, r in self.risk_table.select("time", "published", "reconstructed").iter_rows()
                )
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class Reconstruction:
    """Reconstructed IPD with its provenance and fidelity.

    Attributes
    ----------
    time, event:
        One entry per patient: time in the curve's unit, event 1 / censored 0.
    curve:
        The cleaned clicks used (with their cleaning log).
    intervals:
        Per interval: start, end, published n at start/end, events, censored, flags.
    censoring:
        The censoring model used after the last risk time.
    warnings:
        Everything the inputs made impossible or uncertain, in words.
    fidelity:
        See :class:`Fidelity`.
    """

    time: np.ndarray
    event: np.ndarray
    curve: CleanCurve
    interval_data: dict[str, np.ndarray]
    censoring: CensoringModel
    warnings: list[str]
    fidelity: Fidelity
    version: str = RECONSTRUCTION_VERSION
    inputs: dict = field(default_factory=dict)

    @property
    def intervals(self) -> pl.DataFrame:
        """Per risk interval: start, end, n at risk (start, published end), events, censored, capped."""
        df = pl.DataFrame(self.interval_data)
        return df.with_columns(
            pl.when(pl.int_range(pl.len()) == pl.len() - 1)
            .then(None)
            .otherwise(pl.col("n_risk_end_published"))
            .alias("n_risk_end_published")
        )

    def to_frame(self) -> pl.DataFrame:
        """The IPD as a polars frame with columns ``time`` (float) and ``event`` (0/1)."""
        return pl.DataFrame({"time": self.time, "event": self.event.astype(np.int8)})

    def summary(self) -> str:
        out = [self.fidelity.summary()]
        out += [f"warning: {w}" for w in self.warnings]
        return "\n".join(out)


@njit(cache=True, nogil=True)
def _allocate(weights: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Integer allocation of ``totals[g]`` over each group's items, proportional to ``weights``
    (compiled with numba).

    Rounds the cumulative (scaled) weights within each group, so the running total never strays
    from the continuous one by more than 1/2 and each group sums to its total exactly. (The
    cumulative weight within a group is the running sum over all items less the totals of the
    groups before it.)
    """
    n, n_groups = weights.size, totals.size
    w = np.empty(n)
    wsum = np.zeros(n_groups)
    for i in range(n):
        v = weights[i]
        w[i] = v if (np.isfinite(v) and v > 0) else 0.0
        wsum[group[i]] += w[i]
    gsum = np.zeros(n_groups)
    for i in range(n):
        g = group[i]
        w[i] *= totals[g] / wsum[g] if wsum[g] > 0 else 0.0
        gsum[g] += w[i]
    group_end = np.cumsum(gsum)
    out = np.empty(n, np.int64)
    cum, prev = 0.0, 0.0
    for i in range(n):
        g = group[i]
        cum += w[i]
        within = np.rint(cum - (group_end[g - 1] if g > 0 else 0.0) + 1e-9)
        if i > 0 and g != group[i - 1]:
            prev = 0.0  # each group starts from 0
        out[i] = int(max(within - prev, 0.0))
        prev = within
    return out


def _apportion(capacity: np.ndarray, k: int) -> np.ndarray:
    """Split ``k`` units over items in proportion to ``capacity`` (largest remainder, capped)."""
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


def _spread(starts: np.ndarray, lengths: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``counts[j]`` times spread evenly over ``[starts[j], starts[j] + lengths[j])`` (bin midpoints)."""
    counts = counts.astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0)
    g = np.repeat(np.arange(counts.size), counts)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    i = np.arange(total) - first[g]
    return starts[g] + (i + 0.5) * lengths[g] / counts[g]


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

    Returns
    -------
    Reconstruction

    Raises
    ------
    InputError
        On input outside the plausibility limits of :mod:`meta_bm.errors` (N, counts, clicks), a
        curve with no patients at time 0, or a risk table starting after 0 that cannot imply a
        plausible N (give ``total_n`` then).
    """
    _check_entry(curve, risk_table, total_n, total_events)
    if isinstance(curve, Clicks):
        curve = clean_clicks(curve)
    src = curve.source
    warnings: list[str] = []
    t = curve.time
    # survival below 1e-12 is zero (keeps 1/S finite)
    s = curve.survival
    if s.size and s.min() < 1e-12:
        s = np.where(s < 1e-12, 0.0, s)
    k_n = t.size

    # ---- risk table: validate against N and the curve, start it at time 0 ----
    if risk_table is None or len(risk_table) == 0:
        if total_n is None:
            raise InputError("total N is required when there is no risk table", src)
        tau = np.array([0.0])
        nr = np.array([int(total_n)])
    else:
        tau = risk_table.time.astype(float)
        nr = risk_table.n_risk.astype(np.int64)
        rsrc = risk_table.source
        if total_n is not None:
            if total_n < nr[0]:
                raise InputError(
                    f"total N {total_n} is smaller than the first number at risk {nr[0]}",
                    rsrc,
                    int(risk_table.rows[0]),
                )
            if tau[0] == 0 and total_n != nr[0]:
                warnings.append(
                    f"total N {total_n} differs from the number at risk at time 0 ({nr[0]}); the risk table is used"
                )
        if tau[0] > 0:
            s_before = float(s[np.searchsorted(t, tau[0], "left") - 1])
            if total_n is not None:
                n0 = int(total_n)
            else:
                if s_before < MIN_SURVIVAL_FOR_IMPLIED_N and nr[0] > 0:
                    implied = f"{math.ceil(nr[0] / s_before):,}" if s_before > 0 else "infinite"
                    raise InputError(
                        f"the risk table starts at {tau[0]:g} with {nr[0]} at risk, but the curve is at "
                        f"{s_before:.4g} there: an N at time 0 implied from a survival below "
                        f"{MIN_SURVIVAL_FOR_IMPLIED_N:g} is not plausible (it would be {implied}); give the total N",
                        rsrc,
                        int(risk_table.rows[0]),
                    )
                n0 = math.ceil(nr[0] / max(s_before, 1e-12) - 1e-9)
                if n0 > MAX_N:
                    raise InputError(
                        f"the N at time 0 implied by {nr[0]} at risk at {tau[0]:g} (curve at {s_before:.4g}) is "
                        f"{n0:,}, above the limit of {MAX_N:,} patients per curve; give the total N",
                        rsrc,
                        int(risk_table.rows[0]),
                    )
                warnings.append(
                    f"risk table starts at {tau[0]:g} and no total N was given: assumed {n0} "
                    "patients at time 0 (no censoring before the first risk time)"
                )
            tau = np.concatenate(([0.0], tau))
            nr = np.concatenate(([n0], nr))
    if nr[0] < 1 and total_n is None:
        raise InputError(
            f"the risk table gives no patients at time 0 (N = {nr[0]}); a curve needs at least one",
            risk_table.source if risk_table is not None else src,
            int(risk_table.rows[0]) if risk_table is not None and len(risk_table) else None,
        )
    if total_events is not None and not (0 <= total_events <= nr[0]):
        raise InputError(f"total events {total_events} is outside 0..{nr[0]} (the number of patients)", src)
    # Per click: numpy. Per interval (a handful) and in sequential steps: Python scalars, with the
    # same float operations.
    tl, sl, taul, nrl = t.tolist(), s.tolist(), tau.tolist(), nr.tolist()
    snapped = _snap_to_risk_times(t, tl, sl, taul, nrl, warnings)
    if snapped is not t:
        t, tl = snapped, snapped.tolist()
    args = (curve, t, s, tau, nr, tl, sl, taul, nrl, total_n, total_events)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if total_events is None:
            return _reconstruct_core(*args, warnings, risk_table, k_n, calibrate=False)[0]
        # The total can be met two ways: calibrated in before the events are tracked, or only after
        # (through the free last interval, then flags flipped). Both meet every published figure;
        # the one that stays nearer the clicks is kept. (Only one when the total needed no
        # calibration: the other way gives the same.)
        report: dict[str, bool] = {}
        results = _reconstruct_core(*args, list(warnings), risk_table, k_n, calibrate=True, report=report)
        if report["calibrated"]:
            # (the last interval's fit used the total: the other way needs a fit of its own)
            results += _reconstruct_core(*args, warnings, risk_table, k_n, calibrate=False)
        return min(results, key=lambda r: r.fidelity.rmse)


@njit(cache=True, nogil=True)
def _drops_after(t: np.ndarray, s: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    """The clicks ``(t, s)`` from ``start`` on: their times from ``start`` and the drop at each
    (survival below 1e-12 taken as 0; compiled with numba)."""
    first = np.searchsorted(t, start, side="left")
    x = t[first:] - start
    drops = np.empty(x.size)
    for i in range(x.size):
        k = first + i
        now = s[k] if s[k] >= 1e-12 else 0.0
        before = (s[k - 1] if s[k - 1] >= 1e-12 else 0.0) if k > 0 else 1.0
        drops[i] = max(before - now, 0.0)
    return x, drops


@njit(cache=True, nogil=True)
def _interval_fit(t: np.ndarray, s: np.ndarray, tau: np.ndarray, nr: np.ndarray) -> tuple:
    """Per click and per risk interval, what the reconstruction starts from (compiled with numba).

    Per click ``k``: ``S(t_k-)`` as the sequence of clicks defines it, the drop, the interval,
    and (last) the expected events given each interval's censoring. Per interval ``j`` (``tau[j]``
    to the next risk time, the last one to the last click): the first click, the length, ``S``
    just before its start, and the censorings ``c`` that meet the next number at risk in closed
    form: with censoring at a constant rate ``c / L`` over the interval, ``n(t) / S(t) = n_j / S_j
    - (c / L) F(t)``, ``F(t) = int du / S(u)`` from its start (rounded half to even into ``[0,
    n_j - n_{j+1}]``; ``capped`` where even no censoring leaves too few deaths, the table and
    the clicks disagreeing). Returns ``(level_before, delta, j_of, first, length, s_b, c,
    capped, d_cont)``.
    """
    n_k, n_int = t.size, tau.size
    last_j = n_int - 1
    level_before = np.empty(n_k)
    delta = np.empty(n_k)
    inv_s = np.empty(n_k)
    f_click = np.empty(n_k)  # F(t_k) = int_0^{t_k} du / S(u), S the step through the clicks
    for k in range(n_k):
        level_before[k] = s[k - 1] if k > 0 else 1.0
        delta[k] = max(level_before[k] - s[k], 0.0)
        inv_s[k] = 1.0 / s[k] if s[k] > 0 else 0.0
    acc = 0.0
    f_click[0] = 0.0
    for k in range(1, n_k):
        acc += (t[k] - t[k - 1]) * inv_s[k - 1]
        f_click[k] = acc
    j_of = np.searchsorted(tau, t, side="right") - 1  # (tau[0] = 0 <= t)
    first = np.searchsorted(j_of, np.arange(n_int + 1))  # (t sorted)

    def level_left(x: float) -> float:  # S(x-): the last click strictly before x
        i = np.searchsorted(t, x, side="left") - 1
        return s[i] if i >= 0 else 1.0

    def big_f(x: float) -> float:  # F(x)
        i = max(np.searchsorted(t, x, side="right") - 1, 0)
        return f_click[i] + (x - t[i]) * inv_s[i]

    end = np.empty(n_int)
    length = np.empty(n_int)
    s_b = np.empty(n_int)
    f_b = np.empty(n_int)
    for j in range(n_int):
        end[j] = tau[j + 1] if j < last_j else max(t[n_k - 1], tau[last_j])
        length[j] = end[j] - tau[j]
        s_b[j] = level_left(tau[j])
        f_b[j] = big_f(tau[j])
    c = np.zeros(n_int, np.int64)
    capped = np.zeros(n_int, np.bool_)
    rate = np.zeros(n_int)
    for j in range(last_j):
        s_e = level_left(tau[j + 1])
        denom = s_e * (big_f(end[j]) - f_b[j])
        c_star = 0.0
        if denom > 0 and s_b[j] > 0:
            c_star = (float(nr[j]) * s_e / s_b[j] - nr[j + 1]) * length[j] / denom
        # S reached 0 inside the interval: everyone left dies there unless the table says otherwise.
        if c_star == c_star:  # (NaN: none)
            c[j] = int(np.rint(min(max(c_star, 0.0), float(nr[j] - nr[j + 1]))))
        capped[j] = c_star < -0.5
        rate[j] = c[j] / length[j] if length[j] > 0 else 0.0
    d_cont = np.empty(n_k)
    for k in range(n_k):
        j = j_of[k]
        n_over_s = float(nr[j]) * (1.0 / s_b[j] if s_b[j] > 0 else 0.0) - rate[j] * (f_click[k] - f_b[j])
        d_cont[k] = (n_over_s if n_over_s > 0.0 else 0.0) * delta[k]
    return level_before, delta, j_of, first, length, s_b, c, capped, d_cont


def _reconstruct_core(
    curve: CleanCurve,
    t: np.ndarray,
    s: np.ndarray,
    tau: np.ndarray,
    nr: np.ndarray,
    tl: list[float],
    sl: list[float],
    taul: list[float],
    nrl: list[int],
    total_n: int | None,
    total_events: int | None,
    warnings: list[str],
    risk_table: RiskTable | None,
    k_n: int,
    calibrate: bool,
    report: dict[str, bool] | None = None,
) -> list[Reconstruction]:
    """The reconstruction, or with ``calibrate`` the ways of meeting the published total that need
    no second fit: the total calibrated into the risk intervals, and (when that moved anything,
    after a risk table) the one that meets it only after the events are tracked. ``report
    ["calibrated"]`` says whether the last interval's fit used the total (the other way then
    needs a call without ``calibrate``)."""
    n_int = tau.size
    last_j = n_int - 1
    t_last = tl[-1]

    # ---- per-click quantities; interior intervals: closed-form censoring ----
    level_before, delta, j_of, first, length_a, s_b_a, c_int_a, capped, d_cont = _interval_fit(t, s, tau, nr)
    tau_end = [*taul[1:], max(t_last, taul[-1])]
    length, s_b = length_a.tolist(), s_b_a.tolist()
    drop = [float(nrl[j] - nrl[j + 1]) for j in range(last_j)] + [0.0]
    c_int = c_int_a.tolist()
    inv_sb_last = 1.0 / s_b[last_j] if s_b[last_j] > 0 else 0.0

    # ---- last interval: censoring from the step heights ----
    first_last = bisect_left(tl, taul[last_j])  # clicks from here on are in the last interval (t sorted)
    prior_hazard = None
    if last_j > 0:
        # censoring hazard of the risk intervals that hold clicks (person-time approximated)
        pt = [length[j] * (float(nrl[j]) + nrl[j + 1]) / 2.0 for j in range(last_j)]
        use = [j for j in range(last_j) if pt[j] > 0]
        pt_sum = float(np.add.reduce(np.array([pt[j] for j in use], float)))
        if use and pt_sum > 0:
            prior_hazard = sum(c_int[j] for j in use) / pt_sum
    n_last = float(nrl[last_j])
    # ``calibrate``: the published total is used before the events are tracked. Without a risk
    # table it sets the censoring fitted over the whole curve; with one, the risk intervals'
    # events and censorings are shifted to it (below). (Calibrating the last interval after a risk
    # table to the interval counts' expectation moved the curve more than it helped.) Otherwise
    # the total is met once the events are tracked.
    last_target = float(total_events) if calibrate and last_j == 0 else None
    if report is not None:
        report["calibrated"] = last_target is not None
    x_last = t[first_last:] - taul[last_j]
    delta_last = delta[first_last:]
    x_fit, delta_fit = x_last, delta_last
    if curve.coarse is not None:
        # The step heights with nearby drops grouped whole read censoring more stably (about 0.007
        # of N less event error without a risk table, benchmarks/reconstruction_accuracy.py).
        x_fit, delta_fit = _drops_after(*curve.coarse, taul[last_j])
    cens = fit_censoring(
        x_fit,
        delta_fit,
        n_last,
        s_b[last_j],
        float(max(t_last - taul[last_j], 0.0)),
        target_events=last_target,
        prior_hazard=prior_hazard,
    )
    d_cont[first_last:] = n_last * inv_sb_last * cens.survival(x_last) * delta_last
    d_last = int(min(round(float(d_cont[first_last:].sum())), n_last))
    if last_target is not None:
        d_last = round(last_target)

    # ---- events per interval ----
    events_int = [int(drop[j]) - c_int[j] for j in range(last_j)] + [d_last]
    for j in range(last_j):
        if capped[j]:
            warnings.append(
                f"interval {taul[j]:g}-{taul[j + 1]:g}: the curve falls by about "
                f"{float(d_cont[j_of == j].sum()):.1f} events but the risk table drops only from "
                f"{nrl[j]} to {nrl[j + 1]}; events were capped at {drop[j]} (clicks and risk table disagree)"
            )

    # ---- censoring times ----
    last_len = float(max(t_last - taul[last_j], 0.0))
    c_last_model = np.zeros(0)
    if last_len > 0 and n_last > 0:
        # censorings the model expects in the last interval, placed at their expected quantiles
        c_last_model = _last_interval_censoring(
            t, s, level_before, first_last, taul[last_j], last_len, n_last, s_b[last_j], cens, d_last
        )

    def finish(events_int: list[int], c_int: list[int], warnings: list[str]) -> Reconstruction:
        """The IPD from the events and censorings per interval (the rest is common to both ways of
        meeting a published total)."""
        # ---- integer events per click ----
        d_int = _allocate(d_cont, j_of, np.array(events_int, float))
        c_times_last = c_last_model
        end_time = max(t_last, taul[-1])

        # ---- censorings in the risk intervals and the events that follow the clicks ----
        # How far the placement trusts the step heights over its prior is chosen per curve: the
        # candidate whose reconstruction stays nearest the clicks (mean error as drawn) is kept.
        weights = np.array(PRIOR_WEIGHTS if last_j > 0 else PRIOR_WEIGHTS[:1])
        d_int, cens_times, c_times_last, placed_cens = _best_placement(
            (t, s, level_before, delta, j_of, first, tau, length_a, nr, last_j),
            d_int,
            np.array(c_int, np.int64),
            np.array(drop, np.int64),
            c_times_last,
            weights,
            PLACEMENT_PASSES,
            nrl[0],
            curve.time,
            curve.survival,
        )
        if total_events is not None and last_len > 0 and s_b[last_j] > 0:
            # Meet the published total through the free last interval first: more (fewer) patients kept at
            # risk there turn the same drops into more (fewer) events.
            frac = max(1.0 - sl[-1] / s_b[last_j], 0.05)
            for _ in range(4):
                diff = int(total_events - d_int.sum())
                if diff == 0:
                    break
                k = math.ceil(abs(diff) / frac)
                if diff > 0:
                    if c_times_last.size == 0:
                        break
                    keep = np.ones(c_times_last.size, bool)
                    keep[np.linspace(0, c_times_last.size - 1, min(k, c_times_last.size)).astype(np.int64)] = False
                    c_times_last = np.sort(c_times_last)[keep]
                else:
                    room = int(n_last - d_int[first_last:].sum() - c_times_last.size)
                    k = min(k, room)
                    if k <= 0:
                        break
                    add = _spread(np.array([taul[last_j]]), np.array([last_len]), np.array([k]))
                    c_times_last = np.sort(np.concatenate((c_times_last, add)))
                d_int, cens_times, c_times_last = _track_events(t, s, first, tau, nr, placed_cens, c_times_last, last_j)
        survivors_end = int(n_last - d_int[first_last:].sum() - c_times_last.size)
        times, events = _ipd_arrays(t, d_int, cens_times, c_times_last, max(survivors_end, 0), end_time)
        flipped = 0
        if total_events is not None:
            before = int(d_int.sum())
            events = _meet_total_events(times, events, total_events, end_time)
            flipped = abs(int(events.sum()) - before)
            if flipped:
                warnings.append(
                    f"to meet the published total of {total_events} events, {flipped} patient(s) were recorded as "
                    f"{'events instead of censored' if total_events > before else 'censored instead of events'} "
                    "at unchanged times (every number at risk unchanged)"
                )
        # by time, events before censorings at the same time: with the events still first in the array
        # (nothing flipped) a stable sort on time alone gives that order
        if flipped:
            order = np.lexsort((1 - events, times))
            times, events = times[order], events[order]
        else:
            times, events = _by_time(times, events)
        per_interval = _count_per_interval(times, events, tau)

        intervals = {
            "start": tau,
            "end": np.array(tau_end, float),
            "n_risk_start": nr.astype(np.int64),
            "n_risk_end_published": np.array([*nrl[1:], 0], np.int64),
            "events": per_interval[:n_int],
            "censored": per_interval[n_int:],
            "capped": capped,
        }

        n_events = int(per_interval[:n_int].sum())
        if total_events is not None and n_events != total_events:
            warnings.append(f"reconstructed {n_events} events, published {total_events}")

        fid = fidelity(times, events, curve, risk_table, total_events)
        return Reconstruction(
            time=times,
            event=events,
            curve=curve,
            interval_data=intervals,
            censoring=cens,
            warnings=warnings,
            fidelity=fid,
            inputs={"total_n": total_n, "total_events": total_events, "n_clicks": k_n},
        )

    if not calibrate:
        return [finish(events_int, c_int, warnings)]
    # ---- total events, calibrated in ----
    cal_events, cal_c = list(events_int), list(c_int)
    diff = int(total_events - sum(events_int))
    if diff != 0:
        # The last interval could not absorb it: move events <-> censorings inside risk intervals.
        cap = np.array(c_int[:-1] if diff > 0 else events_int[:-1], np.int64)
        k = min(abs(diff), int(cap.sum()))
        if k > 0:
            sign = 1 if diff > 0 else -1
            for j, share in enumerate(_apportion(cap, k).tolist()):
                cal_events[j] += sign * share
                cal_c[j] -= sign * share
            if last_target is None:
                # (the last interval's fit did not use the total: the same fit serves both ways)
                return [finish(cal_events, cal_c, list(warnings)), finish(events_int, c_int, warnings)]
    return [finish(cal_events, cal_c, warnings)]


@njit(cache=True, nogil=True)
def _ipd_arrays(
    t: np.ndarray, d: np.ndarray, cens: np.ndarray, cens_last: np.ndarray, n_end: int, end_time: float
) -> tuple[np.ndarray, np.ndarray]:
    """The patients, unsorted: ``d[k]`` events at each click time ``t[k]``, then the censorings
    ``cens`` and ``cens_last``, then ``n_end`` censored at ``end_time`` (compiled with numba)."""
    n_ev = int(d.sum())
    n = n_ev + cens.size + cens_last.size + n_end
    times = np.empty(n)
    events = np.zeros(n, np.int8)
    at = 0
    for k in range(t.size):
        for _ in range(d[k]):
            times[at] = t[k]
            events[at] = 1
            at += 1
    times[at : at + cens.size] = cens
    at += cens.size
    times[at : at + cens_last.size] = cens_last
    at += cens_last.size
    times[at:] = end_time
    return times, events


@njit(cache=True, nogil=True)
def _by_time(times: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``times`` and ``events`` in a stable order by time (compiled with numba)."""
    order = np.argsort(times, kind="mergesort")
    return times[order], events[order]


@njit(cache=True, nogil=True)
def _count_per_interval(times: np.ndarray, events: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Events (first ``tau.size`` entries) and censorings (the rest) in each interval ``[tau[j],
    tau[j + 1])`` (compiled with numba)."""
    n_int = tau.size
    out = np.zeros(2 * n_int, np.int64)
    for i in range(times.size):
        j = np.searchsorted(tau, times[i], side="right") - 1
        out[j + (0 if events[i] == 1 else n_int)] += 1
    return out


@njit(cache=True, nogil=True)
def _ascending(a: np.ndarray) -> np.ndarray:
    """``a`` if it is sorted ascending, else a sorted copy (compiled with numba)."""
    for i in range(1, a.size):
        if a[i] < a[i - 1]:
            return np.sort(a)
    return a


@njit(cache=True, nogil=True)
def _track_events(
    t: np.ndarray,
    s: np.ndarray,
    first: np.ndarray,
    tau: np.ndarray,
    nr: np.ndarray,
    cens: np.ndarray,
    cens_last: np.ndarray,
    last_j: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole events per click from the actual risk set and KM (Guyot's event step), then censorings
    adjusted so every published number at risk still holds (compiled with numba).

    At each click ``d = round(n (1 - S_click / KM))`` (half to even) with ``n`` the reconstructed
    number at risk and ``KM`` the reconstructed curve so far, capped so the next published number at
    risk stays reachable. Each interval's censorings are then ``n_j - n_{j+1} - events``: missing
    ones are spread evenly after the interval's last click, surplus ones removed from its end.
    ``first[j]``: the first click of interval j (``first[n_int]`` = number of clicks; click 0 is
    the origin). Returns events per click, the risk intervals' censoring times, the last one's.
    """
    # (the placements come sorted, the risk intervals' before the last one's: sorted only if not)
    cens = _ascending(cens)
    cens_last = _ascending(cens_last)
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
    at = 0
    for j in range(last_j):
        have = min(cut[j + 1] - cut[j], need[j])
        new_cens[at : at + have] = cens[cut[j] : cut[j] + have]
        at += have
        if need[j] > have:
            start = t[first[j + 1] - 1] if first[j + 1] > first[j] else tau[j]  # after its last click
            at = _spread_into(new_cens, at, start, tau[j + 1] - start, need[j] - have)
    room = max(nr[last_j] - ev_per[last_j], 0)
    return d, new_cens, cens_last[:room]


def _meet_total_events(times: np.ndarray, events: np.ndarray, total: int, end_time: float) -> np.ndarray:
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
    km_t, km_s = _km_steps(ts, es)
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


# Rounds of censoring placement and event tracking after the first: each reads the step heights
# with the events the previous round tracked, stopping early once nothing changes (4 rounds: area
# 0.00301 -> 0.00298 careful, --pairs 60; 8 change little more).
PLACEMENT_PASSES = 4
# Weights of the placement's prior (relative to its default) tried on every curve with a risk table;
# the reconstruction nearest the clicks is kept (careful area 0.00275 -> 0.00254, sloppy 0.00501 ->
# 0.00477, --pairs 60; five weights gained 0.00004 more, at 0.03 ms a weight).
PRIOR_WEIGHTS = (1.0, 0.2, 5.0)
STEP_NOISE = 0.0025  # typical digitizing error of one drop, survival units


@njit(cache=True, nogil=True)
def _place_censoring(
    t: np.ndarray,
    level_before: np.ndarray,
    delta: np.ndarray,
    j_of: np.ndarray,
    d_int: np.ndarray,
    tau: np.ndarray,
    length: np.ndarray,
    nr: np.ndarray,
    counts: np.ndarray,
    prior_weight: float = 1.0,
) -> np.ndarray:
    """Censoring times inside each risk interval (``counts[j]`` of them in interval j; the last
    interval is handled by :func:`_last_interval_censoring`), guided by the step heights
    (compiled with numba).

    A drop of ``d`` events at risk ``n`` measures ``n = d * S(t-) / delta``, so each event click
    says how many of the interval's censorings came before it. These noisy counts (weighted by
    their precision, with the expected spread of :func:`_censoring_shape` as a weak prior, its
    weight scaled by ``prior_weight``) are fitted by a non-decreasing function; the fit, rounded
    (half to even) into ``[0, counts[j]]``, says how many censorings fall between consecutive event
    clicks, spread evenly there. Returns the censoring times, interval by interval.
    """
    n_risk_int = counts.size - 1
    out = np.empty(max(counts[:n_risk_int].sum(), 0))
    if out.size == 0:
        return out
    # Per drop with events (the clicks on one vertical line are one drop: a top corner clicked low
    # splits its height, and each piece would imply a risk set of its own; the clicks of an
    # interval are consecutive, t sorted): the implied number censored before it and its weight,
    # prior included.
    tk = np.empty(t.size)
    je = np.empty(t.size, np.int64)
    dd = np.empty(t.size, np.int64)
    dl = np.empty(t.size)
    lv = np.empty(t.size)
    m, i = 0, 0
    while i < t.size:
        k, d_sum, delta_sum = i, 0, 0.0
        while k < t.size and t[k] == t[i]:
            d_sum += d_int[k]
            delta_sum += delta[k]
            k += 1
        if d_sum > 0 and delta_sum > 0.0 and j_of[i] < n_risk_int:
            tk[m], je[m], dd[m], dl[m], lv[m] = t[i], j_of[i], d_sum, delta_sum, level_before[i]
            m += 1
        i = k
    tk, je = tk[:m], je[:m]
    shape = _censoring_shape(tk, je, tau, length, nr, counts)
    y, wy = np.empty(m), np.empty(m)
    d_before, prev_j = 0, -1
    for i in range(m):
        j = je[i]
        if j != prev_j:
            d_before, prev_j = 0, j  # events at earlier drops of the same interval
        n_hat = dd[i] * lv[i] / dl[i]
        sd = max(n_hat * STEP_NOISE / dl[i], 0.5)
        w = 1.0 / sd**2
        w0 = prior_weight / max(1.0, 0.5 * counts[j]) ** 2
        y[i] = (w * ((nr[j] - d_before) - n_hat) + w0 * (counts[j] * shape[i])) / (w + w0)
        wy[i] = w + w0
        d_before += dd[i]
    cut = np.searchsorted(je, np.arange(counts.size + 1))
    at = 0
    for j in range(n_risk_int):
        c = counts[j]
        if c <= 0:
            continue
        start, span = tau[j], length[j]
        lo, hi = cut[j], cut[j + 1]
        if span <= 0 or lo == hi:
            at = _spread_into(out, at, start, span, c)
            continue
        fit = pav_increasing(y[lo:hi], wy[lo:hi])
        edge, before = start, 0
        for i in range(hi - lo):
            e = fit[i]
            # censorings before this click: within [0, c], rounded, never fewer than before
            now = int(np.rint(min(max(e, 0.0), float(c)))) if e == e else 0
            if now > before:
                at = _spread_into(out, at, edge, tk[lo + i] - edge, now - before)
                before = now
            edge = tk[lo + i]
        if c > before:
            at = _spread_into(out, at, edge, start + span - edge, c - before)
    return out[:at]


@njit(cache=True, nogil=True)
def _censoring_shape(
    tk: np.ndarray, je: np.ndarray, tau: np.ndarray, length: np.ndarray, nr: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Expected fraction of interval ``je[i]``'s censorings before ``tk[i]`` (compiled with numba).

    Censorings arrive at rate ``n(t) * h(t)``: ``n`` falls linearly from one published number at
    risk to the next, and the censoring hazard ``h`` (each interval's censorings over its
    person-time, taken at its midpoint and interpolated to the risk times) runs linearly across
    the interval. So censoring thins within an interval as the risk set shrinks, and follows the
    trend of its neighbours, where a uniform spread would ignore both. With ``x`` the position in
    the interval (0 to 1), the rate is ``(a + b x)(c + d x)`` and its integral a cubic in ``x``.
    """
    n_int = counts.size - 1
    out = np.empty(tk.size)
    if tk.size == 0:
        return out
    mid, hz = np.empty(n_int), np.empty(n_int)
    for j in range(n_int):
        mid[j] = tau[j] + length[j] / 2.0
        pt = length[j] * (float(nr[j]) + float(nr[j + 1])) / 2.0
        hz[j] = counts[j] / pt if pt > 0 else 0.0
    h_at = np.interp(tau[: n_int + 1], mid, hz)
    for i in range(tk.size):
        j = je[i]
        a, b = float(nr[j]), float(nr[j + 1]) - float(nr[j])
        c, d = h_at[j], h_at[j + 1] - h_at[j]
        k1, k2, k3 = a * c, (a * d + b * c) / 2.0, b * d / 3.0
        x = (tk[i] - tau[j]) / length[j] if length[j] > 0 else 0.0
        whole = k1 + k2 + k3
        out[i] = x * (k1 + x * (k2 + x * k3)) / whole if whole > 0 else x
    return out


@njit(cache=True, nogil=True)
def _spread_into(out: np.ndarray, at: int, start: float, length: float, count: int) -> int:
    """Write ``count`` times spread evenly over ``[start, start + length)`` (bin midpoints, as
    :func:`_spread`) into ``out`` from ``at``; returns the next free position."""
    for i in range(count):
        out[at + i] = start + (i + 0.5) * length / count
    return at + count


SNAP_TOLERANCE = 0.01  # fraction of the time range


def _snap_to_risk_times(
    t: np.ndarray, tl: list[float], sl: list[float], tau: list[float], nr: list[int], warnings: list[str]
) -> np.ndarray:
    """Move drops clicked just before a risk time onto it when the table says they happened there.

    Events at exactly a risk time (common with whole-month or whole-day data) are counted after
    it by the table; x-noise can put their click just before it. When the curve in an interval
    falls by more than the table allows even with no censoring, clicks within
    ``SNAP_TOLERANCE`` of the time range before the next risk time are moved onto it.
    ``tl``, ``sl``: the clicks as lists; returns ``t``, or a changed copy.
    """
    if len(tau) < 2:
        return t
    tol = SNAP_TOLERANCE * tl[-1]
    s_left = [sl[i - 1] if i > 0 else 1.0 for i in (bisect_left(tl, x) for x in tau)]  # S(tau-)
    for j in range(len(tau) - 1):
        sb, se = s_left[j], s_left[j + 1]
        if sb <= 0:
            continue
        excess = nr[j] * (1 - se / sb) - (nr[j] - nr[j + 1])
        if excess <= 0.5:
            continue
        near = (t >= tau[j + 1] - tol) & (t < tau[j + 1]) & (t >= tau[j])
        if near.any():
            warnings.append(
                f"{int(near.sum())} click(s) just before the risk time {tau[j + 1]:g} moved onto it: "
                "the table counts those events after it"
            )
            t = t.copy()
            t[near] = tau[j + 1]
    return t


def _last_interval_censoring(
    t: np.ndarray,
    s: np.ndarray,
    level_before: np.ndarray,
    first: int,
    tau0: float,
    length: float,
    n0: float,
    s0: float,
    model: CensoringModel,
    d_last: int,
) -> np.ndarray:
    """Times of the censorings after the last risk time under ``model``.

    Expected censorings in ``[x, x + dx)`` are ``n0 * S(x)/S0 * (-dG(x))``; their total is
    rounded, then capped so no more than ``n0 - d_last`` patients leave, and the times are put at
    the expected quantiles of that density.
    """
    if not model.censors or s0 <= 0:
        return np.zeros(0)
    # S is piecewise constant between the last interval's breakpoints (its clicks are t[first:])
    knots, levels = _last_pieces(t, s, level_before, first, tau0, length, s0)
    g = model.survival(knots - tau0)
    k, gx = _censoring_quantiles(g, levels, n0, s0, d_last)
    if k.size == 0:
        return np.zeros(0)
    return _within_pieces(model.inverse(np.minimum(np.maximum(gx, 1e-300), 1.0)), knots, k, tau0)


@njit(cache=True, nogil=True)
def _last_pieces(
    t: np.ndarray, s: np.ndarray, level_before: np.ndarray, first: int, tau0: float, length: float, s0: float
) -> tuple[np.ndarray, np.ndarray]:
    """The breakpoints of the last interval (its start, its clicks ``t[first:]``, its end) and the
    level of ``S`` on each piece between them (compiled with numba)."""
    m = t.size - first
    knots = np.empty(m + 2)
    levels = np.empty(m + 1)
    knots[0], knots[m + 1] = tau0, tau0 + length
    knots[1 : m + 1] = t[first:]
    levels[0] = level_before[first] if first < t.size else s0
    levels[1:] = s[first:]
    return knots, levels


@njit(cache=True, nogil=True)
def _censoring_quantiles(
    g: np.ndarray, levels: np.ndarray, n0: float, s0: float, d_last: int
) -> tuple[np.ndarray, np.ndarray]:
    """The piece ``k`` and the value of ``G`` at each censoring's expected quantile (compiled with
    numba): the expected censorings on piece ``i`` are ``n0 / s0 * levels[i] * (g[i] - g[i + 1])``;
    their total, rounded (half to even) and capped at ``n0 - d_last``, are put at the midpoints of
    equal shares of the cumulative mass, and ``G`` is inverted linearly in the mass within the
    piece (a zero level gives ``G`` at the piece's start)."""
    n_p = levels.size
    cum = np.empty(n_p + 1)
    cum[0] = 0.0
    scale = n0 / s0
    for i in range(n_p):
        cum[i + 1] = cum[i] + scale * levels[i] * (g[i] - g[i + 1])
    total = cum[n_p]
    c = int(min(np.rint(total), max(n0 - d_last, 0.0)))
    if c <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    k = np.empty(c, np.int64)
    gx = np.empty(c)
    for i in range(c):
        target = (i + 0.5) / c * total
        j = min(max(np.searchsorted(cum, target, side="right") - 1, 0), n_p - 1)
        k[i] = j
        gx[i] = g[j] - (target - cum[j]) / (scale * levels[j] if levels[j] > 0 else np.inf)
    return k, gx


@njit(cache=True, nogil=True)
def _within_pieces(x: np.ndarray, knots: np.ndarray, k: np.ndarray, tau0: float) -> np.ndarray:
    """``tau0 + x``, each ``x`` kept within its piece ``[knots[k], knots[k + 1]]`` (compiled with numba)."""
    out = np.empty(x.size)
    for i in range(x.size):
        out[i] = tau0 + min(max(x[i], knots[k[i]] - tau0), knots[k[i] + 1] - tau0)
    return out


@njit(cache=True, nogil=True)
def _km_steps(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct times and Kaplan–Meier survival after each, for ``time`` sorted ascending (compiled
    with numba).

    The same numbers as :func:`meta_bm.survival.km.kaplan_meier` (which sorts first): on sorted
    times the distinct ones and their event counts are found in one pass.
    """
    n = time.size
    km_t = np.empty(n)
    km_s = np.empty(n)
    m, i, km = 0, 0, 1.0
    while i < n:
        j, d = i, 0
        while j < n and time[j] == time[i]:
            d += event[j]
            j += 1
        km *= 1.0 - d / (n - i)
        km_t[m], km_s[m] = time[i], km
        m += 1
        i = j
    return km_t[:m], km_s[:m]


@njit(cache=True, nogil=True)
def _place_and_track(
    curve: tuple,
    d_int: np.ndarray,
    c_int: np.ndarray,
    drop: np.ndarray,
    c_last: np.ndarray,
    prior_weight: float,
    passes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Censorings placed in the risk intervals (:func:`_place_censoring`), then the events that keep
    the reconstructed KM on the clicks given them (:func:`_track_events`); placed again with the
    tracked events and the censoring counts they leave, up to ``passes`` more times, until nothing
    changes (compiled with numba). ``curve = (t, s, level_before, delta, j_of, first, tau, length,
    nr, last_j)``; ``d_int``, ``c_int``: the expected events per click and censorings per interval
    to start from; ``drop``: each interval's decrease in the number at risk. Returns events per
    click, the risk intervals' and the last interval's censoring times, and the placement used."""
    t, s, level_before, delta, j_of, first, tau, length, nr, last_j = curve
    n_int = nr.size
    placed = _place_censoring(t, level_before, delta, j_of, d_int, tau, length, nr, c_int, prior_weight)
    d, c_times, c_now_last = _track_events(t, s, first, tau, nr, placed, c_last, last_j)
    d_prev, c_prev = d_int, c_int
    for _ in range(passes):
        ev_j = np.zeros(n_int, np.int64)
        for k in range(t.size):
            ev_j[j_of[k]] += d[k]
        c_now = c_int.copy()
        for j in range(last_j):
            c_now[j] = max(drop[j] - ev_j[j], 0)
        if np.array_equal(c_now, c_prev) and np.array_equal(d, d_prev):
            break
        d_prev, c_prev = d, c_now
        placed = _place_censoring(t, level_before, delta, j_of, d, tau, length, nr, c_now, prior_weight)
        d, c_times, c_now_last = _track_events(t, s, first, tau, nr, placed, c_last, last_j)
    return d, c_times, c_now_last, placed


@njit(cache=True, nogil=True)
def _best_placement(
    curve: tuple,
    d_int: np.ndarray,
    c_int: np.ndarray,
    drop: np.ndarray,
    c_last: np.ndarray,
    weights: np.ndarray,
    passes: int,
    n0: int,
    ct: np.ndarray,
    cs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_place_and_track` with each prior weight in ``weights``; with more than one, the
    result whose KM stays nearest the clicks ``(ct, cs)`` (:func:`_mean_click_error`; the first
    of equals) is kept (compiled with numba)."""
    t = curve[0]
    best = _place_and_track(curve, d_int, c_int, drop, c_last, weights[0], passes)
    if weights.size == 1:
        return best
    best_err = _mean_click_error(t, best[0], best[1], best[2], n0, ct, cs)
    for w in weights[1:]:
        cand = _place_and_track(curve, d_int, c_int, drop, c_last, w, passes)
        err = _mean_click_error(t, cand[0], cand[1], cand[2], n0, ct, cs)
        if err < best_err:
            best, best_err = cand, err
    return best


@njit(cache=True, nogil=True)
def _km_of_tracked(t: np.ndarray, d: np.ndarray, cens: np.ndarray, n0: int) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier steps (event times, survival after each) of ``n0`` patients with ``d[k]`` events
    at click time ``t[k]`` (sorted) and censorings at the sorted times ``cens`` (the rest censored
    later), without building the IPD (compiled with numba). Censorings at an event time count as
    at risk there, as in :func:`_km_steps`."""
    km_t = np.empty(t.size)
    km_s = np.empty(t.size)
    m, dead, k, km = 0, 0, 0, 1.0
    while k < t.size:
        j, dk = k, 0
        while j < t.size and t[j] == t[k]:
            dk += d[j]
            j += 1
        if dk > 0:
            n = n0 - dead - np.searchsorted(cens, t[k])
            km = km * (1.0 - dk / n) if n > 0 else 0.0
            km_t[m], km_s[m] = t[k], km
            m += 1
            dead += dk
        k = j
    return km_t[:m], km_s[:m]


@njit(cache=True, nogil=True)
def _mean_click_error(
    t: np.ndarray, d: np.ndarray, c_times: np.ndarray, c_last: np.ndarray, n0: int, ct: np.ndarray, cs: np.ndarray
) -> float:
    """Mean over the clicks ``(ct, cs)`` of :func:`_click_errors` for the KM of tracked events ``d``
    at the click times ``t`` and the censoring times ``c_times``, ``c_last`` (compiled with numba)."""
    km_t, km_s = _km_of_tracked(t, d, _ascending(np.concatenate((c_times, c_last))), n0)
    return _click_errors(km_t, km_s, ct, cs).mean() if ct.size else 0.0


@njit(cache=True, nogil=True)
def _click_errors(km_time: np.ndarray, km_surv: np.ndarray, ct: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """Each click's distance to the KM ``(km_time, km_surv)`` as drawn: zero on a vertical drop
    (between S(t) and S(t-)), otherwise the distance to the nearer of the two (compiled with numba)."""
    steps = np.concatenate((np.ones(1), km_surv))
    # the KM is non-increasing, so S(t) <= S(t-) at every click
    right = steps[np.searchsorted(km_time, ct, side="right")]
    left = steps[np.searchsorted(km_time, ct, side="left")]
    # above S(t-) or below S(t): the positive one of these (never both); else 0
    return np.maximum(np.maximum(right - cs, cs - left), 0.0)


def fidelity(
    time: np.ndarray,
    event: np.ndarray,
    curve: CleanCurve,
    risk_table: RiskTable | None = None,
    total_events: int | None = None,
) -> Fidelity:
    """Compare reconstructed IPD with the clicks and published figures it came from.

    The error at a click is its distance to the reconstructed KM as drawn: zero when the click lies
    between S(t) and S(t-) (on a vertical drop), otherwise the distance to the nearer of the two.
    """
    time = np.asarray(time, float)
    event = np.asarray(event)
    if time.size > 1 and not (time[1:] >= time[:-1]).all():
        order = time.argsort(kind="stable")
        time, event = time[order], event[order]
    km_time, km_surv = _km_steps(time, event)
    ct, cs = curve.time, curve.survival
    err = _click_errors(km_time, km_surv, ct, cs)
    n_err = err.size
    i_max = int(err.argmax()) if n_err else 0
    if risk_table is not None and len(risk_table):
        # at risk at x: patients with time >= x
        rec = (time.size - time.searchsorted(risk_table.time, side="left")).astype(np.int64)
        pub = risk_table.n_risk.astype(np.int64)
        rt = {"time": risk_table.time, "published": pub, "reconstructed": rec, "difference": rec - pub}
    else:
        empty = np.zeros(0, np.int64)
        rt = {"time": np.zeros(0), "published": empty, "reconstructed": empty, "difference": empty}
    return Fidelity(
        n_clicks=int(ct.size),
        rmse=math.sqrt(np.add.reduce(err * err) / n_err) if n_err else 0.0,
        mean_abs_error=float(np.add.reduce(err) / n_err) if n_err else 0.0,
        max_abs_error=float(err[i_max]) if n_err else 0.0,
        max_error_time=float(ct[i_max]) if n_err else 0.0,
        n_patients=int(time.size),
        events=int(event.sum()),
        events_published=total_events,
        median=quantile_time(km_time, km_surv, 0.5),
        median_digitized=quantile_time(ct, cs, 0.5),
        risk_table_data=rt,
    )


def reconstruct_arrays(
    time,
    survival,
    risk_time=None,
    n_risk=None,
    total_n: int | None = None,
    total_events: int | None = None,
    y_scale: str = "auto",
    source: str = "<arrays>",
) -> Reconstruction:
    """Python API: reconstruct from sequences (clicks, optional risk table) without files."""
    clicks = clicks_from_arrays(time, survival, source, y_scale)  # type: ignore[arg-type]
    table = None
    if risk_time is not None or n_risk is not None:
        if risk_time is None or n_risk is None:
            raise InputError("give both risk_time and n_risk", source)
        table = risk_table_from_arrays(risk_time, n_risk, source)
    return reconstruct(clicks, table, total_n=total_n, total_events=total_events)
