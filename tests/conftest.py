"""Shared fixtures.

Tests never touch the user's ``~/.cache/marquee``: every test session runs with ``MARQUEE_HOME``
pointing at a fresh temporary directory, and real datasets (MovieLens-100K, the Open Bandit sample)
are fetched once into a test-only data cache, ``$MARQUEE_TEST_DATA`` or ``.cache/test-data`` in the
checkout (git ignores it), which tests only read or write datasets into.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _temporary_home(tmp_path_factory):
    """Point MARQUEE_HOME at a temporary directory for the whole session (restored afterwards)."""
    home = tmp_path_factory.mktemp("marquee-home")
    before = os.environ.get("MARQUEE_HOME")
    os.environ["MARQUEE_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("MARQUEE_HOME", None)
    else:
        os.environ["MARQUEE_HOME"] = before


@pytest.fixture(scope="session")
def marquee_home() -> Path:
    """The test-only cache of real datasets (never the user's ~/.cache/marquee)."""
    path = Path(os.environ.get("MARQUEE_TEST_DATA") or REPO / ".cache" / "test-data")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def ml100k(marquee_home):
    from marquee.data.movielens import fetch_movielens_100k

    return fetch_movielens_100k(marquee_home)
