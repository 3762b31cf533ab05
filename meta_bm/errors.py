"""Errors raised on bad user input: every message names the file, the row and the problem."""

from __future__ import annotations


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
