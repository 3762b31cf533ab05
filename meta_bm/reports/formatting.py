"""How numbers are printed in the report: the conventions of clinical journals, in one place.

* p-values: ``<0.001`` below 0.001, else 3 significant digits with at most 3 decimals (0.0123 → ``0.012``,
  0.04999 → ``0.050``), as e.g. the NEJM / JAMA style guides print them.
* Hazard ratios: ``0.66 [0.52–0.84]``, 2 decimals, 3 for a number below 0.1.
* Times (medians, follow-up, RMST) in months to 1 decimal; a median that is not reached is ``NR``.
* Survival in whole percent.
* A value that is missing or not estimable (None, NaN) prints as an en dash (``NR`` for medians), never
  ``nan`` / ``None``; booleans print as ``yes`` / ``no``.

Every function checks what it is given: a number out of its range (a p-value above 1, a negative hazard
ratio, an infinite time) raises ValueError naming the problem rather than printing nonsense.

Example
-------
>>> fmt_p(0.0123), fmt_p(0.0004), fmt_hr(0.6641, 0.5213, 0.8402), fmt_months(14.104)
('0.012', '<0.001', '0.66 [0.52–0.84]', '14.1')
"""

from __future__ import annotations

import math
from numbers import Real

from meta_bm.studies.manifest import MONTHS_PER_UNIT

__all__ = [
    "DASH",
    "MINUS",
    "fmt_bool",
    "fmt_diff",
    "fmt_hr",
    "fmt_int",
    "fmt_median",
    "fmt_months",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "fmt_pct_ci",
    "fmt_rmse",
    "is_missing",
    "to_months",
]

DASH = "–"  # en dash: missing values and ranges
MINUS = "−"  # the typographic minus sign


def is_missing(x: object) -> bool:
    """True for None and float NaN (how the analysis tables mark "not estimable").

    >>> is_missing(None), is_missing(float("nan")), is_missing(0.0)
    (True, True, False)
    """
    return x is None or (isinstance(x, float) and math.isnan(x))


def _real(x: object, what: str) -> float:
    """``x`` as a finite float (ValueError otherwise)."""
    if isinstance(x, bool) or not isinstance(x, Real):
        raise ValueError(f"{what}: expected a number, got {x!r}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{what}: expected a finite number, got {x!r}")
    return v


def _fixed(v: float, decimals: int) -> str:
    """Fixed-point with a typographic minus; never ``-0.0``."""
    s = f"{v:.{decimals}f}"
    if s.startswith("-"):
        s = s[1:] if float(s) == 0 else MINUS + s[1:]
    return s


def fmt_p(p: object) -> str:
    """A p-value as journals print it.

    ``<0.001`` below 0.001; else 3 significant digits with at most 3 decimals; ``–`` when missing.

    >>> [fmt_p(x) for x in (0.0123, 0.357, 0.04999, 0.00099, 0.96, 1.0, None)]
    ['0.012', '0.357', '0.050', '<0.001', '0.960', '1.00', '–']
    """
    if is_missing(p):
        return DASH
    v = _real(p, "p-value")
    if not 0.0 <= v <= 1.0 + 1e-12:
        raise ValueError(f"p-value: must lie in [0, 1], got {p!r}")
    if v < 0.001:
        return "<0.001"
    decimals = min(3, 2 - math.floor(math.log10(v)))
    return _fixed(min(v, 1.0), decimals)


def _ratio(v: float) -> str:
    return _fixed(v, 3 if v < 0.1 else 2)


def fmt_hr(hr: object, lower: object = None, upper: object = None) -> str:
    """A hazard ratio with its 95% CI: ``0.66 [0.52–0.84]`` (2 decimals, 3 when below 0.1).

    A CI limit that could not be estimated prints as ``NE``; a missing HR as ``–`` alone.

    >>> fmt_hr(0.664, 0.52, 0.84), fmt_hr(0.0512, 0.0101, 0.26), fmt_hr(1.2), fmt_hr(None, 0.5, 2.0)
    ('0.66 [0.52–0.84]', '0.051 [0.010–0.26]', '1.20', '–')
    >>> fmt_hr(2.5, None, 3.1)
    '2.50 [NE–3.10]'
    """
    if is_missing(hr):
        return DASH
    v = _real(hr, "hazard ratio")
    if v <= 0:
        raise ValueError(f"hazard ratio: must be positive, got {hr!r}")
    out = _ratio(v)
    if is_missing(lower) and is_missing(upper):
        return out
    lims = []
    for lim, name in ((lower, "lower"), (upper, "upper")):
        if is_missing(lim):
            lims.append("NE")
            continue
        w = _real(lim, f"hazard ratio {name} limit")
        if w <= 0:
            raise ValueError(f"hazard ratio {name} limit: must be positive, got {lim!r}")
        lims.append(_ratio(w))
    return f"{out} [{lims[0]}{DASH}{lims[1]}]"


def fmt_num(x: object, decimals: int = 2, missing: str = DASH) -> str:
    """A finite number to ``decimals`` decimals (typographic minus); ``missing`` for None / NaN.

    >>> fmt_num(-0.49414, 3), fmt_num(float("nan")), fmt_num(-0.0001, 2)
    ('−0.494', '–', '0.00')
    """
    if is_missing(x):
        return missing
    return _fixed(_real(x, "number"), decimals)


def fmt_int(x: object) -> str:
    """A count: whole number, ``–`` when missing; a fractional or negative count is an error.

    >>> fmt_int(348), fmt_int(12.0), fmt_int(None)
    ('348', '12', '–')
    """
    if is_missing(x):
        return DASH
    v = _real(x, "count")
    if v < 0 or v != int(v):
        raise ValueError(f"count: must be a non-negative whole number, got {x!r}")
    return str(int(v))


def fmt_months(x: object, missing: str = DASH) -> str:
    """A time in months to 1 decimal (medians, follow-up, RMST); must be non-negative.

    >>> fmt_months(14.104), fmt_months(None), fmt_months(None, missing="NR")
    ('14.1', '–', 'NR')
    """
    if is_missing(x):
        return missing
    v = _real(x, "time in months")
    if v < 0:
        raise ValueError(f"time in months: must not be negative, got {x!r}")
    return _fixed(v, 1)


def fmt_median(median: object, lower: object = None, upper: object = None, with_ci: bool = True) -> str:
    """A median survival time in months with its 95% CI; ``NR`` for what is not reached.

    >>> fmt_median(14.104, 11.958, 16.705), fmt_median(None, 20.3, None), fmt_median(9.2, with_ci=False)
    ('14.1 [12.0–16.7]', 'NR [20.3–NR]', '9.2')
    """
    out = fmt_months(median, missing="NR")
    if not with_ci:
        return out
    return f"{out} [{fmt_months(lower, missing='NR')}{DASH}{fmt_months(upper, missing='NR')}]"


def fmt_pct(s: object) -> str:
    """A survival probability (0..1) in whole percent, without the sign.

    >>> fmt_pct(0.768445), fmt_pct(1.0), fmt_pct(None)
    ('77', '100', '–')
    """
    if is_missing(s):
        return DASH
    v = _real(s, "survival probability")
    if not -1e-12 <= v <= 1.0 + 1e-12:
        raise ValueError(f"survival probability: must lie in [0, 1], got {s!r}")
    return f"{round(100 * min(max(v, 0.0), 1.0)):.0f}"


def fmt_pct_ci(s: object, lower: object = None, upper: object = None) -> str:
    """Survival in whole percent with its 95% CI: ``77 [72–82]``.

    >>> fmt_pct_ci(0.768445, 0.724053, 0.815559)
    '77 [72–82]'
    """
    if is_missing(s):
        return DASH
    if is_missing(lower) and is_missing(upper):
        return fmt_pct(s)
    return f"{fmt_pct(s)} [{fmt_pct(lower)}{DASH}{fmt_pct(upper)}]"


def fmt_rmse(x: object) -> str:
    """A curve-fit error on the survival scale (0..1): 4 decimals, ``<0.0001`` below that.

    >>> fmt_rmse(0.0014781), fmt_rmse(1.0e-9)
    ('0.0015', '<0.0001')
    """
    if is_missing(x):
        return DASH
    v = _real(x, "error on the survival scale")
    if not 0 <= v <= 1:
        raise ValueError(f"error on the survival scale: must lie in [0, 1], got {x!r}")
    return "<0.0001" if v < 0.00005 else f"{v:.4f}"


def fmt_bool(x: object) -> str:
    """``yes`` / ``no`` (``–`` when missing), never Python's ``True``.

    >>> fmt_bool(True), fmt_bool(False), fmt_bool(None)
    ('yes', 'no', '–')
    """
    if is_missing(x):
        return DASH
    if not isinstance(x, bool):
        raise ValueError(f"flag: expected True or False, got {x!r}")
    return "yes" if x else "no"


def fmt_diff(ours: object, published: object, decimals: int = 1) -> str:
    """``ours − published`` with an explicit sign (``+0.3``, ``−0.6``); ``–`` when either is missing.

    >>> fmt_diff(14.10, 14.74), fmt_diff(0.61, 0.664, 2), fmt_diff(None, 1.0)
    ('−0.6', '−0.05', '–')
    """
    if is_missing(ours) or is_missing(published):
        return DASH
    d = _real(ours, "our value") - _real(published, "published value")
    s = _fixed(d, decimals)
    return s if s.startswith(MINUS) or float(s.replace(MINUS, "-")) == 0 else "+" + s


def to_months(x: object, unit: str) -> float | None:
    """A time in ``unit`` (days, weeks, months, years) in months, by ``MONTHS_PER_UNIT`` (1 year = 12
    months, 1 month = 365.25 / 12 days); None when missing.

    >>> round(to_months(65.6813, "weeks"), 3), to_months(None, "days")
    (15.105, None)
    """
    if unit not in MONTHS_PER_UNIT:
        raise ValueError(f"time unit: expected one of {sorted(MONTHS_PER_UNIT)}, got {unit!r}")
    if is_missing(x):
        return None
    return _real(x, f"time in {unit}") * MONTHS_PER_UNIT[unit]
