"""Shared fixtures. Real-data tests fetch MovieLens-100K once into a session cache."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def marquee_home(tmp_path_factory) -> Path:
    """The real data cache: $MARQUEE_HOME when set (so CI and developers reuse one fetch)."""
    env = os.environ.get("MARQUEE_HOME")
    return Path(env) if env else Path.home() / ".cache" / "marquee"


@pytest.fixture(scope="session")
def ml100k(marquee_home):
    from marquee.data.movielens import fetch_movielens_100k

    return fetch_movielens_100k(marquee_home)
