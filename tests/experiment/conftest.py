"""A small simulated experiment, written as Parquet with its plan."""

import json

import pyarrow.parquet as pq
import pytest

from marquee.experiment import ExperimentConfig, simulate
from marquee.experiment.simulate import demo_config


@pytest.fixture(scope="session")
def small_tables():
    return simulate(3000, variants=("control", "a", "b"), lift={"a": 0.15}, harm={"b": 0.6}, days=10, seed=5)


@pytest.fixture
def plan(tmp_path, small_tables):
    """Write the tables and a JSON plan; return (path, config dict) for tests to vary."""
    exposures, events = small_tables
    pq.write_table(exposures, tmp_path / "exposures.parquet")
    pq.write_table(events, tmp_path / "events.parquet")
    config = demo_config(variants=("control", "a", "b"))
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(config))
    return path, config


@pytest.fixture
def small_config():
    return ExperimentConfig.from_dict(demo_config(variants=("control", "a", "b")))
