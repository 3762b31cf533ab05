"""Cox proportional hazards for one covariate, Efron ties, Newton–Raphson to full convergence.

Implements the partial likelihood as R's ``coxph(Surv(time, event) ~ x, ties = "efron")``; used to
judge reconstructions by the log hazard ratio between two arms. (The full Cox suite with strata and
robust variance belongs to the pooled-analysis module.)

Example
-------
>>> import numpy as np
>>> t = np.array([1, 2, 3, 4, 5, 6.]); e = np.array([1, 1, 1, 1, 1, 0]); x = np.array([0, 1, 0, 1, 0, 1.])
>>> round(cox_log_hr(t, e, x), 6)
-0.632052
"""

from __future__ import annotations

import numpy as np


def cox_log_hr(time: np.ndarray, event: np.ndarray, x: np.ndarray, tol: float = 1e-12) -> float:
    """Maximum partial-likelihood estimate of beta (Efron ties) for a single covariate ``x``."""
    time = np.asarray(time, float)
    event = np.asarray(event, int)
    x = np.asarray(x, float)
    order = np.argsort(-time, kind="stable")  # descending: risk sets are prefixes
    t, e, xv = time[order], event[order], x[order]
    uniq_desc, first = np.unique(-t, return_index=True)
    # per distinct time (descending): index range [first, next_first)
    bounds = np.append(first, t.size)
    beta = 0.0
    for _ in range(100):
        w = np.exp(beta * xv)
        cw, cwx, cwxx = np.cumsum(w), np.cumsum(w * xv), np.cumsum(w * xv * xv)
        score = 0.0
        info = 0.0
        for k in range(uniq_desc.size):
            lo, hi = bounds[k], bounds[k + 1]
            ev = e[lo:hi] == 1
            d = int(ev.sum())
            if d == 0:
                continue
            r0, r1, r2 = cw[hi - 1], cwx[hi - 1], cwxx[hi - 1]
            dw, dwx, dwxx = w[lo:hi][ev].sum(), (w * xv)[lo:hi][ev].sum(), (w * xv * xv)[lo:hi][ev].sum()
            score += xv[lo:hi][ev].sum()
            for j in range(d):
                f = j / d
                s0, s1, s2 = r0 - f * dw, r1 - f * dwx, r2 - f * dwxx
                m = s1 / s0
                score -= m
                info += s2 / s0 - m * m
        if info <= 0:
            return float("nan")
        step = score / info
        beta += step
        if abs(step) < tol:
            break
    return float(beta)
