"""Config checks shared by every config's ``__post_init__`` (rankers, bandits, estimators).

Each check names the config class, the field, what was expected and what was given.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from marquee.errors import ConfigError

__all__ = ["Configured", "build_config", "ints", "is_number", "level", "non_negative", "positive", "require"]


def require(condition: bool, owner: str, field: str, expected: str, got: object) -> None:
    """Raise a :class:`ConfigError` naming the field, what was expected and what was given."""
    if not condition:
        raise ConfigError(f"{owner}.{field} must be {expected}, got {got!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ints(config: Any, *fields: str, minimum: int | None = 1) -> None:
    """Each field is an int (at least ``minimum`` unless that is ``None``)."""
    expected = "an int" if minimum is None else f"an int >= {minimum}"
    for field in fields:
        value = getattr(config, field)
        require(_is_int(value) and (minimum is None or value >= minimum), type(config).__name__, field, expected, value)


def positive(config: Any, *fields: str) -> None:
    """Each field is a number > 0."""
    for field in fields:
        value = getattr(config, field)
        require(is_number(value) and value > 0, type(config).__name__, field, "> 0", value)


def non_negative(config: Any, *fields: str) -> None:
    """Each field is a number >= 0."""
    for field in fields:
        value = getattr(config, field)
        require(is_number(value) and value >= 0, type(config).__name__, field, ">= 0", value)


def level(config: Any, field: str = "level") -> None:
    """A confidence level strictly between 0 and 1."""
    value = getattr(config, field)
    require(is_number(value) and 0 < value < 1, type(config).__name__, field, "in (0, 1)", value)


def build_config(owner: str, config_cls: type, config: Any, params: dict[str, Any]) -> Any:
    """``config`` (or the defaults) with keyword overrides; an unknown or missing one is refused by name."""
    if config is not None and not isinstance(config, config_cls):
        raise ConfigError(f"{owner} takes a {config_cls.__name__}, got {type(config).__name__}")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ConfigError(f"{owner} has no hyperparameter {unknown[0]!r}; known: {sorted(fields)}")
    if config is not None:
        return dataclasses.replace(config, **params) if params else config
    missing = [
        name for name, f in fields.items()
        if name not in params and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]  # fmt: skip
    if missing:
        raise ConfigError(f"{owner} needs {missing[0]!r}; pass {owner}({missing[0]}=...)")
    return config_cls(**params)


class Configured:
    """Base of components built from a frozen ``Config`` plus keyword overrides:
    ``Policy(config)``, ``Policy(epsilon=0.2)`` or both; the repr shows every hyperparameter."""

    Config: ClassVar[type]

    def __init__(self, config: Any = None, /, **params: Any) -> None:
        self.config = build_config(type(self).__name__, self.Config, config, params)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(self.config).items())
        return f"{type(self).__name__}({fields})"
