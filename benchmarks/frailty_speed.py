"""Time and peak memory of the shared gamma-frailty Cox fit (``meta_bm.survival.frailty.gamma_frailty_cox``).

What the platform runs once per pooled analysis: ``coxph(Surv(t, e) ~ x + frailty(study))`` with one cluster per
study. Simulated data: K clusters of 40 patients each, binary x (log HR 0.5), gamma frailties of variance 0.5,
exponential event times (rate 0.1) censored by exponential times (rate 0.05), times rounded to 1 decimal (ties).
For each K: wall time of R's default search (``fit="r_default"``) and of the profile-likelihood maximum
(``fit="profile"``), each best of ``--repeats`` runs, and the peak memory that numpy allocated during one run
(``tracemalloc``, which sees numpy's buffers; the run under tracemalloc is not the timed one).

Run:  .venv/bin/python benchmarks/frailty_speed.py [--ks 10 50 200 1000 3000] [--repeats 1] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from meta_bm.survival.frailty import FrailtyCoxResult, gamma_frailty_cox

PATIENTS_PER_CLUSTER = 40


def simulate(k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """K clusters x 40 patients: (time, event, x, cluster), as described in the module notes."""
    rng = np.random.default_rng(seed)
    n = k * PATIENTS_PER_CLUSTER
    cluster = np.repeat(np.arange(k), PATIENTS_PER_CLUSTER)
    frail = rng.gamma(shape=2.0, scale=0.5, size=k)  # mean 1, variance 0.5
    x = rng.integers(0, 2, size=n).astype(float)
    t_event = rng.exponential(1.0 / (0.1 * frail[cluster] * np.exp(0.5 * x)))
    t_cens = rng.exponential(1.0 / 0.05, size=n)
    time_ = np.round(np.minimum(t_event, t_cens), 1) + 0.1
    event = (t_event <= t_cens).astype(float)
    return time_, event, x, cluster


def measure(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best wall seconds of ``repeats`` runs, peak traced MiB of one further run)."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak / 2**20


def time_fit(data: tuple, mode: str, repeats: int) -> tuple[float, float, FrailtyCoxResult]:
    """(seconds, peak MiB, the fit) of ``gamma_frailty_cox(*data, fit=mode)``."""
    fits: list[FrailtyCoxResult] = []
    sec, mib = measure(lambda: fits.append(gamma_frailty_cox(*data, fit=mode)), repeats)
    return sec, mib, fits[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 50, 200, 1000, 3000])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        f"{'K':>6} {'n':>7} {'events':>7} | {'r_default s':>11} {'MiB':>7} {'theta':>8} | "
        f"{'profile s':>9} {'MiB':>7} {'theta':>8} {'fits':>5}"
    )
    for k in args.ks:
        t, e, x, g = simulate(k, args.seed)
        (rs, rm, rf), (ps, pm, pf) = (time_fit((t, e, x, g), mode, args.repeats) for mode in ("r_default", "profile"))
        print(
            f"{k:>6} {t.size:>7} {int(e.sum()):>7} | {rs:>11.3f} {rm:>7.1f} {rf.theta:>8.4f} | "
            f"{ps:>9.3f} {pm:>7.1f} {pf.theta:>8.4f} {pf.iterations:>5}",
            flush=True,
        )


if __name__ == "__main__":
    main()
