"""The evaluation protocol: tune on validation, refit on train+validation, report on test.

Hyperparameters are chosen on the validation stage only; the test targets are touched once,
by the refit of the chosen configuration. Grids are small on purpose and configurable.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from marquee.data.split import Split
from marquee.errors import ConfigError
from marquee.evaluate.offline import DEFAULT_METRICS, Evaluation, evaluate, parse_metric
from marquee.metrics.intervals import PairedComparison
from marquee.random import SeedLike
from marquee.rank.base import Recommender

__all__ = ["Candidate", "Leaderboard", "ModelResult", "ProtocolListener", "Trial", "grid_points", "run_protocol", "tune"]


@dataclass(frozen=True)
class Candidate:
    """A ranker to put through the protocol.

    Attributes:
        name: display name (unique within a leaderboard).
        ranker: the ranker class.
        params: fixed hyperparameters (override the class defaults).
        grid: hyperparameter -> values to try on validation (the product is searched).
    """

    name: str
    ranker: type[Recommender]
    params: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def build(self, overrides: Mapping[str, Any] | None = None) -> Recommender:
        return self.ranker(**{**self.params, **(overrides or {})})

    def n_trials(self) -> int:
        """Validation fits :func:`run_protocol` makes: none when the grid leaves nothing to choose."""
        n = len(grid_points(self.grid))
        return 0 if n == 1 else n


@dataclass(frozen=True)
class Trial:
    """One validation fit: its hyperparameters, the validation metric value and fit time."""

    params: dict[str, Any]
    value: float
    fit_seconds: float


@dataclass(frozen=True, eq=False)
class ModelResult:
    """A candidate after the protocol: its chosen config, its trials, and the test evaluation."""

    name: str
    config: Any
    trials: tuple[Trial, ...]
    evaluation: Evaluation
    fit_seconds: float
    model: Recommender


class ProtocolListener(Protocol):
    """Hooks for progress display; every method is optional to act on."""

    def trial_done(self, candidate: str, trial: Trial) -> None: ...

    def refit_done(self, candidate: str, result: ModelResult) -> None: ...


class _Silent:
    def trial_done(self, candidate: str, trial: Trial) -> None:
        pass

    def refit_done(self, candidate: str, result: ModelResult) -> None:
        pass


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (one empty point for an empty grid)."""
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or len(values) == 0:
            raise ConfigError(f"grid[{key!r}] must be a non-empty list of values, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def tune(
    candidate: Candidate, split: Split, *, metric: str = "ndcg@10", listener: ProtocolListener | None = None
) -> tuple[dict[str, Any], tuple[Trial, ...]]:
    """Fit every grid point on ``split.train`` and score it on ``split.validation``.

    Returns:
        The best point's hyperparameters (ties: the first in grid order) and all trials.
    """
    kind, _ = parse_metric(metric)
    if kind == "coverage":
        raise ConfigError("tune on a per-member metric (ndcg, hr, mrr, recall), not coverage")
    listener = listener or _Silent()
    train, holdout = split.stage("validation")
    trials = []
    for point in grid_points(candidate.grid):
        model = candidate.build(point)
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        value = evaluate(model, holdout, metrics=(metric,)).value(metric)
        trial = Trial(point, value, seconds)
        trials.append(trial)
        listener.trial_done(candidate.name, trial)
    best = max(range(len(trials)), key=lambda i: (trials[i].value, -i))
    return trials[best].params, tuple(trials)


def run_protocol(
    candidates: Sequence[Candidate],
    split: Split,
    *,
    metric: str = "ndcg@10",
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    listener: ProtocolListener | None = None,
) -> Leaderboard:
    """Tune each candidate on validation, refit the winner on train+validation, evaluate on test.

    A candidate whose grid has one point (``--no-tune``, or fixed configurations) is not fitted on
    validation at all: there is nothing to choose, and its trials are empty.
    """
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ConfigError(f"candidate names must be unique, got {names}")
    listener = listener or _Silent()
    fit_data, holdout = split.stage("test")
    results = []
    for cand in candidates:
        if cand.n_trials():
            params, trials = tune(cand, split, metric=metric, listener=listener)
        else:
            params, trials = grid_points(cand.grid)[0], ()
        model = cand.build(params)
        start = time.perf_counter()
        model.fit(fit_data)
        seconds = time.perf_counter() - start
        evaluation = evaluate(model, holdout, metrics=metrics, name=cand.name)
        result = ModelResult(cand.name, model.config, trials, evaluation, seconds, model)
        results.append(result)
        listener.refit_done(cand.name, result)
    return Leaderboard(split.protocol, split.fingerprint(), metric, tuple(results))


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """Test-stage results of several rankers on one split."""

    protocol: str
    split_fingerprint: str
    tuned_on: str
    results: tuple[ModelResult, ...]

    def __getitem__(self, name: str) -> ModelResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no model {name!r} on this leaderboard; models: {[r.name for r in self.results]}")

    def ranked(self, metric: str = "ndcg@10") -> list[ModelResult]:
        return sorted(self.results, key=lambda r: -r.evaluation.value(metric))

    def compare(self, a: str, b: str, metric: str = "ndcg@10", *, n_bootstrap: int = 1000, seed: SeedLike = 0) -> PairedComparison:
        """Model ``a`` minus model ``b`` on the test members (paired)."""
        return self[a].evaluation.compare(self[b].evaluation, metric, n_bootstrap=n_bootstrap, seed=seed)

    def to_dict(self, *, n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "split_fingerprint": self.split_fingerprint,
            "tuned_on": f"validation {self.tuned_on}",
            "models": [
                {
                    "name": r.name,
                    "class": type(r.model).__name__,
                    "config": dataclasses.asdict(r.config),
                    "fit_seconds": r.fit_seconds,
                    "metrics": {m: iv.to_dict() for m, iv in r.evaluation.summary(n_bootstrap=n_bootstrap, seed=seed).items()},
                    "trials": [dataclasses.asdict(t) for t in r.trials],
                }
                for r in self.results
            ],
        }
