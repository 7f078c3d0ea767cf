"""Config validation shared by rankers' ``Config.__post_init__``.

Each check names the config class, the field, what was expected and what was given.
"""

from __future__ import annotations

from typing import Any

from marquee.errors import ConfigError


def require(condition: bool, owner: str, field: str, expected: str, got: object) -> None:
    """Raise a :class:`ConfigError` naming the field, what was expected and what was given."""
    if not condition:
        raise ConfigError(f"{owner}.{field} must be {expected}, got {got!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
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
        require(_is_number(value) and value > 0, type(config).__name__, field, "> 0", value)


def non_negative(config: Any, *fields: str) -> None:
    """Each field is a number >= 0."""
    for field in fields:
        value = getattr(config, field)
        require(_is_number(value) and value >= 0, type(config).__name__, field, ">= 0", value)
