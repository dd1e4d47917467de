"""Fixtures for every test: the PBX database on both backends.

`database` is parametrized ["sqlite", "postgresql"], so a test taking it runs unchanged on
each: SQLite as a real file in tmp_path, PostgreSQL as a fresh database (CREATE DATABASE with
a unique name, dropped after) on one private server per test session (tests/pg_server.py).
Without PostgreSQL binaries the "postgresql" cases are skipped with the reason.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from sdk.database import Database, PostgresDatabase, SqliteDatabase
from tests.pg_server import PostgresUnavailable, postgres_server

_database_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The superuser URL of a private PostgreSQL server started for this test session."""
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL unavailable: {error}")


@pytest.fixture(scope="session")
def postgres_admin(postgres_url: str) -> Iterator[PostgresDatabase]:
    """The superuser's connection to the session's server, to create and drop databases."""
    admin = PostgresDatabase(postgres_url, max_size=2)
    yield admin
    admin.close()


@pytest.fixture
def postgres_database_url(postgres_url: str, postgres_admin: PostgresDatabase) -> Iterator[str]:
    """A URL to a new empty database of the session's server, dropped after the test."""
    name = f"test_{os.getpid()}_{next(_database_names)}"
    postgres_admin.run_sync(postgres_admin.execute, f"CREATE DATABASE {name}")
    yield postgres_url.rpartition("/")[0] + "/" + name
    postgres_admin.run_sync(postgres_admin.execute, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    """A fresh, empty PBX database on each backend."""
    if request.param == "sqlite":
        opened: Database = SqliteDatabase(tmp_path / "pbx.sqlite")
    else:
        opened = PostgresDatabase(request.getfixturevalue("postgres_database_url"))
    yield opened
    opened.close()
