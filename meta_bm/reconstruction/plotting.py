"""Figures of a reconstruction: digitized clicks against the reconstructed Kaplan–Meier curve.

Example
-------
>>> from meta_bm.reconstruction import reconstruct_arrays
>>> rec = reconstruct_arrays([0, 2, 2, 5, 5, 9], [1, 1, 0.8, 0.8, 0.5, 0.5], total_n=10)
>>> png = reconstruction_png([("arm A", rec)], title="demo")
>>> png[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from meta_bm.reconstruction.engine import Reconstruction
from meta_bm.survival.km import kaplan_meier


def plot_reconstruction(rec: Reconstruction, ax=None, label: str = "", color: str | None = None):
    """Clicks (dots) and the KM curve of the reconstructed IPD (steps) on ``ax``."""
    ax = ax or plt.gca()
    km = kaplan_meier(rec.time, rec.event)
    line = ax.step(km.time, km.survival, where="post", lw=1.2, color=color, label=f"{label} reconstructed")[0]
    ax.plot(rec.curve.time, rec.curve.survival, ".", ms=3, color=line.get_color(), alpha=0.6, label=f"{label} clicks")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("survival")
    return ax


def reconstruction_png(curves: Sequence[tuple[str, Reconstruction]], title: str = "", dpi: int = 60) -> bytes:
    """A small PNG (a few kB, for UI metadata) of several reconstructions on one axis."""
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    for label, rec in curves:
        plot_reconstruction(rec, ax, label)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=5, frameon=False)
    ax.tick_params(labelsize=6)
    ax.set_xlabel(f"time ({getattr(curves[0][1], 'time_unit', '')})".replace(" ()", ""), fontsize=7)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
