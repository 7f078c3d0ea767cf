"""The analysis plan: TOML and JSON, relative paths, round trip, and errors that say what to fix."""

import json

import pytest

from marquee.errors import ConfigError
from marquee.experiment import ExperimentConfig
from marquee.experiment.simulate import demo_config

TOML = """
name = "home-row-order"
variants = [{name = "control", weight = 2}, {name = "new", weight = 1}]
primary = "minutes"
correction = "bh"
sequential = true
start = "2025-01-01"

[exposures]
path = "data/exposures.parquet"
member_id = "user"

[events]
path = "/abs/events.parquet"

[[metrics]]
name = "minutes"
events = "play"
aggregate = "sum"
cuped = true

[[metrics]]
name = "sessions"
events = ["session"]

[[metrics]]
name = "minutes_per_session"
numerator = "minutes"
denominator = "sessions"

[[guardrails]]
metric = "sessions"
margin = 0.01
"""


def test_toml_plan_reads_and_resolves_paths(tmp_path):
    (tmp_path / "plan.toml").write_text(TOML)
    cfg = ExperimentConfig.from_file(tmp_path / "plan.toml")
    assert cfg.control == "control" and cfg.treatments == ("new",) and cfg.weights == {"control": 2, "new": 1}
    assert cfg.exposures.path == str(tmp_path / "data" / "exposures.parquet") and cfg.exposures.member_id == "user"
    assert cfg.events.path == "/abs/events.parquet"
    assert cfg.metric("minutes").events == ("play",) and cfg.metric("minutes_per_session").is_ratio
    assert cfg.start == 1_735_689_600.0 and cfg.correction == "bh"


def test_round_trip_through_json(tmp_path):
    (tmp_path / "plan.toml").write_text(TOML)
    cfg = ExperimentConfig.from_file(tmp_path / "plan.toml")
    (tmp_path / "plan.json").write_text(json.dumps(cfg.to_dict()))
    assert ExperimentConfig.from_file(tmp_path / "plan.json") == cfg


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"primary": "nope"}, r"primary 'nope' is not a metric; metrics are \['watch_minutes'"),
        ({"alpha": 0.7}, r"ExperimentConfig\.alpha must be in \(0, 0\.5\), got 0\.7"),
        ({"correction": "bonferroni"}, r"correction must be 'holm', 'bh' or 'none', got 'bonferroni'"),
        ({"control": "x"}, r"control 'x' is not a variant; variants are \['control', 'treatment'\]"),
        ({"variants": ["control"]}, r"variants must list at least two variants"),
        ({"sequental": True}, r"experiment config has unknown key 'sequental'"),
        ({"guardrails": [{"metric": "watch_minutes", "margin": 0.02}]}, r"primary metric 'watch_minutes' cannot also be a guardrail"),
        ({"guardrails": [{"metric": "sessions", "margin": 2}]}, r"Guardrail\('sessions'\)\.margin must be a relative margin in \[0, 1\)"),
        ({"metrics": [{"name": "m", "events": ["play"], "aggregate": "mean"}]}, r"Metric\('m'\)\.aggregate must be 'sum', 'count' or 'any', got 'mean'"),
        ({"metrics": [{"name": "m"}]}, r"Metric\('m'\) needs events = \[\.\.\.\]"),
        ({"metrics": [{"name": "r", "numerator": "x", "denominator": "y"}], "primary": "r"}, r"refers to 'x', which is not a plain metric"),
        ({"metrics": [{"name": "m", "events": ["a"], "cupid": True}]}, r"metric 'm' has unknown key 'cupid'"),
        ({"start": "yesterday"}, r"start must be unix seconds or an ISO-8601 date/time"),
        ({"exposures": {"path": "x.parquet", "member": "user"}}, r"\[exposures\] has unknown key 'member'"),
    ],
)
def test_plan_errors_say_what_to_fix(tmp_path, change, match):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(demo_config() | change))
    with pytest.raises(ConfigError, match=match) as info:
        ExperimentConfig.from_file(path)
    assert str(path) in str(info.value)


def test_missing_or_broken_file():
    with pytest.raises(ConfigError, match=r"config file nope\.toml does not exist"):
        ExperimentConfig.from_file("nope.toml")
