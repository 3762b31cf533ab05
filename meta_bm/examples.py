"""Reconstruct the example curves shipped in ``data/examples`` and tabulate their fidelity.

``data/examples/curves.csv`` lists one curve per row: ``curve_id, clicks, risk_table, total_n,
total_events, y_scale, truth`` (file names relative to the folder; ``truth`` is the true IPD of a
simulated digitization, when known, so the table can show the error against the truth too).
"""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import numpy as np

from meta_bm.errors import InputError
from meta_bm.reconstruction import read_clicks, read_risk_table, reconstruct
from meta_bm.simulation.digitizer import km_area_difference

COLUMNS = ["curve_id", "clicks", "risk_table", "total_n", "total_events", "y_scale", "truth"]


def _safe_path(folder: Path, name: str, manifest: Path, row: int, key: str) -> Path:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name:
        raise InputError(f"{key} {name!r} must be a relative path inside {folder}", str(manifest), row)
    return folder / p


def _int_or_none(v: str, manifest: Path, row: int, key: str) -> int | None:
    v = v.strip()
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        raise InputError(f"{key} {v!r} is not a whole number", str(manifest), row) from None


def reconstruct_examples(folder: Path) -> str:
    """Reconstruct every curve listed in ``folder/curves.csv``; return a fixed-width table.

    A broken curve gets an ``ERROR`` line naming its problem; the others still run.
    """
    manifest = folder / "curves.csv"
    if not manifest.is_file():
        raise InputError("file not found", str(manifest))
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        unknown = set(reader.fieldnames or []) - set(COLUMNS)
        if unknown:
            raise InputError(f"unknown column(s) {sorted(unknown)}; expected {COLUMNS}", str(manifest), 1)
        rows = list(reader)
    head = (
        f"{'curve':30} {'clicks':>6} {'N':>5} {'events':>11} {'RMSE':>7} {'max err':>7} "
        f"{'median rec/dig':>17} {'max|dNrisk|':>11} {'area vs truth':>13}"
    )
    lines = [head, "-" * len(head)]
    for i, r in enumerate(rows, start=2):
        cid = r.get("curve_id", "").strip() or f"row {i}"
        try:
            clicks = read_clicks(_safe_path(folder, r["clicks"], manifest, i, "clicks"), r.get("y_scale") or "auto")
            rt = r.get("risk_table", "").strip()
            table = read_risk_table(_safe_path(folder, rt, manifest, i, "risk_table")) if rt else None
            rec = reconstruct(
                clicks,
                table,
                total_n=_int_or_none(r.get("total_n", ""), manifest, i, "total_n"),
                total_events=_int_or_none(r.get("total_events", ""), manifest, i, "total_events"),
            )
        except InputError as exc:
            lines.append(f"{cid:30} ERROR {exc}")
            continue
        f = rec.fidelity
        ev = f"{f.events}" + (f"/{f.events_published}" if f.events_published is not None else "")
        dn = f"{int(f.risk_table['difference'].abs().max())}" if f.risk_table.height else "-"
        area = "-"
        truth = r.get("truth", "").strip()
        if truth:
            data = np.loadtxt(_safe_path(folder, truth, manifest, i, "truth"), delimiter=",", skiprows=1, ndmin=2)
            area = f"{km_area_difference(rec.time, rec.event, data[:, 0], data[:, 1], float(data[:, 0].max())):.5f}"
        lines.append(
            f"{cid:30} {f.n_clicks:>6} {f.n_patients:>5} {ev:>11} {f.rmse:7.4f} {f.max_abs_error:7.4f} "
            f"{f.median:8.4g}/{f.median_digitized:<8.4g} {dn:>11} {area:>13}"
        )
    return "\n".join(lines)
