"""Where the time of KM → IPD reconstruction goes, on the curves of ``reconstruction_accuracy.py``.

For every simulated digitization (the same truth sets, styles, seeds and three modes: with a risk
table, without one, with a risk table plus the total events), times ``reconstruct`` in-process
(cleaning included, parsing excluded) as the best of a few passes over all the curves, and the
main steps inside it:

* per mode: median and p90 of the time per curve; without a risk table also split by N (up to
  166 patients single events are visible steps and the risk-set path reads them alone; above,
  it is averaged with a Weibull fit of the step heights, and both cost more with N);
* per step: mean time per curve (``clean_clicks``, the censoring fit and its marginal likelihood,
  the censoring placement, the event tracking, the fidelity figures, ...), measured by wrapping
  each step with a timer, so the sum carries a small overhead;
* ``--profile``: a cProfile listing of the slowest functions instead (profiling inflates Python-heavy
  code relative to numpy calls);
* ``--workers N``: also the batch throughput of ``reconstruct_many`` over the same curves, in this
  process and over N worker processes (wall time per curve, best of ``--repeats``, pool start-up
  included).

The per-curve time is the best of ``--repeats`` passes, so it is lower than the accuracy
benchmark's mean of five (whose first run is cold). On this shared 2-core machine the medians of
two runs still differ by up to about 10%.

Run:  .venv/bin/python benchmarks/reconstruction_speed.py [--pairs 20] [--seed 7] [--repeats 5] [--profile]
      [--mode 'no risk table'] [--workers 2]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

import meta_bm.reconstruction.censoring as censoring
import meta_bm.reconstruction.cleaning as cleaning
import meta_bm.reconstruction.engine as engine
import meta_bm.reconstruction.last_interval as last_interval
import meta_bm.reconstruction.total_events as total_events
from meta_bm.reconstruction import clicks_from_arrays, reconstruct, reconstruct_many, risk_table_from_arrays
from meta_bm.simulation import CAREFUL, SLOPPY, digitize, parametric_pairs, public_pairs

MODES = ("risk table", "no risk table", "risk table + events", "no risk table + events")
# (module, function) pairs the step table times: the name as the calling module holds it (each
# module keeps its own references to the helpers it calls, and compiled code calls its helpers
# directly, so kernels called only from kernels are not timed on their own)
STEPS = (
    (engine, "clean_clicks"),
    (cleaning, "_clean_all"),
    (engine, "fit_intervals"),
    (last_interval, "fit_censoring"),
    (censoring, "_marginal_loglik"),
    (censoring, "censoring_free_fraction"),
    (censoring, "_events_bracket"),
    (censoring, "_refine_beta"),
    (engine, "allocate"),
    (last_interval, "_censoring_times"),
    (engine, "best_placement"),
    (total_events, "track_events"),
    (engine, "fidelity"),
)


def curves(n_pairs: int, seed: int) -> list[tuple[str, object, object, dict]]:
    """(mode, clicks, risk table, keyword arguments) of every reconstruction the accuracy benchmark times."""
    out = []
    pairs = public_pairs() + list(parametric_pairs(n_pairs, seed))
    for p_i, pair in enumerate(pairs):
        for style in (CAREFUL, SLOPPY):
            sims = [digitize(t, e, style, seed=seed * 1000 + p_i * 2 + a) for a, (t, e) in enumerate(pair.arms)]
            for mode in MODES:
                for sim in sims:
                    clicks = clicks_from_arrays(sim.click_time, sim.click_survival, pair.name)
                    with_table = not mode.startswith("no risk table")
                    table = risk_table_from_arrays(sim.risk_time, sim.n_risk) if with_table else None
                    kw = {"total_n": sim.total_n, "total_events": sim.total_events if mode.endswith("events") else None}
                    out.append((mode, clicks, table, kw))
    return out


def time_curves(items: list, repeats: int) -> dict[str, list[float]]:
    """Best-of-``repeats`` milliseconds per curve, by mode.

    The repeats are whole passes over the curves (after a warm-up pass), so a slow spell of the
    machine (shared cores) costs one repeat of many curves rather than every repeat of a few.
    """
    best = [float("inf")] * len(items)
    for p in range(repeats + 1):
        for i, (_mode, clicks, table, kw) in enumerate(items):
            t0 = time.perf_counter()
            reconstruct(clicks, table, **kw)
            if p:  # (pass 0 warms up)
                best[i] = min(best[i], time.perf_counter() - t0)
    by_mode: dict[str, list[float]] = defaultdict(list)
    for (mode, *_), b in zip(items, best, strict=True):
        by_mode[mode].append(b * 1e3)
    return by_mode


def time_steps(items: list) -> dict[str, float]:
    """Mean microseconds per curve spent in each step of :data:`STEPS` (one pass over the curves)."""
    spent: dict[str, float] = defaultdict(float)
    originals = [(mod, name, getattr(mod, name)) for mod, name in STEPS]

    def timed(name: str, f: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0

        return wrapper

    try:
        for mod, name, f in originals:
            setattr(mod, name, timed(name, f))
        t0 = time.perf_counter()
        for _mode, clicks, table, kw in items:
            reconstruct(clicks, table, **kw)
        spent["reconstruct (total)"] = time.perf_counter() - t0
    finally:
        for mod, name, f in originals:
            setattr(mod, name, f)
    return {k: v / len(items) * 1e6 for k, v in spent.items()}


def time_batch(items: list, workers: int, repeats: int) -> float:
    """Best-of-``repeats`` wall milliseconds per curve of ``reconstruct_many`` over ``items``."""
    curves = [
        {"time": c.time, "survival": c.survival, "total_n": kw["total_n"], "total_events": kw["total_events"]}
        | ({"risk_time": table.time, "n_risk": table.n_risk} if table is not None else {})
        for _mode, c, table, kw in items
    ]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        results = reconstruct_many(curves, workers=workers)
        best = min(best, time.perf_counter() - t0)
        assert all(r.ok for r in results)
    return best / len(curves) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=20, help="simulated Weibull pairs (plus 10 public pairs)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print a cProfile listing instead of the step table")
    ap.add_argument("--mode", choices=MODES, help="time only the curves of this mode")
    ap.add_argument("--workers", type=int, default=0, help="also time reconstruct_many over this many processes")
    args = ap.parse_args(argv)
    items = [it for it in curves(args.pairs, args.seed) if args.mode in (None, it[0])]

    by_mode = time_curves(items, args.repeats)
    every = [v for values in by_mode.values() for v in values]
    print(f"reconstruction time per curve (ms, best of {args.repeats}), {len(every)} curves")
    printed = []
    for mode in by_mode:
        printed.append((mode, by_mode[mode]))
        if mode.startswith("no risk table"):
            n_of = [kw["total_n"] for m, _c, _t, kw in items if m == mode]
            for label, small in (("N <= 166", True), ("N > 166", False)):
                part = [v for v, n in zip(by_mode[mode], n_of, strict=True) if (n <= 166) == small]
                if part:
                    printed.append((f"  {label}", part))
    printed.append(("all", every))
    for mode, values in printed:
        print(
            f"  {mode:22} median {statistics.median(values):6.3f}  p90 {np.quantile(values, 0.9):6.3f}  "
            f"max {max(values):6.3f}  ({len(values)})"
        )

    if args.workers > 1:
        print(f"\nbatch (reconstruct_many), wall ms per curve, best of {args.repeats}")
        for w in (1, args.workers):
            print(f"  {w} process{'es' if w > 1 else '  '}  {time_batch(items, w, args.repeats):6.3f}")

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _mode, clicks, table, kw in items:
            reconstruct(clicks, table, **kw)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return 0
    print("\nmean time per curve in each step (us; nested steps are included in their callers)")
    for name, us in sorted(time_steps(items).items(), key=lambda kv: -kv[1]):
        print(f"  {name:28} {us:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
