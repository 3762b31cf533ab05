"""Write two SYNTHETIC example studies whose curves are read from published-style figures.

* ``quinn_2024``: overall survival after re-resection vs non-surgical management, a vector PDF figure
  (``km.pdf``: curves, censoring marks and numbers at risk all read from its drawing); each curve
  is found by its arm's label in the legend.
* ``ruiz_2023``: overall survival after repeat SRS vs non-surgical management as a PNG (150 dpi, with
  confidence bands, no printed numbers at risk: the risk tables are typed); the repeat-SRS curve is
  read from the image (named by its rank from the top), the non-surgical one from hand-made clicks of the
  same figure (a study may mix both).

Medians are drawn around the study's reported medians (``make_example_studies.py``); every manifest
says ``synthetic: true``: this is not evidence.

Run: .venv/bin/python scripts/make_figure_studies.py [--out data/studies]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import yaml

from meta_bm.simulation import CAREFUL, digitize
from meta_bm.simulation.study_folders import ArmSpec, write_figure_study

OUT = Path(__file__).resolve().parents[1] / "data" / "studies"
OS = {"re_resection": 14.74, "non_surgical": 10.34, "re_srs": 10.97}
HETEROGENEITY_SD = 0.12  # between-study SD of log median, as the other examples


def drawn_arms(rng: np.random.Generator, specs: list[tuple[str, str, str, int]]) -> list[ArmSpec]:
    """``ArmSpec`` per ``(arm id, label, treatment, n)``, its median drawn around the reported one (``OS``)."""
    draw = np.exp(rng.normal(0, HETEROGENEITY_SD, len(specs)))
    return [ArmSpec(aid, label, tr, n, OS[tr] * d) for (aid, label, tr, n), d in zip(specs, draw, strict=True)]


def write_quinn(out: Path) -> None:
    rng = np.random.default_rng(2024)
    arms = drawn_arms(
        rng, [("rr", "Re-resection", "re_resection", 48), ("ns", "Non-surgical management", "non_surgical", 40)]
    )
    write_figure_study(out, "quinn_2024", arms, style="mpl_journal_colours", fmt="pdf", seed=2024)


def write_ruiz(out: Path) -> None:
    rng = np.random.default_rng(2023)
    arms = drawn_arms(rng, [("srs", "Repeat SRS", "re_srs", 60), ("ns", "Non-surgical", "non_surgical", 52)])
    truth: dict = {}
    folder = write_figure_study(
        out, "ruiz_2023", arms, style="lifelines_default", fmt="png", dpi=150, year=2023, seed=2023, truth=truth
    )
    # the non-surgical curve of the same figure digitized by hand (WebPlotDigitizer-style clicks): a study
    # may mix both
    ns = truth["figure"].arms[1]
    sim = digitize(ns.time, ns.event, CAREFUL, seed=rng)
    (folder / "os_ns_clicks.csv").write_text(
        "".join(f"{a:.6g},{b:.6g}\n" for a, b in zip(sim.click_time, sim.click_survival, strict=True))
    )
    manifest = yaml.safe_load((folder / "study.yaml").read_text())
    curve = manifest["curves"][1]
    del curve["figure"], curve["figure_curve"]
    curve["clicks"] = "os_ns_clicks.csv"
    (folder / "study.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    out = Path(ap.parse_args(argv).out)
    for sid in ("quinn_2024", "ruiz_2023"):
        shutil.rmtree(out / sid, ignore_errors=True)
    write_quinn(out)
    write_ruiz(out)
    print(f"wrote {out / 'quinn_2024'} and {out / 'ruiz_2023'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
