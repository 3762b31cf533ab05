"""Accuracy and speed of KM → IPD reconstruction on simulated digitizations with known truth.

For every two-arm truth set (real data shipped with lifelines + simulated Weibull trials), each
arm's KM curve is digitized by a simulated person (careful and sloppy styles), reconstructed with
a risk table, without one (total N only), and with the total events added to either, and judged
against the true IPD:

* area: ∫|S_rec − S_true| dt / follow-up (follow-up = last true time of the arm)
* |events − true| / N
* |log HR error|: Cox (Efron) log HR between the two reconstructed arms minus the true one
* time: in-process reconstruction per curve (cleaning included, parsing excluded)
* floor: the same area between the cleaned clicks themselves and the truth, i.e. the error the
  simulated digitizing put in before any reconstruction

Run:  .venv/bin/python benchmarks/reconstruction_accuracy.py [--pairs 60] [--seed 7]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict

import numpy as np
from _common import STYLE_NAMES, digitized, parse_args, print_header, record_curve, record_log_hr, truth_sets

from meta_bm.reconstruction import clean_clicks, clicks_from_arrays, reconstruct, risk_table_from_arrays
from meta_bm.survival.km import kaplan_meier

MODES = ("risk table", "no risk table", "risk table + events", "no risk table + events")


def digitizing_floor(sim, t: np.ndarray, e: np.ndarray) -> float:
    """∫|S_clicks − S_true| dt / follow-up: the error already in the cleaned clicks (step function)."""
    curve = clean_clicks(clicks_from_arrays(sim.click_time, sim.click_survival))
    km = kaplan_meier(t, e)
    grid = np.union1d(np.union1d(curve.time, km.time), [0.0, float(t.max())])
    grid = grid[grid <= t.max()]
    s_clicks = curve.survival[np.searchsorted(curve.time, grid[:-1], side="right") - 1]
    s_true = km.at(grid[:-1])
    return float(np.sum(np.abs(s_clicks - s_true) * np.diff(grid)) / t.max())


def run(n_pairs: int, seed: int, repeats: int = 5) -> dict:
    pairs = truth_sets(n_pairs, seed)
    rows: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failures: dict[tuple[str, str], int] = defaultdict(int)
    timings: list[float] = []
    for d in digitized(pairs, seed):
        pair, style = d.pair, d.style
        for (t, e), sim in zip(pair.arms, d.sims, strict=True):
            rows[(style.name, "floor")]["area"].append(digitizing_floor(sim, t, e))
        for mode in MODES:
            recs = []
            for (t, e), sim in zip(pair.arms, d.sims, strict=True):
                try:
                    clicks = clicks_from_arrays(sim.click_time, sim.click_survival, pair.name)
                    with_table = not mode.startswith("no risk table")
                    table = risk_table_from_arrays(sim.risk_time, sim.n_risk) if with_table else None
                    kw = dict(total_n=sim.total_n, total_events=sim.total_events if mode.endswith("events") else None)
                    t0 = time.perf_counter()
                    for _ in range(repeats):
                        rec = reconstruct(clicks, table, **kw)
                    timings.append((time.perf_counter() - t0) / repeats)
                except Exception as exc:
                    failures[(style.name, mode)] += 1
                    print(f"FAIL {pair.name} {style.name} {mode}: {exc}", file=sys.stderr)
                    recs.append(None)
                    continue
                r = rows[(style.name, mode)]
                record_curve(r, rec, t, e)
                # by N: up to 166 single events are visible steps (the risk-set path alone)
                r["events N<=166" if t.size <= 166 else "events N>166"].append(r["events"][-1])
                r["rmse"].append(rec.fidelity.rmse)
                r["max_err"].append(rec.fidelity.max_abs_error)
                recs.append(rec)
            record_log_hr(rows[(style.name, mode)], recs, d.true_log_hr)
    return {"rows": rows, "failures": failures, "timings": timings, "n_curves": 2 * len(pairs)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    res = run(args.pairs, args.seed)
    print(f"curves per style and mode: {res['n_curves']}")
    hdr = (
        f"{'style':8} {'mode':22} {'fail':>4} {'area':>8} {'area p90':>8} {'|ev err|/N':>10} "
        f"{'|logHR err|':>11} {'RMSE':>7} {'max err':>7}"
    )
    print_header(hdr)
    for style in STYLE_NAMES:
        for mode in MODES:
            r = res["rows"][(style, mode)]
            print(
                f"{style:8} {mode:22} {res['failures'][(style, mode)]:>4} {np.mean(r['area']):8.5f} "
                f"{np.quantile(r['area'], 0.9):8.5f} {np.mean(r['events']):10.4f} {np.mean(r['loghr']):11.4f} "
                f"{np.mean(r['rmse']):7.4f} {np.mean(r['max_err']):7.4f}"
            )
    print("\nwithout a risk table, |event error|/N by N (curves):")
    for style in STYLE_NAMES:
        r = res["rows"][(style, "no risk table")]
        parts = [f"{k[7:]}: {np.mean(r[k]):.4f} ({len(r[k])})" for k in ("events N<=166", "events N>166") if r[k]]
        print(f"  {style:8} " + ", ".join(parts))
    for style in STYLE_NAMES:
        floor = np.mean(res["rows"][(style, "floor")]["area"])
        print(f"{style:8} {'digitized clicks (floor)':22} {'':>4} {floor:8.5f}")
    tm = np.asarray(res["timings"]) * 1e3
    print(
        f"\nreconstruction time per curve (ms): median {statistics.median(tm):.3f}, "
        f"p90 {np.quantile(tm, 0.9):.3f}, max {tm.max():.3f} over {tm.size} reconstructions"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
