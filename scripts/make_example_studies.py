"""Write data/studies: a SYNTHETIC example set of study folders on recurrent brain metastases.

Twelve simulated literature studies (digitized KM curves in WebPlotDigitizer-style exports) and one
simulated institutional cohort, generated deterministically from Weibull survival models whose
medians are those the study reports (months): OS re-resection 14.74, non-surgical 10.34, re-SRS
only 10.97, gross total 23.97, subtotal 7.06 (adjuvant re-RT vs none: no difference); local PFS
re-resection alone 43.23, re-resection + adjuvant re-SRS 29.92, re-SRS alone 15.79. Each study
draws its own medians around these (between-study heterogeneity). Every manifest says
``synthetic: true``: this is not evidence.

Run: .venv/bin/python scripts/make_example_studies.py [--out data/studies]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from meta_bm.simulation import CAREFUL, SLOPPY
from meta_bm.simulation.study_folders import ArmSpec, write_institutional_study, write_literature_study
from meta_bm.studies import load_study, study_cohort
from meta_bm.survival.km import kaplan_meier

OUT = Path(__file__).resolve().parents[1] / "data" / "studies"
HETEROGENEITY_SD = 0.12  # between-study SD of log median

OS = {
    "re_resection": 14.74,
    "non_surgical": 10.34,
    "re_srs": 10.97,
    "gtr": 23.97,
    "str": 7.06,
}
LOCAL_PFS = {"re_resection": 43.23, "re_resection_re_srs": 29.92, "re_srs": 15.79}

RR = ("rr", "Re-resection", "re_resection", {})
NS = ("ns", "Non-surgical management", "non_surgical", {})
SRS = ("srs", "Repeat SRS only", "re_srs", {})
GTR = ("gtr", "Re-resection, gross total", "re_resection", {"resection_extent": "gtr"})
STR = ("str", "Re-resection, subtotal", "re_resection", {"resection_extent": "str"})
RR_RT = ("rr_rt", "Re-resection + adjuvant re-RT", "re_resection", {"adjuvant": "re_rt"})
RR_NONE = ("rr_none", "Re-resection, no adjuvant", "re_resection", {"adjuvant": "none"})
RR_ALONE = ("rr", "Re-resection alone", "re_resection", {"adjuvant": "none"})
RR_SRS = ("rr_srs", "Re-resection + adjuvant re-SRS", "re_resection", {"adjuvant": "re_srs"})

# study_id, year, endpoint, [(arm, n, median key)], time unit, risk table, total events, percent, style
PLAN = [
    (
        "lindqvist_2013",
        2013,
        "os",
        [(RR, 44, "re_resection"), (NS, 40, "non_surgical")],
        "months",
        True,
        False,
        False,
        CAREFUL,
    ),
    (
        "tanaka_2015",
        2015,
        "os",
        [(RR, 26, "re_resection"), (SRS, 30, "re_srs"), (NS, 22, "non_surgical")],
        "weeks",
        True,
        False,
        True,
        SLOPPY,
    ),
    ("moreau_2016", 2016, "os", [(GTR, 24, "gtr"), (STR, 20, "str")], "months", False, True, False, CAREFUL),
    ("okafor_2017", 2017, "os", [(SRS, 52, "re_srs")], "days", True, False, False, CAREFUL),
    (
        "brandt_2018",
        2018,
        "os",
        [(RR_RT, 22, "re_resection"), (RR_NONE, 26, "re_resection")],
        "months",
        True,
        False,
        True,
        SLOPPY,
    ),
    (
        "costa_2019",
        2019,
        "local_pfs",
        [(RR_ALONE, 28, "re_resection"), (RR_SRS, 22, "re_resection_re_srs"), (SRS, 32, "re_srs")],
        "months",
        True,
        False,
        False,
        CAREFUL,
    ),
    ("haddad_2020", 2020, "os", [(NS, 46, "non_surgical")], "months", False, False, True, CAREFUL),
    ("novak_2021", 2021, "os", [(GTR, 28, "gtr"), (STR, 20, "str")], "weeks", True, True, False, SLOPPY),
    ("sato_2022", 2022, "local_pfs", [(SRS, 42, "re_srs")], "months", True, False, True, CAREFUL),
    ("wright_2023", 2023, "os", [(RR, 38, "re_resection"), (SRS, 38, "re_srs")], "months", True, False, False, CAREFUL),
    (
        "ferreira_2024",
        2024,
        "os",
        [(RR_RT, 18, "re_resection"), (RR_NONE, 18, "re_resection")],
        "years",
        True,
        False,
        True,
        CAREFUL,
    ),
    (
        "ibrahim_2025",
        2025,
        "local_pfs",
        [(RR_ALONE, 20, "re_resection"), (RR_SRS, 20, "re_resection_re_srs")],
        "days",
        False,
        True,
        False,
        SLOPPY,
    ),
]
INSTITUTIONAL = (
    "institutional_2025",
    [(GTR, 34, "gtr"), (STR, 20, "str"), (SRS, 26, "re_srs"), (NS, 20, "non_surgical")],
)


# Local PFS of the institutional arms (months): re-SRS alone counts in a calibrated group.
INSTITUTIONAL_PFS = {"gtr": 30.0, "str": 9.0, "srs": LOCAL_PFS["re_srs"], "ns": 8.0}
CALIBRATION_ROUNDS = 8


def _write_all(out: Path, factors: dict[tuple[str, str], float], draws: list[list[float]]) -> dict:
    """Write every study with arm medians = target x heterogeneity draw x calibration factor.

    Returns per calibration key ``(endpoint, key)`` the pooled (times, events) the pipeline will see:
    reconstructed IPD for literature arms, the simulated patients for the institutional cohort.
    """
    pooled: dict[tuple[str, str], list] = {}
    for i, (sid, year, endpoint, arms, unit, table, events, percent, style) in enumerate(PLAN):
        targets = OS if endpoint == "os" else LOCAL_PFS
        specs = []
        for j, ((arm_id, label, modality, attrs), n, key) in enumerate(arms):
            median = targets[key] * draws[i][j] * factors[(endpoint, key)]
            specs.append(ArmSpec(arm_id, label, modality, n=n, median=median, attributes=attrs))
        truth: dict = {}
        follow = 36.0 if endpoint == "os" else 96.0
        write_literature_study(
            out,
            sid,
            specs,
            endpoint=endpoint,
            time_unit=unit,
            risk_table=table,
            total_events=events,
            percent=percent,
            year=year,
            follow_up_months=follow,
            style=style,
            seed=1000 + i,
            truth=truth,
        )
        # calibrate on what the pipeline will see: the IPD reconstructed from the digitized curve
        cohort, _ = study_cohort(load_study(out / sid))
        for arm, _, key in arms:
            rows = cohort.filter(cohort["arm_id"] == arm[0])
            pooled.setdefault((endpoint, key), []).append((rows["time_months"].to_numpy(), rows["event"].to_numpy()))
    sid, arms = INSTITUTIONAL
    specs = [
        ArmSpec(
            a[0],
            a[1],
            a[2],
            n=n,
            median=OS[key] * factors[("os", key)],
            attributes=a[3],
            pfs_median=INSTITUTIONAL_PFS[a[0]] * factors.get(("local_pfs", "re_srs"), 1.0)
            if a[0] == "srs"
            else INSTITUTIONAL_PFS[a[0]],
        )
        for a, n, key in arms
    ]
    truth = {}
    write_institutional_study(out, sid, specs, seed=7, truth=truth)
    for a, _, key in arms:
        pooled.setdefault(("os", key), []).append(truth[(a[0], "os")])
        if a[0] == "srs":
            pooled.setdefault(("local_pfs", "re_srs"), []).append(truth[(a[0], "local_pfs")])
    return pooled


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    out = Path(args.out)
    rng = np.random.default_rng(2025)
    draws = [[float(np.exp(rng.normal(0, HETEROGENEITY_SD))) for _ in arms] for _, _, _, arms, *_ in PLAN]
    keys = {("os", k) for k in OS} | {("local_pfs", k) for k in LOCAL_PFS}
    factors = dict.fromkeys(keys, 1.0)
    # Calibrate: scale each key's medians until the pooled simulated truth has the target median
    # (the same random numbers every round, so only the scale moves).
    for _ in range(CALIBRATION_ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            pooled = _write_all(Path(tmp), factors, draws)
        for (endpoint, key), parts in pooled.items():
            t = np.concatenate([p[0] for p in parts])
            e = np.concatenate([p[1] for p in parts])
            observed = kaplan_meier(t, e).median()
            target = (OS if endpoint == "os" else LOCAL_PFS)[key]
            if np.isfinite(observed):  # damped: a KM median can jump between steps
                factors[(endpoint, key)] *= (target / observed) ** 0.7
    if out.exists():
        shutil.rmtree(out)
    pooled = _write_all(out, factors, draws)
    total = sum(len(p[0]) for (endpoint, _), parts in pooled.items() for p in parts if endpoint == "os")
    total += sum(n for _, _, endpoint, arms, *_ in PLAN if endpoint == "local_pfs" for _, n, _ in arms)
    print(f"wrote {len(PLAN) + 1} SYNTHETIC studies ({total} patients) to {out}")
    for (endpoint, key), parts in sorted(pooled.items()):
        t = np.concatenate([p[0] for p in parts])
        e = np.concatenate([p[1] for p in parts])
        print(f"  {endpoint:9} {key:20} pooled median (as reconstructed) {kaplan_meier(t, e).median():6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
