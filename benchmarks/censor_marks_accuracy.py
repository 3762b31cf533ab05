"""Does knowing the censoring marks' times help? Reconstruction with and without them, against known truth.

The truth sets, simulated digitizing and measures of ``reconstruction_accuracy.py`` (real data shipped
with lifelines + simulated Weibull trials, careful and sloppy digitizing), each arm reconstructed
with a risk table and without one (total N only), and with the censoring marks given as:

* none: as before;
* exact: the distinct true censored times (one mark per distinct censored time);
* jittered: those moved by up to half a pixel of a 600 px plot (uniform), as a figure reader finds them;
* merged: marks less than a pixel apart drawn as one (the first kept), then jittered.

Measures (mean over curves): area ∫|S_rec − S_true| dt / follow-up; |events − true| / N; |log HR
error| (Cox, Efron) between the two reconstructed arms; censoring-time error: the censored times of
the reconstruction and the truth matched by order (each sorted, compared at the same quantiles when
their numbers differ), mean |difference| / follow-up; failures (exceptions).

Run:  .venv/bin/python benchmarks/censor_marks_accuracy.py [--pairs 60] [--seed 7]
"""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np
from _common import STYLE_NAMES, digitized, parse_args, print_header, record_curve, record_log_hr, truth_sets

from meta_bm.reconstruction import clicks_from_arrays, reconstruct, risk_table_from_arrays
from meta_bm.simulation import CAREFUL

MODES = ("risk table", "no risk table")
MARKS = ("none", "exact", "jittered", "merged")


def censor_time_error(rec_time: np.ndarray, rec_event: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Mean |difference| / follow-up of the censored times matched by order (at equal quantiles
    when their numbers differ); 0 when neither has censorings, the follow-up when one has none."""
    a = np.sort(np.asarray(rec_time)[np.asarray(rec_event) == 0])
    b = np.sort(np.asarray(time)[np.asarray(event) == 0])
    follow_up = float(np.max(time))
    if a.size == 0 and b.size == 0:
        return 0.0
    if a.size == 0 or b.size == 0:
        return 1.0
    q = (np.arange(max(a.size, b.size)) + 0.5) / max(a.size, b.size)
    qa = a[np.minimum((q * a.size).astype(int), a.size - 1)]
    qb = b[np.minimum((q * b.size).astype(int), b.size - 1)]
    return float(np.mean(np.abs(qa - qb)) / follow_up)


def mark_times(
    time: np.ndarray, event: np.ndarray, x_max: float, kind: str, rng: np.random.Generator
) -> np.ndarray | None:
    """The censoring marks a figure reader would find (module docstring), or None for ``"none"``."""
    if kind == "none":
        return None
    px = x_max / CAREFUL.width_px
    marks = np.unique(time[event == 0])
    if kind == "merged" and marks.size:
        # a mark less than a pixel after the last one kept is drawn on top of it
        kept = [float(marks[0])]
        for m in marks[1:].tolist():
            if m - kept[-1] >= px:
                kept.append(m)
        marks = np.asarray(kept)
    if kind in ("jittered", "merged"):
        marks = np.clip(marks + rng.uniform(-0.5 * px, 0.5 * px, marks.size), 0.0, float(time.max()))
    return marks


def run(n_pairs: int, seed: int) -> dict:
    pairs = truth_sets(n_pairs, seed)
    rows: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failures: dict[tuple[str, str, str], int] = defaultdict(int)
    for d in digitized(pairs, seed):
        pair, style = d.pair, d.style
        for mode in MODES:
            for kind in MARKS:
                key = (style.name, mode, kind)
                recs = []
                for a, ((t, e), sim) in enumerate(zip(pair.arms, d.sims, strict=True)):
                    rng = np.random.default_rng(seed * 7919 + d.index * 4 + a)
                    try:
                        clicks = clicks_from_arrays(sim.click_time, sim.click_survival, pair.name)
                        table = risk_table_from_arrays(sim.risk_time, sim.n_risk) if mode == "risk table" else None
                        marks = mark_times(t, e, sim.x_max, kind, rng)
                        rec = reconstruct(clicks, table, total_n=sim.total_n, censor_times=marks)
                    except Exception as exc:
                        failures[key] += 1
                        print(f"FAIL {pair.name} {style.name} {mode} {kind}: {exc}", file=sys.stderr)
                        recs.append(None)
                        continue
                    r = rows[key]
                    record_curve(r, rec, t, e)
                    r["censor"].append(censor_time_error(rec.time, rec.event, t, e))
                    r["warned"].append(float(any("mark" in w for w in rec.warnings)))
                    recs.append(rec)
                record_log_hr(rows[key], recs, d.true_log_hr)
    return {"rows": rows, "failures": failures, "n_curves": 2 * len(pairs)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    res = run(args.pairs, args.seed)
    print(f"curves per row: {res['n_curves']}")
    hdr = (
        f"{'style':8} {'mode':14} {'marks':9} {'fail':>4} {'area':>8} {'|ev err|/N':>10} {'|logHR err|':>11} "
        f"{'|cens t err|':>12} {'mark warn':>9}"
    )
    print_header(hdr)
    for style in STYLE_NAMES:
        for mode in MODES:
            for kind in MARKS:
                r = res["rows"][(style, mode, kind)]
                print(
                    f"{style:8} {mode:14} {kind:9} {res['failures'][(style, mode, kind)]:>4} "
                    f"{np.mean(r['area']):8.5f} {np.mean(r['events']):10.4f} {np.mean(r['loghr']):11.4f} "
                    f"{np.mean(r['censor']):12.5f} {np.mean(r['warned']):9.2f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
