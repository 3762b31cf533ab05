"""Errors of the cohort store."""

from __future__ import annotations

from meta_bm.settings import SettingsError


class StoreUnavailable(SettingsError):
    """The cohort store cannot be reached or opened; the message names the setting to fix (never a password).

    A :class:`~meta_bm.settings.SettingsError`: the command line reports it as a bad setting (exit status 2),
    before any run is launched.
    """
