"""A ``store`` of either backend, so the store's behaviour is tested once against both."""

from __future__ import annotations

import pytest

from meta_bm.store import CohortStore, PostgresCohortStore


def postgres_store(pg_database: tuple, **kwargs) -> PostgresCohortStore:
    """A store in the fresh database of the ``pg_database`` fixture."""
    server, name = pg_database
    return PostgresCohortStore(server.host, server.port, server.user, server.password, name, **kwargs)


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path):
    """An empty cohort store: a DuckDB file, or a PostgreSQL database on the session's server."""
    if request.param == "duckdb":
        return CohortStore(tmp_path / "x.duckdb")
    return postgres_store(request.getfixturevalue("pg_database"))
