"""Test configuration: hypothesis runs derandomized under CI so a landing never depends on luck;
locally it explores new examples on every run."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


import pytest  # noqa: E402


@pytest.fixture()
def studies_root(tmp_path):
    """Three valid synthetic study folders: two literature studies and one institutional cohort."""
    from meta_bm.simulation.study_folders import ArmSpec, write_institutional_study, write_literature_study

    root = tmp_path / "studies"
    write_literature_study(
        root,
        "alpha_2020",
        [
            ArmSpec("rr", "Re-resection", "re_resection", 40, 14.0),
            ArmSpec("ns", "Non-surgical", "non_surgical", 36, 10.0),
        ],
        time_unit="weeks",
        percent=True,
        seed=3,
    )
    write_literature_study(
        root, "beta_2021", [ArmSpec("srs", "Re-SRS", "re_srs", 50, 11.0)], risk_table=False, total_events=True, seed=4
    )
    write_institutional_study(
        root,
        "inst_2025",
        [
            ArmSpec("gtr", "GTR", "re_resection", 25, 20.0, attributes={"resection_extent": "gtr"}),
            ArmSpec("ns", "Non-surgical", "non_surgical", 20, 10.0),
        ],
        seed=5,
    )
    return root
