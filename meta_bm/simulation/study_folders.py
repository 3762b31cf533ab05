"""Write synthetic study folders (``study.yaml`` + WebPlotDigitizer-style exports) with known truth.

Used by the tests, the platform benchmark and the example-data script. Every manifest written here
says ``synthetic: true``.

Example
-------
>>> import tempfile, pathlib
>>> from meta_bm.studies import load_study
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> spec = ArmSpec("rr", "Re-resection", "re_resection", n=30, median=14.0)
>>> folder = write_literature_study(root, "demo_2020", [spec], seed=1)
>>> study = load_study(folder)
>>> study.curves[0].spec.total_n, study.manifest.synthetic
(30, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from meta_bm.simulation.digitizer import CAREFUL, DigitizerStyle, digitize, simulate_ipd
from meta_bm.studies.manifest import MONTHS_PER_UNIT


@dataclass(frozen=True)
class ArmSpec:
    """One arm to simulate: Weibull survival with ``median`` (months) and ``shape``."""

    arm_id: str
    label: str
    modality: str
    n: int
    median: float
    shape: float = 1.2
    attributes: dict = field(default_factory=dict)
    pfs_median: float | None = None  # institutional cohorts: local PFS median (default 0.6 x median)


def _write_clicks(path: Path, t: np.ndarray, s: np.ndarray, percent: bool, rng: np.random.Generator) -> None:
    lines = ["Dataset,", "X,Y"] if rng.random() < 0.5 else []
    y = s * 100 if percent else s
    lines += [f"{a:.6g},{b:.6g}" for a, b in zip(t, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def write_literature_study(
    root: str | Path,
    study_id: str,
    arms: list[ArmSpec],
    *,
    endpoint: str = "os",
    time_unit: str = "months",
    risk_table: bool = True,
    total_events: bool = False,
    percent: bool = False,
    year: int = 2020,
    follow_up_months: float = 36.0,
    style: DigitizerStyle = CAREFUL,
    seed: int = 0,
    truth: dict | None = None,
) -> Path:
    """Simulate each arm, digitize its KM curve and write a complete literature study folder.

    ``truth``, when given, receives the simulated IPD of each arm (times in months) under its arm_id.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / study_id
    folder.mkdir(parents=True, exist_ok=True)
    per_month = 1.0 / MONTHS_PER_UNIT[time_unit]
    curves = []
    for a in arms:
        ipd = simulate_ipd(
            a.n,
            shape=a.shape,
            median=a.median * per_month,
            accrual=follow_up_months * per_month,
            follow_up=follow_up_months * per_month / 2,
            dropout_rate=0.01 / per_month,
            seed=rng,
        )
        sim = digitize(ipd.time, ipd.event, style, seed=rng)
        if truth is not None:
            truth[a.arm_id] = (ipd.time * MONTHS_PER_UNIT[time_unit], ipd.event)
        curve_id = f"{endpoint}_{a.arm_id}"
        _write_clicks(folder / f"{curve_id}_clicks.csv", sim.click_time, sim.click_survival, percent, rng)
        c: dict = {
            "curve_id": curve_id,
            "arm": a.arm_id,
            "endpoint": endpoint,
            "time_unit": time_unit,
            "clicks": f"{curve_id}_clicks.csv",
        }
        if risk_table:
            (folder / f"{curve_id}_risk.csv").write_text(
                "time,n_risk\n" + "".join(f"{t:g},{n}\n" for t, n in zip(sim.risk_time, sim.n_risk, strict=True))
            )
            c["risk_table"] = f"{curve_id}_risk.csv"
        c["total_n"] = sim.total_n
        if total_events:
            c["total_events"] = sim.total_events
        curves.append(c)
    manifest = {
        "study_id": study_id,
        "citation": f"SYNTHETIC example study {study_id} (simulated, not evidence)",
        "year": year,
        "doi": None,
        "source": "literature",
        "synthetic": True,
        "arms": [{"arm_id": a.arm_id, "label": a.label, "modality": a.modality, **a.attributes} for a in arms],
        "curves": curves,
    }
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def write_institutional_study(
    root: str | Path,
    study_id: str,
    arms: list[ArmSpec],
    *,
    year: int = 2025,
    follow_up_months: float = 48.0,
    seed: int = 0,
    truth: dict | None = None,
) -> Path:
    """Simulate an institutional cohort with covariates (OS and local PFS, months) and write its folder.

    ``truth``, when given, receives ``{(arm_id, endpoint): (time, event)}`` of the simulated patients.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / study_id
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        "patient_id,arm,os_time,os_event,local_pfs_time,local_pfs_event,age,sex,kps,primary_histology,"
        "resection_extent,adjuvant"
    ]
    k = 0
    histologies = ["nsclc", "breast", "melanoma", "colorectal", "renal", "other"]
    for a in arms:
        os_ = simulate_ipd(
            a.n, shape=a.shape, median=a.median, accrual=follow_up_months, follow_up=follow_up_months / 2, seed=rng
        )
        pfs = simulate_ipd(
            a.n,
            shape=a.shape,
            median=a.median * 0.6,
            accrual=follow_up_months,
            follow_up=follow_up_months / 2,
            seed=rng,
        )
        if truth is not None:
            pfs_time = np.minimum(pfs.time, os_.time)
            truth[(a.arm_id, "os")] = (os_.time, os_.event)
            truth[(a.arm_id, "local_pfs")] = (pfs_time, pfs.event)
        for i in range(a.n):
            k += 1
            pfs_t = min(pfs.time[i], os_.time[i])
            rows.append(
                f"P{k:04d},{a.arm_id},{os_.time[i]:.3f},{os_.event[i]},{pfs_t:.3f},{pfs.event[i]},"
                f"{rng.normal(61, 10):.0f},{rng.choice(['f', 'm'])},{rng.choice([60, 70, 80, 90, 100])},"
                f"{rng.choice(histologies)},{a.attributes.get('resection_extent', '')},"
                f"{a.attributes.get('adjuvant', '')}"
            )
    (folder / "patients.csv").write_text("\n".join(rows) + "\n")
    manifest = {
        "study_id": study_id,
        "citation": f"SYNTHETIC institutional cohort {study_id} (simulated, not evidence)",
        "year": year,
        "source": "institutional",
        "synthetic": True,
        "arms": [{"arm_id": a.arm_id, "label": a.label, "modality": a.modality, **a.attributes} for a in arms],
        "patients": {"file": "patients.csv", "time_unit": "months"},
    }
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def write_figure_study(
    root: str | Path,
    study_id: str,
    arms: list[ArmSpec],
    *,
    style: str = "mpl_colour",
    fmt: str = "pdf",
    dpi: int = 150,
    year: int = 2024,
    follow_up_months: float = 36.0,
    seed: int = 0,
    truth: dict | None = None,
) -> Path:
    """Simulate each arm and write a literature study whose OS curves are read from one figure.

    The figure (``km.pdf``, ``km.png`` or ``km.jpeg``) is drawn in ``style`` of
    :data:`~meta_bm.simulation.km_figures.STYLES`, its legend labels the arms' labels. A PDF's curves
    are named by label (the manifest's default); an image's by rank from the top, with ``x_range``
    and typed risk tables (an image's printed numbers are not read). ``truth``, when given, receives
    the :class:`~meta_bm.simulation.km_figures.FigureTruth`.
    """
    from meta_bm.simulation.km_figures import STYLES, draw_km_figure

    rng = np.random.default_rng(seed)
    folder = Path(root) / study_id
    folder.mkdir(parents=True, exist_ok=True)
    drawn = []
    for a in arms:
        ipd = simulate_ipd(
            a.n, shape=a.shape, median=a.median, accrual=follow_up_months / 2, follow_up=follow_up_months / 2,
            dropout_rate=0.01, seed=rng,
        )  # fmt: skip
        drawn.append((a.label, ipd.time, ipd.event))
    name = f"km.{fmt}"
    fig = draw_km_figure(drawn, STYLES[style], folder / name, fmt=fmt, dpi=dpi)  # type: ignore[arg-type]
    if truth is not None:
        truth["figure"] = fig
    figure: dict = {"figure_id": "fig1", "file": name}
    curves = []
    by_rank = sorted(fig.arms, key=lambda t: -float(t.km_survival[-1]))
    for a, t in zip(arms, fig.arms, strict=True):
        c: dict = {"curve_id": f"os_{a.arm_id}", "arm": a.arm_id, "endpoint": "os", "time_unit": "months",
                   "figure": "fig1"}  # fmt: skip
        if fmt != "pdf":
            c["figure_curve"] = by_rank.index(t) + 1
            rows = "".join(f"{x:g},{int((t.time >= x).sum())}\n" for x in fig.x_ticks)
            (folder / f"os_{a.arm_id}_risk.csv").write_text("time,n_risk\n" + rows)
            c["risk_table"] = f"os_{a.arm_id}_risk.csv"
        curves.append(c)
    if fmt != "pdf":
        figure["x_range"] = [float(fig.x_ticks[0]), float(fig.x_ticks[-1])]
        figure["curves"] = len(arms)
    manifest = {
        "study_id": study_id,
        "citation": f"SYNTHETIC example study {study_id} (simulated, curves read from a figure; not evidence)",
        "year": year,
        "doi": None,
        "source": "literature",
        "synthetic": True,
        "arms": [{"arm_id": a.arm_id, "label": a.label, "modality": a.modality, **a.attributes} for a in arms],
        "figures": [figure],
        "curves": curves,
    }
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder
