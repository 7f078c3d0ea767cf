"""Default search spaces, and candidates built from names and configuration files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from marquee.errors import ConfigError
from marquee.evaluate.protocols import Candidate
from marquee.rank import RANKERS

__all__ = ["DEFAULT_SEARCH", "build_candidates"]

#: name -> (fixed params, validation grid). Small on purpose: the whole protocol over every
#: ranker runs in minutes on two cores. Override per model in a config file.
DEFAULT_SEARCH: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
    "popular": ({}, {"half_life_days": [None, 30.0, 90.0]}),
    "item_knn": ({}, {"neighbors": [50, 100, 200]}),
    "ease": ({}, {"l2": [100.0, 250.0, 500.0, 1000.0]}),
    "als": ({}, {"factors": [64, 128], "regularization": [0.01, 0.1], "alpha": [1.0, 4.0]}),
    "bpr": ({}, {"factors": [64, 128], "learning_rate": [0.01, 0.05]}),
    # About a minute per fit on two cores; these settings sit within validation noise of each other.
    "sasrec": ({}, {"epochs": [20, 25], "weight_decay": [0.5, 1.0]}),
}


def build_candidates(names: Sequence[str], config: Mapping[str, Any] | None = None, *, tune: bool = True) -> list[Candidate]:
    """Candidates for ``names`` with the default search space, overridden by ``config``.

    ``config`` is the ``models`` table of a configuration file::

        [models.ease]
        grid = { l2 = [200.0, 400.0] }      # replaces the default grid
        [models.sasrec]
        params = { epochs = 100 }            # fixed hyperparameters

    With ``tune=False`` every grid is dropped and the class defaults (plus ``params``) are used.
    """
    config = dict(config or {})
    unknown = sorted(set(config) - set(RANKERS))
    if unknown:
        raise ConfigError(f"config names unknown model {unknown[0]!r}; known models: {sorted(RANKERS)}")
    out = []
    for name in names:
        if name not in RANKERS:
            raise ConfigError(f"unknown model {name!r}; known models: {sorted(RANKERS)}")
        params, grid = DEFAULT_SEARCH.get(name, ({}, {}))
        section = config.get(name, {})
        extra = sorted(set(section) - {"params", "grid"})
        if extra:
            raise ConfigError(f"models.{name} has unknown key {extra[0]!r}; use 'params' and 'grid'")
        params = {**params, **section.get("params", {})}
        grid = dict(section.get("grid", grid)) if tune else {}
        # Validate names now, not after minutes of tuning.
        RANKERS[name](**params, **{k: v[0] for k, v in grid.items() if isinstance(v, list | tuple) and v})
        out.append(Candidate(name, RANKERS[name], params, grid))
    return out
