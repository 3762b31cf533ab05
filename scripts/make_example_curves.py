"""Write data/examples: simulated digitizations of real public survival data (deterministic).

Each curve is one arm of a dataset shipped with lifelines, digitized by the simulated person of
meta_bm.simulation in varied export formats (comma / semicolon with decimal comma / tab /
WebPlotDigitizer header; probability or percent). The true IPD is written beside it.

Run: .venv/bin/python scripts/make_example_curves.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from meta_bm.simulation import CAREFUL, SLOPPY, digitize, public_pairs

OUT = Path(__file__).resolve().parents[1] / "data" / "examples"

# (pair name, arm, style, format, risk table?, total events?)
PLAN = [
    ("waltons:group", 0, CAREFUL, "comma", True, False),
    ("lung:sex", 0, CAREFUL, "wpd", True, False),
    ("lung:sex", 1, SLOPPY, "semicolon_percent", True, True),
    ("gbsg2:horTh", 0, CAREFUL, "tab", True, False),
    ("gbsg2:horTh", 1, CAREFUL, "comma", False, False),
    ("rossi:fin", 1, SLOPPY, "comma", True, False),
    ("leukemia:Rx", 0, CAREFUL, "semicolon_percent", False, True),
    ("larynx:stage_I_II", 1, SLOPPY, "wpd", True, False),
]


def write_clicks(path: Path, t: np.ndarray, s: np.ndarray, fmt: str) -> str:
    if fmt == "semicolon_percent":
        lines = ["time;survival (%)"] + [f"{a:.4f};{b * 100:.3f}".replace(".", ",") for a, b in zip(t, s, strict=True)]
        y = "percent"
    elif fmt == "tab":
        lines = [f"{a:.5f}\t{b:.5f}" for a, b in zip(t, s, strict=True)]
        y = "probability"
    elif fmt == "wpd":
        lines = ["Dataset 1,", "X,Y"] + [f"{a:.6f}, {b:.6f}" for a, b in zip(t, s, strict=True)]
        y = "probability"
    else:
        lines = ["time,survival"] + [f"{a:.5f},{b:.5f}" for a, b in zip(t, s, strict=True)]
        y = "probability"
    path.write_text("\n".join(lines) + "\n")
    return y


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pairs = {p.name: p for p in public_pairs()}
    rows = []
    for k, (name, arm, style, fmt, with_table, with_events) in enumerate(PLAN):
        t, e = pairs[name].arms[arm]
        sim = digitize(t, e, style, seed=100 + k)
        cid = f"{name.replace(':', '_')}_arm{arm}_{style.name}"
        y = write_clicks(OUT / f"{cid}.clicks.csv", sim.click_time, sim.click_survival, fmt)
        risk = ""
        if with_table:
            risk = f"{cid}.risk.csv"
            (OUT / risk).write_text(
                "time,n_risk\n" + "".join(f"{a:g},{b}\n" for a, b in zip(sim.risk_time, sim.n_risk, strict=True))
            )
        truth = f"{cid}.truth.csv"
        (OUT / truth).write_text("time,event\n" + "".join(f"{a:g},{b}\n" for a, b in zip(t, e, strict=True)))
        rows.append(
            {
                "curve_id": cid,
                "clicks": f"{cid}.clicks.csv",
                "risk_table": risk,
                "total_n": sim.total_n,
                "total_events": sim.total_events if with_events else "",
                "y_scale": "auto" if k % 2 else y,
                "truth": truth,
            }
        )
    with (OUT / "curves.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} curves to {OUT}")


if __name__ == "__main__":
    main()
