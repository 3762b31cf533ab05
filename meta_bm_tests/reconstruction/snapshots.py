"""Golden output snapshots of the reconstruction, keyed to ``RECONSTRUCTION_VERSION``.

Every curve of three fixed sets is reconstructed and its output hashed: the IPD (``time`` to ten
significant digits, ``event``), and the fidelity figures (RMSE, errors, medians, risk table).

* ``examples``: the curves of ``data/examples`` (real public data sets, simulated digitizing);
* ``studies``: every curve of the shipped study folders in ``data/studies``;
* ``simulated``: a fixed set of inputs stored in ``snapshot_data/simulated_curves.json`` (so a change
  of the simulator cannot move it): Weibull trials and public data digitized in four noise models
  (careful, sloppy, shaky hand, coarse clicks), with and without risk tables and published totals.

The test (``test_snapshot.py``) fails when an output changes while the version stays: a change of
what the engine gives must bump ``RECONSTRUCTION_VERSION`` (Dagster marks the reconstructed assets
stale by it) and then refresh the snapshot::

    .venv/bin/python -m meta_bm_tests.reconstruction.snapshots --update

``--inputs`` regenerates the simulated inputs (only when the set itself should change).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "snapshot_data"
ROOT = Path(__file__).resolve().parents[2]
INPUTS = HERE / "simulated_curves.json"
SNAPSHOT = HERE / "reconstruction_snapshot.json"


SIGNIFICANT_DIGITS = 10


def _sha(*arrays: np.ndarray) -> str:
    """Hash of the arrays: integers exactly, floats to :data:`SIGNIFICANT_DIGITS` significant digits.

    (Compiled and pure-Python runs agree to the bit except where numba's and numpy's ``exp``/``log``
    differ in the last unit, about 1e-16: ten digits are far beyond any meaningful precision and
    far from that noise.)
    """
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            h.update(",".join(f"{x:.{SIGNIFICANT_DIGITS}g}" for x in a.tolist()).encode())
        else:
            h.update(np.ascontiguousarray(a, np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()[:20]


def fingerprint(rec) -> dict:
    """The hashes (and a few readable figures) of one reconstruction."""
    f = rec.fidelity
    scalars = np.array(
        [f.rmse, f.mean_abs_error, f.max_abs_error, f.max_error_time, f.median, f.median_digitized], float
    )
    rt = f.risk_table_data
    return {
        "ipd": _sha(np.asarray(rec.time, np.float64), np.asarray(rec.event, np.int64)),
        "fidelity": _sha(scalars, np.asarray([f.n_clicks, f.n_patients, f.events], np.int64), rt["reconstructed"]),
        "n": int(rec.time.size),
        "events": int(rec.event.sum()),
        "rmse": round(float(f.rmse), 6),
    }


def _simulated_inputs() -> list[dict]:
    """The fixed simulated set: 100 Weibull trial arms and 20 public data arms, four noise models."""
    from meta_bm.simulation import CAREFUL, SLOPPY, digitize, parametric_pairs, public_pairs

    styles = [
        CAREFUL,
        SLOPPY,
        replace(CAREFUL, name="shaky", noise_px=2.0, p_miss_top=0.3),
        replace(SLOPPY, name="coarse", merge_gap_px=5.0, min_step_px=3.0, p_duplicate=0.15),
    ]
    out: list[dict] = []
    rng = np.random.default_rng(20261205)
    pairs = [*parametric_pairs(50, seed=77), *public_pairs()]
    for i, pair in enumerate(pairs):
        for arm, (time, event) in enumerate(pair.arms):
            style = styles[(i + arm) % len(styles)]
            sim = digitize(time, event, style, seed=int(rng.integers(1 << 31)))
            # vary what is published: risk table (whole, from a later time, none), N, events
            case = int(rng.integers(4))
            rt, nr = sim.risk_time, sim.n_risk
            if case == 1 and rt.size > 2:
                rt, nr = rt[1:], nr[1:]
            out.append(
                {
                    "id": f"{pair.name}:{arm}:{style.name}:{case}",
                    "time": [round(float(x), 6) for x in sim.click_time],
                    "survival": [round(float(x), 6) for x in sim.click_survival],
                    "risk_time": None if case == 2 else [float(x) for x in rt],
                    "n_risk": None if case == 2 else [int(x) for x in nr],
                    "total_n": sim.total_n if case != 0 else None,
                    "total_events": sim.total_events if case in (2, 3) else None,
                }
            )
    return out


def _curves() -> Iterator[tuple[str, object]]:
    """(id, reconstruction) for every curve of the three sets, in a fixed order."""
    from meta_bm.reconstruction import read_clicks, read_risk_table, reconstruct, reconstruct_arrays
    from meta_bm.studies import load_study

    ex = ROOT / "data" / "examples"
    with (ex / "curves.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            table = read_risk_table(ex / r["risk_table"]) if r["risk_table"] else None
            rec = reconstruct(
                read_clicks(ex / r["clicks"], r["y_scale"] or "auto"),
                table,
                total_n=int(r["total_n"]) if r["total_n"] else None,
                total_events=int(r["total_events"]) if r["total_events"] else None,
            )
            yield f"examples/{r['curve_id']}", rec
    for folder in sorted((ROOT / "data" / "studies").iterdir()):
        if not (folder / "study.yaml").is_file():
            continue
        study = load_study(folder)
        for c in study.curves:
            if c.figure is not None:
                continue  # (read from a figure: pinned by the digitizer's tests, not the engine's snapshot)
            rec = reconstruct(c.clicks, c.risk_table, total_n=c.spec.total_n, total_events=c.spec.total_events)
            yield f"studies/{study.study_id}/{c.spec.curve_id}", rec
    for case in json.loads(INPUTS.read_text()):
        rec = reconstruct_arrays(
            case["time"],
            case["survival"],
            case["risk_time"],
            case["n_risk"],
            total_n=case["total_n"],
            total_events=case["total_events"],
        )
        yield f"simulated/{case['id']}", rec


def compute() -> dict:
    """The snapshot of the current engine: ``{"version": ..., "curves": {id: fingerprint}}``."""
    from meta_bm.reconstruction import RECONSTRUCTION_VERSION

    return {"version": RECONSTRUCTION_VERSION, "curves": {cid: fingerprint(rec) for cid, rec in _curves()}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--update", action="store_true", help="write the snapshot of the current engine")
    ap.add_argument("--inputs", action="store_true", help="regenerate the simulated inputs first")
    args = ap.parse_args(argv)
    if args.inputs:
        HERE.mkdir(exist_ok=True)
        INPUTS.write_text(json.dumps(_simulated_inputs(), separators=(",", ":")) + "\n")
    snap = compute()
    if args.update:
        SNAPSHOT.write_text(json.dumps(snap, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(snap['curves'])} curves, version {snap['version']}, to {SNAPSHOT}")
    else:
        print(json.dumps(snap, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
