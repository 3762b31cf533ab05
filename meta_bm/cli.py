"""The ``meta-bm`` command line.

``meta-bm reconstruct CLICKS.csv [--risk-table RISK.csv] [--total-n N] [--total-events E]
[--censor-marks MARKS.csv [--exact-marks]] [--y-scale auto|probability|percent] [-o IPD.csv]`` writes the
reconstructed IPD as CSV
(``time,event``; 1 = event, 0 = censored) to the file or stdout and the fidelity summary to stderr.

``meta-bm digitize FIGURE [--page N] [--crop X0 Y0 X1 Y1] [--x-range MIN MAX] [--y-range MIN MAX]
[--x-points PX V PX V] [--y-points PX V PX V] [--y-scale probability|percent] [--arms LABEL ...]
[--curves N] -o OUTDIR``
extracts the Kaplan–Meier curves of a PDF page, PNG or JPEG and writes per curve ``<k>_clicks.csv``,
``<k>_censor.csv`` (censoring marks), ``<k>_risk.csv`` (numbers at risk read from a PDF), and
``curves.json`` and ``overlay.png``; it exits 2 naming the file, page and what was not found.

``meta-bm run [--studies DIR] [--database FILE] [--output DIR] [--force]`` materializes every asset
through Dagster on the instance in ``$DAGSTER_HOME`` (default ``./.dagster_home``, created with the
packaged ``dagster.yaml``), recomputing only studies whose files changed, and prints the cohort
overview (the README's main job).

Paths not given as options come from :mod:`meta_bm.settings`: ``META_BM_STUDIES``,
``META_BM_DATABASE``, ``META_BM_OUTPUT``, ``META_BM_ANALYSES``, else ``data/studies``,
``data/warehouse/meta_bm.duckdb`` and ``output`` under the current directory and the packaged
analyses config; never the package's own location, so an installed ``meta-bm`` runs from any folder.

``meta-bm new-study STUDY_ID`` scaffolds ``<studies>/STUDY_ID/study.yaml`` (commented template).

``meta-bm validate [PATH]`` checks one study folder, or every study folder under PATH (default: the
studies folder), and prints every problem with its file, key or row.

``meta-bm analyze IPD.csv --time COL --event COL --group COL [--study COL] [--reference LEVEL] [--json]``
runs the pooled-analysis statistics on any patient-level CSV.

``meta-bm examples [--data DIR]`` reconstructs every example curve under ``data/examples`` and prints
a fidelity table.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

from meta_bm.errors import InputError
from meta_bm.settings import SettingsError

# Cleaning-log lines `meta-bm reconstruct` prints to stderr; past them a summary (--cleaning-log has all).
LOG_LINES_SHOWN = 200


def _write_output(text: str, out: str) -> None:
    """Write ``text`` to the file ``out``, safely; :class:`InputError` naming ``out`` on any failure.

    A regular file (also through a symlink: the file it points to) is replaced atomically by a
    temporary file beside it, removed on any failure. A FIFO, a device (``/dev/stdout``,
    ``/dev/null``) or a socket is written through, never replaced. A directory, a missing parent
    directory or a dangling symlink is refused with a message.
    """
    import os
    import stat
    import tempfile

    from meta_bm.reconstruction.parsing import file_kind, os_reason

    try:
        st: os.stat_result | None = os.stat(out)
    except FileNotFoundError:
        st = None
        if os.path.islink(out):
            raise InputError(f"a symbolic link to a missing file ({os.readlink(out)}); give a real path", out) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot write ({os_reason(exc)})", out) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory; give a file name", out)
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:  # a FIFO, a device or a socket: written through, never replaced
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise InputError(f"cannot write to {file_kind(st.st_mode)} ({os_reason(exc)})", out) from None
        return
    target = Path(os.path.realpath(out)) if st is not None else Path(out)
    parent = target.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise InputError(f"cannot write: the folder {parent} {what}", out)
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write in {parent} ({os_reason(exc)})", out) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)  # atomic: a failed run never leaves a half-written file
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise InputError(f"cannot write ({os_reason(exc)})", out) from None
        raise


def _write_ipd(rec, out: str | None) -> None:
    buf = io.StringIO()
    buf.write("time,event\n")
    for t, e in zip(rec.time.tolist(), rec.event.tolist(), strict=True):
        buf.write(f"{t:.10g},{int(e)}\n")
    text = buf.getvalue()
    if out is not None and out != "-":
        _write_output(text, out)
        return
    if sys.stdout is None:
        raise InputError("standard output is closed; give -o FILE", "<stdout>")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        # the reader went away (e.g. `| head`): nothing more can be written, and none at exit either
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise InputError("cannot write (the reading end of the pipe was closed)", "<stdout>") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot write ({exc})", "<stdout>") from None


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from collections import Counter

    from meta_bm.reconstruction import read_censor_marks, read_clicks, read_risk_table, reconstruct
    from meta_bm.reconstruction.parsing import check_count

    if args.total_n is not None:
        check_count(args.total_n, "the number of patients", "--total-n", minimum=1)
    if args.total_events is not None:
        check_count(args.total_events, "the number of events", "--total-events")
    clicks = read_clicks(args.clicks, args.y_scale)
    table = read_risk_table(args.risk_table) if args.risk_table else None
    if table is None and args.total_n is None:
        raise InputError("--total-n is required when no --risk-table is given", str(args.clicks))
    marks = read_censor_marks(args.censor_marks) if args.censor_marks else None
    rec = reconstruct(
        clicks,
        table,
        total_n=args.total_n,
        total_events=args.total_events,
        censor_times=marks,
        exact_marks=args.exact_marks,
    )
    if rec.time.size == 0:
        raise InputError(
            "the reconstruction has no patients: the risk table has 0 at risk at time 0", str(args.risk_table)
        )
    _write_ipd(rec, args.output)
    log = rec.curve.log
    if args.cleaning_log:
        _write_output("".join(f"{change}\n" for change in log), args.cleaning_log)
    print(rec.summary(), file=sys.stderr)
    if log:
        print(f"cleaning: {len(log)} change(s)", file=sys.stderr)
        for change in log[:LOG_LINES_SHOWN]:
            print(f"  {change}", file=sys.stderr)
        if len(log) > LOG_LINES_SHOWN:
            rest = Counter(change.action for change in log[LOG_LINES_SHOWN:])
            kinds = ", ".join(f"{action} {n}" for action, n in rest.most_common())
            where = f"all in {args.cleaning_log}" if args.cleaning_log else "--cleaning-log FILE writes them all"
            print(f"  ... {len(log) - LOG_LINES_SHOWN} more change(s) not shown ({kinds}); {where}", file=sys.stderr)
    return 0


def _pairs(values: list[float] | None) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """``PX V PX V`` from the command line as two (pixel, value) calibration points."""
    if values is None:
        return None
    return (values[0], values[1]), (values[2], values[3])


def _cmd_digitize(args: argparse.Namespace) -> int:
    from meta_bm.digitizing import digitize
    from meta_bm.digitizing.outputs import curve_files, write_outputs

    t0 = time.perf_counter()
    fig = digitize(
        args.figure,
        page=args.page,
        crop=tuple(args.crop) if args.crop else None,
        x_range=tuple(args.x_range) if args.x_range else None,
        y_range=tuple(args.y_range) if args.y_range else None,
        x_points=_pairs(args.x_points),
        y_points=_pairs(args.y_points),
        y_scale=args.y_scale,
        arms=args.arms,
        n_curves=args.curves,
    )
    seconds = time.perf_counter() - t0
    try:
        write_outputs(fig, args.output)
    except OSError as exc:
        raise InputError(f"cannot write the outputs ({exc.strerror or exc})", str(args.output)) from None
    page = f", page {fig.page}" if fig.page else ""
    print(
        f"{args.figure}{page}: {len(fig.curves)} curve(s) from {fig.kind} data (axes from {fig.calibration.how}) "
        f"in {seconds:.2f} s -> {args.output}",
        file=sys.stderr,
    )
    for k, c in enumerate(fig.curves, start=1):
        q = c.quality
        marks = "marks not read" if c.censor_times is None else f"{c.censor_times.size} censor mark(s)"
        risk = f"risk table {c.n_risk.size} rows" if c.n_risk is not None else "no risk table"
        print(
            f"  {k}: {c.label or '(no label)'}: {q.points} points, {marks}, {risk}, gaps {q.gaps} "
            f"({q.gap_fraction:.1%}), overlap {q.overlap_fraction:.1%}, confidence {q.confidence} "
            f"-> {', '.join(curve_files(k, c).values())}",
            file=sys.stderr,
        )
        for note in q.notes:
            print(f"     note: {note}", file=sys.stderr)
    for w in fig.warnings:
        print(f"  warning: {w}", file=sys.stderr)
    return 0


def _cmd_examples(args: argparse.Namespace) -> int:
    from meta_bm.examples import reconstruct_examples

    t0 = time.perf_counter()
    table = reconstruct_examples(Path(args.data))
    print(table)
    print(f"\n{len(table.splitlines()) - 2} curves reconstructed in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from meta_bm import settings

    paths = settings.resolve(args.studies, args.database, args.output)  # (a missing setting: before any import)

    from meta_bm.orchestration.runner import open_instance, prepare_dagster_home, refresh

    home = prepare_dagster_home(log=lambda m: print(f"meta-bm: {m}", file=sys.stderr))
    studies, database, output = paths.studies, paths.database, paths.output
    where = database or _postgres_label()
    print(
        f"studies: {studies}\ndatabase: {where}\noutput: {output}\nanalyses: {paths.analyses}\n"
        f"Dagster instance: {home}",
        file=sys.stderr,
    )
    with open_instance() as instance:
        report = refresh(
            instance,
            studies,
            database,
            force=args.force,
            log=lambda m: print(f"meta-bm: {m}", file=sys.stderr),
            quiet_dagster=args.quiet,
            output=output,
        )
    import polars as pl

    from meta_bm.orchestration.resources import open_store
    from meta_bm.reports.html import results_layout

    store = open_store(database=database)
    overview = store.cohort_overview()
    results = store.analysis_results()

    with pl.Config(
        tbl_rows=500,
        tbl_cols=20,
        tbl_width_chars=200,
        fmt_str_lengths=40,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
    ):
        print(
            overview.drop("synthetic").with_columns(pl.col("max_time_months").round(1))
            if overview.height
            else "the cohort is empty"
        )
        groups, cox, tests = results["analysis_groups"], results["analysis_cox"], results["analysis_tests"]
        for aid in groups["analysis_id"].unique(maintain_order=True).to_list() if groups.height else []:
            print(f"\n{aid}")
            sel = pl.col("analysis_id") == aid
            print(
                results_layout(
                    groups.filter(sel),
                    cox.filter(sel) if cox.height else cox,
                    tests.filter(sel) if tests.height else tests,
                )
            )
    report_path = Path(output) / "report" / "report.html"
    if report_path.exists():
        print(f"\nreport: {report_path}\ntables: {report_path.parent / 'tables'}", file=sys.stderr)
    for sid, message in report.rejected.items():
        print(f"\nREJECTED {sid}:\n  " + (message or "").replace("\n", "\n  "), file=sys.stderr)
    stored = [s for s in report.refreshed if s not in report.rejected]
    print(
        f"\n{len(stored)} studies refreshed, {len(report.unchanged)} unchanged, "
        f"{len(report.rejected)} rejected or failed (rows of their last valid version kept), "
        f"in {report.seconds:.1f} s. Cohort: {where}",
        file=sys.stderr,
    )
    return 0 if report.success else 1


def _postgres_label() -> str:
    """The shared deployment's cohort database in words (never the password)."""
    from meta_bm import settings

    pg = settings.postgres_settings()
    return f"PostgreSQL database {pg.database!r} on {pg.host}:{pg.port} (user {pg.user})"


def _cmd_query(args: argparse.Namespace) -> int:
    """Read the cohort store safely while runs write: the query waits for the store's lock (and a
    writer waits for it), so neither side ever meets DuckDB's "Could not set lock" error."""
    import duckdb
    import polars as pl

    from meta_bm.settings import current_deployment, database_file

    if current_deployment() == "shared":
        import psycopg2

        from meta_bm.orchestration.resources import open_store

        store = open_store()
        store.lock_timeout = args.timeout
        query_errors: tuple[type[Exception], ...] = (psycopg2.Error,)
    else:
        database = database_file(args.database)
        if not database.exists():
            print(f"meta-bm: {database}: no cohort store yet (run `meta-bm run` first)", file=sys.stderr)
            return 2
        from meta_bm.store import CohortStore

        store = CohortStore(database, lock_timeout=args.timeout)
        query_errors = (duckdb.Error,)
    try:
        df = store.read(args.sql)
    except query_errors as exc:
        print(f"meta-bm: query failed: {exc}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.write(df.write_csv())
    else:
        with pl.Config(tbl_rows=args.limit, tbl_cols=50, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
            print(df)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    import os

    from meta_bm.settings import studies_dir
    from meta_bm.studies import StudyError, load_study, validate_studies
    from meta_bm.studies.manifest import MANIFEST_NAME, folder_name

    def printable(text: str) -> str:  # (names that are not valid UTF-8 never crash the printing)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")

    path = Path(args.path) if args.path is not None else studies_dir()
    if os.path.lexists(path / MANIFEST_NAME):
        try:
            load_study(path)
            results = {folder_name(path): []}
        except StudyError as exc:
            results = {folder_name(path): exc.problems}
    elif path.is_dir():
        results = validate_studies(path)
        if not results:
            print(
                f"meta-bm: error: {printable(str(path))}: no {MANIFEST_NAME} here and no study folders in it",
                file=sys.stderr,
            )
            return 2
    else:
        print(f"meta-bm: error: {printable(str(path))}: no such study folder", file=sys.stderr)
        return 2
    bad = 0
    for sid, problems in results.items():
        print(f"{'ok      ' if not problems else 'INVALID '} {printable(sid)}")
        for p in problems:
            print(f"    {printable(p)}")
        bad += bool(problems)
    print(f"{len(results) - bad} valid, {bad} invalid", file=sys.stderr)
    return 1 if bad else 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    import polars as pl

    from meta_bm.analysis.adhoc import analyze_table, result_json
    from meta_bm.reports.html import results_layout

    path = Path(args.ipd)
    if not path.is_file():
        raise InputError("file not found", str(path))
    try:
        df = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"cannot read as CSV ({exc})", str(path)) from None
    res = analyze_table(
        df,
        args.time,
        args.event,
        args.group,
        study=args.study,
        reference=args.reference,
        landmarks=args.landmarks,
        rmst_horizon=args.rmst_horizon,
        source=str(path),
    )
    if args.json:
        print(result_json(res))
        return 0
    t = res.tables()
    with pl.Config(
        tbl_rows=100,
        tbl_cols=30,
        tbl_width_chars=220,
        fmt_str_lengths=60,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        float_precision=4,
    ):
        print(results_layout(t["analysis_groups"], t["analysis_cox"], t["analysis_tests"]))
        g = t["analysis_groups"].drop("analysis_id", "is_reference")
        print("\nmedians with three 95% CIs (log = R default, log-log, SPSS symmetric), RMST:")
        print(g)
        if t["analysis_landmarks"].height:
            print("\nlandmark survival (log CI):")
            print(t["analysis_landmarks"].drop("analysis_id"))
        print("\ntests:")
        print(t["analysis_tests"].drop("analysis_id"))
        if t["analysis_cox"].height:
            print("\nCox (Efron ties):")
            print(t["analysis_cox"].drop("analysis_id"))
        extra = (
            ("analysis_frailty", "shared gamma frailty by study (R's default fit and the profile maximum):"),
            ("analysis_meta", "two-stage meta-analysis (per-study Cox log HR; knha = Hartung-Knapp-Sidik-Jonkman):"),
            ("analysis_leave1out", "leave-one-out (REML):"),
            ("analysis_cumulative", "cumulative meta-analysis (REML):"),
            ("analysis_egger", "Egger's regression test (rma = metafor regtest default, lm = classic):"),
        )
        for name, title in extra:
            if t[name].height:
                print(f"\n{title}")
                print(t[name].drop("analysis_id"))
    for f in t["analysis_flags"].iter_rows(named=True):
        print(f"{f['severity']}: {f['message']}", file=sys.stderr)
    for n in res.notes:
        print(f"note: {n}", file=sys.stderr)
    return 0


def _cmd_new_study(args: argparse.Namespace) -> int:
    from meta_bm.settings import studies_dir
    from meta_bm.studies.scaffold import new_study

    try:
        folder = new_study(args.root if args.root is not None else studies_dir(), args.study_id, args.source)
    except (ValueError, OSError) as exc:  # (FileExistsError, a folder that cannot be created)
        print(f"meta-bm: error: {exc}", file=sys.stderr)
        return 2
    print(f"created {folder / 'study.yaml'}: fill it in, add the files it names, then run `meta-bm validate {folder}`")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="meta-bm", description="IPD meta-analysis from published Kaplan–Meier curves")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("reconstruct", help="reconstruct IPD from one digitized KM curve")
    r.add_argument("clicks", help="digitizer export: 2 columns, time and survival")
    r.add_argument("--risk-table", help="numbers at risk: CSV with time,n_risk")
    r.add_argument("--total-n", type=int, help="number of patients (required without a risk table)")
    r.add_argument("--total-events", type=int, help="published total number of events (met exactly)")
    r.add_argument("--censor-marks", help="times of the censoring marks drawn on the curve: CSV with a time column")
    r.add_argument(
        "--exact-marks",
        action="store_true",
        help="the marks' times are exact (read from a vector PDF by `meta-bm digitize`), not pixel readings",
    )
    r.add_argument("--y-scale", choices=["auto", "probability", "percent"], default="auto")
    r.add_argument("-o", "--output", help="IPD CSV to write (default: stdout)")
    r.add_argument(
        "--cleaning-log",
        help=f"file to write the whole cleaning log to (stderr shows the first {LOG_LINES_SHOWN} changes)",
    )
    r.set_defaults(func=_cmd_reconstruct)
    d = sub.add_parser("digitize", help="extract the KM curves of a PDF page, PNG or JPEG as clicks, marks, risk table")
    d.add_argument("figure", help="a PDF (article page or figure), PNG or JPEG")
    d.add_argument("-o", "--output", required=True, help="folder to write the curves, curves.json and overlay.png")
    d.add_argument("--page", type=int, help="1-based PDF page (default: the one page holding a plot)")
    d.add_argument(
        "--crop",
        type=float,
        nargs=4,
        metavar=("X0", "Y0", "X1", "Y1"),
        help="region holding one plot: PDF points from the bottom left, or image pixels from the top left",
    )
    d.add_argument("--x-range", type=float, nargs=2, metavar=("MIN", "MAX"), help="values of the outermost x ticks")
    d.add_argument("--y-range", type=float, nargs=2, metavar=("MIN", "MAX"), help="values of the outermost y ticks")
    d.add_argument(
        "--x-points",
        type=float,
        nargs=4,
        metavar=("PX1", "V1", "PX2", "V2"),
        help="image calibration: two x pixel positions and their axis values",
    )
    d.add_argument(
        "--y-points",
        type=float,
        nargs=4,
        metavar=("PY1", "V1", "PY2", "V2"),
        help="image calibration: two y pixel positions and their axis values",
    )
    d.add_argument("--y-scale", choices=["probability", "percent"], help="how the survival axis is labelled")
    d.add_argument("--arms", nargs="+", metavar="LABEL", help="curves wanted, by legend label (or names, in order)")
    d.add_argument("--curves", type=int, metavar="N", help="how many curves the figure has (helps images)")
    d.set_defaults(func=_cmd_digitize)
    run = sub.add_parser("run", help="materialize every asset through Dagster (only what changed)")
    run.add_argument("--studies", help="folder of study folders (default: $META_BM_STUDIES or ./data/studies)")
    run.add_argument("--database", help="DuckDB file (default: $META_BM_DATABASE or ./data/warehouse/meta_bm.duckdb)")
    run.add_argument("--output", help="figures and report folder (default: $META_BM_OUTPUT or ./output)")
    run.add_argument("--force", action="store_true", help="recompute every study even if unchanged")
    run.add_argument("-q", "--quiet", action="store_true", help="hide the per-study progress lines of the runs")
    run.set_defaults(func=_cmd_run)
    q = sub.add_parser("query", help="read-only SQL on the cohort store, safe while runs write")
    q.add_argument("sql", help='one read-only statement, e.g. "select * from cohort limit 5"')
    q.add_argument("--database", help="DuckDB file (default: $META_BM_DATABASE or ./data/warehouse/meta_bm.duckdb)")
    q.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    q.add_argument("--limit", type=int, default=50, help="rows shown in the table view (default 50)")
    q.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for a writing run (default 600)")
    q.set_defaults(func=_cmd_query)
    ns = sub.add_parser("new-study", help="scaffold a study folder with a commented study.yaml")
    ns.add_argument("study_id", help="lowercase letters, digits, underscores (e.g. smith_2024)")
    ns.add_argument("--root", help="folder of study folders (default: $META_BM_STUDIES or ./data/studies)")
    ns.add_argument("--source", choices=["literature", "institutional"], default="literature")
    ns.set_defaults(func=_cmd_new_study)
    v = sub.add_parser("validate", help="check one study folder or every study folder under PATH")
    v.add_argument("path", nargs="?", help="a study folder or a folder of them (default: the studies folder)")
    v.set_defaults(func=_cmd_validate)
    an = sub.add_parser("analyze", help="KM, medians, log-rank, Cox and meta-analysis on a patient-level CSV")
    an.add_argument("ipd", help="CSV with one row per patient")
    an.add_argument("--time", required=True, help="time column")
    an.add_argument("--event", required=True, help="event column (1 = event, 0 = censored)")
    an.add_argument("--group", required=True, help="group column")
    an.add_argument("--study", help="study column: stratified/clustered models and two-stage meta-analysis")
    an.add_argument("--reference", help="reference group level (default: first in sorted order)")
    an.add_argument("--landmarks", type=float, nargs="*", help="landmark times for survival estimates")
    an.add_argument("--rmst-horizon", type=float, help="RMST horizon (default: the largest time)")
    an.add_argument("--json", action="store_true", help="print every figure as JSON")
    an.set_defaults(func=_cmd_analyze)
    e = sub.add_parser("examples", help="reconstruct every example curve in data/examples, print fidelity")
    e.add_argument("--data", default="data/examples", help="folder of example curves")
    e.set_defaults(func=_cmd_examples)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (InputError, SettingsError) as exc:  # (a StoreUnavailable is a SettingsError: it names the setting)
        print(f"meta-bm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
