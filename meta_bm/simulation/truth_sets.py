"""Two-arm datasets with known IPD, used as truth for testing and benchmarking reconstruction.

* :func:`public_pairs`: real public survival data shipped with lifelines (no network needed).
* :func:`parametric_pairs`: Weibull trials with varied size, shape, hazard ratio and censoring.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from meta_bm.simulation.digitizer import simulate_ipd


@dataclass(frozen=True)
class TruthPair:
    """Two arms of true IPD (``arms[0]`` is the reference arm)."""

    name: str
    arms: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _split(name: str, time, event, group, ref) -> TruthPair:
    time = np.asarray(time, float)
    event = np.asarray(event, int)
    group = np.asarray(group)
    a = group == ref
    return TruthPair(name, ((time[a], event[a]), (time[~a], event[~a])))


def public_pairs() -> list[TruthPair]:
    """Two-arm splits of real datasets bundled with lifelines (loaded from disk)."""
    import lifelines.datasets as ds

    out = []
    w = ds.load_waltons()
    out.append(_split("waltons:group", w["T"], w["E"], w["group"], "control"))
    lung = ds.load_lung()
    out.append(_split("lung:sex", lung["time"], lung["status"], lung["sex"], 1))
    g = ds.load_gbsg2()
    out.append(_split("gbsg2:horTh", g["time"], g["cens"], g["horTh"], "no"))
    r = ds.load_rossi()
    out.append(_split("rossi:fin", r["week"], r["arrest"], r["fin"], 0))
    lk = ds.load_leukemia()
    out.append(_split("leukemia:Rx", lk["t"], lk["status"], lk["Rx"], 1))
    lx = ds.load_larynx()
    out.append(_split("larynx:stage_I_II", lx["time"], lx["death"], (lx["Stage_III"] + lx["Stage_IV"]) > 0, False))
    ly = ds.load_lymphoma()
    out.append(_split("lymphoma:stage", ly["Time"], ly["Censor"], ly["Stage_group"], 1))
    dd = ds.load_dd()
    out.append(_split("dd:democracy", dd["duration"], dd["observed"], dd["democracy"], "Non-democracy"))
    ln = ds.load_lymph_node()
    out.append(_split("lymph_node:hormone", ln["rectime"], ln["censrec"], ln["hormone"], 1))
    kt = ds.load_kidney_transplant()
    out.append(_split("kidney:white_male", kt["time"], kt["death"], kt["white_male"], 1))
    return out


def parametric_pairs(n_pairs: int, seed: int = 2012) -> Iterator[TruthPair]:
    """``n_pairs`` simulated two-arm trials, the same for the same ``seed``.

    The reference arm has 25–400 patients, the other 0.6–1.4 times as many (at least 15); Weibull
    shape 0.7–1.8, median 6–30, HR 0.4–1.2 on the second arm; varied accrual, follow-up and loss to
    follow-up.
    """
    rng = np.random.default_rng(seed)
    for i in range(n_pairs):
        n = int(rng.choice([25, 40, 60, 90, 130, 200, 300, 400]))
        shape = float(rng.uniform(0.7, 1.8))
        median = float(rng.uniform(6, 30))
        accrual = float(rng.uniform(0.5, 3.0) * median)
        follow = float(rng.uniform(0.3, 2.5) * median)
        dropout = float(rng.choice([0.0, 0.005, 0.02, 0.05]) / median * 12)
        hr = float(rng.uniform(0.4, 1.2))
        n_b = max(15, int(n * rng.uniform(0.6, 1.4)))
        a = simulate_ipd(n, shape, median, accrual, follow, dropout, 1.0, rng)
        b = simulate_ipd(n_b, shape, median, accrual, follow, dropout, hr, rng)
        yield TruthPair(f"weibull{i:03d}", ((a.time, a.event), (b.time, b.event)))
