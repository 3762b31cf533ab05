"""Simulate IPD and a person digitizing its Kaplan–Meier curve: the truth reconstruction is judged by.

A digitizer looks at the plotted curve at a given pixel resolution and clicks the corners of the
steps they can see: steps closer together than a couple of pixels look like one drop, steps lower
than a pixel are not seen on their own and merge with the next one, every click lands with pixel
noise, careless exports come unsorted, with a few duplicate clicks and some top corners missed.
The numbers at risk are read at regular axis ticks, as journals print them.

Example
-------
>>> import numpy as np
>>> ipd = simulate_ipd(100, seed=1)
>>> sim = digitize(ipd.time, ipd.event, CAREFUL, seed=1)
>>> float(sim.risk_time[0]), int(sim.n_risk[0])
(0.0, 100)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meta_bm.survival.km import kaplan_meier


@dataclass(frozen=True)
class DigitizerStyle:
    """How a person digitizes: noise and resolution in pixels of a ``width`` x ``height`` plot."""

    name: str
    noise_px: float
    merge_gap_px: float
    min_step_px: float
    p_miss_top: float
    p_duplicate: float
    shuffle: bool
    width_px: int = 600
    height_px: int = 400


CAREFUL = DigitizerStyle(
    "careful", noise_px=0.5, merge_gap_px=1.5, min_step_px=0.7, p_miss_top=0.0, p_duplicate=0.0, shuffle=False
)
SLOPPY = DigitizerStyle(
    "sloppy", noise_px=1.0, merge_gap_px=2.0, min_step_px=1.0, p_miss_top=0.15, p_duplicate=0.05, shuffle=True
)


@dataclass(frozen=True)
class SimulatedIPD:
    time: np.ndarray
    event: np.ndarray


@dataclass(frozen=True)
class SimulatedCurve:
    """A simulated digitization: clicks (probability scale), risk table and the published totals."""

    click_time: np.ndarray
    click_survival: np.ndarray
    risk_time: np.ndarray
    n_risk: np.ndarray
    total_n: int
    total_events: int
    x_max: float


def simulate_ipd(
    n: int,
    shape: float = 1.0,
    median: float = 12.0,
    accrual: float = 24.0,
    follow_up: float = 24.0,
    dropout_rate: float = 0.01,
    hr: float = 1.0,
    seed: int | np.random.Generator = 0,
) -> SimulatedIPD:
    """Weibull event times (``median``, ``shape``, times ``hr`` on the hazard), uniform accrual over
    ``accrual`` then ``follow_up`` more time units, and exponential loss to follow-up."""
    rng = np.random.default_rng(seed)
    scale = median / np.log(2) ** (1 / shape)
    u = rng.random(n)
    t_event = scale * (-np.log(u) / hr) ** (1 / shape)
    admin = follow_up + accrual * rng.random(n)
    drop = rng.exponential(1 / dropout_rate, n) if dropout_rate > 0 else np.full(n, np.inf)
    c = np.minimum(admin, drop)
    time = np.minimum(t_event, c)
    return SimulatedIPD(np.round(time, 6), (t_event <= c).astype(np.int8))


def nice_axis_max(t_max: float) -> tuple[float, float]:
    """(axis end, tick step) a journal figure would use for a curve ending at ``t_max``."""
    raw = t_max / 6
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 3, 5, 6, 10) if m * mag >= raw), default=10 * mag)
    return float(np.ceil(t_max / step) * step), float(step)


def digitize(
    time: np.ndarray,
    event: np.ndarray,
    style: DigitizerStyle,
    seed: int | np.random.Generator = 0,
) -> SimulatedCurve:
    """Simulate digitizing the KM curve of ``(time, event)`` in ``style``; risk table at axis ticks."""
    rng = np.random.default_rng(seed)
    time = np.asarray(time, float)
    event = np.asarray(event, int)
    km = kaplan_meier(time, event)
    has_ev = km.n_event > 0
    et = km.time[has_ev]
    s_after = km.survival[has_ev]
    s_before = np.concatenate(([1.0], s_after[:-1]))
    t_end = float(time.max())
    x_max, tick = nice_axis_max(t_end)
    px_x = x_max / style.width_px
    px_y = 1.0 / style.height_px

    # group steps the eye cannot separate: close in time, or too low to see on their own
    tops: list[tuple[float, float]] = []
    bottoms: list[tuple[float, float]] = []
    i = 0
    n_steps = et.size
    while i < n_steps:
        j = i
        while j + 1 < n_steps and (
            et[j + 1] - et[j] < style.merge_gap_px * px_x or (s_before[i] - s_after[j]) < style.min_step_px * px_y
        ):
            j += 1
        # close steps read as one drop at the first; low ones are seen where the drop becomes visible
        at = et[i] if et[j] - et[i] < style.merge_gap_px * px_x else et[j]
        tops.append((at, s_before[i]))
        bottoms.append((at, s_after[j]))
        i = j + 1
    pts: list[tuple[float, float]] = [(0.0, 1.0)]
    for (tt, st), (tb, sb) in zip(tops, bottoms, strict=True):
        if rng.random() >= style.p_miss_top:
            pts.append((tt, st))
        pts.append((tb, sb))
    last_level = float(s_after[-1]) if s_after.size else 1.0
    if not et.size or t_end > et[-1]:
        pts.append((t_end, last_level))
    arr = np.asarray(pts, float)
    arr[:, 0] += rng.normal(0, style.noise_px * px_x, arr.shape[0])
    arr[:, 1] += rng.normal(0, style.noise_px * px_y, arr.shape[0])
    if style.p_duplicate > 0:
        dup = rng.random(arr.shape[0]) < style.p_duplicate
        arr = np.vstack([arr, arr[dup]])
    if style.shuffle:
        arr = arr[rng.permutation(arr.shape[0])]
    else:
        arr = arr[np.argsort(arr[:, 0], kind="stable")]

    risk_time = np.arange(0.0, t_end + 1e-9, tick)
    n_risk = np.array([(time >= r).sum() for r in risk_time], dtype=np.int64)
    return SimulatedCurve(
        click_time=arr[:, 0],
        click_survival=arr[:, 1],
        risk_time=risk_time,
        n_risk=n_risk,
        total_n=int(time.size),
        total_events=int(event.sum()),
        x_max=x_max,
    )


def km_area_difference(time_a, event_a, time_b, event_b, horizon: float) -> float:
    """∫_0^horizon |S_a(t) - S_b(t)| dt / horizon for two KM curves (exact, step functions)."""
    ka = kaplan_meier(np.asarray(time_a, float), np.asarray(event_a))
    kb = kaplan_meier(np.asarray(time_b, float), np.asarray(event_b))
    grid = np.union1d(np.union1d(ka.time, kb.time), [0.0, horizon])
    grid = grid[(grid >= 0) & (grid <= horizon)]
    sa = ka.at(grid[:-1], "right")
    sb = kb.at(grid[:-1], "right")
    return float(np.sum(np.abs(sa - sb) * np.diff(grid)) / horizon)
