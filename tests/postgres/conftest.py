"""Fixtures for the PostgreSQL ledger tests: one throwaway cluster per session, a fresh database per test.

Without server binaries the tests skip with the reason; with AURIKO_NB_REQUIRE_POSTGRES=1 (CI) they fail.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from cluster import Cluster, missing_reason, start_cluster

REQUIRE_ENV = "AURIKO_NB_REQUIRE_POSTGRES"
_numbers = itertools.count(1)


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV, "").strip() == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but no PostgreSQL cluster: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A running throwaway cluster on 127.0.0.1 (role/database `auriko`), stopped at the end of the session."""
    reason = missing_reason()
    if reason:
        _unavailable(reason)
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("pg"))
    except RuntimeError as e:
        _unavailable(f"cannot start a PostgreSQL cluster: {e}")
        raise  # unreachable: skip/fail raise
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL (with the password) of a fresh, empty database for this test."""
    return pg_cluster.create_database(f"t{os.getpid()}_{next(_numbers)}")
