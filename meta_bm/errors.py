"""Errors raised on bad user input (every message names the file, the row and the problem), and the
plausibility limits that define bad input.

Every number that enters from a user's file, a manifest, the command line or the Python API is
checked against the limits below, so the memory and time a bad input can take stay bounded by the
size of the input. They are the one place these bounds are set: the parsers, the manifest schema,
the reconstruction's entry points and the CLI all read them from here.
"""

from __future__ import annotations

# ---- plausibility limits (one line of reason each) -----------------------------------------------
# Patients per curve (total N, any number at risk, total events, the N implied at time 0, rows of
# a patient table): the largest oncology trials have tens of thousands; a reconstruction holds N rows.
MAX_N = 1_000_000
# Clicks per digitized curve: digitizing gives hundreds, automatic extraction a few thousand; without
# a risk table the risk-set chain holds about 28 KB per click (10,000 clicks: about 0.3 GB).
MAX_CLICKS = 10_000
# Rows of a numbers-at-risk table: published tables have 5 to 20.
MAX_RISK_ROWS = 1_000
# |time| of a click, risk time, patient time or published median, in its own unit: 100,000 days
# (the finest unit) is 274 years, so anything larger is a wrong column or unit.
MAX_TIME = 100_000.0
# The N at time 0 is implied from a risk table that starts after 0 (no total N given) only where the
# curve is at least this high there: below it a digitizing error of 0.005 moves the implied N by
# more than 10 %, and a curve at ~0 with patients still at risk implies millions.
MIN_SURVIVAL_FOR_IMPLIED_N = 0.05
# Size of a clicks, risk-table or patient file: 1,000,000 patient rows of ~60 bytes fit.
MAX_INPUT_BYTES = 64 * 1024 * 1024
# Size of a study.yaml: a manifest is a few KB, even with a hundred curves.
MAX_MANIFEST_BYTES = 1024 * 1024
# Nesting of study.yaml: the schema needs 5 levels (curves[0].published.hr.value).
MAX_MANIFEST_DEPTH = 20
# Values in study.yaml counted with YAML aliases expanded (nine nested aliases of ten expand to 10^9).
MAX_MANIFEST_NODES = 100_000
# Characters of a study, arm or curve id: ids become folder names, partition keys and table values.
MAX_ID_CHARS = 64
# Bytes of one component of a file name (the Linux limit; longer names fail in the OS).
MAX_NAME_BYTES = 255
# Bytes of a whole relative file name in a manifest (well below PATH_MAX once joined to the folder).
MAX_PATH_BYTES = 1024
# Age of a patient, in years.
MAX_AGE = 130.0
# Karnofsky performance status is 0..100 by definition.
MAX_KPS = 100.0


class InputError(ValueError):
    """Bad user input, located as precisely as possible.

    Parameters
    ----------
    problem:
        What is wrong, in words a user can act on.
    source:
        The file (or ``"<string>"`` for in-memory text) the problem was found in.
    row:
        1-based line number in that file, when the problem belongs to one line.
    """

    def __init__(self, problem: str, source: str | None = None, row: int | None = None) -> None:
        self.problem = problem
        self.source = source
        self.row = row
        where = source or "<input>"
        if row is not None:
            where = f"{where}, row {row}"
        super().__init__(f"{where}: {problem}")
