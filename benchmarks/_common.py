"""What the reconstruction benchmarks share: the truth sets digitized, the measures, the command line.

``reconstruction_accuracy.py`` and ``censor_marks_accuracy.py`` judge reconstructions of the same simulated
digitizations (same seeds) with the same measures, so their numbers can be read side by side; keeping the
machinery here keeps them the same. Imported as ``_common`` (the script's folder is on ``sys.path`` when a
benchmark is run as ``python benchmarks/<name>.py``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from meta_bm.reconstruction.result import Reconstruction
from meta_bm.simulation import (
    CAREFUL,
    SLOPPY,
    DigitizerStyle,
    SimulatedCurve,
    TruthPair,
    digitize,
    km_area_difference,
    parametric_pairs,
    public_pairs,
)
from meta_bm.survival.coxph import cox_ph

DEFAULT_PAIRS = 60  # simulated Weibull pairs: enough for stable means in about a minute
DEFAULT_SEED = 7
STYLES = (CAREFUL, SLOPPY)  # every truth set is digitized by both simulated people, in this order
STYLE_NAMES = tuple(s.name for s in STYLES)


@dataclass(frozen=True)
class DigitizedPair:
    """One two-arm truth set as one simulated person digitized it.

    ``index`` is the pair's position (the seeds derive from it), ``sims`` one digitization per arm (in
    ``pair.arms`` order), ``true_log_hr`` the Cox (Efron) log HR of arm 2 vs arm 1 on the true IPD.
    """

    index: int
    pair: TruthPair
    style: DigitizerStyle
    sims: list[SimulatedCurve]
    true_log_hr: float


def log_hr(time_a: np.ndarray, event_a: np.ndarray, time_b: np.ndarray, event_b: np.ndarray) -> float:
    """Cox (Efron) log hazard ratio of arm b vs arm a."""
    group = np.r_[np.zeros(time_a.size), np.ones(time_b.size)]
    return float(cox_ph(np.r_[time_a, time_b], np.r_[event_a, event_b], group).coef[0])


def truth_sets(n_pairs: int, seed: int) -> list[TruthPair]:
    """The two-arm truth sets: the 10 public pairs and ``n_pairs`` simulated Weibull trials."""
    return public_pairs() + list(parametric_pairs(n_pairs, seed))


def digitized(pairs: list[TruthPair], seed: int) -> Iterator[DigitizedPair]:
    """Each truth set digitized carefully, then sloppily (seeds from ``seed``, the pair and the arm)."""
    for p_i, pair in enumerate(pairs):
        for style in STYLES:
            sims = [digitize(t, e, style, seed=seed * 1000 + p_i * 2 + a) for a, (t, e) in enumerate(pair.arms)]
            (t0, e0), (t1, e1) = pair.arms
            yield DigitizedPair(p_i, pair, style, sims, log_hr(t0, e0, t1, e1))


def record_curve(r: dict[str, list[float]], rec: Reconstruction, t: np.ndarray, e: np.ndarray) -> None:
    """Append the curve measures of ``rec`` against the true IPD ``(t, e)``: area ∫|S_rec − S_true| dt /
    follow-up and |events − true| / N."""
    r["area"].append(km_area_difference(rec.time, rec.event, t, e, float(t.max())))
    r["events"].append(abs(int(rec.event.sum()) - int(e.sum())) / t.size)


def record_log_hr(r: dict[str, list[float]], recs: Sequence[Reconstruction | None], true_log_hr: float) -> None:
    """Append |log HR error| of the two reconstructed arms when both were reconstructed (None marks a failure)."""
    if all(x is not None for x in recs):
        r["loghr"].append(abs(log_hr(recs[0].time, recs[0].event, recs[1].time, recs[1].event) - true_log_hr))


def parse_args(doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    """``--pairs`` and ``--seed``, with the benchmark's docstring as help."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help="simulated Weibull pairs (plus 10 public pairs)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return ap.parse_args(argv)


def print_header(hdr: str) -> None:
    """A table's column header and a rule as wide."""
    print(hdr)
    print("-" * len(hdr))
