"""The ``meta-bm`` command line.

``meta-bm reconstruct CLICKS.csv [--risk-table RISK.csv] [--total-n N] [--total-events E]
[--y-scale auto|probability|percent] [-o IPD.csv]`` writes the reconstructed IPD as CSV
(``time,event``; 1 = event, 0 = censored) to the file or stdout and the fidelity summary to stderr.

``meta-bm examples [--data DIR]`` reconstructs every example curve under ``data/examples`` and prints
a fidelity table (the README's main job).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

from meta_bm.errors import InputError


def _write_ipd(rec, out: str | None) -> None:
    buf = io.StringIO()
    buf.write("time,event\n")
    for t, e in zip(rec.time.tolist(), rec.event.tolist(), strict=True):
        buf.write(f"{t:.10g},{int(e)}\n")
    text = buf.getvalue()
    if out is None or out == "-":
        sys.stdout.write(text)
        return
    target = Path(out)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(target)  # atomic: a failed run never leaves a half-written file


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from meta_bm.reconstruction import read_clicks, read_risk_table, reconstruct

    clicks = read_clicks(args.clicks, args.y_scale)
    table = read_risk_table(args.risk_table) if args.risk_table else None
    if table is None and args.total_n is None:
        raise InputError("--total-n is required when no --risk-table is given", str(args.clicks))
    rec = reconstruct(clicks, table, total_n=args.total_n, total_events=args.total_events)
    _write_ipd(rec, args.output)
    print(rec.summary(), file=sys.stderr)
    if rec.curve.log:
        print(f"cleaning: {len(rec.curve.log)} change(s)", file=sys.stderr)
        for change in rec.curve.log:
            print(f"  {change}", file=sys.stderr)
    return 0


def _cmd_examples(args: argparse.Namespace) -> int:
    from meta_bm.examples import reconstruct_examples

    t0 = time.perf_counter()
    table = reconstruct_examples(Path(args.data))
    print(table)
    print(f"\n{len(table.splitlines()) - 2} curves reconstructed in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="meta-bm", description="IPD meta-analysis from published Kaplan–Meier curves")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("reconstruct", help="reconstruct IPD from one digitized KM curve")
    r.add_argument("clicks", help="digitizer export: 2 columns, time and survival")
    r.add_argument("--risk-table", help="numbers at risk: CSV with time,n_risk")
    r.add_argument("--total-n", type=int, help="number of patients (required without a risk table)")
    r.add_argument("--total-events", type=int, help="published total number of events (met exactly)")
    r.add_argument("--y-scale", choices=["auto", "probability", "percent"], default="auto")
    r.add_argument("-o", "--output", help="IPD CSV to write (default: stdout)")
    r.set_defaults(func=_cmd_reconstruct)
    e = sub.add_parser("examples", help="reconstruct every example curve in data/examples, print fidelity")
    e.add_argument("--data", default="data/examples", help="folder of example curves")
    e.set_defaults(func=_cmd_examples)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"meta-bm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
