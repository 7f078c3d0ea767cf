"""Validation shared by the experiment configs: each check names the owner, field, expectation and value."""

from __future__ import annotations

from typing import Any

from marquee._validate import is_number, require
from marquee.errors import ConfigError

__all__ = ["is_number", "known_keys", "name", "require", "unique"]


def name(value: object, owner: str, field: str = "name") -> None:
    """A non-empty string without leading/trailing whitespace."""
    require(isinstance(value, str) and bool(value) and value == value.strip(), owner, field, "a non-empty string", value)


def unique(names: list[str], owner: str, field: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{owner}.{field} names {n!r} twice; give each a distinct name")
        seen.add(n)


def known_keys(data: Any, allowed: set[str], owner: str) -> None:
    """A mapping read from a file holds only known keys (a misspelled key is an error, not ignored)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{owner} must be a table/object, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{owner} has unknown key {unknown[0]!r}; expected some of {sorted(allowed)}")
