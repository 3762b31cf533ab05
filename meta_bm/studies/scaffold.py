"""``meta-bm new-study``: a new study folder with a commented ``study.yaml`` to fill in.

Example
-------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> path = new_study(root, "smith_2024")
>>> sorted(p.name for p in path.iterdir())
['study.yaml']
"""

from __future__ import annotations

from pathlib import Path

from meta_bm.errors import MAX_ID_CHARS
from meta_bm.studies.manifest import MANIFEST_NAME, STUDY_ID_PATTERN, short_repr

LITERATURE = """\
# Study manifest for meta_bm. Fill in every value marked TODO, put the files it names in this folder,
# then check it with:  .venv/bin/meta-bm validate {folder}
study_id: {study_id}            # must equal the folder name (lowercase letters, digits, underscores)
citation: "TODO First author et al. Title. Journal Year;Vol:Pages"
year: 2024                      # TODO publication year
doi: null                       # TODO e.g. 10.1007/s11060-025-05244-1
source: literature              # literature (digitized curves) | institutional (patient table)
synthetic: false                # true only for simulated example data
arms:                           # one entry per treatment arm shown in the figure
  - arm_id: rr                  # short id used by the curves below
    label: Re-resection         # as the paper names it
    modality: re_resection      # re_resection | re_srs | non_surgical | wbrt | systemic | litt | other
    # resection_extent: gtr     # optional: gtr | str
    # adjuvant: none            # optional: re_srs | re_rt | none
curves:                         # one entry per digitized Kaplan-Meier curve (one arm, one endpoint)
  - curve_id: os_rr
    arm: rr
    endpoint: os                # os | pfs | local_pfs
    time_unit: months           # days | weeks | months | years (the figure's x axis)
    clicks: os_rr_clicks.csv    # WebPlotDigitizer export: time, survival (probability or percent)
    risk_table: os_rr_risk.csv  # optional: numbers at risk, CSV with header time,n_risk
    total_n: 40                 # TODO patients in this arm (required without a risk table)
    # total_events: 31          # optional: reported deaths/events; met exactly
    # censor_marks: os_rr_censor.csv  # optional: times of the censoring marks (+ or |), CSV with header time
    # published:                # optional: figures reported in the paper, checked against the reconstruction
    #   median: {{value: 14.2, lower: 10.1, upper: 18.0}}
    #   hr: {{value: 0.62, lower: 0.41, upper: 0.94, reference_arm: ns}}
# Instead of clicks, a curve may be read from the published figure itself (a PDF page: exact curve, censoring
# marks and numbers at risk; or a PNG/JPEG: give x_range). Try `meta-bm digitize FIGURE -o out/` first and
# look at out/overlay.png.
# figures:
#   - figure_id: fig2
#     file: article.pdf           # PDF, PNG or JPEG in this folder
#     page: 5                     # PDF page (default: the one page with a plot)
#     # crop: [x0, y0, x1, y1]    # one plot of a multi-panel page: PDF points from the bottom left (pixels for images)
#     # x_range: [0, 36]          # images: values of the outermost labelled x ticks
#     # y_scale: percent          # when the survival axis is labelled 0-100
# and in curves, instead of clicks:
#   - curve_id: os_rr
#     arm: rr
#     endpoint: os
#     time_unit: months
#     figure: fig2
#     figure_curve: Re-resection  # its legend label (default: the arm's label), or its rank 1, 2, ... from the top
"""

INSTITUTIONAL = """\
# Institutional cohort for meta_bm. Fill in the TODOs, add patients.csv, then check with:
#   .venv/bin/meta-bm validate {folder}
# patients.csv columns: patient_id, arm (an arm_id below), per endpoint <endpoint>_time and <endpoint>_event
# (e.g. os_time, os_event, local_pfs_time, local_pfs_event; event 1 = event, 0 = censored), optional
# covariates age, sex (f/m), kps, primary_histology, resection_extent (gtr/str), adjuvant (re_srs/re_rt/none).
study_id: {study_id}
citation: "TODO Institution, cohort years"
year: 2025
source: institutional
synthetic: false
arms:
  - {{arm_id: rr, label: Re-resection, modality: re_resection}}
  - {{arm_id: ns, label: Non-surgical management, modality: non_surgical}}
patients:
  file: patients.csv
  time_unit: months             # days | weeks | months | years
"""


def new_study(root: str | Path, study_id: str, source: str = "literature") -> Path:
    """Create ``<root>/<study_id>/study.yaml`` from the commented template; refuse bad or taken ids.

    Raises ``ValueError`` for an id that is not lowercase letters, digits and underscores (a
    trailing newline included) or longer than :data:`~meta_bm.errors.MAX_ID_CHARS`, or an unknown
    source; ``FileExistsError`` when the folder exists (also as a broken symlink).
    """
    if not isinstance(study_id, str) or not STUDY_ID_PATTERN.match(study_id):
        raise ValueError(f"study id {short_repr(study_id)} must be lowercase letters, digits and underscores")
    if len(study_id) > MAX_ID_CHARS:
        raise ValueError(f"study id of {len(study_id)} characters, above the limit of {MAX_ID_CHARS}")
    if source not in ("literature", "institutional"):
        raise ValueError(f"source {short_repr(source)} must be literature or institutional")
    folder = Path(root) / study_id
    if folder.exists() or folder.is_symlink():
        raise FileExistsError(f"{folder} already exists")
    template = LITERATURE if source == "literature" else INSTITUTIONAL
    # (the folder is named in a YAML comment: a line break in it would end the comment)
    shown = "".join(ch if ch.isprintable() else "?" for ch in str(folder))
    text = template.format(study_id=study_id, folder=shown)
    folder.mkdir(parents=True)
    (folder / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return folder
