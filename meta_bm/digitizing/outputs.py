"""A digitized figure as files: per curve the clicks, censoring marks and numbers at risk in the formats
``meta-bm reconstruct`` and study folders read, ``curves.json`` (what was found, how, how sure) and
``overlay.png`` (the extracted points drawn on the figure, to check at a glance).

The files of one figure are written together or not at all: they are assembled in a temporary folder
next to the output folder and moved in only when all of them exist; files of an earlier run that this
run did not produce again (a curve fewer) are removed, so the folder never mixes two extractions.

Example
-------
>>> import tempfile, numpy as np
>>> from meta_bm.digitizing.figure import AxisMap, CurveQuality, DigitizedCurve, DigitizedFigure
>>> curve = DigitizedCurve("Arm A", {"color": "#1f77b4"}, np.array([0., 2., 2., 5.]), np.array([1., 1., .8, .8]),
...                        np.array([3.5]), np.array([0., 4.]), np.array([10, 7]), CurveQuality("vector paths", 4))
>>> fig = DigitizedFigure("km.pdf", 1, "vector", "ab" * 32, [curve], AxisMap(10, 20, 90, -80, "tick labels"),
...                       np.full((100, 130, 3), 255, np.uint8))
>>> out = tempfile.mkdtemp()
>>> sorted(p.name for p in write_outputs(fig, out))
['1_censor.csv', '1_clicks.csv', '1_risk.csv', 'curves.json', 'overlay.png']
>>> print(open(out + "/1_clicks.csv").read().splitlines()[:3])
['time,survival', '0,1', '2,1']
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from meta_bm.digitizing.figure import DigitizedCurve, DigitizedFigure

# The files a figure's output folder may hold (an earlier run's extra curves are removed by this pattern).
_OUTPUT_FILE = re.compile(r"^(\d+_(clicks|censor|risk)\.csv|curves\.json|overlay\.png)$")
# Colours of the overlay's extracted points: chosen to stand out on any journal palette.
_OVERLAY_COLOURS = ("#ff00ff", "#00c000", "#ff8000", "#00b0ff", "#a000ff", "#c00000")
# The overlay is drawn at the background's pixel size (one figure pixel per image pixel).
_OVERLAY_DPI = 100


# Significant digits written: a PDF stores coordinates to about 6 decimals of a point, so more digits
# would only carry the float noise of the axis mapping (1.6346750031151223 for 1.634675).
_DIGITS = 10


def _number(x: float) -> str:
    """``x`` to :data:`_DIGITS` significant digits, without trailing zeros."""
    return f"{float(x):.{_DIGITS}g}"


def clicks_csv(curve: DigitizedCurve) -> str:
    """``time,survival`` rows (survival as a probability), the format ``meta-bm reconstruct`` reads."""
    rows = [f"{_number(t)},{_number(s)}" for t, s in zip(curve.time, curve.survival, strict=True)]
    return "time,survival\n" + "\n".join(rows) + "\n"


def censor_csv(curve: DigitizedCurve) -> str:
    """``time`` rows, one per censoring mark."""
    marks = curve.censor_times if curve.censor_times is not None else np.empty(0)
    return "time\n" + "".join(f"{_number(t)}\n" for t in marks)


def risk_csv(curve: DigitizedCurve) -> str:
    """``time,n_risk`` rows of the numbers-at-risk table printed under the plot."""
    assert curve.risk_time is not None and curve.n_risk is not None
    rows = [f"{_number(t)},{int(n)}" for t, n in zip(curve.risk_time, curve.n_risk, strict=True)]
    return "time,n_risk\n" + "\n".join(rows) + "\n"


def curve_files(k: int, curve: DigitizedCurve) -> dict[str, str]:
    """The file names of the ``k``-th curve (1-based), by role."""
    files = {"clicks": f"{k}_clicks.csv"}
    if curve.censor_times is not None and curve.censor_times.size:
        files["censor"] = f"{k}_censor.csv"
    if curve.risk_time is not None and curve.n_risk is not None:
        files["risk"] = f"{k}_risk.csv"
    return files


def summary(fig: DigitizedFigure) -> dict:
    """What ``curves.json`` holds: the figure (file, page, kind, SHA-256, calibration) and per curve its
    label, style, files and quality figures."""
    q = fig.calibration
    return {
        "figure": {
            "source": fig.source,
            "page": fig.page,
            "kind": fig.kind,
            "sha256": fig.sha256,
            "y_scale": fig.y_scale,
            "calibration": q.how,
            "warnings": list(fig.warnings),
        },
        "curves": [
            {
                "k": k,
                "label": c.label,
                "style": {key: (v if isinstance(v, (str, int, float, bool)) else str(v)) for key, v in c.style.items()},
                "files": curve_files(k, c),
                "points": int(c.time.size),
                "time_range": [float(c.time.min()), float(c.time.max())] if c.time.size else None,
                "final_survival": float(c.survival[-1]) if c.survival.size else None,
                "censor_marks": None if c.censor_times is None else int(c.censor_times.size),
                "risk_table_rows": None if c.n_risk is None else int(c.n_risk.size),
                "quality": {
                    "method": c.quality.method,
                    "points": c.quality.points,
                    "gaps": c.quality.gaps,
                    "gap_fraction": round(float(c.quality.gap_fraction), 4),
                    "overlap_fraction": round(float(c.quality.overlap_fraction), 4),
                    "confidence": c.quality.confidence,
                    "notes": list(c.quality.notes),
                },
            }
            for k, c in enumerate(fig.curves, start=1)
        ],
    }


def overlay_png(fig: DigitizedFigure) -> bytes:
    """The figure with every extracted corner (circles, joined as steps), censoring mark (×) and number
    at risk drawn on top in contrasting colours, labelled with each curve's number and label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bg = fig.background
    h, w = bg.shape[:2]
    # a strip under the figure says what was extracted, one line per curve in its overlay colour
    line_in = 0.16
    strip_in = line_in * (len(fig.curves) + 1) + 0.05
    height_in = h / _OVERLAY_DPI + strip_in
    f = Figure(figsize=(w / _OVERLAY_DPI, height_in), dpi=_OVERLAY_DPI)
    FigureCanvasAgg(f)
    ax = f.add_axes((0, strip_in / height_in, 1, 1 - strip_in / height_in))
    ax.imshow(bg, interpolation="nearest", alpha=0.55)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    cal = fig.calibration
    page = f", page {fig.page}" if fig.page else ""
    head = (
        f"{Path(fig.source).name}{page}: extracted from {fig.kind} data, axes from {cal.how}; "
        "circles = corners, × = censoring marks, numbers = at risk read"
    )
    f.text(0.01, (strip_in - line_in) / height_in, head, fontsize=7)
    for k, c in enumerate(fig.curves, start=1):
        colour = _OVERLAY_COLOURS[(k - 1) % len(_OVERLAY_COLOURS)]
        x, y = cal.to_figure(c.time, c.survival)
        ax.step(x, y, where="post", color=colour, lw=0.9, alpha=0.9)
        ax.plot(x, y, "o", ms=2.2, mfc="none", mec=colour, mew=0.7)
        marks = "marks not read" if c.censor_times is None else f"{c.censor_times.size} marks"
        if c.censor_times is not None and c.censor_times.size:
            s_at = c.survival[np.clip(np.searchsorted(c.time, c.censor_times, side="right") - 1, 0, c.time.size - 1)]
            cx, cy = cal.to_figure(c.censor_times, s_at)
            ax.plot(cx, cy, "x", ms=4.5, color=colour, mew=1.0)
        if c.risk_time is not None and c.n_risk is not None:
            rx, _ = cal.to_figure(c.risk_time, np.zeros(c.risk_time.size))
            _, base = cal.to_figure(np.zeros(1), np.zeros(1))
            for xi, n in zip(rx, c.n_risk, strict=True):
                ax.annotate(
                    str(int(n)), (xi, base[0]), xytext=(0, 8 + 9 * (k - 1)), textcoords="offset points",
                    ha="center", fontsize=6.5, color=colour, fontweight="bold",
                )  # fmt: skip
        q = c.quality
        f.text(
            0.01,
            (strip_in - line_in * (k + 1)) / height_in,
            f"{k}: {c.label or '(no label)'}: {q.points} corners, {marks}, "
            f"{'risk table ' + str(c.n_risk.size) + ' rows' if c.n_risk is not None else 'no risk table'}, "
            f"{q.gap_fraction:.0%} unseen, {q.overlap_fraction:.0%} overlapped, confidence {q.confidence}",
            fontsize=7,
            color=colour,
            fontweight="bold",
        )
    buf = io.BytesIO()
    f.savefig(buf, format="png", dpi=_OVERLAY_DPI)
    return buf.getvalue()


def write_outputs(fig: DigitizedFigure, outdir: str | Path) -> list[Path]:
    """Write the figure's files into ``outdir`` (created if needed), all or nothing; return their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    contents: dict[str, bytes] = {}
    for k, c in enumerate(fig.curves, start=1):
        files = curve_files(k, c)
        contents[files["clicks"]] = clicks_csv(c).encode()
        if "censor" in files:
            contents[files["censor"]] = censor_csv(c).encode()
        if "risk" in files:
            contents[files["risk"]] = risk_csv(c).encode()
    contents["curves.json"] = (json.dumps(summary(fig), indent=2) + "\n").encode()
    contents["overlay.png"] = overlay_png(fig)
    staging = Path(tempfile.mkdtemp(prefix=".digitize-", dir=outdir))
    try:
        for name, data in contents.items():
            with open(staging / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for old in outdir.iterdir():  # an earlier extraction's files this one does not replace
            if old.is_file() and _OUTPUT_FILE.match(old.name) and old.name not in contents:
                old.unlink()
        for name in contents:
            os.replace(staging / name, outdir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [outdir / name for name in contents]
