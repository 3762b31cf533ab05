"""Inference on a Kaplan–Meier estimate: Greenwood SE, median CI, landmark survival and RMST.

Reproduces R ``survival`` 3.5 (``survfit`` / ``print`` / ``summary``) and, for the median CI, also the
symmetric interval of IBM SPSS's KM algorithm. Works on the :class:`~meta_bm.survival.km.KaplanMeier`
table (one row per distinct time, censor-only rows included, as in ``survfit``).

Conventions shared by all functions (R's ``survfit_confint``):

- sigma(t) = sqrt(sum_{t_j <= t} d_j / (n_j (n_j - d_j))), the Greenwood SE of log S(t) (R's ``std.err``);
  it is infinite from the row where n_j = d_j (S drops to 0), where every interval is undefined (NaN).
- ``log``: S exp(-+ z sigma), upper limit clipped at 1; ``log-log``: exp(-exp(log(-log S) +- z sigma / |log S|)),
  undefined where S is 0 or 1; ``plain``: S -+ z S sigma clipped to [0, 1].
- z is the standard normal quantile for a two-sided ``level``.

Example
-------
>>> import numpy as np
>>> from meta_bm.survival.km import kaplan_meier
>>> km = kaplan_meier(np.array([1, 2, 2, 3, 4, 5.0]), np.array([1, 1, 0, 1, 0, 1]))
>>> median_ci(km)
MedianCI(median=3.0, lower=2.0, upper=nan, method='log', level=0.95, se=nan)
>>> round(rmst(km, 4.0).estimate, 4)  # 1 + 5/6 + 4/6 + 4/9
2.9444
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from meta_bm.survival.km import KaplanMeier, event_indicator, kaplan_meier, quantile_time

__all__ = [
    "RMST",
    "MedianCI",
    "SurvivalAt",
    "SurvivalCI",
    "greenwood_se",
    "median_ci",
    "median_followup",
    "rmst",
    "survival_at",
    "survival_ci",
]

CONF_TYPES = ("log", "log-log", "plain")
MEDIAN_METHODS = (*CONF_TYPES, "spss")
# tolerance for "S equals a threshold", as in km.quantile_time (cumprod roundoff)
_TOL = 1e-12


@dataclass(frozen=True)
class MedianCI:
    """Median survival time and its confidence interval; NaN where undefined or not reached.

    ``se`` is the standard error of the median where the method has one: SPSS's
    ``SE(S(t50)) / f`` (the value SPSS prints as "Std. Error" of the median); NaN for the
    transformed-band methods, whose limits are read off the pointwise CI curves instead.
    """

    median: float
    lower: float
    upper: float
    method: str
    level: float
    se: float = math.nan


@dataclass(frozen=True)
class SurvivalAt:
    """S(t) at a landmark ``time`` with Greenwood SE (survival scale) and pointwise CI."""

    time: float
    survival: float
    se: float
    lower: float
    upper: float
    n_risk: int
    conf_type: str


@dataclass(frozen=True)
class RMST:
    """Restricted mean survival time up to ``horizon`` with SE and symmetric normal CI."""

    horizon: float
    estimate: float
    se: float
    lower: float
    upper: float


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(norm.ppf(0.5 + level / 2.0))


def _log_sigma(km: KaplanMeier) -> np.ndarray:
    """Greenwood SE of log S at each row (R's ``survfit`` ``std.err``); inf once n == d."""
    n = km.n_risk.astype(float)
    d = km.n_event.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n > d, d / (n * (n - d)), np.inf)
    return np.sqrt(np.cumsum(term))


def _pointwise_ci(surv: np.ndarray, sigma: np.ndarray, conf_type: str, z: float) -> tuple[np.ndarray, np.ndarray]:
    """R's pointwise CI for S from sigma = SE of log S; NaN where R gives NA."""
    nan = np.full(surv.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            half = z * sigma * surv  # inf * 0 = NaN where S = 0, as in R
            return np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        if conf_type == "log":
            ok = surv > 0
            lower = np.where(ok, surv * np.exp(-z * sigma), nan)
            upper = np.where(ok, np.minimum(surv * np.exp(z * sigma), 1.0), nan)
            return lower, upper
        if conf_type == "log-log":
            ok = (surv > 0) & (surv < 1)
            log_s = np.log(np.where(ok, surv, 0.5))
            shift = z * sigma / np.abs(log_s)
            lower = np.where(ok, np.exp(-np.exp(np.log(-log_s) + shift)), nan)
            upper = np.where(ok, np.exp(-np.exp(np.log(-log_s) - shift)), nan)
            return lower, upper
    raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")


def greenwood_se(km: KaplanMeier) -> np.ndarray:
    """Greenwood standard error of S(t) on the survival scale at each ``km.time``.

    Implements S(t) * sqrt(sum_{t_j <= t} d_j / (n_j (n_j - d_j))), i.e. R's ``survfit`` ``std.err * surv``
    (what ``summary(survfit(...))`` prints). NaN where S(t) = 0 (R prints ``NaN`` there).

    Example
    -------
    >>> import numpy as np
    >>> from meta_bm.survival.km import kaplan_meier
    >>> km = kaplan_meier(np.array([1, 2, 3.0]), np.array([1, 1, 1]))
    >>> greenwood_se(km).round(6).tolist()  # sqrt(S(1 - S) / 3) while everyone is followed
    [0.272166, 0.272166, nan]
    """
    sigma = _log_sigma(km)
    with np.errstate(invalid="ignore"):
        return np.where(km.survival > 0, km.survival * sigma, np.nan)


def _band_time(time: np.ndarray, band: np.ndarray) -> float:
    """First time a pointwise CI curve is <= 0.5, with the median's midpoint rule; NA points are skipped."""
    ok = ~np.isnan(band)
    return quantile_time(time[ok], band[ok], 0.5) if ok.any() else math.nan


def median_ci(km: KaplanMeier, method: str = "log", level: float = 0.95) -> MedianCI:
    """Median survival time with a confidence interval.

    Methods
    -------
    ``"log"``, ``"log-log"``, ``"plain"``
        R's ``print(survfit(..., conf.type=method, conf.int=level))``: the median is ``km.median()``; the lower
        (upper) limit is the first time the lower (upper) pointwise CI curve of S is <= 0.5, with the same
        midpoint rule as the median and skipping the points where the curve is NA; NaN if never reached.
    ``"spss"``
        IBM SPSS KM algorithm: t50 = first event time with S <= 0.5 (no midpoint rule);
        f = (S(u) - S(l)) / (l - u) with u the last event time with S >= 0.55 (u = 0, S = 1 if none) and
        l the first event time with S <= 0.45; SE = Greenwood SE of S(t50) / f; CI = t50 -+ z SE, not
        truncated at 0. SPSS has only a 95% interval and uses z = 1.96 for it; other levels use the normal
        quantile. The CI is NaN when S never reaches 0.45.

    Example
    -------
    >>> import numpy as np
    >>> from meta_bm.survival.km import kaplan_meier
    >>> km = kaplan_meier(np.arange(1, 11.0), np.ones(10))
    >>> median_ci(km, "plain")
    MedianCI(median=5.5, lower=3.0, upper=8.0, method='plain', level=0.95, se=nan)
    >>> spss = median_ci(km, "spss")  # t50 = 5, f = (0.6 - 0.4) / (6 - 4), SE = sqrt(0.5 * 0.5 / 10) / f
    >>> round(spss.se, 4), round(spss.upper, 4)
    (1.5811, 8.099)
    """
    if method not in MEDIAN_METHODS:
        raise ValueError(f"method must be one of {MEDIAN_METHODS}, got {method!r}")
    z = _z(level)
    nan = math.nan
    if km.time.size == 0:
        return MedianCI(nan, nan, nan, method, level)
    if method == "spss":
        return _median_ci_spss(km, 1.96 if level == 0.95 else z, level)
    lower, upper = _pointwise_ci(km.survival, _log_sigma(km), method, z)
    return MedianCI(km.median(), _band_time(km.time, lower), _band_time(km.time, upper), method, level)


def _median_ci_spss(km: KaplanMeier, z: float, level: float) -> MedianCI:
    nan = math.nan
    ev = km.n_event > 0  # SPSS works on event times only
    t, s, se_s = km.time[ev], km.survival[ev], greenwood_se(km)[ev]
    below = np.flatnonzero(s <= 0.5 + _TOL)
    if below.size == 0:
        return MedianCI(nan, nan, nan, "spss", level)
    i = int(below[0])
    t50 = float(t[i])
    low = np.flatnonzero(s <= 0.45 + _TOL)
    if low.size == 0:
        return MedianCI(t50, nan, nan, "spss", level)
    high = np.flatnonzero(s >= 0.55 - _TOL)
    u, s_u = (float(t[high[-1]]), float(s[high[-1]])) if high.size else (0.0, 1.0)
    l_time, s_l = float(t[low[0]]), float(s[low[0]])
    se = float(se_s[i]) * (l_time - u) / (s_u - s_l)
    if not math.isfinite(se):
        return MedianCI(t50, nan, nan, "spss", level)
    return MedianCI(t50, t50 - z * se, t50 + z * se, "spss", level, se)


def survival_at(
    km: KaplanMeier, times: float | Sequence[float] | np.ndarray, conf_type: str = "log", level: float = 0.95
) -> list[SurvivalAt]:
    """Survival at landmark times, as R's ``summary(survfit(..., conf.type=conf_type), times=times)``.

    S is right-continuous (events at t are included), the SE is Greenwood's on the survival scale and the
    CI is survfit's pointwise ``conf_type`` interval (NaN where R gives NA: S = 0, and S = 1 at a table time for
    ``log-log``). Before the first time S = 1, SE 0 and CI (1, 1). Beyond the last
    follow-up time R reports nothing (``extend=FALSE``): survival, se and limits are NaN and ``n_risk`` 0.
    ``n_risk`` is the number at risk at t (time >= t).

    Example
    -------
    >>> import numpy as np
    >>> from meta_bm.survival.km import kaplan_meier
    >>> km = kaplan_meier(np.array([1, 2, 3.0]), np.array([1, 1, 1]))
    >>> s = survival_at(km, 2.5, conf_type="plain")[0]
    >>> round(s.survival, 4), round(s.se, 4), round(s.lower, 4), round(s.upper, 4), s.n_risk
    (0.3333, 0.2722, 0.0, 0.8668, 1)
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    t = np.atleast_1d(np.asarray(times, float))
    if np.isnan(t).any():
        raise ValueError("times must not be NaN")
    z = _z(level)
    # prepend the origin (S = 1, sigma = 0) so that times before the first row index it
    surv = np.concatenate(([1.0], km.survival))
    sigma = np.concatenate(([0.0], _log_sigma(km)))
    lower, upper = _pointwise_ci(surv, sigma, conf_type, z)
    lower[0] = upper[0] = 1.0  # R reports (1, 1) before the first time, even for log-log
    with np.errstate(invalid="ignore"):
        se = np.where(surv > 0, surv * sigma, np.nan)
    idx = np.searchsorted(km.time, t, side="right")  # right-continuous: row of the last time <= t, plus 1
    beyond = t > km.time[-1] if km.time.size else np.ones(t.shape, bool)
    n_risk = km.at_risk(t)
    out = []
    for k, tk in enumerate(t.tolist()):
        if beyond[k]:
            out.append(SurvivalAt(tk, math.nan, math.nan, math.nan, math.nan, int(n_risk[k]), conf_type))
        else:
            j = idx[k]
            out.append(
                SurvivalAt(
                    tk, float(surv[j]), float(se[j]), float(lower[j]), float(upper[j]), int(n_risk[k]), conf_type
                )
            )
    return out


def rmst(km: KaplanMeier, horizon: float, level: float = 0.95) -> RMST:
    """Restricted mean survival time: the area under S from 0 to ``horizon``.

    Reproduces R's ``print(survfit(...), rmean=horizon)`` and ``survRM2::rmst2``: S is carried forward past
    the last time when ``horizon`` lies beyond it; SE^2 = sum_{t_j <= horizon} A_j^2 d_j / (n_j (n_j - d_j))
    with A_j the area under S from t_j to ``horizon`` (a term is 0 where n_j = d_j, as in R);
    CI = estimate -+ z SE. Times are taken to be >= 0.

    Example
    -------
    >>> import numpy as np
    >>> from meta_bm.survival.km import kaplan_meier
    >>> km = kaplan_meier(np.array([1, 2, 3.0]), np.array([1, 1, 1]))
    >>> r = rmst(km, 2.5)  # 1 + 2/3 + 0.5 * 1/3
    >>> round(r.estimate, 4), round(r.se, 4)
    (1.8333, 0.36)
    """
    horizon = float(horizon)
    if not (math.isfinite(horizon) and horizon >= 0):
        raise ValueError(f"horizon must be finite and >= 0, got {horizon!r}")
    z = _z(level)
    if km.time.size == 0:  # no follow-up at all
        return RMST(horizon, math.nan, math.nan, math.nan, math.nan)
    keep = km.time <= horizon
    grid = np.concatenate(([0.0], km.time[keep], [horizon]))
    height = np.concatenate(([1.0], km.survival[keep]))  # S on [grid[i], grid[i+1])
    area = np.diff(grid) * height
    estimate = float(area.sum())
    tail = np.cumsum(area[::-1])[::-1][1:]  # tail[k] = area under S from the k-th kept time to the horizon
    n = km.n_risk[keep].astype(float)
    d = km.n_event[keep].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(n > d, d / (n * (n - d)), 0.0)
    se = math.sqrt(float(np.sum(tail**2 * h)))
    return RMST(horizon, estimate, se, estimate - z * se, estimate + z * se)


@dataclass(frozen=True, eq=False)
class SurvivalCI:
    """Pointwise confidence limits of S at every row of a :class:`~meta_bm.survival.km.KaplanMeier` table.

    ``time`` and ``survival`` are the table's; ``lower`` / ``upper`` are NaN where R gives NA.
    """

    time: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    conf_type: str
    level: float


def survival_ci(km: KaplanMeier, conf_type: str = "log", level: float = 0.95) -> SurvivalCI:
    """Pointwise CI curves of S, as R's ``survfit(..., conf.type=conf_type, conf.int=level)`` ``lower`` / ``upper``.

    Greenwood SE of log S with the ``conf_type`` transform (``"log"`` is R's default); NaN where R gives NA
    (S = 0, and S = 1 for ``log-log``). Before the first time S = 1 with limits (1, 1); that origin is not a row.

    Example
    -------
    >>> import numpy as np
    >>> from meta_bm.survival.km import kaplan_meier
    >>> ci = survival_ci(kaplan_meier(np.array([1, 2, 3, 4.0]), np.array([1, 0, 1, 1])))
    >>> ci.lower.round(4).tolist(), ci.upper.round(4).tolist()  # R: survfit(Surv(time, event) ~ 1)$lower / $upper
    ([0.4259, 0.4259, 0.0839, nan], [1.0, 1.0, 1.0, nan])
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    lower, upper = _pointwise_ci(km.survival, _log_sigma(km), conf_type, _z(level))
    return SurvivalCI(km.time, km.survival, lower, upper, conf_type, level)


def median_followup(time, event) -> float:
    """Median follow-up by the reverse Kaplan–Meier method (Schemper & Smith 1996): the KM median of the
    time to censoring, with the event indicator flipped and R's median rule (midpoint where the curve lies
    on 0.5). NaN when not reached (nobody censored at or beyond half the cohort) or with no patients.

    As R ``quantile(survfit(Surv(time, 1 - event) ~ 1), 0.5)``.

    >>> median_followup([1, 2, 3, 4, 5, 6], [1, 0, 1, 0, 0, 0])
    5.0
    """
    t = np.asarray(time, dtype=float)
    if t.ndim != 1:
        raise ValueError("follow-up: time must be one-dimensional")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("follow-up: times must be finite and non-negative")
    censored = ~event_indicator(event, t.size)
    return kaplan_meier(t, censored.astype(np.int64)).median() if t.size else math.nan
