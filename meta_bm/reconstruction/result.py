"""What a reconstruction gives: the IPD, its fidelity to the inputs, and the engine's version.

:func:`fidelity` compares reconstructed IPD with the clicks and the published figures it came from;
:func:`click_errors` is the one definition of a click's error (its distance to the KM *as drawn*),
used both to report fidelity and, inside the placement search, to choose between candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meta_bm.reconstruction.censoring import CensoringModel
from meta_bm.reconstruction.cleaning import CleanCurve
from meta_bm.reconstruction.jit import kernel
from meta_bm.reconstruction.parsing import RiskTable
from meta_bm.survival.km import product_limit, quantile_time

# Bumped whenever the same inputs give different IPD: it is the reconstructed assets' code version,
# so Dagster marks them stale, and the key of the golden output snapshot
# (meta_bm_tests/reconstruction/snapshot_data). 1.1: swapped corners paired, not clustered;
# published totals met the way that stays nearer the clicks with a risk table too.
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


product_limit_kernel = kernel(product_limit)  # the one KM formula (meta_bm.survival.km), compiled


@kernel
def km_steps(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct times and Kaplan–Meier survival after each, for ``time`` sorted ascending and
    ``event`` as int64 (0/1): the counts in one pass over the sorted data, then
    :func:`~meta_bm.survival.km.product_limit` (the same numbers as
    :func:`~meta_bm.survival.km.kaplan_meier`, without its sort; a kernel)."""
    n = time.size
    km_t = np.empty(n)
    n_at = np.empty(n, np.int64)
    d_at = np.empty(n, np.int64)
    m, i = 0, 0
    while i < n:
        j, d = i, 0
        while j < n and time[j] == time[i]:
            d += event[j]
            j += 1
        km_t[m], n_at[m], d_at[m] = time[i], n - i, d
        m += 1
        i = j
    return km_t[:m], product_limit_kernel(n_at[:m], d_at[:m])


@kernel
def ipd_arrays(
    t: np.ndarray, d: np.ndarray, cens: np.ndarray, cens_last: np.ndarray, n_end: int, end_time: float
) -> tuple[np.ndarray, np.ndarray]:
    """The patients, unsorted: ``d[k]`` events at each click time ``t[k]``, then the censorings
    ``cens`` and ``cens_last``, then ``n_end`` censored at ``end_time`` (a kernel: the engine's
    last step, per curve)."""
    n_ev = 0
    for k in range(t.size):
        n_ev += d[k]
    times = np.empty(n_ev + cens.size + cens_last.size + n_end)
    events = np.zeros(times.size, np.int8)
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


@kernel
def count_per_interval(times: np.ndarray, events: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events and censorings in each interval ``[tau[j], tau[j + 1])``."""
    ev = np.zeros(tau.size, np.int64)
    ce = np.zeros(tau.size, np.int64)
    for i in range(times.size):
        j = np.searchsorted(tau, times[i], side="right") - 1
        if events[i] == 1:
            ev[j] += 1
        else:
            ce[j] += 1
    return ev, ce


@kernel
def click_errors(km_time: np.ndarray, km_surv: np.ndarray, ct: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """Each click's distance to the KM ``(km_time, km_surv)`` as drawn: zero on a vertical drop
    (between S(t) and S(t-)), otherwise the distance to the nearer of the two (a kernel: the
    placement search calls it for every candidate)."""
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
        time, event = time[order], event[order]  # (searchsorted below needs them sorted)
    km_time, km_surv = km_steps(time, event.astype(np.int64))
    ct, cs = curve.time, curve.survival
    err = click_errors(km_time, km_surv, ct, cs)
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
