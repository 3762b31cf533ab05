"""Accuracy and speed of automatic KM extraction (``meta-bm digitize``) on figures drawn from known IPD.

Every style of :data:`meta_bm.simulation.km_figures.STYLES` (matplotlib and lifelines; colour and
black-and-white dashes; 2–3 arms; censor marks on/off; CI bands; gridlines; ggplot look; separate
segments; percent axis; Type 3/42 text) is drawn from simulated trials and saved as a vector PDF, PNG at
100, 150 and 300 dpi and JPEG (quality 75, 150 dpi). Each figure is digitized as a user would
(a PDF as is; an image with ``--x-range`` = its outermost labelled x ticks, ``--curves`` = its number of
curves and the typed risk table) and
judged against the truth, per style and format:

* fail: figures that could not be read, or whose curves could not all be matched to an arm
* RMSE, max: the extracted step function vs the true KM (RMSE on a fine grid over the follow-up; max
  |error| over all arms)
* corners: for PDFs, the largest |difference| between the extracted and the true step corners (time and
  survival); the risk table and censor marks read exactly or not
* marks: recall of the true censoring times among the marks found (within half a percent of the axis)
* area, |ev|/N: the reconstruction (risk table, N, censor marks when found) vs the true IPD: the area between
  the KMs per unit follow-up and the event-count error per patient
* person: the same two for the same curves clicked by the simulated careful person (the baseline of
  ``benchmarks/reconstruction_accuracy.py``), reconstructed with the same risk table
* s/fig: wall time of the extraction of one figure (reading, rendering for the overlay included)

Run:  .venv/bin/python benchmarks/digitizing_accuracy.py [--figures 4] [--styles mpl_colour ...] [--formats pdf png150]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from meta_bm.digitizing import DigitizedCurve, digitize_bytes
from meta_bm.reconstruction import clicks_from_arrays, reconstruct, risk_table_from_arrays
from meta_bm.simulation import CAREFUL, digitize, km_area_difference
from meta_bm.simulation.km_figures import STYLES, ArmTruth, FigureTruth, draw_km_figure, extraction_error, simulate_arms

# name -> (format, dpi, JPEG quality)
FORMATS = {
    "pdf": ("pdf", 150, 85),
    "png100": ("png", 100, 85),
    "png150": ("png", 150, 85),
    "png300": ("png", 300, 85),
    "jpeg150": ("jpeg", 150, 75),
}
# A censoring mark counts as found when a mark lies this close (share of the time axis) to it.
MARK_TOLERANCE = 0.005


def _match(curves: list[DigitizedCurve], truth: FigureTruth) -> list[tuple[DigitizedCurve, ArmTruth]] | None:
    """Extracted curves paired with the true arms: by label when every curve has one, else the
    pairing with the smallest total RMSE (at most 3! orders)."""
    if len(curves) != len(truth.arms):
        return None
    if all(c.label is not None for c in curves):
        by_label = {a.label.casefold(): a for a in truth.arms}
        pairs = [(c, by_label.get(str(c.label).casefold())) for c in curves]
        if all(a is not None for _, a in pairs):
            return pairs  # type: ignore[return-value]
    best = min(
        itertools.permutations(truth.arms),
        key=lambda order: sum(extraction_error(c.time, c.survival, a).rmse for c, a in zip(curves, order, strict=True)),
    )
    return list(zip(curves, best, strict=True))


def _reconstruction_error(
    time_, survival, arm: ArmTruth, marks: np.ndarray | None, exact: bool = False
) -> tuple[float, float]:
    """(area between reconstructed and true KM per unit follow-up, |events error| / N); ``exact``: the
    marks were read from a PDF (exact times)."""
    table = risk_table_from_arrays(arm.risk_time, arm.n_risk) if arm.risk_time is not None else None
    rec = reconstruct(
        clicks_from_arrays(time_, survival, arm.label, "probability"),
        table,
        total_n=int(arm.time.size),
        censor_times=marks,
        exact_marks=exact,
    )
    horizon = float(arm.time.max())
    area = km_area_difference(rec.time, rec.event, arm.time, arm.event, horizon)
    return area, abs(int(rec.event.sum()) - int(arm.event.sum())) / arm.time.size


def _corner_error(c: DigitizedCurve, arm: ArmTruth) -> float:
    """Hausdorff distance (largest of |Δtime|, |Δsurvival|) between the extracted corners and the true
    KM's corners: every true corner has an extracted one this close, and the other way round."""
    t, s = arm.km_time, arm.km_survival
    drops = np.flatnonzero(np.diff(s) != 0) + 1
    true_t = np.r_[0.0, np.repeat(t[drops], 2), t[-1]]
    true_s = np.r_[1.0, np.ravel(np.column_stack([s[drops - 1], s[drops]])), s[-1]]
    got = np.column_stack([c.time, c.survival])
    want = np.column_stack([true_t, true_s])
    dist = np.abs(got[:, None, :] - want[None, :, :]).max(axis=2)
    return float(max(dist.min(axis=0).max(), dist.min(axis=1).max()))


def run(n_figures: int, styles: list[str], formats: list[str], seed: int) -> dict:
    rows: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory() as tmp:
        for name in styles:
            style = STYLES[name]
            for fmt_name in formats:
                fmt, dpi, quality = FORMATS[fmt_name]
                r = rows[(name, fmt_name)]
                for k in range(n_figures):
                    arms = simulate_arms(style.n_arms, seed * 1000 + k)
                    path = Path(tmp) / f"{name}_{k}.{fmt}"
                    truth = draw_km_figure(arms, style, path, fmt=fmt, dpi=dpi, jpeg_quality=quality)  # type: ignore[arg-type]
                    data = path.read_bytes()
                    options: dict = {}
                    if fmt != "pdf":
                        # (what a user gives for an image: the outermost labelled ticks and how many curves)
                        options = {
                            "x_range": (float(truth.x_ticks[0]), float(truth.x_ticks[-1])),
                            "n_curves": len(truth.arms),
                        }
                        if truth.y_scale == "percent":
                            options["y_scale"] = "percent"
                    t0 = time.perf_counter()
                    try:
                        fig = digitize_bytes(data, path.name, **options)
                        pairs = _match(fig.curves, truth)
                    except Exception as exc:
                        print(f"FAIL {name} {fmt_name} #{k}: {exc}", file=sys.stderr)
                        pairs = None
                    r["seconds"].append(time.perf_counter() - t0)
                    if pairs is None:
                        r["fail"].append(1)
                        continue
                    r["fail"].append(0)
                    for c, arm in pairs:
                        err = extraction_error(c.time, c.survival, arm)
                        r["rmse"].append(err.rmse)
                        r["max"].append(err.max_abs)
                        if fmt == "pdf":
                            r["corners"].append(_corner_error(c, arm))
                            if arm.n_risk is not None:
                                same = c.n_risk is not None and np.array_equal(c.n_risk, arm.n_risk)
                                r["risk_exact"].append(float(same))
                        if arm.censor_times.size and c.censor_times is not None:
                            span = float(truth.x_max)
                            found = c.censor_times
                            hit = [
                                found.size > 0 and np.min(np.abs(found - t)) <= MARK_TOLERANCE * span
                                for t in arm.censor_times
                            ]
                            r["marks"].append(float(np.mean(hit)))
                        marks = c.censor_times if c.censor_times is not None and c.censor_times.size else None
                        try:
                            area, ev = _reconstruction_error(c.time, c.survival, arm, marks, exact=fmt == "pdf")
                            r["area"].append(area)
                            r["events"].append(ev)
                        except Exception as exc:
                            print(f"RECONSTRUCTION FAIL {name} {fmt_name} #{k}: {exc}", file=sys.stderr)
                            r["rec_fail"].append(1)
                        sim = digitize(arm.time, arm.event, CAREFUL, seed=seed * 7 + k)
                        area_p, ev_p = _reconstruction_error(sim.click_time, sim.click_survival, arm, None)
                        r["person_area"].append(area_p)
                        r["person_events"].append(ev_p)
    return rows


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4f}" if values else "–"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--figures", type=int, default=4, help="figures per style and format (default 4)")
    ap.add_argument("--styles", nargs="+", default=list(STYLES), choices=list(STYLES))
    ap.add_argument("--formats", nargs="+", default=list(FORMATS), choices=list(FORMATS))
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.figures, args.styles, args.formats, args.seed)
    print(
        "| style | format | fail | RMSE | max | corners | risk exact | marks | area | \\|ev\\|/N | person area | "
        "person \\|ev\\|/N | s/fig |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    by_format: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (style, fmt), r in rows.items():
        for key, values in r.items():
            by_format[fmt][key] += values
        print(
            f"| {style} | {fmt} | {sum(r['fail'])}/{len(r['fail'])} | {_mean(r['rmse'])} | "
            f"{max(r['max'], default=float('nan')):.4f} | "
            f"{max(r['corners']) if r['corners'] else float('nan'):.1e} | {_mean(r['risk_exact'])} | "
            f"{_mean(r['marks'])} | {_mean(r['area'])} | {_mean(r['events'])} | {_mean(r['person_area'])} | "
            f"{_mean(r['person_events'])} | {statistics.median(r['seconds']):.2f} |"
        )
    print()
    print(
        "| format | fail | mean RMSE | max | area | person area | \\|ev\\|/N | person \\|ev\\|/N | "
        "median s/fig | max s/fig |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for fmt, r in by_format.items():
        print(
            f"| {fmt} | {sum(r['fail'])}/{len(r['fail'])} | {_mean(r['rmse'])} | "
            f"{max(r['max'], default=float('nan')):.4f} | {_mean(r['area'])} | {_mean(r['person_area'])} | "
            f"{_mean(r['events'])} | {_mean(r['person_events'])} | {statistics.median(r['seconds']):.2f} | "
            f"{max(r['seconds']):.2f} |"
        )
    print(f"\n{sum(len(r['fail']) for r in rows.values())} figures in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
